"""``tidal restore`` and ``tidal replay``: publish a backup into topics of another cluster.

``restore`` recreates each topic (``--topic-prefix`` before its name) partition by partition;
``replay`` sends every selected record to one ``--to-topic``, partitioned by key. Both keep
per-key order, check every segment's sha256 first, filter by type / error class / time, limit
the rate, can dry-run, and checkpoint in the store so that a restarted run continues.
"""

from __future__ import annotations

import hashlib
from typing import Any

import click

from tidal.archive import backups
from tidal.archive.filters import Selection
from tidal.archive.kafka import kafka_settings, producer, start, stop
from tidal.archive.manifest import Manifest
from tidal.archive.ratelimit import RateLimiter
from tidal.archive.restore import Checkpoint, Target, ensure_topics, publish
from tidal.archive.results import RunResult
from tidal.archive.store import ObjectStore
from tidal.cli.archiving import (
    Time,
    _apply,
    comma_list,
    execute,
    open_store,
    progress_bar,
    result_options,
)
from tidal.cli.storeoptions import object_store_options

PRODUCER_OPTIONS = {"linger_ms": 5, "max_batch_size": 512 * 1024}


def selection_options(func: Any) -> Any:
    return _apply(
        func,
        [
            click.option("--type", "types", multiple=True, help="Only this event type."),
            click.option("--error-class", "error_classes", multiple=True, help="Only this error."),
            click.option(
                "--subscriber", "subscribers", multiple=True, help="Only this subscriber."
            ),
            click.option("--since", type=Time(), default=None, help="At or after (RFC 3339)."),
            click.option("--until", type=Time(), default=None, help="Before (RFC 3339)."),
        ],
    )


def selection_of(options: dict[str, Any], *, failure_time: bool = False) -> Selection:
    since, until = options["since"], options["until"]
    if since is not None and until is not None and until <= since:
        raise click.UsageError("--until must be after --since")
    return Selection(
        types=tuple(options["types"]),
        error_classes=tuple(options["error_classes"]),
        subscribers=tuple(options["subscribers"]),
        since=since,
        until=until,
        failure_time=failure_time,
    )


def _common(func: Any) -> Any:
    return _apply(
        func,
        [
            object_store_options,
            click.option("--backup-id", default=None, help="Backup (default: newest verified)."),
            click.option(
                "--bootstrap-servers",
                default=None,
                help="Target cluster (default: the backup's recorded restore target).",
            ),
            click.option("--topic", "topics", multiple=True, help="Only this source topic."),
            selection_options,
            click.option(
                "--rate-limit", type=click.IntRange(0), default=0, help="Events/s (0: no limit)."
            ),
            click.option("--dry-run", is_flag=True, help="Count what would be sent; send nothing."),
            click.option("--checkpoint", default=None, help="Checkpoint name (default: derived)."),
            result_options,
        ],
    )


def _manifest(store: ObjectStore, identifier: str | None) -> Manifest:
    return backups.load(store, identifier) if identifier else backups.latest_verified(store)


def _checkpoint_name(kind: str, manifest: Manifest, bootstrap: str, where: str) -> str:
    digest = hashlib.sha256(f"{bootstrap}|{where}".encode()).hexdigest()[:12]
    return f"{kind}-{manifest.id}-{digest}"


def _run(command: str, options: dict[str, Any], target_of: Any) -> None:
    selection = selection_of(options)

    async def body(result: RunResult) -> None:
        store = open_store(options)
        manifest = _manifest(store, options["backup_id"])
        recorded = manifest.restore_target or {}
        bootstrap = options["bootstrap_servers"] or recorded.get("bootstrap_servers")
        if not bootstrap:
            raise click.UsageError("--bootstrap-servers is needed: the backup names no target")
        target: Target = target_of(recorded)
        where = target.topic or f"prefix:{target.prefix}"
        name = options["checkpoint"] or _checkpoint_name(command, manifest, bootstrap, where)
        checkpoint = Checkpoint.load(store, name, manifest.id)
        settings = kafka_settings(comma_list(bootstrap))
        wanted = [
            p for p in manifest.partitions if not options["topics"] or p.topic in options["topics"]
        ]
        if not options["dry_run"]:
            counts: dict[str, int] = {}
            for p in wanted:
                topic = target.topic_for(p.topic)
                counts[topic] = max(counts.get(topic, 0), p.partition + 1)
            await ensure_topics(settings, dict.fromkeys(counts, 1) if target.topic else counts)
        client = producer(settings, **PRODUCER_OPTIONS)
        await start(client, settings.bootstrap_servers)
        try:
            total = sum(s.count for p in wanted for s in manifest.segments_of(p.topic, p.partition))
            with progress_bar(options["show_progress"], command, total=total) as advance:
                counts_ = await publish(
                    store,
                    manifest,
                    client,
                    target=target,
                    selection=selection,
                    checkpoint=checkpoint,
                    limiter=RateLimiter(options["rate_limit"]),
                    topics=tuple(options["topics"]),
                    dry_run=options["dry_run"],
                    progress=advance,
                )
        finally:
            await stop(client)
        result.counts = counts_.as_dict()
        result.backup = {"id": manifest.id, "verified": manifest.verified}
        verb = "would send" if options["dry_run"] else "sent"
        click.echo(
            f"{command} of backup {manifest.id}: {verb} {counts_.events} events, skipped "
            f"{counts_.skipped}; {counts_.segments} segments this run, "
            f"{counts_.done_before} done before (checkpoint {name})"
        )

    execute(command, options["result_file"], body)


@click.command("restore")
@_common
@click.option("--topic-prefix", default=None, help="Before each restored topic's name.")
def restore(**options: Any) -> None:
    """Restore a backup into its topics (same partitions) in another cluster."""

    def target(recorded: dict[str, str]) -> Target:
        prefix = options["topic_prefix"]
        return Target(prefix=recorded.get("topic_prefix", "") if prefix is None else prefix)

    _run("restore", options, target)


@click.command("replay")
@_common
@click.option("--to-topic", required=True, help="Every selected record goes to this topic.")
def replay(**options: Any) -> None:
    """Replay a backup's records into one topic, partitioned by key."""
    _run("replay", options, lambda recorded: Target(topic=options["to_topic"]))
