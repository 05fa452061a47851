"""``tidal outbox relay``: publish a PostgreSQL outbox table to Kafka (library: `tidal._outbox`).

The relay checks both ends at start (connects to PostgreSQL, creates the table if it is missing,
starts the producer) and exits with one ``Error:`` line if either is unreachable, or is lost
while it runs (crash-only: the Deployment restarts it, and nothing acknowledged is lost). It
runs until SIGTERM/SIGINT, or with ``--until-empty`` until the table is empty (a Job, or a
test). While it runs it serves ``/metrics`` on ``--metrics-port`` (`RelayExport`): the rows it
relayed (``tidal_outbox_relayed_events_total``) and the age of the oldest waiting row
(``tidal_outbox_lag_seconds``), labelled with its ``--table``.
"""

from __future__ import annotations

import asyncio
from typing import Final

import click

from tidal._outbox.kafka import KafkaSink
from tidal._outbox.postgres import DEFAULT_TABLE, OutboxTable
from tidal._outbox.records import TOPIC_PREFIX, Origin
from tidal._outbox.relay import Relay, RelayOptions
from tidal._settings import KafkaSettings, Settings
from tidal.cli._listening import listen_or_warn
from tidal.cli._signals import stop_on_signals
from tidal.observability import Relaying, Source, register, unregister

SERVICE: Final = "tidal-outbox-relay"
"""The ``service`` label of a relay's metrics (``TIDAL_SERVICE`` overrides it)."""


class RelayExport:
    """A relay's counts at ``/metrics`` while it runs: registers a `Source` (owned by this
    object) and, unless the port is 0, serves the registry on it; `close` stops both."""

    def __init__(self, relay: Relay, table: str, port: int | None) -> None:
        settings = Settings()
        if port is None:
            port = settings.observability.metrics_port if settings.observability.metrics else 0
        relaying = Relaying(table=table, counts=relay)
        service = settings.service or SERVICE
        self.source = register(self, Source(service=service, transport="outbox", relaying=relaying))
        self.listener = listen_or_warn(port, settings.host) if port else None

    def close(self) -> None:
        unregister(self.source)
        if self.listener is not None:
            self.listener.close()


@click.group("outbox")
def outbox() -> None:
    """The transactional outbox (PostgreSQL -> Kafka, Debezium's record shape)."""


@outbox.command("relay")
@click.option(
    "--dsn",
    envvar="TIDAL_OUTBOX_DSN",
    required=True,
    help="libpq DSN of the database (or TIDAL_OUTBOX_DSN)",
)
@click.option(
    "--bootstrap-servers",
    default=None,
    help="Kafka brokers (default: TIDAL_KAFKA__BOOTSTRAP_SERVERS)",
)
@click.option("--table", default=DEFAULT_TABLE, show_default=True, help="[schema.]table")
@click.option("--name", default="tidal-outbox", show_default=True, help="CloudEvent source name")
@click.option(
    "--topic-prefix", default=TOPIC_PREFIX, show_default=True, help="topic = prefix + aggregatetype"
)
@click.option(
    "--batch", type=click.IntRange(1, 10_000), default=500, show_default=True, help="rows per poll"
)
@click.option(
    "--poll-interval",
    type=click.FloatRange(0.01, 60),
    default=0.2,
    show_default=True,
    help="seconds between polls of an empty table",
)
@click.option("--until-empty", is_flag=True, help="exit once the table is empty")
@click.option(
    "--metrics-port",
    type=click.IntRange(0, 65535),
    default=None,
    help="Port of /metrics (default TIDAL_OBSERVABILITY__METRICS_PORT, 9464; 0: none).",
)
def relay(
    dsn: str,
    bootstrap_servers: str | None,
    table: str,
    name: str,
    topic_prefix: str,
    batch: int,
    poll_interval: float,
    until_empty: bool,
    metrics_port: int | None,
) -> None:
    """Produce each outbox row to outbox.event.<aggregatetype>, keyed by its aggregate id."""
    kafka = Settings().kafka
    schema, _, bare = table.rpartition(".")
    options = RelayOptions(
        batch=batch,
        poll_interval=poll_interval,
        topic_prefix=topic_prefix,
        origin=Origin(name=name, schema=schema or "public", table=bare),
    )
    if bootstrap_servers:
        kafka = kafka.model_copy(update={"bootstrap_servers": bootstrap_servers})
    relayed = asyncio.run(_relay(dsn, kafka, table, options, until_empty, metrics_port))
    click.echo(f"relayed {relayed} outbox rows")


async def _relay(
    dsn: str,
    kafka: KafkaSettings,
    table: str,
    options: RelayOptions,
    until_empty: bool,
    metrics_port: int | None,
) -> int:
    try:
        rows = await OutboxTable.connect(dsn, table)
    except Exception as exc:  # psycopg.OperationalError and DSN syntax errors
        raise click.ClickException(f"cannot connect to PostgreSQL: {exc}") from exc
    sink = KafkaSink(kafka)
    try:
        await rows.ensure_schema()
        try:
            await sink.start()
        except Exception as exc:  # KafkaConnectionError and friends
            raise click.ClickException(
                f"cannot reach Kafka at {kafka.bootstrap_servers}: {exc}"
            ) from exc
        runner = Relay(rows, sink, options)
        export = RelayExport(runner, table, metrics_port)
        try:
            if until_empty:
                while await runner.step():
                    pass
            else:
                await runner.run(stop_on_signals())
        except Exception as exc:  # a lost database or broker: exit, the restart resumes
            raise click.ClickException(
                f"relay stopped after {runner.relayed} rows: {type(exc).__name__}: {exc}"
                " (rows not yet acknowledged stay in the outbox and are sent on restart)"
            ) from exc
        finally:
            export.close()
        return runner.relayed
    finally:
        await sink.stop()
        await rows.close()
