"""``tidal dlq drain | prune | ls | show | redrive``: the dead-letter archive.

``drain`` is the DLQArchive's KEDA-scaled Deployment, ``prune`` its retention CronJob and
``redrive`` its re-drive Job (command lines: the operator's contract in docs/operator.md);
``ls`` and ``show`` are for people. Library code: `tidal_data.dlq`.

``drain`` runs for as long as its pod does, so it serves ``/metrics`` itself (`DrainExport`:
``tidal_dlq_archive_events_total`` and the objects / bytes it wrote, labelled with its
``--archive``) on ``--metrics-port``, like every long-running tidal process.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any, Final

import click

from tidal import Settings
from tidal.cli import stop_on_signals
from tidal.kafka import ERROR_CLASS, ERROR_MESSAGE, ORIGIN_TOPIC
from tidal.observability import Drained, Source, listen, register, unregister
from tidal_data import dlq as archive_dlq
from tidal_data.cli.shared import (
    Duration,
    Time,
    comma_list,
    execute,
    open_store,
    open_store_or_exit,
    progress_bar,
    result_options,
    store_options,
)
from tidal_data.errors import RunFailure
from tidal_data.filters import attributes, record_time
from tidal_data.kafka import (
    consumer,
    kafka_settings,
    start,
    stop,
)
from tidal_data.keys import DlqKey, scope_of
from tidal_data.owners import claim
from tidal_data.results import RunResult
from tidal_data.runs import utcnow
from tidal_data.segments import COMPRESSIONS

SERVICE: Final = "tidal-dlq-drain"
"""The ``service`` label of a drainer's metrics (``TIDAL_SERVICE`` overrides it)."""
TRANSPORT: Final = "dlq-drain"

log = logging.getLogger("tidal_data.dlq")

archive_option = click.option(
    "--archive", "archive_name", default=None, help="<namespace>/<name> of the DLQArchive."
)
bootstrap_option = click.option(
    "--bootstrap-servers",
    required=True,
    callback=lambda c, p, v: comma_list(v),
    help="host:port,... of the cluster.",
)


def _scope(options: dict[str, Any]) -> str | None:
    """The archive's key scope (None without ``--archive``: the unscoped letters)."""
    try:
        return scope_of(options["archive_name"])
    except RunFailure as exc:
        raise click.BadParameter(str(exc), param_hint="--archive") from exc


def archive_labels(archive: str | None) -> tuple[str, str]:
    """``<namespace>/<name>`` of ``--archive`` -> (namespace, name); empty when not given."""
    namespace, _, name = (archive or "").rpartition("/")
    return namespace, name


class DrainExport:
    """A drain's counts at ``/metrics`` while it runs: registers a `Source` (owned by this
    object) and, unless the port is 0, serves the registry on it; `close` stops both."""

    def __init__(
        self, counts: archive_dlq.DrainCounts, archive: str | None, port: int | None
    ) -> None:
        settings = Settings()
        if port is None:
            port = settings.observability.metrics_port if settings.observability.metrics else 0
        namespace, name = archive_labels(archive)
        drained = Drained(namespace=namespace, name=name, counts=counts)
        service = settings.service or SERVICE
        self.source = register(self, Source(service=service, transport=TRANSPORT, drained=drained))
        self.listener = _listen_or_warn(port, settings.host) if port else None

    def close(self) -> None:
        unregister(self.source)
        if self.listener is not None:
            self.listener.close()


def _listen_or_warn(port: int, host: str) -> Any:
    """`tidal.observability.listen`, or None (said why) when it cannot serve: the drain
    matters more than its metrics, so a missing ``prometheus_client`` or a taken port is logged
    and the drain runs on."""
    try:
        return listen(port, host=host)
    except ImportError:
        log.warning("no /metrics: prometheus_client is not installed (tidal[observability])")
    except OSError as exc:
        log.error("no /metrics: cannot listen on %s:%d (%s)", host, port, exc)
    return None


@click.group()
def dlq() -> None:
    """Archive dead letters, prune the archive, look into it, re-drive from it."""


@dlq.command("drain")
@archive_option
@store_options
@bootstrap_option
@click.option("--group", required=True, help="Consumer group (the one KEDA scales on).")
@click.option("--topic", "topics", multiple=True, required=True, help="Dead-letter topic.")
@click.option("--partition-by-time", type=click.Choice(["hour", "day"]), default="hour")
@click.option("--partition-by-type", is_flag=True, help="Add the event type to the keys.")
@click.option("--compression", type=click.Choice(COMPRESSIONS), default="zstd")
@click.option("--segment-max-events", type=click.IntRange(1, 1_000_000), default=10_000)
@click.option("--segment-max-age", type=Duration(), default="5m")
@click.option("--idle-exit", type=Duration(), default=None, help="Stop after this long idle.")
@click.option(
    "--metrics-port",
    type=click.IntRange(0, 65535),
    default=None,
    help="Port of /metrics (default TIDAL_OBSERVABILITY__METRICS_PORT, 9464; 0: none).",
)
@result_options
def drain(result_file: Path | None, show_progress: bool, **options: Any) -> None:
    """Drain dead-letter topics into the archive until SIGTERM (or --idle-exit), serving
    the archived counts at /metrics."""
    layout = archive_dlq.Layout(
        granularity=options["partition_by_time"],
        by_type=options["partition_by_type"],
        compression=options["compression"],
        max_events=options["segment_max_events"],
        max_age=options["segment_max_age"],
        scope=_scope(options),
    )
    idle: timedelta | None = options["idle_exit"]
    drained = archive_dlq.DrainCounts()

    async def body(result: RunResult) -> None:
        store = open_store(options)
        if options["archive_name"]:
            claim(store, "dlq-archive", options["archive_name"])
        settings = kafka_settings(options["bootstrap_servers"])
        client = consumer(settings, group=options["group"])
        await start(client, settings.bootstrap_servers)
        stopping = stop_on_signals()
        try:
            with progress_bar(show_progress, "drain") as advance:
                counts = await archive_dlq.drain(
                    client,
                    store,
                    options["topics"],
                    layout,
                    stop=stopping,
                    idle_exit=None if idle is None else idle.total_seconds(),
                    progress=advance,
                    counts=drained,
                )
        finally:
            await stop(client)
        result.counts = {"events": counts.events, "objects": counts.objects, "bytes": counts.bytes}
        click.echo(f"drained {counts.events} dead letters into {counts.objects} segments")

    export = DrainExport(drained, options["archive_name"], options["metrics_port"])
    try:
        execute("dlq drain", result_file, body)
    finally:
        export.close()


@dlq.command("prune")
@archive_option
@store_options
@click.option("--retention-max-age", type=Duration(), default="14d", show_default=True)
@result_options
def prune(result_file: Path | None, show_progress: bool, **options: Any) -> None:
    """Delete this archive's dead letters older than the retention (without ``--archive``:
    the unscoped letters only; never another archive's)."""
    scope = _scope(options)

    async def body(result: RunResult) -> None:
        store = open_store(options)
        if options["archive_name"]:
            claim(store, "dlq-archive", options["archive_name"])
        pruned = await asyncio.to_thread(
            archive_dlq.prune,
            store,
            now=utcnow(),
            max_age=options["retention_max_age"],
            scope=scope,
        )
        result.counts = {
            "deletedObjects": pruned.deleted_objects,
            "deletedBytes": pruned.deleted_bytes,
        }
        result.stored = {"objects": pruned.objects, "events": pruned.events, "bytes": pruned.bytes}
        click.echo(
            f"deleted {pruned.deleted_objects} objects ({pruned.deleted_bytes} bytes); "
            f"{pruned.objects} objects, {pruned.events} dead letters kept"
        )

    execute("dlq prune", result_file, body)


def _reading_scope(options: dict[str, Any]) -> str | None:
    """``--archive``'s scope, or every archive's letters without it."""
    return _scope(options) if options["archive_name"] else archive_dlq.ALL_SCOPES


@dlq.command("ls")
@archive_option
@store_options
@click.option("--topic", "topics", multiple=True, help="Only this dead-letter topic.")
@click.option("--since", type=Time(), default=None)
@click.option("--until", type=Time(), default=None)
def list_letters(**options: Any) -> None:
    """Archived dead letters per topic, time slice and type, with counts."""
    store = open_store_or_exit(options)
    scope = _reading_scope(options)
    rows: dict[tuple[str, str, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    for _, parsed, size in archive_dlq.segments(store, topics=options["topics"], scope=scope):
        if not archive_dlq.in_window(parsed, since=options["since"], until=options["until"]):
            continue
        row = rows[(parsed.topic, parsed.slice, parsed.event_type or "-")]
        row[0] += 1
        row[1] += parsed.count
        row[2] += size
    click.echo(f"{'TOPIC':<28} {'SLICE':<14} {'TYPE':<36} {'OBJECTS':>7} {'EVENTS':>8} BYTES")
    for (topic, slice_, event_type), (objects, events, size) in sorted(rows.items()):
        click.echo(f"{topic:<28} {slice_:<14} {event_type:<36} {objects:>7} {events:>8} {size}")
    total = [sum(r[i] for r in rows.values()) for i in range(3)]
    click.echo(f"total: {total[0]} objects, {total[1]} dead letters, {total[2]} bytes")


def _candidates(
    store: Any, letter: str, options: dict[str, Any]
) -> Iterator[tuple[str, DlqKey, int]]:
    """The segments that can hold ``letter``: by ``<topic>/<partition>/<offset>`` only those
    whose key names that partition and an offset range around it (no other is read)."""
    topic, partition, offset = [*letter.rsplit("/", 2), "", ""][:3]
    located = bool(topic) and partition.isdigit() and offset.isdigit()
    found = archive_dlq.segments(
        store, topics=[topic] if located else options["topics"], scope=_reading_scope(options)
    )
    for key, parsed, size in found:
        if located and not (
            parsed.partition == int(partition) and parsed.first <= int(offset) <= parsed.last
        ):
            continue
        yield key, parsed, size


@dlq.command("show")
@click.argument("letter")
@archive_option
@store_options
@click.option("--topic", "topics", multiple=True, help="Only look in this dead-letter topic.")
def show(letter: str, **options: Any) -> None:
    """Print one dead letter (by event id, or <dlq topic>/<partition>/<offset>) and its error."""
    store = open_store_or_exit(options)
    for parsed, record in archive_dlq.letters(store, _candidates(store, letter, options)):
        attrs = attributes(record)
        if letter not in (attrs.get("id"), archive_dlq.letter_id(parsed, record)):
            continue
        click.echo(f"letter:   {archive_dlq.letter_id(parsed, record)}")
        for name in ("id", "type", "source", "subject"):
            if name in attrs:
                click.echo(f"{name + ':':<9} {attrs[name]}")
        click.echo(f"failed:   {record_time(record, attrs, failure_time=True).isoformat()}")
        click.echo(f"origin:   {attrs.get(ORIGIN_TOPIC, '?')}")
        click.echo(f"error:    {attrs.get(ERROR_CLASS, '?')}: {attrs.get(ERROR_MESSAGE, '')}")
        extensions = {k: v for k, v in attrs.items() if k.startswith("tidal")}
        click.echo(f"extensions: {extensions}")
        click.echo("data:")
        click.echo((record.value or b"").decode("utf-8", "replace")[:4000])
        return
    raise click.ClickException(f"no archived dead letter {letter!r}")


def _register() -> None:
    """``tidal dlq redrive`` lives in `tidal_data.cli.redrive` (imported here, registered once)."""
    from tidal_data.cli.redrive import redrive

    dlq.add_command(redrive)


_register()
