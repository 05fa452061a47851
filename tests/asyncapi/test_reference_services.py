"""The reference services' AsyncAPI documents: valid AsyncAPI 3.0, and the event types each
subscription declares it emits (``emits=``) are those the catalogue (docs/events.md) says it
produces, no more and no fewer."""

from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner
from services.catalog import load_catalog
from tests.asyncapi.test_asyncapi import errors

from tidal._loading import load_app
from tidal.cli.main import cli

SERVICES = ["fleet", "orders", "files"]
PRODUCER = re.compile(r"^`([a-z-]+)/([a-z-]+)`$")  # `app/subscription`, as the catalogue writes


def catalogued(app: str) -> set[tuple[str, str]]:
    """(subscription, type) for every type the catalogue says a subscription of ``app`` emits."""
    found = set()
    for entry in load_catalog():
        for producer in entry.notes["producedBy"]:
            match = PRODUCER.match(producer)
            if match and match.group(1) == app:
                found.add((match.group(2), entry.type))
    return found


@pytest.mark.parametrize("service", SERVICES)
def test_emits_declarations_match_the_catalogue(service: str) -> None:
    app = load_app(f"services.{service}.app:app")
    declared = {(sub.name, item.type) for sub in app.subscriptions for item in sub.emits}
    assert declared
    assert declared == catalogued(service)


@pytest.mark.parametrize("service", SERVICES)
@pytest.mark.parametrize("transport", ["http", "kafka"])
def test_the_document_is_valid_asyncapi(service: str, transport: str) -> None:
    result = CliRunner().invoke(
        cli, ["asyncapi", f"services.{service}.app:app", "--json", "--transport", transport]
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert errors(doc) == []
    sends = {
        op["summary"].split(",")[0] for op in doc["operations"].values() if op["action"] == "send"
    }
    assert sends == {t for _, t in catalogued(service)}
