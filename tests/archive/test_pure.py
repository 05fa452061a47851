"""Unit tests of the data plane's pure parts: segment format, key naming, manifest, retention
choice, durations, run results, encryption, filters and topic selection."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import given
from hypothesis import strategies as st

from tidal_data.backups import Listing
from tidal_data.catalog import catalog
from tidal_data.cli.restore import _wanted
from tidal_data.crypto import Cipher, key_id
from tidal_data.durations import backup_id, backup_time, parse_duration, parse_time
from tidal_data.errors import CorruptSegment, InvalidArgument, NoTopicsSelected
from tidal_data.filters import Selection, attributes
from tidal_data.kafka import select_topics
from tidal_data.keys import (
    backup_of,
    backup_prefix,
    dlq_segment_key,
    parse_dlq_key,
    scope_of,
    segment_key,
    time_slice,
)
from tidal_data.manifest import Gap, Manifest, Partition, Segment, TopicConfig
from tidal_data.redrive import value_dropped
from tidal_data.restore import Target
from tidal_data.restoretest import Digest, compare
from tidal_data.results import MAX_BYTES, RunResult, render
from tidal_data.retention import BackupInfo, choose_deletions
from tidal_data.segments import COMPRESSIONS, Record, decode, encode, pack, unpack

NOW = datetime(2025, 3, 1, 2, 0, tzinfo=UTC)

records = st.lists(
    st.builds(
        Record,
        offset=st.integers(0, 2**62),
        timestamp=st.integers(0, 2**50),
        key=st.none() | st.binary(max_size=20),
        value=st.none() | st.binary(max_size=200),
        headers=st.lists(st.tuples(st.text(max_size=10), st.binary(max_size=20)), max_size=3).map(
            tuple
        ),
    ),
    max_size=30,
)


@given(records, st.sampled_from(COMPRESSIONS))
def test_segments_round_trip_every_record_exactly(batch: list[Record], compression: str) -> None:
    assert unpack(pack(batch, compression), compression) == batch  # type: ignore[arg-type]


def test_a_truncated_or_foreign_segment_is_refused() -> None:
    data = encode([Record(1, 2, b"k", b"value", (("h", b"v"),))])
    with pytest.raises(CorruptSegment):
        list(decode(data[:-3]))
    with pytest.raises(CorruptSegment):
        list(decode(b"PK\x03\x04" + data))
    with pytest.raises(CorruptSegment):
        unpack(b"not zstd at all", "zstd")


def test_segment_keys_name_topic_partition_and_offsets_so_they_cannot_collide() -> None:
    a = segment_key("2025-03-01T02-00-00Z", "orders", 3, 0, 999, "zstd")
    assert a == "backups/2025-03-01T02-00-00Z/orders/3/" + f"{0:020d}-{999:020d}.seg.zst"
    others = {
        segment_key("2025-03-01T02-00-00Z", "orders", 3, 0, 998, "zstd"),
        segment_key("2025-03-01T02-00-00Z", "orders", 2, 0, 999, "zstd"),
        segment_key("2025-03-01T02-00-00Z", "orders.x", 3, 0, 999, "zstd"),
        segment_key("2025-03-02T02-00-00Z", "orders", 3, 0, 999, "zstd"),
    }
    assert a not in others
    assert len(others) == 4
    assert sorted(
        [segment_key("b", "t", 0, 10, 19, "none"), segment_key("b", "t", 0, 9, 9, "none")]
    )[0].endswith(f"{9:020d}-{9:020d}.seg")


def test_dead_letter_keys_parse_back() -> None:
    moment = datetime(2025, 3, 1, 17, 5, tzinfo=UTC)
    key = dlq_segment_key("o.dlq", time_slice(moment, "hour"), "com.acme/x y", 2, 5, 9, 4, "gzip")
    parsed = parse_dlq_key(key)
    assert parsed is not None
    assert (parsed.topic, parsed.partition, parsed.first, parsed.last, parsed.count) == (
        "o.dlq",
        2,
        5,
        9,
        4,
    )
    assert parsed.event_type == "com.acme_x_y"
    assert (parsed.start, parsed.end) == (
        moment.replace(minute=0),
        moment.replace(hour=18, minute=0),
    )
    day = parse_dlq_key(dlq_segment_key("o.dlq", "2025/03/01", None, 0, 1, 1, 1, "zstd"))
    assert day is not None
    assert day.end - day.start == timedelta(days=1)
    assert day.event_type is None
    assert parse_dlq_key("dlq/o.dlq/notes.txt") is None


def _manifest() -> Manifest:
    part = Partition(topic="t", partition=0, start=10, end=30, next=10)
    return Manifest(
        id="x",
        created_at="2025-03-01T02:00:00Z",
        compression="zstd",
        encryption="none",
        partitions=[part],
    )


def _segment(first: int, last: int) -> Segment:
    return Segment(
        key=f"k{first}",
        topic="t",
        partition=0,
        first=first,
        last=last,
        count=last - first + 1,
        bytes=7,
        sha256="0" * 64,
        min_timestamp=1,
        max_timestamp=2,
    )


def test_the_manifest_records_segments_in_order_and_round_trips_as_json() -> None:
    manifest = _manifest()
    manifest.record(_segment(10, 19))
    assert manifest.partition("t", 0).next == 20
    with pytest.raises(ValueError, match="overlaps"):
        manifest.record(_segment(15, 25))
    manifest.record(_segment(20, 29))
    assert manifest.partition("t", 0).done
    data = manifest.to_json()
    assert json.loads(data)["schema"] == "tidal.dev/backup-manifest/v1"
    assert "createdAt" in json.loads(data)
    assert Manifest.from_json(data, key="m") == manifest
    with pytest.raises(CorruptSegment, match="unreadable manifest"):
        Manifest.from_json(b'{"schema": "other"}', key="m")


def _info(days: int, *, verified: bool = True, open_: bool = False) -> BackupInfo:
    return BackupInfo(
        id=f"d{days}", created=NOW - timedelta(days=days), verified=verified, open=open_
    )


def test_retention_by_age_and_count_always_keeps_the_newest_verified() -> None:
    backups = [_info(1, verified=False), _info(2), _info(3), _info(40), _info(50)]
    assert choose_deletions(backups, now=NOW, max_age=timedelta(days=35), max_count=None) == [
        "d50",
        "d40",
    ]
    assert choose_deletions(backups, now=NOW, max_age=None, max_count=2) == ["d50", "d40", "d3"]
    old_only_verified = [_info(1, verified=False), _info(60)]
    assert (
        choose_deletions(old_only_verified, now=NOW, max_age=timedelta(days=35), max_count=1) == []
    )
    assert choose_deletions(
        old_only_verified,
        now=NOW,
        max_age=timedelta(days=35),
        max_count=1,
        keep_last_verified=False,
    ) == ["d60"]
    running = [_info(0, verified=False, open_=True), _info(1), _info(2)]
    assert choose_deletions(
        running, now=NOW, max_age=None, max_count=1, keep=frozenset({"d0"})
    ) == ["d2"]


@pytest.mark.parametrize(
    ("text", "seconds"), [("35d", 35 * 86400), ("1h30m", 5400), ("2w", 1209600), ("45s", 45)]
)
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text).total_seconds() == seconds


@pytest.mark.parametrize("text", ["", "35", "d", "1.5h", "0s", "-1d", "1y"])
def test_bad_durations_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


def test_times_and_backup_ids() -> None:
    assert parse_time("2025-03-01T03:00:00+01:00") == NOW.replace(hour=2)
    with pytest.raises(ValueError, match="time zone"):
        parse_time("2025-03-01T03:00:00")
    assert backup_id(NOW) == "2025-03-01T02-00-00Z"
    assert backup_time(backup_id(NOW)) == NOW
    assert backup_time("crash-1") is None


def test_the_run_result_is_the_contract_shape_and_never_above_4096_bytes() -> None:
    result = RunResult(command="backup run", started_at=NOW, finished_at=NOW)
    result.counts = {"events": 3}
    result.backup = {"id": "b", "verified": True}
    body = json.loads(render(result))
    assert body == {
        "schema": "tidal.dev/run-result/v1",
        "command": "backup run",
        "outcome": "succeeded",
        "startedAt": "2025-03-01T02:00:00Z",
        "finishedAt": "2025-03-01T02:00:00Z",
        "counts": {"events": 3},
        "backup": {"id": "b", "verified": True},
    }
    result.fail("ChecksumMismatch", "segment x: sha256 differs " + "é" * 5000)
    result.stored = {f"k{i}": i for i in range(400)}
    data = render(result)
    assert len(data) <= MAX_BYTES
    failed = json.loads(data)
    assert failed["error"]["reason"] == "ChecksumMismatch"
    assert failed["error"]["message"].startswith("segment x: sha256 differs")


def test_client_side_encryption_binds_the_object_key() -> None:
    cipher = Cipher(os.urandom(32))
    sealed = cipher.seal(b"secret", object_key="a")
    assert b"secret" not in sealed
    assert cipher.open(sealed, object_key="a") == b"secret"
    with pytest.raises(CorruptSegment, match="decryption failed"):
        cipher.open(sealed, object_key="b")
    with pytest.raises(CorruptSegment, match="not in the keyring"):
        Cipher(os.urandom(32)).open(sealed, object_key="a")


def test_a_keyring_reads_what_earlier_keys_wrote_and_writes_with_the_new_one() -> None:
    """Issue 16, finding 7: every object names its key; rotated keys stay readable."""
    old, new = os.urandom(32), os.urandom(32)
    before = Cipher(old).seal(b"old backup", object_key="k")
    nonce = os.urandom(12)  # the first format, TENC1: no key id
    first = b"TENC1" + nonce + AESGCM(old).encrypt(nonce, b"oldest", b"k")
    rotated = Cipher(new, [old])
    assert rotated.open(before, object_key="k") == b"old backup"
    assert rotated.open(first, object_key="k") == b"oldest"
    after = rotated.seal(b"new backup", object_key="k")
    assert key_id(new).encode() in after[:32]
    assert Cipher(new).open(after, object_key="k") == b"new backup"
    with pytest.raises(CorruptSegment, match=f"encrypted with key {key_id(old)}"):
        Cipher(new).open(before, object_key="k")


def test_filters_read_binary_and_structured_records() -> None:
    binary = Record(
        0,
        1_740_794_400_000,
        None,
        b"{}",
        (("ce_type", b"a"), ("ce_tidalerrorclass", b"ValueError")),
    )
    structured = Record(
        1,
        0,
        None,
        json.dumps({"type": "b", "tidallastfailure": "2025-03-01T01:00:00Z", "data": {}}).encode(),
        (("content-type", b"application/cloudevents+json"),),
    )
    assert attributes(binary) == {"type": "a", "tidalerrorclass": "ValueError"}
    assert attributes(structured)["type"] == "b"
    assert Selection(types=("a",), error_classes=("ValueError",)).matches(binary)
    assert not Selection(types=("a",)).matches(structured)
    window = Selection(
        since=NOW - timedelta(hours=2), until=NOW - timedelta(minutes=30), failure_time=True
    )
    assert window.matches(structured)  # by its last failure time
    assert not window.matches(binary)  # by its record time (NOW)


def test_topic_selection() -> None:
    available = ["orders", "orders.dlq", "payments", "__consumer_offsets"]
    assert select_topics(
        available, names=["payments"], include=["orders.*"], exclude=[r".*\.dlq"]
    ) == ["orders", "payments"]
    assert select_topics(available, names=[], include=[".*"], exclude=[]) == [
        "orders",
        "orders.dlq",
        "payments",
    ]
    with pytest.raises(NoTopicsSelected, match="not found: missing"):
        select_topics(available, names=["missing"], include=[], exclude=[])


def test_a_letter_whose_value_was_dropped_is_not_redrivable_and_a_claimed_one_is() -> None:
    """Issue 17, finding 2: a dead letter too large for its topic loses its value (no store) or
    keeps a claim-check reference; re-driving the first would publish an empty event."""
    base = (("ce_id", b"1"), ("ce_tidaltopic", b"orders"))
    dropped = Record(0, 0, None, b"", (*base, ("tidal-oversize", b"value dropped")))
    claim = ("tidal-claim", b"s3://b/k")
    claimed = Record(0, 0, None, b"", (*base, ("tidal-oversize", b"x"), claim))
    whole = Record(0, 0, None, b"{}", base)
    assert [value_dropped(r) for r in (dropped, claimed, whole)] == [True, False, False]


@pytest.mark.parametrize("topic", ["..", ".", "a/b", "../../x", "", "a b", "x" * 250])
def test_a_topic_name_kafka_refuses_never_reaches_a_key(topic: str) -> None:
    """Issue 16, finding 10: topic names go into keys only as Kafka allows them."""
    with pytest.raises(InvalidArgument):
        segment_key("2025-03-01T02-00-00Z", topic, 0, 0, 1, "zstd")
    with pytest.raises(InvalidArgument):
        dlq_segment_key(topic, "2025/03/01", None, 0, 1, 1, 1, "zstd")


def test_owner_scopes_are_distinct_and_key_safe() -> None:
    assert scope_of("shop/orders") == "shop.orders"
    assert backup_prefix("b", scope_of("shop/orders")) == "backups/policy=shop.orders/b/"
    assert backup_of("backups/policy=shop.orders/b/manifest.json") == ("shop.orders", "b")
    assert backup_of("backups/2025-01-01T00-00-00Z/manifest.json") == (None, "2025-01-01T00-00-00Z")
    for bad in ("shop/a/b", "shop/", "../x", "a b/c"):
        with pytest.raises(InvalidArgument):
            scope_of(bad)


def test_the_restore_test_names_a_partition_that_differs() -> None:
    records = [Record(i, 1_700_000_000_000 + i, b"k", b"v%d" % i) for i in range(5)]
    expected, same, fewer, other = Digest(), Digest(), Digest(), Digest()
    expected.add(records)
    same.add([r._replace(offset=r.offset + 100, headers=(("tidal-run", b"x"),)) for r in records])
    fewer.add(records[:4])
    other.add([*records[:4], records[4]._replace(value=b"changed")])
    backup = {("t", 0): expected}
    assert compare(backup, {("p.t", 0): same}, "p.") == []
    assert compare(backup, {("p.t", 0): fewer}, "p.") == ["t/0: 4 records, not 5"]
    assert compare(backup, {("p.t", 0): other}, "p.") == ["t/0: the records differ (sha256)"]


def test_retention_keeps_the_newest_backup_holding_a_partition_whole() -> None:
    everything = frozenset({("t", 0), ("t", 1)})
    full = BackupInfo(id="d3", created=NOW - timedelta(days=3), verified=True,
                      topics=frozenset({"t"}), whole=everything)  # fmt: skip
    older = replace(full, id="d4", created=NOW - timedelta(days=4))
    cut = BackupInfo(id="d1", created=NOW - timedelta(days=1), verified=True,
                     topics=frozenset({"t"}), whole=frozenset({("t", 0)}))  # fmt: skip
    assert choose_deletions([older, full, cut], now=NOW, max_age=None, max_count=1) == ["d4"]
    healed = replace(full, id="d0", created=NOW)
    assert choose_deletions([older, full, cut, healed], now=NOW, max_age=None, max_count=1) == [
        "d4",
        "d3",
        "d1",
    ]


def test_a_gap_is_recorded_in_order_and_survives_the_json() -> None:
    part = Partition(topic="t", partition=0, start=0, end=100, next=0)
    manifest = Manifest(
        id="b", created_at="x", compression="zstd", encryption="none", partitions=[part]
    )
    manifest.record(_segment(0, 9))
    manifest.record_gap(Gap(topic="t", partition=0, first=10, end=40, reason="OffsetOutOfRange"))
    with pytest.raises(ValueError, match="overlaps"):
        manifest.record(_segment(30, 45))
    manifest.record(_segment(40, 99))
    assert part.done
    assert not part.whole
    assert manifest.whole_partitions() == frozenset()
    assert [g.describe() for g in manifest.gaps()] == ["t/0 offsets 10-39 (OffsetOutOfRange)"]
    assert Manifest.from_json(manifest.to_json(), key="m") == manifest
    older = json.loads(manifest.to_json())
    del older["partitions"][0]["gaps"]  # a manifest written before gaps existed
    loaded = Manifest.from_json(json.dumps(older).encode(), key="m")
    assert loaded.partition("t", 0).whole


def test_the_sync_listing_fits_a_run_result_newest_first() -> None:
    found = Listing()
    for day in range(1, 200):
        manifest = Manifest(id=f"2025-01-01T00-00-{day:03d}Z", created_at=f"2025-01-{day:03d}",
                            compression="zstd", encryption="none", policy="shop/orders",
                            state="complete", verified=day % 2 == 0)  # fmt: skip
        found.manifests.append(manifest)
    found.unreadable["backups/x/manifest.json"] = "CorruptSegment: wrong key"
    body = catalog(found)
    assert (body["backups"], body["unreadable"]) == (199, 1)
    entries = body["policies"]["shop/orders"]
    assert body["listed"] == len(entries) < 199
    assert entries[0] == ["2025-01-01T00-00-199Z", "c", 0, 0]
    assert entries[1][:2] == ["2025-01-01T00-00-198Z", "cv"]
    result = RunResult(command="backup sync", started_at=NOW, listing=body)
    assert len(render(result)) <= MAX_BYTES
    assert json.loads(render(result))["listing"] == body


def test_targets_the_source_gave_no_replication_factor_get_the_clusters_default() -> None:
    """A replay's one topic and an older manifest's topics (no ``topicsInfo``) say no
    replication factor, so a missing target gets the cluster's default, not 1."""
    manifest = _manifest()
    assert manifest.topic_info("t").replication_factor is None
    assert [t.replication_factor for t in _wanted(manifest, Target(topic="replayed"), ())] == [None]
    assert [t.replication_factor for t in _wanted(manifest, Target(prefix="r."), ())] == [None]
    kept = TopicConfig(name="t", partitions=1, replication_factor=3)
    manifest.topics_info = [kept]
    assert [t.replication_factor for t in _wanted(manifest, Target(prefix="r."), ())] == [3]
    assert Manifest.from_json(manifest.to_json(), key="m").topics_info == [kept]
