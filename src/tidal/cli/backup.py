"""``tidal backup run | verify | ls``: back up topics to another region's store, verified.

``run`` is what the BackupPolicy's CronJob (or, with ``--continuous``, Deployment) executes:
archive (resuming an unfinished backup of the policy), read back every segment and compare its
sha256 before reporting success, then apply retention (max age, max count, never the newest
verified backup). Its command line is the operator's contract (docs/operator.md).
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta
from pathlib import Path
from typing import Any

import click

from tidal.archive import backups
from tidal.archive.errors import BackupNotFound
from tidal.archive.kafka import consumer, kafka_settings, start, stop
from tidal.archive.results import RunResult
from tidal.archive.runs import Outcome, Retention, backup_once, extend, utcnow
from tidal.cli.archive import archive_options, segment_options, source_options, sources_of
from tidal.cli.archiving import (
    Duration,
    comma_list,
    execute,
    open_store,
    open_store_or_exit,
    progress_bar,
    result_options,
    stop_on_signals,
)
from tidal.cli.storeoptions import object_store_options


@click.group()
def backup() -> None:
    """Back up topics into an object store, verify backups, list them."""


def _record(result: RunResult, outcome: Outcome, totals: dict[str, int]) -> None:
    totals["events"] += outcome.events
    totals["objects"] += outcome.objects
    totals["bytes"] += outcome.bytes
    result.counts = dict(totals)
    result.backup = {"id": outcome.manifest.id, "verified": outcome.manifest.verified}
    if outcome.stored is not None:
        result.stored = outcome.stored.as_dict()


@backup.command("run")
@click.option("--policy", default=None, help="<namespace>/<name> of the BackupPolicy.")
@source_options
@object_store_options
@segment_options
@click.option("--retention-max-age", type=Duration(), default="35d", show_default=True)
@click.option("--retention-max-count", type=click.IntRange(1), default=None)
@click.option(
    "--keep-last-verified/--no-keep-last-verified",
    default=True,
    show_default=True,
    help="Retention never deletes the newest verified backup.",
)
@click.option(
    "--verify/--no-verify",
    default=True,
    show_default=True,
    help="Read every segment back and compare checksums before reporting success.",
)
@click.option("--restore-bootstrap-servers", default=None, help="Cluster to restore into (noted).")
@click.option("--restore-topic-prefix", default="", help="Prefix of restored topics (noted).")
@click.option("--continuous", is_flag=True, help="Keep archiving; upload every flush interval.")
@click.option("--flush-interval", type=Duration(), default="1m", show_default=True)
@result_options
def run_backup(result_file: Path | None, show_progress: bool, **options: Any) -> None:
    """Archive the selected topics, verify every checksum, apply retention."""
    sources = sources_of(options)
    target = None
    if options["restore_bootstrap_servers"]:
        target = {
            "bootstrap_servers": comma_list(options["restore_bootstrap_servers"]),
            "topic_prefix": options["restore_topic_prefix"],
        }
    config = archive_options(options, policy=options["policy"], restore_target=target)
    retention = Retention(
        max_age=options["retention_max_age"],
        max_count=options["retention_max_count"],
        keep_last_verified=options["keep_last_verified"],
    )
    interval: timedelta = options["flush_interval"]

    async def body(result: RunResult) -> None:
        store = open_store(options)
        settings = kafka_settings(options["bootstrap_servers"])
        client = consumer(settings)
        await start(client, settings.bootstrap_servers)
        totals = {"events": 0, "objects": 0, "bytes": 0}
        try:
            with progress_bar(show_progress, "backup") as advance:
                if not options["continuous"]:
                    outcome = await backup_once(
                        client,
                        store,
                        sources,
                        config,
                        retention,
                        now=utcnow(),
                        verify=options["verify"],
                        progress=advance,
                    )
                    _record(result, outcome, totals)
                    return
                stopping = stop_on_signals()
                while not stopping.is_set():
                    outcome = await extend(
                        client, store, sources, config, retention, now=utcnow(), progress=advance
                    )
                    _record(result, outcome, totals)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stopping.wait(), interval.total_seconds())
        finally:
            await stop(client)
        written = result.backup or {}
        click.echo(
            f"backup {written.get('id')}: {totals['events']} events in {totals['objects']} new "
            f"segments, verified={bool(written.get('verified'))}"
        )

    execute("backup run", result_file, body)


@backup.command("verify")
@object_store_options
@click.option("--id", "identifier", default=None, help="Backup to verify (default: the newest).")
@result_options
def verify_backup(result_file: Path | None, show_progress: bool, **options: Any) -> None:
    """Read back every segment of a backup and compare its sha256 with the manifest."""

    async def body(result: RunResult) -> None:
        store = open_store(options)
        found = backups.manifests(store)
        if options["identifier"]:
            manifest = backups.load(store, options["identifier"])
        elif found:
            manifest = found[-1]
        else:
            raise BackupNotFound(f"no backup in {store.config.describe()}")
        with progress_bar(show_progress, "verify", total=manifest.events) as advance:
            await asyncio.to_thread(backups.verify, store, manifest, advance)
        result.counts = {
            "events": manifest.events,
            "objects": len(manifest.segments),
            "bytes": manifest.size,
        }
        result.backup = {"id": manifest.id, "verified": True}
        click.echo(f"backup {manifest.id}: {len(manifest.segments)} segments verified")

    execute("backup verify", result_file, body)


@backup.command("ls")
@object_store_options
def list_backups(**options: Any) -> None:
    """List the backups in the store, oldest first."""
    store = open_store_or_exit(options)
    click.echo(f"{'ID':<22} {'STATE':<9} {'VERIFIED':<8} {'EVENTS':>10} {'SEGMENTS':>8} BYTES")
    for m in backups.manifests(store):
        click.echo(
            f"{m.id:<22} {m.state:<9} {m.verified!s:<8} {m.events:>10} {len(m.segments):>8} "
            f"{m.size}"
        )
