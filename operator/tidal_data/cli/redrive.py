"""``tidal dlq redrive``: publish selected archived dead letters again, once per run id.

What a DLQArchive's re-drive Job runs (``--run-id`` is ``spec.redrive.runId``); library code:
`tidal_data.redrive`. Registered on the ``tidal dlq`` group by `tidal_data.cli.dlq`.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import click

from tidal_data.cli.dlq import _reading_scope, archive_option, bootstrap_option
from tidal_data.cli.restore import selection_of, selection_options
from tidal_data.cli.shared import (
    execute,
    open_store,
    progress_bar,
    result_options,
    store_options,
)
from tidal_data.filters import Selection
from tidal_data.kafka import (
    consumer,
    kafka_settings,
    offset_ranges,
    partitions,
    producer,
    start,
    stop,
)
from tidal_data.marks import scan
from tidal_data.ratelimit import RateLimiter
from tidal_data.redrive import redrive as redrive_letters
from tidal_data.results import RunResult


def _redrive_id(options: dict[str, Any], selection: Selection) -> str:
    """The same archive, topics, target and filters give the same id."""
    text = repr((options["archive_name"], options["topics"], options["to_topic"], selection))
    return f"redrive-{hashlib.sha256(text.encode()).hexdigest()[:16]}"


@click.command("redrive")
@archive_option
@store_options
@bootstrap_option
@click.option("--to-topic", default=None, help="One topic for all (default: each origin).")
@click.option("--topic", "topics", multiple=True, help="Only letters of this DLQ topic.")
@selection_options
@click.option("--rate-limit", type=click.IntRange(0), default=100, show_default=True)
@click.option("--dry-run", is_flag=True, help="Count what would be re-driven.")
@click.option(
    "--run-id",
    default=None,
    help="The run's id, marked on every re-driven record: a repeat of the same id sends "
    "nothing twice (default: from the archive, target and filters).",
)
@result_options
def redrive(result_file: Path | None, show_progress: bool, **options: Any) -> None:
    """Publish selected archived dead letters again, as they were before they failed; a letter
    this run id re-drove before (found in the target) is not sent again."""
    selection = selection_of(options, failure_time=True)
    scope = _reading_scope(options)
    run_id = options["run_id"] or _redrive_id(options, selection)

    async def body(result: RunResult) -> None:
        store = open_store(options)
        settings = kafka_settings(options["bootstrap_servers"])
        client = producer(settings, linger_ms=5)
        reader = consumer(settings)
        await start(client, settings.bootstrap_servers)
        await start(reader, settings.bootstrap_servers)

        async def scanner(topic: str) -> set[str]:
            tps = await partitions(reader, [topic])
            found = await scan(reader, await offset_ranges(reader, tps), run_id, keep_origins=True)
            return found.origins

        try:
            with progress_bar(show_progress, "redrive") as advance:
                counts = await redrive_letters(
                    store, client, selection, run_id=run_id, scanner=scanner,
                    to_topic=options["to_topic"], limiter=RateLimiter(options["rate_limit"]),
                    dry_run=options["dry_run"], topics=options["topics"], scope=scope,
                    progress=advance,
                )  # fmt: skip
        finally:
            await stop(client)
            await stop(reader)
        result.counts = counts.as_dict()
        result.backup = {"runId": run_id}
        verb = "would re-drive" if options["dry_run"] else "re-drove"
        click.echo(
            f"{verb} {counts.redriven} dead letters (run {run_id}); {counts.present} re-driven "
            f"before, skipped {counts.skipped}, failed {counts.failed} (no origin topic)"
        )
        if counts.redriven + counts.present == 0 and not selection.everything:
            result.partial(
                "NothingSelected",
                f"the filter selected none of {counts.skipped} archived letters (error classes "
                "are recorded unqualified, e.g. HandlerTimeoutError)",
            )

    execute("dlq redrive", result_file, body)
