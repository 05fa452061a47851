"""The Knative subscriber contract as an ASGI app: CloudEvents in, a status (and maybe a reply) out.

`tidal run` serves what `create_asgi_app` returns under uvicorn. Every answer to a POST names
its outcome in a ``Tidal-Outcome`` header (`OUTCOME`), beside a status of its own:

- 200 ``handled`` (with the reply event, if any) when every matching subscription handled the
  event; the response carries at most one event, in binary mode: Knative's broker filter and the
  Kafka broker read one reply event (binary or structured), never a batch, so several emitted
  events without ``K_SINK`` are a 422 naming the fix (`tidal run` refuses at start-up an App
  whose subscription declares several ``emits=`` types without ``K_SINK``); only a batched
  request (the caller solicited batched mode) gets a batched response;
- 204 ``filtered`` when no subscription's filters matched (content filters): processed, with
  nothing to say;
- 202 ``dead-lettered`` when a permanent failure went to the subscription's own dead-letter sink
  (accepted, not processed: it waits in the sink);
- 503 ``retry`` for a retryable failure (429 with ``Retry-After`` when the error asked for a
  delay), so the Broker retries per the Trigger's ``delivery``; 503 with ``Retry-After`` and the
  code ``dependency_unavailable`` when a dependency of tidal's (the idempotency store) is down;
- 422 ``failed`` for a permanent failure, which a Broker does not retry but dead-letters;
- 400 / 413 / 415 / 404 ``rejected`` with a JSON body naming the problem for malformed requests;
  never 500.

A 2xx never has a body but the reply event: both Brokers fail a delivery whose 2xx body is not a
CloudEvent (knative/eventing pkg/broker/filter/filter_handler.go ``writeResponse``), so the
outcome is a header, and the three 2xx statuses follow the CloudEvents webhook spec (section
2.2: 204 processed without content, 202 accepted but not processed). docs/events.md has the
table.

``GET /metrics`` serves Prometheus metrics when the receiver has an exposition
(`tidal.observability`); every POST's status is counted in ``Receiver.statuses`` for it.

Matching, counting, the stages and the classification are the shared core's
(`tidal._pipeline.Pipeline`); this module decodes the request and turns the outcomes into the
answer: its route finishes nothing itself (the Broker retries and dead-letters), and tidal's own
dead-letter sinks are written only once no subscription asks for a retry (`BROKER` routes).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from tidal import _health as health
from tidal._app import Subscription
from tidal._bindings.http import (
    BATCH,
    UnsupportedMediaTypeError,
    from_http,
    media_type,
    to_batch,
    to_binary,
)
from tidal._dispatching import Dispatcher, Emit
from tidal._errors import (
    DependencyUnavailableError,
    InvalidEventError,
    PayloadTooLargeError,
    RetryableError,
)
from tidal._events import Event
from tidal._outcomes import PAUSE, Failed, Handled, Outcome, Paused, Retry
from tidal._pipeline import BROKER, Pipeline

SinkFactory = Callable[[str], Emit]
Exposition = Callable[[str | None], tuple[bytes, str]]
OUTCOME: Final = "tidal-outcome"  # the response header naming what became of the event
# immutable once built: shared by every request
EMPTY_OK: Final = Response(status_code=200, headers={OUTCOME: "handled"})
FILTERED: Final = Response(status_code=204, headers={OUTCOME: "filtered"})
DEAD_LETTERED: Final = Response(status_code=202, headers={OUTCOME: "dead-lettered"})


@dataclass
class Receiver:
    """Everything one request needs: the dispatcher and where emitted events / dead letters go."""

    dispatcher: Dispatcher
    max_body_bytes: int
    emit: Emit | None = None
    dead_letter_sink: SinkFactory | None = None
    ready: bool = True
    service: str = ""
    statuses: Counter[int] = field(default_factory=Counter)
    metrics: Exposition | None = None


class EventsASGI:
    """The ASGI app: ``POST /`` (every subscription) and ``POST /{subscription}`` (one) answered
    directly, the rest (health, readiness, lifespan, 404 / 405) by a small Starlette app.

    The POST path skips Starlette's router and middleware stack: it is the hot path."""

    def __init__(self, receiver: Receiver, *, lifespan: Any = None) -> None:
        self.receiver = receiver
        self.subscriptions = {s.name: s for s in receiver.dispatcher.app.subscriptions}
        self.fallback = _service_routes(receiver, lifespan)
        self.pipeline = Pipeline(
            receiver.dispatcher, transport="knative", emit=receiver.emit, broker_retries=True
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.fallback(scope, receive, send)
            return
        sub, name = None, scope["path"].strip("/")
        if name and (sub := self.subscriptions.get(name)) is None:
            response: Response = _error(
                404, "unknown_subscription", f"no subscription named {name!r}"
            )
        else:
            response = await _receive(self.pipeline, self.receiver, _headers(scope), receive, sub)
        self.receiver.statuses[response.status_code] += 1
        # what Starlette's `Response.__call__` sends (no background task is ever set here)
        status, headers = response.status_code, response.raw_headers
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": response.body})


_NAMES: Final[dict[bytes, str]] = {}  # header names as text, decoded once each (a bounded few)
MAX_NAMES: Final = 512


def _headers(scope: Scope) -> dict[str, str]:
    """The request's headers as text (ASGI servers lower-case the names)."""
    names, headers = _NAMES, {}
    for raw, value in scope["headers"]:
        name = names.get(raw)
        if name is None:
            name = raw.decode("latin-1")
            if len(names) < MAX_NAMES:
                names[raw] = name
        headers[name] = value.decode("latin-1")
    return headers


def create_asgi_app(receiver: Receiver, *, lifespan: Any = None) -> EventsASGI:
    """The ASGI app `tidal run` serves (see `EventsASGI`)."""
    return EventsASGI(receiver, lifespan=lifespan)


def _service_routes(receiver: Receiver, lifespan: Any) -> Starlette:
    async def healthz(request: Request) -> Response:
        if problems := health.problems():  # e.g. sync handler threads hung: restart me
            return JSONResponse({"status": "unhealthy", "problems": problems}, status_code=503)
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        if not receiver.ready:
            return JSONResponse({"status": "shutting down"}, status_code=503)
        # e.g. Redis down: every event would be answered 503; probed first, as out of traffic
        # only a probe finds a dependency back
        down, body = await health.checked_readiness()
        return JSONResponse(body, status_code=503 if down else 200)

    async def metrics(request: Request) -> Response:
        if receiver.metrics is None:
            return _error(
                404,
                "metrics_disabled",
                "metrics are off or tidal[observability] is missing",
                outcome=None,  # no event: not a POST
            )
        body, content_type = receiver.metrics(request.headers.get("accept"))
        return Response(body, headers={"content-type": content_type})

    routes = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
    ]
    return Starlette(routes=routes, lifespan=lifespan)


async def _receive(
    pipeline: Pipeline,
    receiver: Receiver,
    headers: dict[str, str],
    receive: Receive,
    only: Subscription | None,
) -> Response:
    try:
        body = await _read_body(headers, receive, receiver.max_body_bytes)
        events = from_http(headers, body)
    except PayloadTooLargeError as exc:
        return _error(413, "payload_too_large", str(exc))
    except UnsupportedMediaTypeError as exc:
        return _error(415, "unsupported_media_type", str(exc))
    except InvalidEventError as exc:
        return _error(400, "invalid_event", str(exc))
    outcomes: list[tuple[Subscription, Outcome]] = []
    for event in events:
        targets = pipeline.targets(event, only)
        outcomes.extend(await pipeline.receive(BROKER, None, event, targets, headers))
    batched = media_type(headers.get("content-type")) == BATCH
    return _respond(receiver, outcomes, batched=batched) or await _unhandled(
        pipeline, receiver, outcomes
    )


async def _read_body(headers: dict[str, str], receive: Receive, limit: int) -> bytes:
    """The request body, refused as soon as it (declared or streamed) passes ``limit``."""
    declared = headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise PayloadTooLargeError(int(declared), limit)
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise InvalidEventError("client disconnected before the body was complete")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise PayloadTooLargeError(size, limit)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _respond(
    receiver: Receiver, outcomes: Sequence[tuple[Subscription, Outcome]], *, batched: bool
) -> Response | None:
    """The answer when every subscription handled the event (or none wanted it); None when
    some did not (then `_unhandled`)."""
    if not outcomes:
        return FILTERED
    handled = [o for _, o in outcomes if isinstance(o, Handled)]
    if len(handled) < len(outcomes):
        return None
    if receiver.emit is not None:  # emitted events already went to the sink
        return EMPTY_OK
    return _reply([e for o in handled for e in o.emitted], batched=batched)


async def _unhandled(
    pipeline: Pipeline, receiver: Receiver, outcomes: Sequence[tuple[Subscription, Outcome]]
) -> Response:
    """The status when some subscription did not handle the event: a dependency down first,
    then retries, then failures (dead-lettered only when nothing is retried)."""
    paused = [o for _, o in outcomes if isinstance(o, Paused)]
    if paused:
        return _paused_response(paused)
    retries = [o for _, o in outcomes if isinstance(o, Retry)]
    if retries:
        return _retry_response(retries)
    failures = [(s, o) for s, o in outcomes if isinstance(o, Failed)]
    return await _failure_response(pipeline, receiver, failures)


def _retry_response(retries: Sequence[Retry]) -> Response:
    asked = [
        o.error.delay
        for o in retries
        if isinstance(o.error, RetryableError) and o.error.delay is not None
    ]
    message = "; ".join(f"{type(o.error).__name__}: {o.error}" for o in retries)
    if asked:
        response = _error(429, "retry_later", message, outcome="retry")
        response.headers["retry-after"] = str(math.ceil(max(asked)))
        return response
    return _error(503, "retryable_error", message, outcome="retry")


def _paused_response(paused: Sequence[Paused]) -> Response:
    message = "; ".join(f"{type(o.error).__name__}: {o.error}" for o in paused)
    response = _error(503, "dependency_unavailable", message, outcome="retry")
    response.headers["retry-after"] = str(math.ceil(max(o.delay for o in paused)))
    return response


async def _failure_response(
    pipeline: Pipeline, receiver: Receiver, failures: Sequence[tuple[Subscription, Failed]]
) -> Response:
    undelivered = []
    for sub, failed in failures:
        target = sub.policy.dead_letter
        if target is None or receiver.dead_letter_sink is None:
            undelivered.append(failed)
            pipeline.failed(sub, failed.letter)  # the Broker dead-letters it (422)
            continue
        try:
            await receiver.dead_letter_sink(target)([failed.letter])
        except DependencyUnavailableError as exc:  # the sink is down: the broker tries later
            pipeline.stats.bump(sub.name, "paused", event_type=failed.letter.type)
            response = _error(503, "dead_letter_sink_unavailable", str(exc))
            response.headers["retry-after"] = str(math.ceil(exc.delay or PAUSE))
            return response
        except Exception as exc:  # the dead-letter sink failed: let the broker retry
            pipeline.stats.bump(sub.name, "retried", event_type=failed.letter.type)
            return _error(503, "dead_letter_sink_unavailable", str(exc), outcome="retry")
        pipeline.dead_lettered(sub, failed.letter)
    if undelivered:
        message = "; ".join(f"{f.failure.error_class}: {f.failure.message}" for f in undelivered)
        return _error(422, "permanent_error", message, outcome="failed")
    return DEAD_LETTERED


def _reply(replies: Sequence[Event], *, batched: bool) -> Response:
    """At most one event in the response: a Broker reads one reply, never a batch (the HTTP
    binding: batched mode MUST NOT be used unless solicited; a batched request solicits it)."""
    if not replies:
        return EMPTY_OK
    if batched:
        headers, body = to_batch(replies)
        return Response(body, status_code=200, headers={**headers, OUTCOME: "handled"})
    if len(replies) > 1:
        types = ", ".join(sorted({e.type for e in replies}))
        return _error(
            422,
            "several_replies",
            f"the handlers emitted {len(replies)} events ({types}) but a response carries "
            "at most one: set K_SINK (a SinkBinding to the Broker) to send them there",
            outcome="failed",
        )
    headers, body = to_binary(replies[0])
    return Response(body, status_code=200, headers={**headers, OUTCOME: "handled"})


def _error(
    status: int, code: str, message: str, *, outcome: str | None = "rejected"
) -> JSONResponse:
    headers = {OUTCOME: outcome} if outcome is not None else None
    return JSONResponse({"error": code, "message": message}, status_code=status, headers=headers)
