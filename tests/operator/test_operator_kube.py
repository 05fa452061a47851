"""The children's API client against the emulator: create, server-side apply, list, delete."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import kmock
import kopf
import pytest
from operator_harness import NAMESPACE

from tidal_operator.kube import FIELD_MANAGER, HttpKubeApi, KubeError, adopted, collection_path


@pytest.fixture
async def api(emulator: kmock.KubernetesEmulator) -> AsyncIterator[HttpKubeApi]:
    server = str(emulator.url)

    async def credentials() -> kopf.ConnectionInfo:
        return kopf.ConnectionInfo(server=server, token="t0ken")

    client = HttpKubeApi(credentials)
    yield client
    await client.close()


def cronjob(schedule: str, **labels: str) -> dict[str, Any]:
    meta = {"name": "nightly", "namespace": NAMESPACE, "labels": {"app": "x", **labels}}
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": meta,
        "spec": {"schedule": schedule},
    }


def test_paths_follow_the_core_and_group_conventions() -> None:
    assert collection_path("Pod", "ns") == "/api/v1/namespaces/ns/pods"
    assert (
        collection_path("ScaledObject", "ns")
        == "/apis/keda.sh/v1alpha1/namespaces/ns/scaledobjects"
    )


async def test_every_write_is_a_server_side_apply_by_one_field_manager(
    api: HttpKubeApi, emulator: kmock.KubernetesEmulator
) -> None:
    created = await api.apply(cronjob("0 2 * * *"))
    assert created["spec"]["schedule"] == "0 2 * * *"
    await api.apply(cronjob("0 3 * * *"))
    stored = await api.get("CronJob", NAMESPACE, "nightly")
    assert stored is not None
    assert stored["spec"]["schedule"] == "0 3 * * *"
    assert len(emulator["post"]) == 0
    writes = list(emulator["patch"])
    assert len(writes) == 2
    for write in writes:
        assert write.params == {"fieldManager": FIELD_MANAGER, "force": "true"}
        assert write.headers["Content-Type"] == "application/apply-patch+yaml"
        assert write.headers["Authorization"] == "Bearer t0ken"


async def test_a_field_dropped_from_the_manifest_is_removed_from_the_object(
    api: HttpKubeApi,
) -> None:
    """The fields the operator stops sending go (a suspended archive's paused-replicas
    annotation on resume, a client-side encryption key's volume): a creator by POST would
    keep owning them."""
    paused = cronjob("0 2 * * *")
    paused["metadata"]["annotations"] = {"autoscaling.keda.sh/paused-replicas": "0"}
    pod = {
        "volumes": [{"name": "tmp", "emptyDir": {}}, {"name": "key", "secret": {"secretName": "k"}}]
    }
    paused["spec"]["jobTemplate"] = {"spec": {"template": {"spec": pod}}}
    await api.apply(paused)
    resumed = cronjob("0 2 * * *")
    resumed["spec"]["jobTemplate"] = {
        "spec": {"template": {"spec": {"volumes": [{"name": "tmp", "emptyDir": {}}]}}}
    }
    await api.apply(resumed)
    stored = await api.get("CronJob", NAMESPACE, "nightly")
    assert stored is not None
    assert "autoscaling.keda.sh/paused-replicas" not in stored["metadata"].get("annotations", {})
    volumes = stored["spec"]["jobTemplate"]["spec"]["template"]["spec"]["volumes"]
    assert [volume["name"] for volume in volumes] == ["tmp"]


async def test_fields_another_manager_set_are_kept(
    api: HttpKubeApi, emulator: kmock.KubernetesEmulator
) -> None:
    await api.apply(cronjob("0 2 * * *"))
    url = f"{collection_path('CronJob', NAMESPACE)}/nightly"
    patch = {"metadata": {"annotations": {"team.example/owner": "ops"}}}
    async with emulator.request(
        "PATCH", url, json=patch, params={"fieldManager": "kubectl-annotate"}
    ) as response:
        assert response.status == 200
    await api.apply(cronjob("0 4 * * *"))
    stored = await api.get("CronJob", NAMESPACE, "nightly")
    assert stored is not None
    assert stored["metadata"]["annotations"] == {"team.example/owner": "ops"}
    assert stored["spec"]["schedule"] == "0 4 * * *"


async def test_the_emulator_keeps_what_a_post_created_as_the_api_server_does(
    emulator: kmock.KubernetesEmulator,
) -> None:
    """The emulator itself: a field created by POST survives a later apply that drops it."""
    url = collection_path("CronJob", NAMESPACE)
    body = cronjob("0 2 * * *")
    body["metadata"]["annotations"] = {"autoscaling.keda.sh/paused-replicas": "0"}
    async with emulator.request("POST", url, json=body) as response:
        assert response.status < 400
    headers = {"Content-Type": "application/apply-patch+yaml"}
    params = {"fieldManager": FIELD_MANAGER, "force": "true"}
    async with emulator.request(
        "PATCH",
        f"{url}/nightly",
        data=json.dumps(cronjob("0 2 * * *")),
        headers=headers,
        params=params,
    ) as response:
        stored = await response.json()
    assert stored["metadata"]["annotations"] == {"autoscaling.keda.sh/paused-replicas": "0"}


async def test_list_keeps_only_the_labelled_items_and_names_their_kind(api: HttpKubeApi) -> None:
    await api.apply(cronjob("0 2 * * *", team="a"))
    other = cronjob("0 2 * * *", team="b")
    other["metadata"]["name"] = "other"
    await api.apply(other)
    found = await api.list("CronJob", NAMESPACE, {"team": "a"})
    assert [(item["kind"], item["metadata"]["name"]) for item in found] == [("CronJob", "nightly")]


async def test_delete_removes_and_tolerates_absence(api: HttpKubeApi) -> None:
    await api.apply(cronjob("0 2 * * *"))
    await api.delete("CronJob", NAMESPACE, "nightly")
    await api.delete("CronJob", NAMESPACE, "nightly")
    assert await api.get("CronJob", NAMESPACE, "nightly") is None


async def test_a_kind_the_cluster_does_not_serve_is_an_error_with_its_status(
    api: HttpKubeApi, emulator: kmock.KubernetesEmulator
) -> None:
    del emulator.resources["keda.sh/v1alpha1/scaledobjects"]
    with pytest.raises(KubeError) as failed:
        await api.list("ScaledObject", NAMESPACE, {})
    assert failed.value.status == 404


async def test_children_an_earlier_operator_created_by_post_are_taken_over(
    api: HttpKubeApi, emulator: kmock.KubernetesEmulator
) -> None:
    """Its POSTs carried no fieldManager: the API server named the manager after aiohttp's
    User-Agent, "Python", which keeps owning every field it set. The first apply hands those
    fields over to tidal-operator, so a field the operator no longer sends goes."""
    url = collection_path("CronJob", NAMESPACE)
    legacy = cronjob("0 2 * * *")
    legacy["metadata"]["annotations"] = {"autoscaling.keda.sh/paused-replicas": "0"}
    agent = {"User-Agent": aiohttp.http.SERVER_SOFTWARE}  # what the old client sent
    async with emulator.request("POST", url, json=legacy, headers=agent) as response:
        assert response.status < 400
    created = await api.get("CronJob", NAMESPACE, "nightly")
    assert created is not None
    assert [e["manager"] for e in created["metadata"]["managedFields"]] == ["Python"]
    await api.apply(cronjob("0 2 * * *"))
    stored = await api.get("CronJob", NAMESPACE, "nightly")
    assert stored is not None
    assert "annotations" not in stored["metadata"]
    managers = {(e["manager"], e["operation"]) for e in stored["metadata"]["managedFields"]}
    assert managers == {(FIELD_MANAGER, "Apply")}


def test_only_the_legacy_creators_fields_are_handed_over() -> None:
    ours = {"manager": FIELD_MANAGER, "operation": "Apply", "fieldsV1": {"f:spec": {"f:a": {}}}}
    legacy = {"manager": "Python", "operation": "Update", "fieldsV1": {"f:spec": {"f:b": {}}}}
    hpa = {"manager": "kube-controller-manager", "operation": "Update", "fieldsV1": {"f:x": {}}}
    status = {**legacy, "subresource": "status"}
    assert adopted([ours, legacy, hpa, status]) == [
        {**ours, "fieldsV1": {"f:spec": {"f:a": {}, "f:b": {}}}},
        hpa,
        status,
    ]
    assert adopted([ours, hpa]) is None
    assert adopted([legacy]) is None
