"""What the gateway does with a request: read it within the limit, check it, publish it.

`Ingest` holds the publisher, the catalogue, the credentials and the clock; the API's routes
call one method each. Checks run cheapest first, and every failure is a `Refusal` naming the
field: 415 for a media type it does not read, 413 past ``max_body_bytes``, 401 for missing or
wrong credentials, 400 for what does not parse, 422 for what parses but breaks its schema.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Final

from jsonschema import Draft202012Validator
from starlette.requests import ClientDisconnect, Request

from services.catalog import Catalog, SchemaViolation
from services.catalog.schemas import describe
from services.gateway import mapping
from services.gateway.auth import (
    PAYMENTS_SIGNATURE,
    POS_SIGNATURE,
    AuthError,
    Scheme,
    Tokens,
    verify_signature,
)
from services.gateway.errors import Refusal, malformed, off_schema
from services.gateway.replays import (
    PENDING,
    MemoryReplays,
    RedisReplays,
    Replays,
    fingerprint,
)
from services.gateway.settings import GatewaySettings
from tidal import Event, InvalidEventError, Publisher, from_http
from tidal.observability import Ingress

JSON_TYPES: Final = ("application/json",)
EVENT_TYPES: Final = (
    "application/json",
    "application/cloudevents+json",
    "application/cloudevents-batch+json",
)
NON_FINITE: Final = (b"NaN", b"Infinity")
REPLAY_WAIT: Final = 5.0  # seconds a webhook waits for its twin being published before 409


class Ingest:
    """The gateway's behaviour, independent of the web framework's routing."""

    def __init__(
        self,
        publisher: Publisher,
        settings: GatewaySettings,
        catalog: Catalog,
        *,
        ingress: Ingress,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.publisher = publisher
        self.ingress = ingress
        self.settings = settings
        self.catalog = catalog
        self.clock = clock
        self.tokens = Tokens(settings.tokens)
        self.replays = _replays(settings)
        self.webhook_envelope = Draft202012Validator(mapping.PAYMENT_WEBHOOK)
        self.checkout_session = Draft202012Validator(mapping.CHECKOUT_SESSION)

    async def events(self, request: Request) -> list[str]:
        """``POST /events``: CloudEvents in binary, structured or batched mode."""
        self.authorise(request)
        _media(request, EVENT_TYPES)
        body = await self._body(request)
        try:
            events = from_http(request.headers, body)
        except InvalidEventError as exc:
            raise malformed(str(exc)) from exc
        except RecursionError as exc:
            raise malformed("the JSON is nested too deeply") from exc
        if not events:
            raise malformed("a batch must hold at least one event")
        _finite(body, [e.data for e in events])
        batched = len(events) > 1
        checked = [self._checked(e, f"[{i}]." if batched else "") for i, e in enumerate(events)]
        return await self._publish("events", checked)

    async def telemetry(self, request: Request) -> list[str]:
        """``POST /telemetry``: one plain JSON reading from a vehicle."""
        self.authorise(request)
        _media(request, JSON_TYPES)
        reading = _json(await self._body(request))
        self._validate(mapping.TELEMETRY, reading)
        event = _event(lambda: mapping.telemetry_event(reading))
        return await self._publish("telemetry", [event])

    async def pos_webhook(self, request: Request) -> list[str]:
        """``POST /webhooks/pos``: a signed POS transaction."""
        _media(request, JSON_TYPES)
        body = await self._body(request)
        signed = self._verify("pos", request, body)
        order = _json(body)
        self._validate(mapping.ORDER_CONFIRMED, order)
        async with self._once("pos", signed, body) as answer:
            if answer.given is None:
                answer.given = await self._publish(
                    "pos", [_event(lambda: mapping.order_event(order))]
                )
        return answer.given

    async def payment_webhook(self, request: Request) -> tuple[str, bool]:
        """``POST /webhooks/payments``: a signed Stripe-style event; (its id, published)."""
        _media(request, JSON_TYPES)
        body = await self._body(request)
        signed = self._verify("payments", request, body)
        webhook = _json(body)
        _check(self.webhook_envelope, webhook)
        if webhook["type"] not in mapping.PAYMENT_TYPES:
            return webhook["id"], False  # acknowledged, as providers expect, but not published
        _check(self.checkout_session, webhook["data"]["object"], prefix="data.object.")
        data = mapping.checkout_data(webhook)
        self._validate(mapping.CHECKOUT_COMPLETED, data)
        async with self._once("payments", signed, body) as answer:
            if answer.given is None:
                event = _event(lambda: mapping.payment_event(webhook, data))
                answer.given = await self._publish("payments", [event])
        return webhook["id"], True

    def authorise(self, request: Request) -> None:
        """401 unless the request bears one of the accepted tokens."""
        try:
            self.tokens.check(request.headers.get("authorization"))
        except AuthError as exc:
            raise Refusal(401, "unauthorized", str(exc), field=exc.field) from exc

    def _verify(self, scheme: Scheme, request: Request, body: bytes) -> int:
        """The signed timestamp of a request whose signature checks out; else 401."""
        secrets = self.settings.pos_secrets if scheme == "pos" else self.settings.payment_secrets
        try:
            return verify_signature(
                scheme,
                request.headers,
                body,
                secrets=secrets,
                now=self.clock(),
                tolerance=self.settings.tolerance_seconds,
            )
        except AuthError as exc:
            raise Refusal(401, "bad_signature", str(exc), field=exc.field) from exc

    @asynccontextmanager
    async def _once(self, scheme: Scheme, signed: int, body: bytes) -> AsyncIterator[Answer]:
        """Publish a signed request once within its window: the block publishes when
        ``answer.given`` is None (a first request) and sets it; a replay finds it set."""
        key = fingerprint(scheme, signed, body)
        window = max(1.0, signed + self.settings.tolerance_seconds - self.clock())
        held = await self._claim(key, window)
        if held == PENDING:
            raise Refusal(
                409,
                "replay_in_progress",
                "this signed request is being published now; retry it later",
                field=POS_SIGNATURE if scheme == "pos" else PAYMENTS_SIGNATURE,
            )
        answer = Answer(None if held is None else json.loads(held))
        if held is not None:
            yield answer  # a replay: answered as the first was, nothing published
            return
        try:
            yield answer
        except BaseException:
            await self.replays.release(key)  # the sender retries; let that one through
            raise
        await self.replays.complete(key, json.dumps(answer.given), ttl=window)

    async def _claim(self, key: str, window: float) -> str | None:
        """Claim ``key``; a request whose twin is being published waits for its outcome (up to
        `REPLAY_WAIT` s): answered alike once it is published, published itself if it failed."""
        delay, waited = 0.005, 0.0
        while True:
            try:
                held = await self.replays.claim(key, ttl=window)
            except Exception as exc:
                message = f"the replay cache is unreachable: {exc}"
                raise Refusal(503, "unavailable", message) from exc
            if held != PENDING or waited >= REPLAY_WAIT:
                return held
            await asyncio.sleep(delay)
            waited += delay
            delay = min(delay * 2, 0.25)

    async def _body(self, request: Request) -> bytes:
        limit = self.settings.max_body_bytes
        declared = request.headers.get("content-length")
        if declared is not None:
            if not declared.isascii() or not declared.isdigit():
                raise malformed("content-length is not a number", "content-length")
            if int(declared) > limit:
                raise _too_large(int(declared), limit)
        chunks, size = [], 0
        try:
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise _too_large(size, limit)
                chunks.append(chunk)
        except ClientDisconnect as exc:  # gone, or cut off by the server's body deadline
            raise Refusal(
                408, "request_timeout", "the body did not arrive in time", field="body"
            ) from exc
        return b"".join(chunks)

    def _checked(self, event: Event, where: str) -> Event:
        entry = self.catalog.get(event.type)
        if entry is None or not entry.ingress:
            raise off_schema(
                f"event type {event.type!r} is not one the gateway ingests (see docs/events.md)",
                f"{where}type",
            )
        try:
            entry.validate(event.data)
        except SchemaViolation as exc:
            raise off_schema(str(exc), f"{where}data.{exc.field}".rstrip(".")) from exc
        except RecursionError as exc:
            raise malformed("the data is nested too deeply", f"{where}data") from exc
        if event.partitionkey is None:
            key = mapping.partition_key(event.type, event.data)
            if key is not None:
                return _event(lambda: event.with_extensions({"partitionkey": key}))
        return event

    def _validate(self, event_type: str, data: Any) -> None:
        try:
            self.catalog.validate(event_type, data)
        except SchemaViolation as exc:
            raise off_schema(f"{exc.field or 'body'}: {exc.reason}", exc.field or None) from exc
        except RecursionError as exc:
            raise malformed("the JSON is nested too deeply") from exc

    async def _publish(self, route: str, events: Sequence[Event]) -> list[str]:
        try:
            await self.ingress.publish(route, events, self.publisher.publish_many)
        except Exception as exc:  # the broker's trouble, not the client's: ask for a retry
            raise Refusal(
                503, "unavailable", f"the broker did not accept the events: {exc}"
            ) from exc
        return [e.id for e in events]


@dataclass
class Answer:
    """The ids a signed request's events were published under (None: not yet)."""

    given: list[str] | None


def _replays(settings: GatewaySettings) -> Replays:
    if settings.redis_url is not None:
        return RedisReplays.from_url(settings.redis_url.get_secret_value())
    return MemoryReplays(max_entries=settings.replay_cache_size)


def _media(request: Request, accepted: tuple[str, ...]) -> None:
    kind = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if kind not in accepted:
        raise Refusal(
            415,
            "unsupported_media_type",
            f"content-type {kind or '(none)'!r} is not accepted here; send {' or '.join(accepted)}",
            field="content-type",
        )


def _json(body: bytes) -> Any:
    try:
        value = json.loads(body, parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError) as exc:
        raise malformed(f"the body is not valid JSON: {exc}") from exc
    except RecursionError as exc:
        raise malformed("the JSON is nested too deeply") from exc
    return value


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite(body: bytes, values: list[Any]) -> None:
    """Refuse NaN / Infinity, which Python's JSON reader lets through (cheap: only when the
    body spells one of them)."""
    if not any(word in body for word in NON_FINITE):
        return
    stack = list(values)
    while stack:
        value = stack.pop()
        if isinstance(value, float) and not math.isfinite(value):
            raise malformed("NaN and Infinity are not JSON numbers", "data")
        if isinstance(value, dict):
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)


def _check(validator: Draft202012Validator, value: Any, *, prefix: str = "") -> None:
    try:
        error = next(iter(validator.iter_errors(value)), None)
    except RecursionError as exc:
        raise malformed("the JSON is nested too deeply") from exc
    if error is not None:
        field, message = describe(error)
        raise off_schema(f"{prefix}{field}: {message}", f"{prefix}{field}".rstrip(".") or None)


def _too_large(size: int, limit: int) -> Refusal:
    return Refusal(
        413, "payload_too_large", f"the body is {size} bytes; the limit is {limit}", field="body"
    )


def _event(make: Callable[[], Event]) -> Event:
    """The event ``make`` builds from a valid body, or a 422 where a field the schema allows
    cannot be a CloudEvents attribute (a control character in an id, say)."""
    try:
        return make()
    except InvalidEventError as exc:
        raise off_schema(f"the body cannot make a CloudEvent: {exc}", None) from exc
