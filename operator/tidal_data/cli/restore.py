"""``tidal restore`` and ``tidal replay``: publish a backup into topics of another cluster.

``restore`` recreates each topic (``--topic-prefix`` before its name) partition by partition,
with the source's partition count, replication factor and configs; ``replay`` sends every
selected record to one ``--to-topic``, partitioned by key. Without ``--backup-id`` the newest
backup of the policy that verifies is taken: each candidate is read back first, and one that
fails is marked unverified and the next older one tried. Both keep per-key order, check every
segment's sha256, filter by type / error class / time, limit the rate, can dry-run, and are
idempotent against the target (`tidal_data.marks`). A restore refuses a target topic holding
records of anything but this run (``--allow-non-empty``), the backup's own source topics
(``--allow-source``) and a partition count other than the backup's (``--repartition by-key``).
"""

from __future__ import annotations

import asyncio
from typing import Any

import click

from tidal_data import backups
from tidal_data.cli.shared import (
    Time,
    _apply,
    comma_list,
    execute,
    open_store,
    progress_bar,
    result_options,
)
from tidal_data.cli.storeoptions import object_store_options
from tidal_data.errors import BackupNotFound, ChecksumMismatch, InvalidArgument
from tidal_data.filters import Selection
from tidal_data.groups import from_manifest, translate
from tidal_data.kafka import kafka_settings, producer, start, stop
from tidal_data.manifest import Manifest, TopicConfig
from tidal_data.marks import Done, read_back
from tidal_data.ratelimit import RateLimiter
from tidal_data.restore import Counts, Target, publish, run_id
from tidal_data.results import RunResult
from tidal_data.runs import utcnow, verify_and_mark
from tidal_data.store import ObjectStore
from tidal_data.topics import cluster_of, create_targets, retention_ms

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
            click.option("--policy", default=None, help="Whose backups (<namespace>/<name>)."),
            click.option(
                "--backup-id", default=None, help="Backup (default: newest that verifies)."
            ),
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
            click.option(
                "--run-id", default=None, help="The run's id (default: from backup and target)."
            ),
            result_options,
        ],
    )


def _chosen(store: ObjectStore, options: dict[str, Any]) -> Manifest:
    """The backup to restore: ``--backup-id``, else the newest of the policy that verifies
    now (each failing candidate is marked unverified on the way)."""
    policy = backups.resolve_policy(store, options["policy"])
    if options["backup_id"]:
        mine = [m for m in backups.manifests(store, policy) if m.id == options["backup_id"]]
        if not mine:
            raise BackupNotFound(f"no backup {options['backup_id']} of {policy or 'no policy'}")
        return mine[0]
    failures = []
    for manifest in backups.verified_newest_first(store, policy):
        try:
            verify_and_mark(store, manifest)
        except ChecksumMismatch as exc:
            failures.append(f"{manifest.id}: {exc}")
            click.echo(f"backup {manifest.id} does not verify, trying an older one: {exc}",
                       err=True)  # fmt: skip
            continue
        return manifest
    if not failures:
        raise backups.not_found(store, policy, "verified backup")
    raise BackupNotFound(f"no backup of {policy or 'no policy'} verifies ({'; '.join(failures)})")


def _wanted(manifest: Manifest, target: Target, topics: tuple[str, ...]) -> list[TopicConfig]:
    """The target topics, as the source had them (replay: the one topic, as it is, or when
    missing created with one partition and the cluster's default replication factor)."""
    sources = [t for t in manifest.topics() if not topics or t in topics]
    if target.topic is not None:
        return [TopicConfig(name=target.topic, partitions=1, replication_factor=None)]
    found = []
    for name in sources:
        info = manifest.topic_info(name)
        found.append(TopicConfig(
            name=target.topic_for(name), partitions=info.partitions,
            replication_factor=info.replication_factor, configs=info.configs,
        ))  # fmt: skip
    return found


async def _expiring(options: dict[str, Any], manifest: Manifest, target: Target,
                    settings: Any) -> None:  # fmt: skip
    """Refuse records a target topic's time-based retention would delete at once."""
    if target.restamp or options["allow_expiring"] or options["dry_run"]:
        return
    kept = await retention_ms(settings, sorted(target.partitions))
    now = utcnow().timestamp() * 1000
    for topic in manifest.topics():
        limit = kept.get(target.topic_for(topic), -1)
        stamps = [s.min_timestamp for p in manifest.partitions if p.topic == topic
                  for s in manifest.segments_of(p.topic, p.partition)]  # fmt: skip
        if limit >= 0 and stamps and min(stamps) < now - limit:
            raise InvalidArgument(
                f"{target.topic_for(topic)} keeps records {limit} ms; the backup's oldest are "
                "older, so the target would delete them at once (--timestamps now gives them "
                "the restore time, or --allow-expiring)",
                reason="RetentionWouldDelete",
            )


def _refusals(command: str, options: dict[str, Any], manifest: Manifest, target: Target,
              same_cluster: bool, done: Done) -> None:  # fmt: skip
    if command != "restore":
        return
    clash = [t for t in manifest.topics() if target.topic_for(t) == t]
    if same_cluster and clash and not options["allow_source"]:
        raise InvalidArgument(
            f"the target is the backup's own source cluster and topics {', '.join(clash)}: "
            "restoring would double them (--topic-prefix, another cluster, or --allow-source)",
            reason="TargetIsSource",
        )
    if done.foreign and not options["allow_non_empty"]:
        busy = ", ".join(f"{t} ({n} records)" for t, n in sorted(done.foreign.items()))
        raise InvalidArgument(
            f"target topics hold records of something else: {busy} (--allow-non-empty)",
            reason="TargetNotEmpty",
        )


def _run(command: str, options: dict[str, Any], target_of: Any) -> None:
    selection = selection_of(options)

    async def body(result: RunResult) -> None:
        store = open_store(options)
        manifest = await asyncio.to_thread(_chosen, store, options)
        recorded = manifest.restore_target or {}
        bootstrap = options["bootstrap_servers"] or recorded.get("bootstrap_servers")
        if not bootstrap:
            raise click.UsageError("--bootstrap-servers is needed: the backup names no target")
        target: Target = target_of(recorded)
        settings = kafka_settings(comma_list(bootstrap))
        run = options["run_id"] or run_id(
            command, manifest, target.topic, target.prefix, target.repartition, selection,
            sorted(options["topics"]),
        )  # fmt: skip
        wanted = _wanted(manifest, target, tuple(options["topics"]))
        same_cluster = (await cluster_of(settings)).same_as(manifest.source)
        if options["dry_run"]:
            partitions = {t.name: t.partitions for t in wanted}
        else:
            partitions = await create_targets(
                settings, wanted, repartition=target.by_key,
                replication_factor=options.get("replication_factor"),
            )  # fmt: skip
        target = Target(prefix=target.prefix, topic=target.topic,
                        repartition=target.repartition, partitions=partitions,
                        restamp=options.get("timestamps") == "now")  # fmt: skip
        if command == "restore":
            await _expiring(options, manifest, target, settings)
        done = await read_back(settings, partitions, run) if not options["dry_run"] else Done()
        _refusals(command, options, manifest, target, same_cluster, done)
        counts = await _publish(store, manifest, settings, target, selection, run, done, options)
        result.counts = counts.as_dict()
        moved = await _groups(command, options, manifest, settings, target, run)
        result.counts["groupOffsets"] = moved
        result.backup = {"id": manifest.id, "verified": manifest.verified, "runId": run}
        verb = "would send" if options["dry_run"] else "sent"
        click.echo(
            f"{command} of backup {manifest.id} (run {run}): {verb} {counts.events} events, "
            f"skipped {counts.skipped}, {counts.present} already in the target"
        )

    execute(command, options["result_file"], body)


async def _groups(command: str, options: dict[str, Any], manifest: Manifest, settings: Any,
                  target: Target, run: str) -> int:  # fmt: skip
    """Translate and commit the backed-up consumer-group offsets (same-partition restores)."""
    if command != "restore" or target.by_key or options["dry_run"] or not manifest.groups:
        return 0
    names = [t for t in manifest.topics() if not options["topics"] or t in options["topics"]]
    found = await translate(
        settings, from_manifest(manifest.groups), {t: target.topic_for(t) for t in names}, run
    )
    for t in found:
        verb = "committed" if t.committed else "kept (the group is further)"
        click.echo(f"group {t.group} {t.topic}/{t.partition}: {t.upstream} -> {t.offset} {verb}")
    return sum(1 for t in found if t.committed)


async def _publish(store: ObjectStore, manifest: Manifest, settings: Any, target: Target,
                   selection: Selection, run: str, done: Done, options: dict[str, Any]
                   ) -> Counts:  # fmt: skip
    client = producer(settings, **PRODUCER_OPTIONS)
    await start(client, settings.bootstrap_servers)
    topics = tuple(options["topics"])
    try:
        wanted = [p for p in manifest.partitions if not topics or p.topic in topics]
        total = sum(s.count for p in wanted for s in manifest.segments_of(p.topic, p.partition))
        with progress_bar(options["show_progress"], "restore", total=total) as advance:
            return await publish(
                store, manifest, client, target=target, selection=selection, run=run,
                done=done, limiter=RateLimiter(options["rate_limit"]), topics=topics,
                dry_run=options["dry_run"], progress=advance,
            )  # fmt: skip
    finally:
        await stop(client)


@click.command("restore")
@_common
@click.option("--topic-prefix", default=None, help="Before each restored topic's name.")
@click.option(
    "--repartition",
    type=click.Choice(["none", "by-key"]),
    default="none",
    show_default=True,
    help="by-key: a target topic may have another partition count (keys are re-hashed).",
)
@click.option("--replication-factor", type=click.IntRange(1), default=None,
              help="Of created topics (default: the source's, else the cluster's).")  # fmt: skip
@click.option("--allow-non-empty", is_flag=True, help="Restore into topics holding other records.")
@click.option("--allow-source", is_flag=True, help="Restore into the backup's own source topics.")
@click.option(
    "--timestamps",
    type=click.Choice(["original", "now"]),
    default="original",
    show_default=True,
    help="now: records get the restore time (the original in tidal-original-timestamp).",
)
@click.option(
    "--allow-expiring", is_flag=True, help="Restore records the target's retention deletes."
)
def restore(**options: Any) -> None:
    """Restore a backup into its topics (same partitions) in another cluster."""

    def target(recorded: dict[str, str]) -> Target:
        prefix = options["topic_prefix"]
        return Target(
            prefix=recorded.get("topic_prefix", "") if prefix is None else prefix,
            repartition=options["repartition"] == "by-key",
        )

    _run("restore", options, target)


@click.command("replay")
@_common
@click.option("--to-topic", required=True, help="Every selected record goes to this topic.")
def replay(**options: Any) -> None:
    """Replay a backup's records into one topic, partitioned by key."""
    _run("replay", options, lambda recorded: Target(topic=options["to_topic"]))
