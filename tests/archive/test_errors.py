"""Clear errors: bad flags are usage errors (exit 2, nothing run); an unreachable store or
broker is a failed run result with a CamelCase reason and exit 1. The reasons are a wire
contract (docs/operator.md): each failure class states its own, documented there."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from tests.archive.conftest import run_cli, tidal
from tests.support.objectstore import S3Server
from tests.support.servers import free_port

from tidal_data import errors
from tidal_data.errors import RunFailure

DOCS = Path(__file__).resolve().parents[2] / "docs" / "operator.md"


def failures() -> list[type[RunFailure]]:
    found = [c for c in vars(errors).values() if isinstance(c, type) and issubclass(c, RunFailure)]
    return [c for c in found if c is not RunFailure]


def test_every_failure_states_its_documented_reason_and_a_rename_keeps_it() -> None:
    """Issue 19 item 7: the reasons were the class names (``__init_subclass__``), so renaming a
    class changed what the operator's conditions say."""
    documented = set(re.findall(r"`([A-Z][A-Za-z]+)`", DOCS.read_text()))
    reasons = {c.__name__: c.__dict__.get("reason") for c in failures()}
    assert len(reasons) >= 9
    assert all(reasons.values()), reasons  # stated in the class itself, not inherited
    assert len(set(reasons.values())) == len(reasons)
    assert set(reasons.values()) <= documented
    renamed = type("Renamed", (errors.ChecksumMismatch,), {})
    assert renamed("x").reason == "ChecksumMismatch"
    assert errors.StoreError("x", reason="StoreNoSuchBucket").reason == "StoreNoSuchBucket"


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (["--retention-max-age", "35days"], "not a duration"),
        (["--compression", "lz4"], "'lz4' is not one of"),
        (["--prefix", "no-slash"], "ending in '/'"),
        (["--encryption", "client-side"], "needs --encryption-key-file"),
        (["--sse-algorithm", "aws:kms", "--encryption", "server-side"], "needs --sse-kms-key-id"),
    ],
)
def test_bad_flags_are_usage_errors(args: list[str], complaint: str, tmp_path: Path) -> None:
    base = ["backup", "run", "--bootstrap-servers", "127.0.0.1:1", "--topic", "t"]
    ran = run_cli([*base, "--bucket", "b", *args], tmp_path)
    assert ran.exit_code == 2, ran.output
    assert complaint in ran.output


def test_topics_must_be_selected(tmp_path: Path) -> None:
    ran = run_cli(["archive", "--bootstrap-servers", "127.0.0.1:1", "--bucket", "b"], tmp_path)
    assert ran.exit_code == 2
    assert "select topics" in ran.output


@pytest.mark.integration
async def test_an_unreachable_store_is_a_failed_result(
    aws_credentials: None, tmp_path: Path
) -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"
    args = ["archive", "--bootstrap-servers", "127.0.0.1:1", "--topic", "t", "--bucket", "b"]
    ran = await tidal([*args, "--endpoint", endpoint, "--region", "eu-west-1"], tmp_path)
    assert ran.exit_code == 1
    assert ran.result["outcome"] == "failed"
    assert ran.result["error"]["reason"] == "StoreUnreachable"
    assert endpoint in ran.result["error"]["message"]


@pytest.mark.integration
async def test_a_missing_bucket_and_an_unreachable_broker_are_failed_results(
    region_a: S3Server, tmp_path: Path
) -> None:
    store = ["--endpoint", region_a.endpoint, "--region", region_a.region, "--path-style"]
    missing = await tidal(
        [
            "archive",
            "--bootstrap-servers",
            "127.0.0.1:1",
            "--topic",
            "t",
            "--bucket",
            "nope-x",
            *store,
        ],
        tmp_path,
    )
    assert missing.exit_code == 1
    assert missing.result["error"]["reason"] == "StoreNoSuchBucket"
    bucket = region_a.new_bucket("errors")
    broker = f"127.0.0.1:{free_port()}"
    unreachable = await tidal(
        ["archive", "--bootstrap-servers", broker, "--topic", "t", "--bucket", bucket, *store],
        tmp_path,
    )
    assert unreachable.exit_code == 1
    assert unreachable.result["error"]["reason"] == "BrokerUnreachable"
    assert broker in unreachable.result["error"]["message"]
