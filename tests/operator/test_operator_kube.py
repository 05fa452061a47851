"""The children's API client against the emulator: create, server-side apply, list, delete."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import kmock
import kopf
import pytest
from operator_harness import NAMESPACE

from tidal_operator.kube import FIELD_MANAGER, HttpKubeApi, KubeError, collection_path


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


async def test_apply_creates_then_server_side_applies(
    api: HttpKubeApi, emulator: kmock.KubernetesEmulator
) -> None:
    created = await api.apply(cronjob("0 2 * * *"))
    assert created["spec"]["schedule"] == "0 2 * * *"
    await api.apply(cronjob("0 3 * * *"))
    stored = await api.get("CronJob", NAMESPACE, "nightly")
    assert stored is not None
    assert stored["spec"]["schedule"] == "0 3 * * *"
    [patch] = list(emulator["patch"])
    assert patch.params == {"fieldManager": FIELD_MANAGER, "force": "true"}
    assert patch.headers["Content-Type"] == "application/apply-patch+yaml"
    assert patch.headers["Authorization"] == "Bearer t0ken"


async def test_an_existing_job_is_left_as_it_is(
    api: HttpKubeApi, emulator: kmock.KubernetesEmulator
) -> None:
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "j", "namespace": NAMESPACE},
    }
    await api.apply(job | {"spec": {"backoffLimit": 1}})
    kept = await api.apply(job | {"spec": {"backoffLimit": 5}})
    assert kept["spec"]["backoffLimit"] == 1
    assert len(emulator["patch"]) == 0


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
