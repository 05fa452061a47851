"""The Knative subscriber contract, in process: every status mapping, replies, sinks, limits."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import httpx
import pytest

from tidal import App, Context, DeliveryPolicy, Event, InvalidEventError, RetryableError
from tidal._bindings import http as binding
from tidal._dispatching import Dispatcher, Emit
from tidal._idempotency import Idempotency, MemoryIdempotencyStore
from tidal._transports.http.asgi import Receiver, create_asgi_app
from tidal.testing import make_event

ONE_TRY = DeliveryPolicy.of(max_attempts=1)
ROOT = Path(__file__).resolve().parents[2]


def build_app() -> App:
    app = App("web", policy=ONE_TRY)

    @app.on(type="echo")
    def echo(event: Event, ctx: Context) -> Event:
        return ctx.derive(type="echoed", data=event.data)

    @app.on(type="many")
    def many(event: Event) -> list[Event]:
        return [make_event("a"), make_event("b")]

    @app.on(type="quiet")
    def quiet(event: Event) -> None:
        return None

    @app.on(type="busy")
    def busy(event: Event) -> None:
        raise RetryableError("try later")

    @app.on(type="slow-down")
    def slow_down(event: Event) -> None:
        raise RetryableError("rate limited", delay=2.5)

    @app.on(type="crash")
    def crash(event: Event) -> None:
        raise ZeroDivisionError("boom")

    @app.on(type="invalid")
    def invalid(event: Event) -> None:
        raise InvalidEventError("missing field 'total'")

    @app.on(
        type="invalid",
        name="with-dlq",
        policy=DeliveryPolicy.of(max_attempts=1, dead_letter="http://dlq.test/"),
    )
    def with_dlq(event: Event) -> None:
        raise InvalidEventError("also bad")

    return app


class Collector:
    def __init__(self, *, fail: bool = False) -> None:
        self.events: list[Event] = []
        self.targets: list[str] = []
        self.fail = fail

    def sink(self, target: str) -> Emit:
        async def send(events: Sequence[Event]) -> None:
            if self.fail:
                raise RetryableError("sink down")
            self.targets.append(target)
            self.events.extend(events)

        return send


def client_for(receiver: Receiver) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=create_asgi_app(receiver))
    return httpx.AsyncClient(transport=transport, base_url="http://tidal.test")


@pytest.fixture
def dlq() -> Collector:
    return Collector()


@pytest.fixture
async def client(dlq: Collector) -> AsyncIterator[httpx.AsyncClient]:
    receiver = Receiver(
        dispatcher=Dispatcher(build_app(), idempotency=Idempotency(MemoryIdempotencyStore())),
        max_body_bytes=4096,
        dead_letter_sink=dlq.sink,
    )
    async with client_for(receiver) as c:
        yield c


async def post(
    client: httpx.AsyncClient, event: Event, *, path: str = "/", mode: str = "binary"
) -> httpx.Response:
    headers, body = binding.to_binary(event) if mode == "binary" else binding.to_structured(event)
    return await client.post(path, content=body, headers=headers)


@pytest.mark.parametrize("mode", ["binary", "structured"])
async def test_single_reply_comes_back_in_binary_mode(client: httpx.AsyncClient, mode: str) -> None:
    response = await post(client, make_event("echo", data={"x": 1}), mode=mode)
    assert response.status_code == 200
    assert response.headers["ce-type"] == "echoed"
    assert response.json() == {"x": 1}


@pytest.mark.parametrize("mode", ["binary", "structured"])
async def test_several_replies_without_k_sink_are_a_permanent_error_never_a_batch(
    client: httpx.AsyncClient, mode: str
) -> None:
    """A Broker reads one reply event, binary or structured, never a batch:

    - knative/eventing pkg/broker/filter/filter_handler.go
      @ 532b01f0cb2ce7bed271204697081e4264385531 (knative-v1.22.2) lines 552-583
      (`writeResponse`: `binding.ToEvent` on the response, one event; a body of unknown
      encoding is a 502, so the Broker retries and the handler runs again);
    - knative-extensions/eventing-kafka-broker data-plane/dispatcher/src/main/java/dev/knative/
      eventing/kafka/broker/dispatcher/impl/BaseResponseHandler.java
      @ 20190b07b33aa1bb96d3b2106304cbc0d511a61c (knative-v1.22.3) lines 69-73
      (`createReader(response).toEvent()`);
    - cloudevents/spec cloudevents/bindings/http-protocol-binding.md
      @ c2845a49bc9831be02f305a4a792401b932d77d4 line 136: batched mode MUST NOT be used
      unless solicited.

    So several events without K_SINK are a 422 (dead-lettered, not retried) naming the fix."""
    response = await post(client, make_event("many"), mode=mode)
    assert response.status_code == 422
    assert response.headers["content-type"] != binding.BATCH
    assert response.json()["error"] == "several_replies"
    assert "K_SINK" in response.json()["message"]


async def test_handled_without_reply_is_200_with_an_empty_body(client: httpx.AsyncClient) -> None:
    response = await post(client, make_event("quiet"))
    assert response.status_code == 200
    assert response.content == b""


async def test_unmatched_event_is_204_filtered(client: httpx.AsyncClient) -> None:
    """Issue 18, finding 5: 202 meant both "no subscription wanted it" and "dead-lettered to
    your own sink". Filtered out is 204 No Content: processed, nothing to say (CloudEvents
    http-webhook.md section 2.2); tidal's own dead letter is 202 (below)."""
    response = await post(client, make_event("nobody-listens"))
    assert (response.status_code, response.headers["tidal-outcome"]) == (204, "filtered")
    assert response.content == b""


async def test_a_subscription_path_whose_filter_says_no_is_filtered_too(
    client: httpx.AsyncClient,
) -> None:
    response = await post(client, make_event("echo"), path="/invalid")
    assert (response.status_code, response.headers["tidal-outcome"]) == (204, "filtered")


async def test_retryable_error_is_503(client: httpx.AsyncClient) -> None:
    response = await post(client, make_event("busy"))
    assert response.status_code == 503
    assert response.json()["error"] == "retryable_error"
    assert "try later" in response.json()["message"]


async def test_retryable_error_with_delay_is_429_with_retry_after(
    client: httpx.AsyncClient,
) -> None:
    response = await post(client, make_event("slow-down"))
    assert response.status_code == 429
    assert response.headers["retry-after"] == "3"


async def test_unexpected_handler_exception_is_retryable_not_500(client: httpx.AsyncClient) -> None:
    response = await post(client, make_event("crash"))
    assert response.status_code == 503
    assert "ZeroDivisionError: boom" in response.json()["message"]


async def test_permanent_error_is_422_so_the_broker_dead_letters(client: httpx.AsyncClient) -> None:
    response = await post(client, make_event("invalid"), path="/invalid")
    assert response.status_code == 422
    assert response.json() == {
        "error": "permanent_error",
        "message": "InvalidEventError: missing field 'total'",
    }


async def test_permanent_error_with_own_dead_letter_sink_is_dead_lettered_and_202(
    client: httpx.AsyncClient, dlq: Collector
) -> None:
    """Accepted, not processed: parked in the subscription's sink (http-webhook.md 2.2: 202
    when the delivery "has been accepted, but has not yet been processed")."""
    event = make_event("invalid", data={"a": 1})
    response = await post(client, event, path="/with-dlq")
    assert (response.status_code, response.headers["tidal-outcome"]) == (202, "dead-lettered")
    assert response.content == b""
    assert dlq.targets == ["http://dlq.test/"]
    [letter] = dlq.events
    assert letter.id == event.id
    assert letter.data == {"a": 1}
    assert letter.get_extension("tidalerrormessage") == "also bad"


async def test_dead_letter_sink_down_turns_into_503() -> None:
    receiver = Receiver(
        dispatcher=Dispatcher(build_app()),
        max_body_bytes=4096,
        dead_letter_sink=Collector(fail=True).sink,
    )
    async with client_for(receiver) as c:
        response = await post(c, make_event("invalid"), path="/with-dlq")
    assert response.status_code == 503
    assert response.json()["error"] == "dead_letter_sink_unavailable"


async def test_emitted_events_go_to_k_sink_instead_of_the_response() -> None:
    sink = Collector()
    receiver = Receiver(
        dispatcher=Dispatcher(build_app()), max_body_bytes=4096, emit=sink.sink("K_SINK")
    )
    async with client_for(receiver) as c:
        response = await post(c, make_event("many"))
    assert response.status_code == 200
    assert response.content == b""
    assert [e.type for e in sink.events] == ["a", "b"]


async def test_k_sink_failure_is_retryable_so_nothing_is_lost() -> None:
    receiver = Receiver(
        dispatcher=Dispatcher(build_app()),
        max_body_bytes=4096,
        emit=Collector(fail=True).sink("K_SINK"),
    )
    async with client_for(receiver) as c:
        assert (await post(c, make_event("echo"))).status_code == 503


async def test_batched_request_handles_every_event(client: httpx.AsyncClient) -> None:
    """A batched request solicits batched mode (http-protocol-binding.md line 136, above)."""
    headers, body = binding.to_batch([make_event("echo", data=1), make_event("echo", data=2)])
    response = await client.post("/", content=body, headers=headers)
    assert response.status_code == 200
    assert [e["data"] for e in response.json()] == [1, 2]


async def test_duplicate_delivery_replies_the_same_event(client: httpx.AsyncClient) -> None:
    event = make_event("echo", data={"x": 1})
    first, second = await post(client, event), await post(client, event)
    assert first.status_code == second.status_code == 200
    assert first.headers["ce-id"] == second.headers["ce-id"]


@pytest.mark.parametrize(
    ("headers", "body", "status", "error"),
    [
        ({"content-type": "application/json"}, b'{"a": 1}', 400, "invalid_event"),
        ({"content-type": "application/cloudevents+json"}, b"{oops", 400, "invalid_event"),
        (
            {"content-type": "application/cloudevents+json"},
            b'{"specversion": "1.0"}',
            400,
            "invalid_event",
        ),
        ({"content-type": "application/cloudevents+xml"}, b"<e/>", 415, "unsupported_media_type"),
        ({"content-type": "application/cloudevents+json"}, b"x" * 5000, 413, "payload_too_large"),
        (
            {
                "ce-specversion": "1.0",
                "ce-id": "1",
                "ce-source": "s",
                "ce-type": "echo",
                "ce-time": "not-a-time",
            },
            b"",
            400,
            "invalid_event",
        ),
    ],
)
async def test_malformed_requests_get_4xx_with_a_json_reason(
    client: httpx.AsyncClient, headers: dict[str, str], body: bytes, status: int, error: str
) -> None:
    response = await client.post("/", content=body, headers=headers)
    assert response.status_code == status
    assert response.json()["error"] == error
    assert response.json()["message"]


async def test_chunked_body_over_the_limit_is_413(client: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(10):
            yield b"x" * 1000

    response = await client.post(
        "/", content=chunks(), headers={"content-type": "application/cloudevents+json"}
    )
    assert response.status_code == 413


async def test_unknown_subscription_path_is_404(client: httpx.AsyncClient) -> None:
    response = await post(client, make_event("echo"), path="/nope")
    assert response.status_code == 404
    assert "nope" in response.json()["message"]


async def test_subscription_path_runs_only_that_subscription(client: httpx.AsyncClient) -> None:
    response = await post(client, make_event("invalid"), path="/invalid")
    assert response.status_code == 422
    assert "also bad" not in response.json()["message"]


async def test_health_and_readiness(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    assert (await client.get("/readyz")).status_code == 200


async def test_readiness_fails_once_shutting_down() -> None:
    receiver = Receiver(dispatcher=Dispatcher(build_app()), max_body_bytes=10, ready=False)
    async with client_for(receiver) as c:
        assert (await c.get("/readyz")).status_code == 503


async def test_error_bodies_are_json(client: httpx.AsyncClient) -> None:
    response = await client.post("/", content=b"{}", headers={"content-type": "text/plain"})
    assert json.loads(response.content)["error"] == "invalid_event"


def outcomes(receiver: Receiver, subscription: str) -> dict[str, int]:
    stats = receiver.dispatcher.stats
    names = ("received", "handled", "retried", "failed", "dead_lettered")
    return {o: n for o in names if (n := stats.get(subscription, o))}


async def test_each_attempt_has_one_outcome_whoever_dead_letters_it() -> None:
    """Issue 18, finding 8: an event tidal dead-lettered counted as failed and dead_lettered."""
    sink = Collector()
    receiver = Receiver(
        dispatcher=Dispatcher(build_app()), max_body_bytes=4096, dead_letter_sink=sink.sink
    )
    async with client_for(receiver) as c:
        assert (await post(c, make_event("invalid"), path="/invalid")).status_code == 422
        assert (await post(c, make_event("invalid"), path="/with-dlq")).status_code == 202
        sink.fail = True
        assert (await post(c, make_event("invalid"), path="/with-dlq")).status_code == 503
    assert outcomes(receiver, "invalid") == {"received": 1, "failed": 1}  # the Broker's letter
    assert outcomes(receiver, "with-dlq") == {"received": 2, "dead_lettered": 1, "retried": 1}


async def test_a_retryable_failure_over_http_says_the_broker_retries_not_when(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 18, finding 2: the log said 'retrying ... in 0.128s' though nothing here retries."""
    with caplog.at_level(logging.INFO, logger="tidal.dispatch"):
        response = await post(client, make_event("busy"), path="/busy")
    assert response.status_code == 503
    [line] = [r for r in caplog.records if r.name == "tidal.dispatch"]
    assert "the broker retries it" in line.getMessage()
    assert " in 0." not in line.getMessage()
    assert line.exc_info is not None


@pytest.mark.parametrize(
    ("type_", "path", "status", "outcome"),
    [
        ("echo", "/", 200, "handled"),
        ("quiet", "/", 200, "handled"),
        ("nobody-listens", "/", 204, "filtered"),
        ("invalid", "/with-dlq", 202, "dead-lettered"),
        ("busy", "/", 503, "retry"),
        ("slow-down", "/", 429, "retry"),
        ("invalid", "/invalid", 422, "failed"),
        ("many", "/", 422, "failed"),
        ("echo", "/nope", 404, "rejected"),
    ],
)
async def test_every_answer_names_its_outcome_in_a_header(
    client: httpx.AsyncClient, type_: str, path: str, status: int, outcome: str
) -> None:
    """One status per outcome and a ``Tidal-Outcome`` header saying it, readable by a user
    (``tidal send``, curl) whatever the Broker makes of the status."""
    response = await post(client, make_event(type_), path=path)
    assert (response.status_code, response.headers["tidal-outcome"]) == (status, outcome)


@pytest.mark.parametrize(
    ("type_", "path"), [("quiet", "/"), ("nobody-listens", "/"), ("invalid", "/with-dlq")]
)
async def test_a_2xx_without_a_reply_has_an_empty_body_as_both_brokers_require(
    client: httpx.AsyncClient, type_: str, path: str
) -> None:
    """The outcome travels in a header, never a body: a 2xx whose body is not a CloudEvent is a
    failed delivery for both Brokers, so a JSON ``{"outcome": ...}`` would be retried forever.

    - knative/eventing pkg/broker/filter/filter_handler.go
      @ 532b01f0cb2ce7bed271204697081e4264385531 (knative-v1.22.2) lines 556-569: a response
      of unknown encoding with a non-empty body is answered 502 ("The response MUST be either
      empty or a valid CloudEvent"); lines 571-573: an empty one passes its status through;
    - knative-extensions/eventing-kafka-broker data-plane/dispatcher/src/main/java/dev/knative/
      eventing/kafka/broker/dispatcher/impl/BaseResponseHandler.java
      @ 20190b07b33aa1bb96d3b2106304cbc0d511a61c lines 74-95 and 120-124: only an empty body
      is "not an event"; a non-empty one that does not decode fails the delivery.
    Any 2xx is a success for the Broker (pkg/kncloudevents/event_dispatcher.go lines 598-602,
    ``isFailure``: below 200 or from 300), so 200, 202 and 204 are all delivered."""
    response = await post(client, make_event(type_), path=path)
    assert 200 <= response.status_code < 300
    assert response.content == b""
    assert "ce-specversion" not in response.headers


async def test_ctx_attempt_is_1_on_every_http_delivery_and_the_docs_say_so() -> None:
    """Issue 18, finding 2: the Broker retries a 503 by sending the same request again (no
    attempt header: docs/events.md cites knative/eventing and eventing-kafka-broker), so each
    delivery is attempt 1 to the handler; the docs a user reads say so plainly."""
    seen: list[int] = []
    app = App("web", policy=DeliveryPolicy.of(max_attempts=5))

    @app.on(type="flaky")
    def flaky(event: Event, ctx: Context) -> None:
        seen.append(ctx.attempt)
        if len(seen) < 3:
            raise RetryableError("not yet")

    receiver = Receiver(dispatcher=Dispatcher(app), max_body_bytes=4096)
    event = make_event("flaky")
    async with client_for(receiver) as c:
        statuses = [(await post(c, event)).status_code for _ in range(3)]
    assert statuses == [503, 503, 200]
    assert seen == [1, 1, 1]
    assert "always 1" in " ".join((Context.__doc__ or "").split())


@pytest.mark.parametrize(
    "doc", ["README.md", "docs/events.md", "docs/concepts.md", "docs/getting-started.md"]
)
def test_the_docs_say_ctx_attempt_is_1_over_http(doc: str) -> None:
    text = " ".join((ROOT / doc).read_text().split())
    assert "always 1" in text
    assert "over HTTP" in text or "Over HTTP" in text


async def test_ctx_attempt_stays_1_over_http_on_an_idempotent_subscription() -> None:
    """The idempotency store counts attempts before the handler runs (issue 17), but over HTTP
    the Broker counts them: ctx.attempt stays 1 there, as the docs say."""
    seen: list[int] = []
    app = App("web", policy=DeliveryPolicy.of(max_attempts=2))

    @app.on(type="flaky", idempotent=True)
    def flaky(event: Event, ctx: Context) -> None:
        seen.append(ctx.attempt)
        if len(seen) < 3:
            raise RetryableError("not yet")

    guard = Idempotency(MemoryIdempotencyStore())
    receiver = Receiver(dispatcher=Dispatcher(app, idempotency=guard), max_body_bytes=4096)
    event = make_event("flaky")
    async with client_for(receiver) as c:
        statuses = [(await post(c, event)).status_code for _ in range(3)]
    assert statuses == [503, 503, 200], "never exhausted here: the Broker decides"
    assert seen == [1, 1, 1]
