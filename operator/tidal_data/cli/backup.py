"""``tidal backup run | verify | ls``: back up topics to another region's store, verified.

``run`` is what the BackupPolicy's CronJob (or, with ``--continuous``, Deployment) executes:
claim the store prefix for ``--policy``, archive (resuming an unfinished backup of the policy),
read back every segment and compare its sha256 before reporting success, then apply retention
to the policy's own backups (max age, max count, never the newest verified backup, never the
last backup of a topic, never the newest backup holding a partition whole). A selected topic
that is missing, or a partition that cannot be read to its end (records deleted under the run,
a truncated log, a read timing out), makes the run PartiallyFailed (exit 3) naming them.
``verify`` records its outcome in the manifest. Its command line is the operator's contract
(docs/operator.md).
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import click

from tidal.cli import stop_on_signals
from tidal_data import backups
from tidal_data.catalog import catalog
from tidal_data.cli.archive import (
    archive_options,
    report_partial,
    segment_options,
    source_options,
    sources_of,
)
from tidal_data.cli.restoretest import test_restore
from tidal_data.cli.shared import (
    Duration,
    comma_list,
    execute,
    open_store,
    open_store_or_exit,
    progress_bar,
    result_options,
)
from tidal_data.cli.storeoptions import object_store_options
from tidal_data.errors import BackupNotFound, RunFailure
from tidal_data.kafka import consumer, kafka_settings, start, stop
from tidal_data.owners import claim
from tidal_data.results import RunResult
from tidal_data.runs import BackupReport, Retention, backup_once, extend, utcnow, verify_and_mark


@click.group()
def backup() -> None:
    """Back up topics into an object store, verify backups, list them."""


def _record(result: RunResult, report: BackupReport, totals: dict[str, int]) -> None:
    totals["events"] += report.events
    totals["objects"] += report.objects
    totals["bytes"] += report.bytes
    result.counts = dict(totals)
    result.backup = {"id": report.manifest.id, "verified": report.manifest.verified}
    report_partial(result, report)
    if report.stored is not None:
        result.stored = report.stored.as_dict()


def _say(result: RunResult, totals: dict[str, int]) -> None:
    written = result.backup or {}
    click.echo(
        f"backup {written.get('id')}: {totals['events']} events in {totals['objects']} new "
        f"segments, verified={bool(written.get('verified'))}"
    )


policy_option = click.option(
    "--policy", default=None, help="<namespace>/<name> of the BackupPolicy (its backups only)."
)


@backup.command("run")
@policy_option
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
@click.option(
    "--group",
    "groups",
    multiple=True,
    help="A consumer group whose committed offsets are backed up (restore translates them).",
)
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
        if options["policy"]:
            claim(store, "backup-policy", options["policy"])
        settings = kafka_settings(options["bootstrap_servers"])
        run_config = replace(config, kafka=settings, groups=tuple(options["groups"]))
        client = consumer(settings, reset="none")
        await start(client, settings.bootstrap_servers)
        totals = {"events": 0, "objects": 0, "bytes": 0}
        try:
            with progress_bar(show_progress, "backup") as advance:
                if not options["continuous"]:
                    report = await backup_once(
                        client,
                        store,
                        sources,
                        run_config,
                        retention,
                        now=utcnow(),
                        verify=options["verify"],
                        progress=advance,
                    )
                    _record(result, report, totals)
                    _say(result, totals)
                    return
                stopping = stop_on_signals()
                while not stopping.is_set():
                    report = await extend(
                        client, store, sources, run_config, retention, now=utcnow(),
                        progress=advance,
                    )  # fmt: skip
                    _record(result, report, totals)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stopping.wait(), interval.total_seconds())
        finally:
            await stop(client)
        _say(result, totals)

    execute("backup run", result_file, body)


@backup.command("verify")
@object_store_options
@policy_option
@click.option("--id", "identifier", default=None, help="Backup to verify (default: the newest).")
@result_options
def verify_backup(result_file: Path | None, show_progress: bool, **options: Any) -> None:
    """Read back every segment of a backup and compare its sha256 with the manifest; the
    outcome is recorded in the manifest (a failure takes ``verified`` away)."""

    async def body(result: RunResult) -> None:
        store = open_store(options)
        policy = backups.resolve_policy(store, options["policy"])
        found = backups.manifests(store, policy)
        if options["identifier"]:
            manifest = next((m for m in found if m.id == options["identifier"]), None)
            if manifest is None:
                raise BackupNotFound(
                    f"no backup {options['identifier']} of {policy or 'no policy'}"
                )
        elif found:
            manifest = found[-1]
        else:
            raise backups.not_found(store, policy, "backup")
        with progress_bar(show_progress, "verify", total=manifest.events) as advance:
            await asyncio.to_thread(verify_and_mark, store, manifest, advance)
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
@click.option("--policy", default=None, help="Only this BackupPolicy's backups.")
def list_backups(**options: Any) -> None:
    """List the backups in the store, oldest first: each policy's, and those it cannot read
    (a wrong key, a damaged manifest) with the reason."""
    store = open_store_or_exit(options)
    try:
        found = backups.listing(store)
    except RunFailure as exc:
        raise click.ClickException(f"{exc.reason}: {exc}") from exc
    chosen = found.of(options["policy"]) if options["policy"] else found.manifests
    click.echo(
        f"{'ID':<22} {'POLICY':<24} {'STATE':<9} {'VERIFIED':<8} {'EVENTS':>10} "
        f"{'SEGMENTS':>8} {'BYTES':>12} NOTE"
    )
    for m in chosen:
        notes = [f"missing: {','.join(m.missing_topics)}"] if m.missing_topics else []
        notes += [f"unreadable: {g.describe()}" for g in m.gaps()]
        note = m.verify_error or "; ".join(notes)
        click.echo(
            f"{m.id:<22} {m.policy or '-':<24} {m.state:<9} {m.verified!s:<8} {m.events:>10} "
            f"{len(m.segments):>8} {m.size:>12} {note}"
        )
    for key, why in sorted(found.unreadable.items()):
        click.echo(f"{key}: unreadable: {why}")


@backup.command("sync")
@object_store_options
@result_options
def sync_backups(result_file: Path | None, show_progress: bool, **options: Any) -> None:
    """List every policy's backups in the store for another cluster's operator: the result's
    ``listing`` (a BackupLocation's sync Job runs this; read-only credentials suffice)."""

    async def body(result: RunResult) -> None:
        store = open_store(options)
        found = await asyncio.to_thread(backups.listing, store)
        result.listing = catalog(found)
        result.counts = {"backups": len(found.manifests), "unreadable": len(found.unreadable)}
        click.echo(
            f"{len(found.manifests)} backups of {len(found.policies())} policies in "
            f"{store.config.describe()} ({len(found.unreadable)} unreadable)"
        )

    execute("backup sync", result_file, body)


backup.add_command(test_restore)
