"""The restore test: proof that a backup restores, not only that its objects are intact.

``tidal backup test-restore`` (`tidal_data.cli.restoretest`) restores a policy's newest backup that
verifies into scratch topics, then compares every partition with the backup: the record count
and a sha256 over each record's key, value, headers (the run's marks left aside) and timestamp,
in order. `digest_backup` computes the backup's side from its segments, `digest_target` the
scratch topics' side; `compare` names what differs. Called by `tidal_data.cli.restoretest`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from tidal.kafka import KafkaSettings, admin
from tidal_data.kafka import TopicPartition, consumer, offset_ranges, start, stop
from tidal_data.manifest import Manifest
from tidal_data.marks import without_marks
from tidal_data.restore import read_segment
from tidal_data.segments import Record, encode
from tidal_data.store import ObjectStore


@dataclass
class Digest:
    """Count and running sha256 of one partition's records."""

    count: int = 0
    sha: Any = field(default_factory=hashlib.sha256)

    def add(self, records: Iterable[Any]) -> None:
        for r in records:
            self.count += 1
            same = Record(0, r.timestamp, r.key, r.value, tuple(without_marks(r.headers)))
            self.sha.update(encode([same]))

    @property
    def hex(self) -> str:
        return str(self.sha.hexdigest())


Digests = dict[tuple[str, int], Digest]


def digest_backup(store: ObjectStore, manifest: Manifest) -> Digests:
    """Per (source topic, partition): the backup's records, segment by segment. Blocking."""
    found: Digests = {}
    for part in manifest.partitions:
        digest = found.setdefault((part.topic, part.partition), Digest())
        for segment in manifest.segments_of(part.topic, part.partition):
            digest.add(read_segment(store, segment, manifest.compression))
    return found


async def digest_target(settings: KafkaSettings, partitions: dict[str, int]) -> Digests:
    """Per (topic, partition) of ``partitions`` (topic -> count): what the target holds."""
    client = consumer(settings)
    await start(client, settings.bootstrap_servers)
    try:
        await client.topics()
        tps = [TopicPartition(t, p) for t, n in sorted(partitions.items()) for p in range(n)]
        ends = await offset_ranges(client, tps)
        found: Digests = {(tp.topic, tp.partition): Digest() for tp in tps}
        pending = {tp: span for tp, span in ends.items() if span[1] > span[0]}
        client.assign(list(pending))
        for tp, (first, _) in pending.items():
            client.seek(tp, first)
        while pending:
            for tp, records in (await client.getmany(timeout_ms=500, max_records=5000)).items():
                end = pending.get(tp, (0, 0))[1]
                found[(tp.topic, tp.partition)].add(r for r in records if r.offset < end)
            for tp in [tp for tp, (_, end) in pending.items() if await client.position(tp) >= end]:
                del pending[tp]
        return found
    finally:
        await stop(client)


def compare(expected: Digests, found: Digests, prefix: str) -> list[str]:
    """What differs between the backup and its restored copy (empty: identical)."""
    problems = []
    for (topic, partition), digest in sorted(expected.items()):
        copy = found.get((f"{prefix}{topic}", partition), Digest())
        if copy.count != digest.count:
            problems.append(f"{topic}/{partition}: {copy.count} records, not {digest.count}")
        elif copy.hex != digest.hex:
            problems.append(f"{topic}/{partition}: the records differ (sha256)")
    return problems


async def delete_topics(settings: KafkaSettings, topics: list[str]) -> None:
    async with admin(settings) as client:
        await client.delete_topics(topics)
