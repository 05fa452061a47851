"""Rendering the catalogue into ``docs/events.md``: ``python -m services.catalog.rendering``.

``--write`` rewrites the file, ``--check`` exits 1 when it is out of date (the drift test does
the same comparison). The output depends only on the schema files, so it is stable.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Final

from services.catalog.schemas import Catalog, EventSchema, load_catalog

DOC: Final = Path(__file__).resolve().parents[2] / "docs" / "events.md"
DOMAINS: Final = (
    ("com.acme.fleet.", "Fleet telemetry"),
    ("com.acme.pos.", "Point of sale and orders"),
    ("com.acme.payments.", "Payments"),
    ("com.acme.files.", "Files and images"),
    ("com.acme.cdc.", "Change data capture"),
    ("com.acme.shop.", "Order saga"),
)
HEADER: Final = """\
# Event catalogue

<!-- Generated from services/catalog/events/*.json by
     `python -m services.catalog.rendering --write`. Do not edit by hand:
     tests/services/test_catalog.py fails when this file and the catalogue drift apart. -->

Every event type the reference services (`services/`) take in or produce, with its JSON Schema.
Types are reverse-DNS and versioned: a compatible change edits a schema in place, an
incompatible one adds a `.v2` type beside the `.v1`. The gateway validates the `data` of every
event it ingests against these schemas (types marked *ingress* only), and the services validate
what they consume, so an event from another path is held to the same contract.
"""
FOOTER: Final = """\
## Object-storage notifications (`tidal source s3-sqs` / `s3-webhook`)

Not in the catalogue's schemas: these are S3's own records. `tidal source` turns each record of
an S3 event notification (S3 -> SQS, or an S3-compatible store's webhook such as MinIO's) into
one CloudEvent as the CloudEvents AWS S3 adapter maps it (cloudevents/spec
`cloudevents/adapters/aws-s3.md`, vendored and tested in `tests/conformance/aws_s3/`):

| attribute | value |
|---|---|
| `id` | `responseElements.x-amz-request-id` + `.` + `responseElements.x-amz-id-2` |
| `source` | `eventSource` + `.` + `awsRegion` + `.` + `s3.bucket.name` |
| `type` | `com.amazonaws.s3.` + `eventName` |
| `datacontenttype` | `application/json` |
| `subject` | `s3.object.key`, URL-decoded (`+` is a space): the object's name |
| `time` | `eventTime` |
| `partitionkey` | the decoded key, so one object's events stay in order on Kafka |
| `data` | the S3 event record as sent (its key still URL-encoded) |

E.g. source `aws:s3.eu-west-1.acme-uploads`, type `com.amazonaws.s3.ObjectCreated:Put`; MinIO
sends `minio:s3` and keeps the `s3:` of its event names (`com.amazonaws.s3.s3:ObjectCreated:Put`).
A redelivered notification maps to the same id; a record without the two response elements
(moto, some S3-compatible stores) gets a name-based UUID of its bucket, key, event name and
time, sequencer and eTag. The subject and partitionkey are tidal's choices where the adapter is
silent or literal (it names the raw key).

Consumed by `files/validate` and `files/images`.

## Failure extensions on dead letters

A dead letter is the original event, unchanged, plus:

| extension | type | meaning |
|---|---|---|
| `tidalerrorclass` | string | class name of the last error |
| `tidalerrormessage` | string | its message, at most 1 KiB of UTF-8 |
| `tidalattempts` | integer | attempts made |
| `tidalfirstfailure` | timestamp (RFC 3339 string) | when the first attempt failed |
| `tidallastfailure` | timestamp (RFC 3339 string) | when the last attempt failed |
| `tidalsubscriber` | string | `<app>/<subscription>` |
| `tidaltopic` | string | Kafka only: the topic the record was first read from |
| `tidalpartition` | integer | Kafka only: its partition |
| `tidaloffset` | string | Kafka only: its offset, as text (64 bits; a CloudEvents Integer has 32) |

"Unchanged" is the attribute text as it arrived: a `time` keeps its nanoseconds and offset
(`tidal._attributes.Timestamp` holds the text), and a structured Kafka record's JSON is kept byte
for byte with the failure members appended.

## What `tidal run` answers a delivery (HTTP)

Every answer to a POST has a status of its own per outcome and a `Tidal-Outcome` header naming
it (`tidal send` prints it):

| `Tidal-Outcome` | status | the Broker then |
|---|---|---|
| `handled` | 200, empty or the one reply event | routes the reply, if any |
| `filtered` | 204 No Content, empty | nothing: no subscription's filters matched |
| `dead-lettered` | 202 Accepted, empty | nothing: tidal put it in the `dead_letter` sink |
| `retry` | 503, or 429 + `Retry-After` | retries per the Trigger's `delivery` |
| `failed` | 422 | dead-letters it without retrying |
| `rejected` | 400 / 404 / 413 / 415 | retries a 404, dead-letters the rest |

Errors (`retry`, `failed`, `rejected`) have a `{"error", "message"}` body, which Knative puts in
the dead letter's `knativeerrordata`. A `dead-lettered` event is in the subscription's own sink
with the failure extensions above; content filters on `data` (EventBridge patterns) are what
answers `filtered`, as Triggers cannot express them.

The three successes differ by status because a 2xx cannot carry anything but a reply event:
Knative's broker filter answers a 2xx whose non-empty body is not a CloudEvent with a 502
(knative/eventing `pkg/broker/filter/filter_handler.go` lines 556-569 at knative-v1.22.2), and
the Kafka broker fails such a delivery (eventing-kafka-broker `BaseResponseHandler.java` lines
74-95). Any 2xx is a success to both (`pkg/kncloudevents/event_dispatcher.go` lines 598-602),
and the statuses are the CloudEvents webhook spec's (`cloudevents/http-webhook.md` section 2.2:
204 processed with no content, 202 accepted but not yet processed). The header is for whoever
calls the service directly (`tidal send`, curl, a mesh's access log): the broker filter passes on
only `x-request-id`, `retry-after` and `knative-*` / `x-b3-*` headers (`pkg/utils/headers.go`
lines 28-42), and `tidal_http_requests_total{status}` counts the statuses apart.

Over HTTP the Broker retries, not tidal, and says nothing about which attempt a delivery is:
Knative re-sends the same request (`pkg/kncloudevents/event_dispatcher.go` lines 530-562 hand it
to go-retryablehttp, which adds no header per attempt), and the Kafka broker's retry counter
(`WebClientCloudEventSender.java` lines 112-179) is only logged. So `ctx.attempt` is always 1
over HTTP, and a handler that must behave differently on a redelivery keys it on the event id
(tidal's idempotency does). On Kafka and in memory tidal retries and `ctx.attempt` counts.
"""


def render(catalog: Catalog) -> str:
    """The whole of ``docs/events.md``."""
    parts = [HEADER, _overview(catalog)]
    for prefix, title in DOMAINS:
        entries = [e for e in catalog if e.type.startswith(prefix)]
        if entries:
            parts.append(f"## {title}\n")
            parts.extend(_entry(e) for e in entries)
    parts.append(FOOTER)
    return "\n".join(parts)


def _overview(catalog: Catalog) -> str:
    rows = [
        "| type | name | source | ingress | produced by | consumed by |",
        "|---|---|---|---|---|---|",
    ]
    for e in catalog:
        notes = e.notes
        rows.append(
            f"| `{e.type}` | {e.title} | `{notes.get('source', '')}` | "
            f"{'yes' if e.ingress else 'no'} | {'; '.join(notes.get('producedBy', []))} | "
            f"{'; '.join(notes.get('consumedBy', []))} |"
        )
    return "## Overview\n\n" + "\n".join(rows) + "\n"


def _entry(entry: EventSchema) -> str:
    notes = entry.notes
    lines = [
        f"### `{entry.type}` ({entry.title})\n",
        entry.description + "\n",
        f"- **source**: `{notes.get('source', '')}`",
        f"- **id**: {notes.get('id', '')}",
        f"- **partitionkey**: {notes.get('partitionkey', '')}",
        f"- **accepted by the gateway**: {'yes' if entry.ingress else 'no (internal)'}\n",
        "| field | type | required | notes |",
        "|---|---|---|---|",
        *(_field_row(*row) for row in _fields(entry.schema, entry.schema, "")),
        "",
        "Example `data`:\n",
        "```json",
        json.dumps(entry.schema.get("examples", [{}])[0], indent=2, ensure_ascii=False),
        "```\n",
        "<details><summary>JSON Schema</summary>\n",
        "```json",
        json.dumps(_without_examples(entry.schema), indent=2, ensure_ascii=False),
        "```\n",
        "</details>\n",
    ]
    return "\n".join(lines)


def _fields(
    root: Mapping[str, Any], schema: Mapping[str, Any], path: str
) -> Iterator[tuple[str, Mapping[str, Any], bool]]:
    """(dotted path, property schema, required) for every property, depth first."""
    required = set(schema.get("required", []))
    for name, prop in schema.get("properties", {}).items():
        prop = _resolve(root, prop)
        here = f"{path}.{name}" if path else name
        yield here, prop, name in required
        if prop.get("type") == "object":
            yield from _fields(root, prop, here)
        items = prop.get("items")
        if prop.get("type") == "array" and isinstance(items, Mapping):
            yield from _fields(root, _resolve(root, items), here + "[]")


def _resolve(root: Mapping[str, Any], prop: Mapping[str, Any]) -> Mapping[str, Any]:
    ref = prop.get("$ref")
    if not isinstance(ref, str) or not ref.startswith("#/$defs/"):
        return prop
    target = dict(root["$defs"][ref.removeprefix("#/$defs/")])
    target.update({k: v for k, v in prop.items() if k != "$ref"})
    return target


def _field_row(path: str, prop: Mapping[str, Any], required: bool) -> str:
    kind = " \\| ".join(f"`{v}`" for v in prop["enum"]) if "enum" in prop else prop.get("type", "")
    limits = [
        f"{word} {prop[key]}"
        for key, word in (
            ("minimum", ">="),
            ("maximum", "<="),
            ("minLength", "length >="),
            ("maxLength", "length <="),
            ("minItems", "items >="),
            ("maxItems", "items <="),
        )
        if key in prop
    ]
    if "pattern" in prop:
        limits.append(f"pattern `{prop['pattern']}`")
    if "format" in prop:
        limits.append(prop["format"])
    notes = "; ".join([*limits, *([prop["description"]] if "description" in prop else [])])
    notes = notes.replace("|", "\\|")
    return f"| `{path}` | {kind} | {'yes' if required else 'no'} | {notes} |"


def _without_examples(schema: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in schema.items() if k not in ("examples", "x-event")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--write", action="store_true", help=f"rewrite {DOC}")
    group.add_argument("--check", action="store_true", help="exit 1 when the file is stale")
    args = parser.parse_args(argv)
    text = render(load_catalog())
    if args.write:
        DOC.write_text(text, encoding="utf-8")
    elif args.check:
        if DOC.read_text(encoding="utf-8") != text:
            print(f"{DOC} is out of date: python -m services.catalog.rendering --write")
            return 1
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
