"""Re-drive: publish archived dead letters again, as the records were before they failed.

`original_record` turns a letter back into the record that failed (the failure extensions
removed, from the headers and from a structured event's JSON). `redrive` reads the selected
letters one segment at a time and sends each to its origin topic (or one ``to_topic``), marked
with the run id and the letter it came from (`tidal_data.marks`). Before the first letter
goes to a topic, that topic is read back: letters this run id published before are not sent
again, so a repeated run (a retried or recreated Job, the same command twice) re-drives nothing
twice. Memory: one segment, plus the origins of this run's letters found in the target. Called
by ``tidal dlq redrive`` (`tidal_data.cli.dlq`).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from tidal.kafka import CLAIM, FAILURE_EXTENSIONS, ORIGIN_TOPIC, OVERSIZE
from tidal_data.dlq import Progress, Seen, in_window, segment_letters, segments
from tidal_data.errors import PublishFailed
from tidal_data.filters import BINARY_PREFIX, Selection, attributes
from tidal_data.kafka import KafkaError
from tidal_data.keys import DlqKey
from tidal_data.marks import marks, origin, without_marks
from tidal_data.ratelimit import RateLimiter
from tidal_data.segments import Record
from tidal_data.store import ObjectStore

IN_FLIGHT = 1000
"""Sends awaited at most before their acknowledgements are collected."""

Scanner = Callable[[str], Awaitable[set[str]]]
"""Reads a target topic back: the origins this run already published there."""


def value_dropped(record: Record) -> bool:
    """Whether the worker dead-lettered ``record`` without its value (too large for the DLQ
    topic, no claim-check store: `tidal._transports.kafka.fitting`). Re-driving it would send
    an empty event; the original is still at its ``tidaltopic`` / ``tidaloffset`` until the
    topic's retention removes it."""
    names = {name for name, _ in record.headers}
    return OVERSIZE in names and CLAIM not in names


def original_record(record: Record) -> tuple[bytes | None, bytes | None, list[tuple[str, bytes]]]:
    """(key, value, headers) of the record as it was before it was dead-lettered."""
    failure = set(FAILURE_EXTENSIONS)
    headers = []
    structured = False
    for name, raw in without_marks(record.headers):
        lower = name.lower()
        if lower == "content-type" and raw.startswith(b"application/cloudevents"):
            structured = True
        if lower in failure or (
            lower.startswith(BINARY_PREFIX) and lower[len(BINARY_PREFIX) :] in failure
        ):
            continue
        headers.append((name, raw))
    value = record.value
    if structured and value:
        try:
            body = json.loads(value)
        except ValueError:
            body = None
        if isinstance(body, dict):
            cleaned = {k: v for k, v in body.items() if k not in failure}
            value = json.dumps(cleaned, separators=(",", ":")).encode("utf-8")
    return record.key, value, headers


@dataclass
class RedriveCounts:
    redriven: int = 0
    skipped: int = 0
    failed: int = 0
    present: int = 0
    """Letters this run id had re-driven before (found in the target), not sent again."""

    def as_dict(self) -> dict[str, int]:
        return {
            "redriven": self.redriven,
            "skipped": self.skipped,
            "failed": self.failed,
            "present": self.present,
        }


@dataclass
class _Run:
    producer: Any
    run_id: str
    scanner: Scanner
    limiter: RateLimiter
    dry_run: bool
    counts: RedriveCounts = field(default_factory=RedriveCounts)
    done: dict[str, set[str]] = field(default_factory=dict)
    pending: list[Any] = field(default_factory=list)

    async def send(self, target: str, parsed: DlqKey, record: Record) -> None:
        if target not in self.done:
            self.done[target] = await self.scanner(target)
        where = origin(parsed.topic, parsed.partition, record.offset)
        if where in self.done[target]:
            self.counts.present += 1
            return
        await self.limiter.take()
        self.counts.redriven += 1
        if self.dry_run:
            return
        key, value, headers = original_record(record)
        headers += marks(self.run_id, parsed.topic, parsed.partition, record.offset)
        try:
            self.pending.append(
                await self.producer.send(target, key=key, value=value, headers=headers)
            )
            if len(self.pending) >= IN_FLIGHT:
                await asyncio.gather(*self.pending)
                self.pending.clear()
        except KafkaError as exc:
            raise PublishFailed(f"re-driving to {target}: {exc}") from exc


async def redrive(
    store: ObjectStore,
    producer: Any,
    selection: Selection,
    *,
    run_id: str,
    scanner: Scanner,
    to_topic: str | None,
    limiter: RateLimiter,
    dry_run: bool,
    topics: Sequence[str] = (),
    scope: str | None = None,
    progress: Progress | None = None,
) -> RedriveCounts:
    """Publish the selected letters of the archive ``scope`` again, each to its original topic
    (or ``to_topic``), unless this run id published it there before."""
    run = _Run(producer, run_id, scanner, limiter, dry_run)
    keys = []
    for found in segments(store, topics=topics, scope=scope):
        if in_window(found[1], since=selection.since, until=selection.until, types=selection.types):
            keys.append(found)
        else:
            run.counts.skipped += found[1].count
    seen: set[Seen] = set()
    for key, parsed, _ in keys:
        for record in await asyncio.to_thread(segment_letters, store, key, parsed, seen):
            if not selection.matches(record):
                run.counts.skipped += 1
                continue
            target = to_topic or attributes(record).get(ORIGIN_TOPIC)
            if not target or value_dropped(record):  # nowhere to go, or nothing whole to send
                run.counts.failed += 1
                continue
            await run.send(str(target), parsed, record)
            if progress is not None:
                progress(1, len(record.value or b""))
    try:
        await asyncio.gather(*run.pending)
    except KafkaError as exc:
        raise PublishFailed(f"re-drive not acknowledged: {exc}") from exc
    return run.counts
