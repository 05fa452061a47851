"""``tidal archive``: copy topics into the object store as a backup (no verify, no retention).

Resumable and idempotent: run it again with the same ``--id`` after a crash and it continues
from the last segment its manifest records; on a finished backup it does nothing. ``tidal backup
run`` (`tidal_data.cli.backup`) is the same plus verification and retention.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from tidal_data.cli.shared import (
    Duration,
    _apply,
    comma_list,
    execute,
    open_store,
    progress_bar,
    result_options,
)
from tidal_data.cli.storeoptions import object_store_options
from tidal_data.kafka import consumer, kafka_settings, start, stop
from tidal_data.results import RunResult
from tidal_data.runs import ArchiveOptions, BackupReport, Sources, archive_backup, utcnow
from tidal_data.segments import COMPRESSIONS
from tidal_data.writer import MANIFEST_INTERVAL


def source_options(func: Any) -> Any:
    """``--bootstrap-servers`` and the topic selection flags."""
    return _apply(
        func,
        [
            click.option(
                "--bootstrap-servers",
                required=True,
                callback=lambda c, p, v: comma_list(v),
                help="host:port,... of the source cluster.",
            ),
            click.option("--topic", "topics", multiple=True, help="A topic (repeatable)."),
            click.option("--include", multiple=True, help="Also topics matching this regex."),
            click.option("--exclude", multiple=True, help="Never topics matching this regex."),
        ],
    )


def segment_options(func: Any) -> Any:
    return _apply(
        func,
        [
            click.option(
                "--compression", type=click.Choice(COMPRESSIONS), default="zstd", show_default=True
            ),
            click.option(
                "--segment-max-events",
                type=click.IntRange(1, 10_000_000),
                default=10_000,
                show_default=True,
                help="Records per segment at most.",
            ),
            click.option(
                "--read-timeout",
                type=Duration(),
                default="2m",
                show_default=True,
                help="A partition below its end that yields nothing for this long while the"
                " run fetches ends its read: the offsets it misses are named and the run is"
                " PartiallyFailed.",
            ),
            click.option(
                "--manifest-interval",
                type=click.FloatRange(0, 3600),
                default=MANIFEST_INTERVAL,
                show_default=True,
                help="Seconds between manifest rewrites while archiving (a killed run redoes"
                " at most what it uploaded since; 0: after every segment).",
            ),
        ],
    )


def sources_of(options: dict[str, Any]) -> Sources:
    if not options["topics"] and not options["include"]:
        raise click.UsageError("select topics with --topic or --include")
    return Sources(
        topics=tuple(options["topics"]),
        include=tuple(options["include"]),
        exclude=tuple(options["exclude"]),
    )


MAX_GAPS_REPORTED = 10
"""Gaps listed in the run result (it must fit 4096 bytes); ``unreadableCount`` has them all."""


def report_partial(result: RunResult, report: BackupReport) -> None:
    """Mark ``result`` PartiallyFailed when selected topics were missing or partitions could
    not be read to their end, naming them (``backup.missingTopics``, ``backup.unreadable``)."""
    assert result.backup is not None
    found: list[tuple[str, str]] = []
    if report.missing:
        result.backup["missingTopics"] = report.missing
        found.append((
            "TopicsMissing",
            f"selected topics not in the source: {', '.join(report.missing)} (the others "
            "were backed up; retention keeps the last backup holding each)",
        ))  # fmt: skip
    gaps = report.gaps
    if gaps:
        result.backup["unreadable"] = [g.as_dict() for g in gaps[:MAX_GAPS_REPORTED]]
        result.backup["unreadableCount"] = len(gaps)
        found.append((
            "PartitionsUnreadable",
            f"partitions not read to their end: {'; '.join(g.describe() for g in gaps)} (the"
            " rest was backed up; retention keeps the newest backup holding each partition"
            " whole)",
        ))  # fmt: skip
    if found:
        result.partial(found[-1][0], " / ".join(message for _, message in found))


def archive_options(options: dict[str, Any], **extra: Any) -> ArchiveOptions:
    return ArchiveOptions(
        compression=options["compression"],
        encryption=options.get("encryption", "none"),
        max_events=options["segment_max_events"],
        manifest_interval=options["manifest_interval"],
        read_timeout=options["read_timeout"].total_seconds(),
        **extra,
    )


@click.command("archive")
@source_options
@object_store_options
@segment_options
@click.option("--id", "identifier", default=None, help="Backup to write or resume (default: new).")
@result_options
def archive_command(result_file: Path | None, show_progress: bool, **options: Any) -> None:
    """Archive topics into the object store as compressed immutable segments + a manifest."""
    sources = sources_of(options)
    config = archive_options(options, identifier=options["identifier"])

    async def body(result: RunResult) -> None:
        store = open_store(options)
        settings = kafka_settings(options["bootstrap_servers"])
        client = consumer(settings, reset="none")
        await start(client, settings.bootstrap_servers)
        try:
            with progress_bar(show_progress, "archive") as advance:
                report = await archive_backup(
                    client, store, sources, config, now=utcnow(), progress=advance
                )
        finally:
            await stop(client)
        manifest = report.manifest
        result.counts = {
            "events": report.events,
            "objects": report.objects,
            "bytes": report.bytes,
        }
        result.backup = {"id": manifest.id, "verified": manifest.verified}
        report_partial(result, report)
        click.echo(
            f"backup {manifest.id}: {report.events} events in {report.objects} new segments "
            f"({manifest.events} events, {len(manifest.segments)} segments in all)"
        )

    execute("archive", result_file, body)
