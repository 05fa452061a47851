"""Consumer-group offsets: backed up with each run, translated on restore.

A backup run reads the committed offsets of the ``--group`` consumer groups on the selected
partitions before it reads the log ends, and records them in the manifest (``groups``). A
restore translates each into the target the way MirrorMaker 2 does (apache/kafka,
connect/mirror/.../OffsetSyncStore.java, ``translateDownstream``: an upstream offset is mapped
through a pair of (upstream, downstream) offsets of one replicated record), except that every
restored record is such a pair here: its ``tidal-origin`` mark gives the upstream offset and its
position the downstream one (`tidal_data.marks`). The committed upstream offset ``O`` is the
next record the group would read; its translation is the target offset of the first restored
record whose origin offset is at least ``O``, or the target's log end when there is none (the
group had read everything restored). A group is committed in the target only where it has no
offset yet or a smaller one (as MirrorMaker's offset sync only moves a downstream group forward).
Only a same-partition restore translates (after a replay or a re-partition one source partition
spreads over several). Called by `tidal_data.runs` and `tidal_data.cli.restore`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tidal.kafka import KafkaSettings
from tidal_data.kafka import (
    OffsetAndMetadata,
    TopicPartition,
    consumer,
    offset_ranges,
    start,
    stop,
)
from tidal_data.marks import ORIGIN_HEADER, RUN_HEADER, parse_origin

Committed = dict[str, dict[tuple[str, int], int]]
"""group -> (topic, partition) -> committed offset."""


async def committed(
    settings: KafkaSettings, groups: Sequence[str], tps: Sequence[tuple[str, int]]
) -> Committed:
    """The committed offsets of ``groups`` on ``tps`` (partitions without one left out)."""
    found: Committed = {}
    for group in groups:
        client = consumer(settings, group=group)
        await start(client, settings.bootstrap_servers)
        try:
            offsets = {}
            for topic, partition in tps:
                offset = await client.committed(TopicPartition(topic, partition))
                if offset is not None and offset >= 0:
                    offsets[(topic, partition)] = int(offset)
            found[group] = offsets
        finally:
            await stop(client)
    return found


def as_manifest(found: Committed) -> list[dict[str, Any]]:
    return [
        {
            "group": group,
            "offsets": [
                {"topic": t, "partition": p, "offset": o} for (t, p), o in sorted(offsets.items())
            ],
        }
        for group, offsets in sorted(found.items())
    ]


def from_manifest(groups: Sequence[dict[str, Any]]) -> Committed:
    return {
        str(g["group"]): {
            (str(o["topic"]), int(o["partition"])): int(o["offset"]) for o in g["offsets"]
        }
        for g in groups
    }


@dataclass(frozen=True)
class Translated:
    """One group's offset on one target partition, and the upstream offset it came from."""

    group: str
    topic: str
    partition: int
    upstream: int
    offset: int
    committed: bool


async def translate(
    settings: KafkaSettings,
    groups: Committed,
    target_of: dict[str, str],
    run_id: str,
) -> list[Translated]:
    """Translate and commit ``groups`` (source topic -> target topic in ``target_of``) into the
    target, reading the run's restored records back for the (origin, target) offset pairs."""
    wanted: dict[TopicPartition, list[tuple[str, str, int]]] = {}
    for group, offsets in groups.items():
        for (topic, partition), upstream in offsets.items():
            if topic in target_of:
                tp = TopicPartition(target_of[topic], partition)
                wanted.setdefault(tp, []).append((group, topic, upstream))
    if not wanted:
        return []
    downstream = await _pairs(settings, wanted, run_id)
    found = []
    for tp, entries in sorted(wanted.items()):
        for group, topic, upstream in entries:
            offset = downstream[(tp, topic, upstream)]
            found.append(Translated(group, tp.topic, tp.partition, upstream, offset, False))
    return await _commit(settings, found)


async def _pairs(
    settings: KafkaSettings, wanted: dict[TopicPartition, list[tuple[str, str, int]]], run_id: str
) -> dict[tuple[TopicPartition, str, int], int]:
    """Per (target partition, source topic, upstream offset): the target offset of the first
    record of the run whose origin offset is at least the upstream one (else the log end)."""
    client = consumer(settings)
    await start(client, settings.bootstrap_servers)
    try:
        await client.topics()
        ends = await offset_ranges(client, list(wanted))
        result = {
            (tp, topic, up): ends[tp][1] for tp, items in wanted.items() for _, topic, up in items
        }
        pending = {tp: span for tp, span in ends.items() if span[1] > span[0]}
        if not pending:
            return result
        client.assign(list(pending))
        for tp, (first, _) in pending.items():
            client.seek(tp, first)
        mark = run_id.encode("utf-8")
        while pending:
            for tp, records in (await client.getmany(timeout_ms=500, max_records=5000)).items():
                for record in records:
                    _note(result, tp, record, mark)
            for tp in [tp for tp, (_, end) in pending.items() if await client.position(tp) >= end]:
                del pending[tp]
        return result
    finally:
        await stop(client)


def _note(result: dict[tuple[TopicPartition, str, int], int], tp: TopicPartition, record: Any,
          mark: bytes) -> None:  # fmt: skip
    headers = dict(record.headers)
    where = (
        parse_origin(headers.get(ORIGIN_HEADER, b"")) if headers.get(RUN_HEADER) == mark else None
    )
    if where is None:
        return
    for key, offset in result.items():
        if key[0] == tp and key[1] == where[0] and where[2] >= key[2] and record.offset < offset:
            result[key] = record.offset


async def _commit(settings: KafkaSettings, found: list[Translated]) -> list[Translated]:
    """Commit each translation that moves its group forward in the target."""
    done = []
    for group in sorted({t.group for t in found}):
        mine = [t for t in found if t.group == group]
        client = consumer(settings, group=group)
        await start(client, settings.bootstrap_servers)
        try:
            offsets = {}
            for t in mine:
                tp = TopicPartition(t.topic, t.partition)
                current = await client.committed(tp)
                moves = current is None or current < t.offset
                if moves:
                    offsets[tp] = OffsetAndMetadata(t.offset, "")
                done.append(Translated(t.group, t.topic, t.partition, t.upstream, t.offset, moves))
            if offsets:
                client.assign(list(offsets))
                await client.commit(offsets)
        finally:
            await stop(client)
    return done
