"""`Fanout`: one partition run for each subscription of a consumer group, decoded once.

The committed position is the least subscription's, the fetch stops while any subscription's
backlog is full, and every subscription gets the same decoded event (issue 20).
"""

from __future__ import annotations

import asyncio

import pytest
from tests.unit.test_kafka_pieces import Rec, rec_of

from tidal._errors import InvalidEventError
from tidal._events import Event
from tidal._transports.kafka.fanout import Fanout
from tidal._transports.kafka.records import ConsumedRecord
from tidal._transports.kafka.scheduling import PartitionWork
from tidal._transports.kafka.shared import decoded
from tidal.testing import make_event


def _work(
    gate: dict[int, asyncio.Event], seen: list[Event], *, backlog: int = 500
) -> PartitionWork:
    async def process(record: ConsumedRecord) -> None:
        seen.append(decoded(record))
        if record.offset in gate:
            await gate[record.offset].wait()

    return PartitionWork(process=process, limit=64, window=500, backlog=backlog)


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_the_position_is_the_slowest_subscriptions_and_each_decodes_the_same_event() -> None:
    held = asyncio.Event()
    fast: list[Event] = []
    slow: list[Event] = []
    fanout = Fanout({"fast": _work({}, fast), "slow": _work({3: held}, slow)})
    records = [rec_of(make_event(id=f"e{n}"), offset=n) for n in range(10)]
    fanout.feed(records)
    await _settle()
    assert fanout.works["fast"].position == 10
    assert fanout.works["slow"].position == 3
    assert fanout.position == 3
    held.set()
    await _settle()
    assert fanout.position == 10
    assert [e.id for e in fast] == [e.id for e in slow] == [f"e{n}" for n in range(10)]
    assert all(a is b for a, b in zip(fast, slow, strict=True)), "one event per record"
    await fanout.close(grace=0)


async def test_nothing_is_committed_before_every_subscription_has_a_position() -> None:
    held = asyncio.Event()
    fanout = Fanout({"fast": _work({}, []), "slow": _work({0: held}, [])})
    fanout.feed([rec_of(make_event(id=f"e{n}"), offset=n) for n in range(3)])
    await _settle()
    assert fanout.works["fast"].position == 3
    assert fanout.position is None
    await fanout.close(grace=0)


async def test_the_partition_is_full_while_any_subscriptions_backlog_is() -> None:
    held = asyncio.Event()
    stuck = dict.fromkeys(range(70), held)  # 64 run and wait, 6 wait in a backlog of 2
    fanout = Fanout({"fast": _work({}, []), "slow": _work(stuck, [], backlog=2)})
    fanout.feed([rec_of(make_event(id=f"e{n}"), offset=n) for n in range(70)])
    await _settle()
    assert fanout.works["fast"].full_since is None
    assert fanout.full_since is not None
    held.set()
    await _settle()
    assert fanout.full_since is None
    await fanout.close(grace=0)


def test_a_record_that_is_not_a_cloudevent_fails_every_subscription_alike() -> None:
    from tidal._transports.kafka.shared import SharedRecord

    shared = SharedRecord(Rec("orders", 0, 0, None, b"{}", []))
    for _ in range(2):
        with pytest.raises(InvalidEventError, match="not a CloudEvent"):
            decoded(shared)


def test_a_shared_records_decoding_error_keeps_its_class_for_every_subscription(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import tidal._transports.kafka.shared as shared_module
    from tidal._bindings.http import UnsupportedMediaTypeError

    def refuse(*_: object) -> Event:
        raise UnsupportedMediaTypeError("content type 'text/csv' is not supported")

    monkeypatch.setattr(shared_module, "from_consumed", refuse)
    shared = shared_module.SharedRecord(Rec("orders", 0, 0, None, b"a,b", []))
    raised = []
    for _ in range(2):
        with pytest.raises(InvalidEventError) as caught:
            decoded(shared)
        raised.append(caught.value)
    assert [type(e) for e in raised] == [UnsupportedMediaTypeError] * 2
    assert str(raised[0]) == str(raised[1])
