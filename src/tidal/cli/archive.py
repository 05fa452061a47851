"""``tidal archive``: copy topics into the object store as a backup (no verify, no retention).

Resumable and idempotent: run it again with the same ``--id`` after a crash and it continues
from the last segment its manifest records; on a finished backup it does nothing. ``tidal backup
run`` (`tidal.cli.backup`) is the same plus verification and retention.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from tidal.archive.kafka import consumer, kafka_settings, start, stop
from tidal.archive.results import RunResult
from tidal.archive.runs import ArchiveOptions, Sources, archive_backup, utcnow
from tidal.archive.segments import COMPRESSIONS
from tidal.archive.writer import MANIFEST_INTERVAL
from tidal.cli.archiving import (
    _apply,
    comma_list,
    execute,
    open_store,
    progress_bar,
    result_options,
)
from tidal.cli.storeoptions import object_store_options


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


def archive_options(options: dict[str, Any], **extra: Any) -> ArchiveOptions:
    return ArchiveOptions(
        compression=options["compression"],
        encryption=options.get("encryption", "none"),
        max_events=options["segment_max_events"],
        manifest_interval=options["manifest_interval"],
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
        client = consumer(settings)
        await start(client, settings.bootstrap_servers)
        try:
            with progress_bar(show_progress, "archive") as advance:
                outcome = await archive_backup(
                    client, store, sources, config, now=utcnow(), progress=advance
                )
        finally:
            await stop(client)
        manifest = outcome.manifest
        result.counts = {
            "events": outcome.events,
            "objects": outcome.objects,
            "bytes": outcome.bytes,
        }
        result.backup = {"id": manifest.id, "verified": manifest.verified}
        click.echo(
            f"backup {manifest.id}: {outcome.events} events in {outcome.objects} new segments "
            f"({manifest.events} events, {len(manifest.segments)} segments in all)"
        )

    execute("archive", result_file, body)
