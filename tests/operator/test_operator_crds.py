"""The CRDs: committed YAML equals the generator's, schemas are structural, samples are valid."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from tidal_operator.crds import all_crds, backuppolicies, dlqarchives
from tidal_operator.crds.__main__ import drifted, main
from tidal_operator.crds.rendering import file_name, reference_markdown, to_yaml
from tidal_operator.defaulting import defaulted
from tidal_operator.locations import location_spec
from tidal_operator.specs import backup_policy, dlq_archive

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = sorted((ROOT / "k8s" / "samples").glob("*.yaml"))
CRDS = {crd["spec"]["names"]["kind"]: crd for crd in all_crds()}


def root_schema(kind: str) -> dict[str, Any]:
    return dict(CRDS[kind]["spec"]["versions"][0]["schema"]["openAPIV3Schema"])


def nodes(schema: Mapping[str, Any], path: str = "") -> Iterator[tuple[str, Mapping[str, Any]]]:
    yield path, schema
    for name, child in schema.get("properties", {}).items():
        yield from nodes(child, f"{path}.{name}")
    if "items" in schema:
        yield from nodes(schema["items"], f"{path}[]")


def test_committed_crd_files_are_what_the_generator_writes() -> None:
    assert drifted(ROOT / "k8s" / "crds") == [], "run: python -m tidal_operator.crds --out k8s/crds"


def test_generator_check_fails_on_a_drifted_file(tmp_path: Path) -> None:
    assert main(["--out", str(tmp_path)]) == 0
    assert main(["--check", str(tmp_path)]) == 0
    (tmp_path / "tidal.dev_dlqarchives.yaml").write_text("# edited by hand\n", encoding="utf-8")
    assert main(["--check", str(tmp_path)]) == 1


def test_generated_files_are_named_and_parse_as_one_crd_each() -> None:
    for crd in all_crds():
        assert file_name(crd) in {
            "tidal.dev_backuppolicies.yaml",
            "tidal.dev_dlqarchives.yaml",
            "tidal.dev_restores.yaml",
            "tidal.dev_backuplocations.yaml",
        }
        assert list(yaml.safe_load_all(to_yaml(crd))) == [crd]


@pytest.mark.parametrize("kind", sorted(CRDS))
def test_crd_has_names_columns_and_a_status_subresource(kind: str) -> None:
    spec = CRDS[kind]["spec"]
    version = spec["versions"][0]
    assert (spec["group"], version["name"], spec["scope"]) == (
        "tidal.dev",
        "v1alpha1",
        "Namespaced",
    )
    short = {"BackupPolicy": "bp", "DLQArchive": "dlqa", "Restore": "rst", "BackupLocation": "bl"}
    assert spec["names"]["shortNames"] == [short[kind]]
    assert spec["names"]["categories"] == ["tidal"]
    assert version["subresources"] == {"status": {}}
    columns = {column["name"]: column["jsonPath"] for column in version["additionalPrinterColumns"]}
    assert columns["Ready"] == '.status.conditions[?(@.type=="Ready")].status'
    assert columns["Age"] == ".metadata.creationTimestamp"


@pytest.mark.parametrize("kind", sorted(CRDS))
def test_schema_is_structural(kind: str) -> None:
    for path, node in nodes(root_schema(kind)):
        assert "type" in node, f"{path} has no type"
        assert "uniqueItems" not in node, f"{path}: structural schemas forbid uniqueItems"
        assert not ("properties" in node and "additionalProperties" in node), path
        if path.count(".") <= 1 and path not in ("", ".metadata"):
            assert node.get("description"), f"{path} has no description"
        if node.get("x-kubernetes-list-type") == "map":
            assert set(node["x-kubernetes-list-map-keys"]) <= set(node["items"]["required"])


@pytest.mark.parametrize("kind", sorted(CRDS))
def test_every_default_is_valid_for_its_own_field(kind: str) -> None:
    for path, node in nodes(root_schema(kind)):
        if "default" in node:
            jsonschema.validate(defaulted(node, node["default"]), node)
            assert path.startswith(".spec"), f"defaults belong in the spec: {path}"


@pytest.mark.parametrize("kind", sorted(CRDS))
def test_status_carries_conditions_generation_times_and_counts(kind: str) -> None:
    status = root_schema(kind)["properties"]["status"]["properties"]
    assert {"conditions", "observedGeneration", "lastSuccessTime", "lastFailureTime"} <= set(status)
    counts = {"BackupPolicy": {"succeededRuns", "failedRuns", "storedBytes"}}
    counts["DLQArchive"] = {"archivedEvents", "archivedObjects", "storedBytes", "prunedObjects"}
    counts["Restore"] = {"phase", "runId", "events", "present", "groupOffsets"}
    counts["BackupLocation"] = {"lastSyncedTime", "storedBackups", "backups"}
    assert counts[kind] <= set(status)


def test_defaults_are_the_use_cases() -> None:
    policy = defaulted(backuppolicies.spec_schema(), {"destination": {}})
    assert (policy["mode"], policy["schedule"]) == ("Scheduled", "0 2 * * *")
    assert policy["retention"] == {"maxAge": "35d"}
    assert policy["encryption"]["mode"] == "ServerSide"
    assert policy["destination"] == {"prefix": "", "forcePathStyle": False}
    archive = defaulted(dlqarchives.spec_schema(), {})
    assert archive["retention"] == {"maxAge": "14d", "schedule": "30 3 * * *"}
    assert archive["partitioning"] == {"time": "Hour", "byEventType": True}
    assert archive["compression"] == "zstd"


def test_cross_field_rules_are_declared_in_cel() -> None:
    rules = {
        rule["message"]
        for crd in all_crds()
        for _, node in nodes(crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"])
        for rule in node.get("x-kubernetes-validations", ())
    }
    assert "select at least one topic: list topics or give include patterns" in rules
    assert "clientSide.keySecretRef is required when mode is ClientSide" in rules
    assert any(message.startswith("metadata.name must be at most 45") for message in rules)


@pytest.mark.parametrize("sample", SAMPLES, ids=[sample.name for sample in SAMPLES])
def test_sample_is_valid_against_its_crd_and_accepted_by_the_operator(sample: Path) -> None:
    body = yaml.safe_load(sample.read_text(encoding="utf-8"))
    assert body["apiVersion"] == "tidal.dev/v1alpha1"
    schema = root_schema(body["kind"])
    jsonschema.validate(defaulted(schema, body), schema)
    parse = {
        "BackupPolicy": backup_policy, "DLQArchive": dlq_archive, "BackupLocation": location_spec,
    }[body["kind"]]  # fmt: skip
    parse(body["metadata"], body["spec"])  # raises SpecError with a reason if refused


def test_samples_cover_both_kinds_and_both_backup_modes() -> None:
    bodies = [yaml.safe_load(sample.read_text(encoding="utf-8")) for sample in SAMPLES]
    kinds = {(body["kind"], body["spec"].get("mode")) for body in bodies}
    assert kinds == {
        ("BackupPolicy", "Scheduled"),
        ("BackupPolicy", "Continuous"),
        ("DLQArchive", None),
        ("BackupLocation", None),
    }


def test_an_invalid_sample_would_be_caught() -> None:
    schema = root_schema("BackupPolicy")
    body = {"spec": {"sources": {"kafka": {}}, "destination": {"bucket": "UPPER"}}}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(body, schema)


def test_the_docs_carry_the_generated_reference() -> None:
    docs = (ROOT / "docs" / "operator.md").read_text(encoding="utf-8")
    for crd in all_crds():
        assert reference_markdown(crd) in docs, (
            "regenerate with python -m tidal_operator.crds --docs"
        )
