"""``tidal send URL``: post one CloudEvent built from flags or read from a JSON file.

``tidal send --kafka BOOTSTRAP --topic T`` produces it to Kafka instead (`tidal.cli._sendkafka`:
the Kafka protocol binding, binary mode by default, ``--mode structured``), acknowledged by the
broker before the command exits.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
import httpx

from tidal._bindings.formats import event_from_mapping
from tidal._bindings.http import to_binary, to_structured
from tidal._errors import InvalidEventError
from tidal._events import Event
from tidal._redaction import redact_url, scrub

# what `tidal run`'s ``Tidal-Outcome`` header says, said for a person (docs/events.md)
OUTCOMES = {
    "handled": "handled",
    "filtered": "filtered, no subscription's filters matched it",
    "dead-lettered": "dead-lettered to the subscription's own dead_letter sink",
    "retry": "retryable failure, the Broker retries it",
    "failed": "permanent failure, the Broker dead-letters it",
    "rejected": "rejected, not a request tidal can read",
}


def _parse_extensions(pairs: tuple[str, ...]) -> dict[str, str]:
    extensions = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep:
            raise click.BadParameter(f"{pair!r} is not NAME=VALUE", param_hint="--ext")
        extensions[name] = value
    return extensions


def _build(file: Path | None, fields: dict[str, Any]) -> Event:
    if file is not None:
        try:
            return event_from_mapping(json.loads(file.read_text()))
        except (ValueError, InvalidEventError) as exc:
            raise click.BadParameter(f"{file}: {exc}", param_hint="--file") from exc
    if not fields["type"] or not fields["source"]:
        raise click.UsageError("give --type and --source, or --file")
    try:
        return Event.create(**fields)
    except InvalidEventError as exc:
        raise click.UsageError(str(exc)) from exc


@click.command()
@click.argument("url", required=False)
@click.option("--type", "type_", help="Event type, e.g. com.acme.order.created.v1.")
@click.option("--source", help="Event source, e.g. /pos/store-12.")
@click.option("--id", "id_", help="Event id (default: a new UUID).")
@click.option("--subject", help="Event subject.")
@click.option("--data", help="Event data as JSON.")
@click.option("--ext", multiple=True, help="Extension NAME=VALUE (repeatable).")
@click.option(
    "--file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A structured-mode JSON event.",
)
@click.option(
    "--mode", type=click.Choice(["binary", "structured"]), default="binary", show_default=True
)
@click.option(
    "--kafka",
    "bootstrap",
    metavar="BOOTSTRAP",
    default=None,
    help="Produce to the Kafka at BOOTSTRAP (host:port[,...]) instead of POSTing to URL.",
)
@click.option("--topic", default=None, help="With --kafka: the topic to produce to.")
def send(
    url: str | None,
    type_: str | None,
    source: str | None,
    id_: str | None,
    subject: str | None,
    data: str | None,
    ext: tuple[str, ...],
    file: Path | None,
    mode: str,
    bootstrap: str | None,
    topic: str | None,
) -> None:
    """POST a CloudEvent to URL and print the answer (or produce it with --kafka --topic)."""
    if (url is None) == (bootstrap is None):
        raise click.UsageError("give a URL, or --kafka BOOTSTRAP --topic TOPIC (not both)")
    if (bootstrap is None) != (topic is None):
        raise click.UsageError("--kafka and --topic go together")
    try:
        payload = None if data is None else json.loads(data)
    except ValueError as exc:
        raise click.BadParameter(f"not JSON: {exc}", param_hint="--data") from exc
    fields = {"type": type_, "source": source, "id": id_, "subject": subject, "data": payload}
    event = _build(file, {**fields, **_parse_extensions(ext)})
    if bootstrap is not None and topic is not None:
        from tidal.cli._sendkafka import produce

        click.echo(produce(event, bootstrap=bootstrap, topic=topic, mode=mode))
        return
    assert url is not None
    headers, body = to_binary(event) if mode == "binary" else to_structured(event)
    try:
        response = httpx.post(url, content=body, headers=headers, timeout=30.0)
    except httpx.HTTPError as exc:
        raise click.ClickException(scrub(f"could not reach {redact_url(url)}: {exc}", url)) from exc
    outcome = response.headers.get("tidal-outcome")
    said = f": {OUTCOMES.get(outcome, outcome)}" if outcome else ""
    click.echo(f"{response.status_code} {response.reason_phrase} (event id {event.id}){said}")
    reply = response.headers.get("ce-type")
    if reply is not None:  # a binary-mode reply event: its data follows
        click.echo(f"reply {reply} (id {response.headers.get('ce-id')})")
    if response.content:
        click.echo(response.text)
    if response.status_code >= 400:
        raise SystemExit(1)
