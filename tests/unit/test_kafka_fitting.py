"""`Outlet`: a dead letter the broker refuses as too large is shrunk until it is accepted.

The broker's own limit (a topic's ``max.message.bytes`` under the producer's
``max_request_size``) is only learnt from its ``MESSAGE_TOO_LARGE`` answer (error 10, Kafka's
``RecordTooLargeException``) when the topic config could not be read; tansu enforces none, so a
publisher standing for such a broker refuses records over its limit the way aiokafka reports it.
"""

from __future__ import annotations

from aiokafka.errors import MessageSizeTooLargeError

from tidal._transports.kafka.fitting import Outlet, record_size
from tidal._transports.kafka.records import OutgoingRecord

BROKER_LIMIT = 4096


class StrictBroker:
    """A publisher that refuses, as a broker does, records over `BROKER_LIMIT`."""

    def __init__(self) -> None:
        self.accepted: list[OutgoingRecord] = []
        self.refused = 0

    async def send_durably(self, record: OutgoingRecord) -> None:
        if record_size(record) > BROKER_LIMIT:
            self.refused += 1
            raise MessageSizeTooLargeError()
        self.accepted.append(record)


FAILURE = {"tidalerrorclass": "ValueError", "tidaltopic": "orders", "tidaloffset": 7}


async def test_a_letter_the_broker_refuses_goes_without_its_value_and_says_why() -> None:
    broker = StrictBroker()
    outlet = Outlet(broker, limit=1_048_576)  # type: ignore[arg-type]
    letter = OutgoingRecord(
        topic="orders.dlq",
        key=b"k",
        value=b"v" * 10_000,
        headers=[("content-type", b"application/cloudevents+json"), ("x-trace", b"t")],
    )
    await outlet.dead_letter(letter, FAILURE)
    [sent] = broker.accepted
    headers = dict(sent.headers)
    assert (broker.refused, outlet.limit) == (1, record_size(letter) - 1)
    assert sent.value == b""
    assert headers["x-trace"] == b"t"
    assert headers["tidalerrorclass"] == b"ValueError"  # structured: the failure was in the value
    assert (headers["tidaltopic"], headers["tidaloffset"]) == (b"orders", b"7")
    assert "value dropped" in headers["tidal-oversize"].decode()


async def test_a_letter_whose_headers_alone_are_too_large_keeps_the_identity_and_failure() -> None:
    broker = StrictBroker()
    outlet = Outlet(broker, limit=BROKER_LIMIT)  # type: ignore[arg-type]
    identity = [("ce_id", b"1"), ("ce_source", b"/s"), ("ce_type", b"t")]
    letter = OutgoingRecord(
        topic="orders.dlq", key=None, value=b"{}", headers=[*identity, ("big", b"h" * 8000)]
    )
    await outlet.dead_letter(letter, FAILURE)
    [sent] = broker.accepted
    assert broker.refused == 0  # known too large before sending
    assert sent.headers[:3] == identity
    assert "original headers dropped" in dict(sent.headers)["tidal-oversize"].decode()


async def test_a_retry_that_cannot_fit_says_so_for_the_dead_letter() -> None:
    outlet = Outlet(StrictBroker(), limit=BROKER_LIMIT)  # type: ignore[arg-type]
    record = OutgoingRecord(topic="g.retry", key=None, value=b"v" * 5000, headers=[])
    reason = await outlet.retry(record)
    assert reason is not None
    assert f"over the {BROKER_LIMIT}-byte limit" in reason
    assert "no claim-check store" in reason
