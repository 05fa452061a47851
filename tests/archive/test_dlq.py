"""``tidal dlq drain | ls | show | redrive | prune`` round trip on a real broker and a moto S3
server, with dead letters built by the Kafka transport's own letter builder."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from tests.archive.conftest import new_topic, produce_events, read_all, store_args, tidal
from tests.support.kafka import committed_offsets, create_topic, log_end_offsets
from tests.support.objectstore import S3Server

from tidal._bindings.kafka import to_record
from tidal._deadletters import Failure
from tidal._events import Event
from tidal._transports.kafka.letters import event_letter
from tidal._transports.kafka.records import Origin
from tidal_data.cli.dlq import _candidates
from tidal_data.keys import dlq_segment_key
from tidal_data.marks import RUN_HEADER, without_marks
from tidal_data.store import ObjectStore, StoreConfig

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC).replace(minute=30, second=0, microsecond=0)


@dataclass
class Consumed:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]] = field(default_factory=list)


def letter(i: int, topic: str, dlq: str, *, failed: datetime, structured: bool = False) -> Any:
    """(key, value, headers) of the dead letter of event ``i`` (types a/b, errors alternate)."""
    event = Event.create(
        type=f"com.acme.{'ab'[i % 2]}.v1", source="/tests/dlq", id=f"ev-{i}", data={"n": i}
    )
    message = to_record(event, mode="structured" if structured else "binary")
    headers = [
        (k, v if isinstance(v, bytes) else str(v).encode()) for k, v in message.headers.items()
    ]
    record = Consumed(topic, 0, i, f"k{i % 7}".encode(), message.value, headers)
    failure = Failure(
        error_class="ValueError" if i % 3 else "TimeoutError",
        message=f"boom {i}",
        attempts=3,
        first_failure=failed - timedelta(seconds=5),
        last_failure=failed,
        subscriber="orders",
    )
    out = event_letter(record, event, failure, topic=dlq, origin=Origin(topic, 0, i))
    return out.key, out.value, out.headers


async def test_dead_letters_are_drained_listed_shown_redriven_and_pruned(
    kafka_bootstrap: str, region_a: S3Server, tmp_path: Path
) -> None:
    topic = await new_topic(kafka_bootstrap, partitions=1)
    dlq = f"{topic}.dlq"
    await create_topic(kafka_bootstrap, dlq, partitions=2)
    letters = [letter(i, topic, dlq, failed=NOW - timedelta(hours=i % 2)) for i in range(200)]
    letters += [letter(i, topic, dlq, failed=NOW, structured=True) for i in range(200, 210)]
    letters += [letter(i, topic, dlq, failed=NOW - timedelta(days=20)) for i in range(210, 230)]
    await produce_events(kafka_bootstrap, dlq, letters)
    bucket = region_a.new_bucket("dlq")
    store = store_args(region_a, bucket, "dlq-archive/")
    group = f"drain-{topic}"

    drained = await tidal(
        ["dlq", "drain", "--archive", "tests/a", *store, "--bootstrap-servers", kafka_bootstrap,
         "--group", group, "--topic", dlq, "--partition-by-time", "hour", "--partition-by-type",
         "--compression", "zstd", "--segment-max-events", "40", "--segment-max-age", "5m",
         "--idle-exit", "2s", "--metrics-port", "0"],  # /metrics: test_dlq_metrics.py
        tmp_path,
    )  # fmt: skip
    assert drained.exit_code == 0, drained.output
    assert drained.result["counts"]["events"] == 230
    ends = await log_end_offsets(kafka_bootstrap, dlq)
    assert await committed_offsets(kafka_bootstrap, group, dlq) == ends

    keys = [o["Key"] for o in region_a.client().list_objects_v2(Bucket=bucket)["Contents"]]
    hour = NOW.strftime("%Y/%m/%d/%H")
    assert any(f"dlq/archive=tests.a/{dlq}/{hour}/type=com.acme.a.v1/" in k for k in keys), keys
    listed = await tidal(["dlq", "ls", *store], tmp_path, result=False)
    assert "total:" in listed.output
    assert "230 dead letters" in listed.output
    assert "com.acme.b.v1" in listed.output

    shown = await tidal(["dlq", "show", "ev-3", *store], tmp_path, result=False)
    assert shown.exit_code == 0, shown.output
    assert "TimeoutError: boom 3" in shown.output
    assert f"origin:   {topic}" in shown.output

    select = ["--type", "com.acme.a.v1", "--error-class", "ValueError"]
    window = ["--since", (NOW - timedelta(days=1)).isoformat()]
    expected = {
        f"ev-{i}" for i in range(210) if i % 2 == 0 and i % 3 != 0
    }  # type a, ValueError, within a day
    redrive = [
        "dlq", "redrive", "--archive", "tests/a", *store,
        "--bootstrap-servers", kafka_bootstrap, *select, *window, "--rate-limit", "0",
    ]  # fmt: skip
    dry = await tidal([*redrive, "--dry-run"], tmp_path)
    assert dry.exit_code == 0, dry.output
    assert dry.result["counts"] == {
        "redriven": len(expected),
        "skipped": 230 - len(expected),
        "failed": 0,
        "present": 0,
    }
    assert sum((await log_end_offsets(kafka_bootstrap, topic)).values()) == 0

    done = await tidal(redrive, tmp_path)  # to each letter's origin topic
    assert done.exit_code == 0, done.output
    assert done.result["counts"]["redriven"] == len(expected)
    republished = [r for rs in (await read_all(kafka_bootstrap, topic)).values() for r in rs]
    ids = set()
    for record in republished:
        headers = dict(without_marks(record.headers))
        assert dict(record.headers)[RUN_HEADER] == done.result["backup"]["runId"].encode()
        assert not any("tidal" in name for name in headers), headers
        ids.add(headers["ce_id"].decode() if "ce_id" in headers else json.loads(record.value)["id"])
        if "ce_id" not in headers:
            assert not any(k.startswith("tidal") for k in json.loads(record.value))
    assert ids == expected

    pruned = await tidal(["dlq", "prune", "--archive", "tests/a", *store,
                          "--retention-max-age", "14d"], tmp_path)  # fmt: skip
    assert pruned.exit_code == 0, pruned.output
    assert pruned.result["counts"]["deletedObjects"] >= 1
    assert pruned.result["stored"]["events"] == 210


async def test_a_repeated_redrive_sends_nothing_twice_and_prune_keeps_to_its_archive(
    kafka_bootstrap: str, region_a: S3Server, tmp_path: Path
) -> None:
    """Issue 16, findings 1 and 3: two archives' letters in one bucket; the same re-drive twice
    (a recreated Job) re-drives each letter once; one archive's prune leaves the other's."""
    topic = await new_topic(kafka_bootstrap, partitions=1)
    dlqs = [f"{topic}.dlq", f"{topic}.other.dlq"]
    bucket = region_a.new_bucket("dlq2")
    old = NOW - timedelta(days=20)
    for n, (dlq, prefix) in enumerate(zip(dlqs, ("a/", "b/"), strict=True)):
        await create_topic(kafka_bootstrap, dlq, partitions=1)
        await produce_events(
            kafka_bootstrap,
            dlq,
            [letter(i, topic, dlq, failed=old) for i in range(30 * n, 30 * n + 30)],
        )
        drained = await tidal(
            ["dlq", "drain", "--archive", f"tests/{prefix[0]}",
             *store_args(region_a, bucket, prefix), "--bootstrap-servers", kafka_bootstrap,
             "--group", f"g-{dlq}", "--topic", dlq, "--idle-exit", "2s", "--metrics-port", "0"],
            tmp_path,
        )  # fmt: skip
        assert drained.exit_code == 0, drained.output
    store_a = store_args(region_a, bucket, "a/")
    redrive = ["dlq", "redrive", "--archive", "tests/a", *store_a,
               "--bootstrap-servers", kafka_bootstrap, "--rate-limit", "0"]  # fmt: skip
    first = await tidal(redrive, tmp_path)
    again = await tidal(redrive, tmp_path)  # the same run id: derived from the same request
    assert first.exit_code == again.exit_code == 0, again.output
    assert first.result["counts"]["redriven"] == 30
    assert again.result["counts"]["redriven"] == 0
    assert again.result["counts"]["present"] == 30
    assert sum(len(rs) for rs in (await read_all(kafka_bootstrap, topic)).values()) == 30

    none = await tidal(
        [*redrive, "--error-class", "tidal.HandlerTimeoutError", "--run-id", "crm-2"],
        tmp_path,
    )
    assert none.exit_code == 3
    assert none.result["error"]["reason"] == "NothingSelected"

    pruned = await tidal(["dlq", "prune", "--archive", "tests/a", *store_a,
                          "--retention-max-age", "1d"], tmp_path)  # fmt: skip
    assert pruned.exit_code == 0, pruned.output
    assert pruned.result["counts"]["deletedObjects"] >= 1
    other = region_a.client().list_objects_v2(Bucket=bucket, Prefix="b/dlq/")
    assert other["KeyCount"] >= 1
    intruder = await tidal(["dlq", "prune", "--archive", "tests/z", *store_a], tmp_path)
    assert intruder.exit_code == 1
    assert intruder.result["error"]["reason"] == "PrefixOwned"


def test_show_by_coordinates_reads_only_the_segment_that_holds_the_letter(
    region_a: S3Server,
) -> None:
    """Issue 16, finding 10: ``dlq show <topic>/<partition>/<offset>`` no longer reads the whole
    archive: only the segments whose key covers that offset are candidates."""
    bucket = region_a.new_bucket("show")
    config = StoreConfig(
        bucket=bucket, region=region_a.region, endpoint=region_a.endpoint, path_style=True
    )
    store = ObjectStore(config)
    keys = [
        dlq_segment_key("t.dlq", "2025/03/01/10", None, 0, 0, 9, 10, "zstd", "shop.a"),
        dlq_segment_key("t.dlq", "2025/03/01/11", None, 0, 10, 19, 10, "zstd", "shop.a"),
        dlq_segment_key("t.dlq", "2025/03/01/11", None, 1, 10, 19, 10, "zstd", "shop.a"),
        dlq_segment_key("u.dlq", "2025/03/01/11", None, 0, 10, 19, 10, "zstd", "shop.a"),
    ]
    for key in keys:
        store.put_new(key, b"")
    options = {"archive_name": "shop/a", "topics": ()}
    found = [key for key, _, _ in _candidates(store, "t.dlq/0/15", options)]
    assert found == [keys[1]]
    assert len(list(_candidates(store, "some-event-id", options))) == 4
