"""The idempotency record's stored form, its owner mark and the replies it keeps
(`tidal._idempotency.records`, the one module that says what a record is)."""

from __future__ import annotations

import json

import pytest

from tidal._bindings.http import to_batch
from tidal._idempotency.records import (
    Record,
    Status,
    decode_replies,
    encode_replies,
    owner_mark,
)
from tidal.testing import make_event

ODD = 'x","t":"tok",\n"r":null} \\ é'
"""A string that holds another field's text: escaped, it can never be read as that field."""


@pytest.mark.parametrize(
    "record",
    [
        Record(status=Status.IN_PROGRESS, payload_hash="h", token="t", lease=60_000),
        Record(status=Status.COMPLETED, payload_hash="h", token="t", result=b"\x00[]", attempt=3),
        Record(status=Status.DEAD, payload_hash=ODD, token=ODD, attempt=2, rerun=True),
    ],
)
def test_a_record_reads_back_as_it_was_written(record: Record) -> None:
    text = record.encode()
    assert Record.decode(text) == record
    assert Record.decode(text.encode()).lease == record.lease
    assert json.loads(text)["t"] == record.token  # plain JSON, as the Redis scripts decode it


def test_attempt_and_lease_lead_the_stored_form_as_plain_integers() -> None:
    """The Redis scripts stamp the lease and a takeover's attempt by rewriting that prefix."""
    record = Record(status=Status.FAILED, payload_hash="h", token="t", attempt=12, lease=345)
    assert record.encode().startswith('{"a":12,"l":345,"s":"failed",')


def test_a_record_written_without_attempt_or_lease_is_a_first_attempt() -> None:
    record = Record.decode('{"s":"completed","h":"h","t":"t","r":null}')
    assert (record.attempt, record.lease, record.rerun) == (1, 0, False)


@pytest.mark.parametrize("token", ["tok", "to", "tok1", ODD])
def test_a_record_holds_an_owner_mark_exactly_when_it_is_that_owners(token: str) -> None:
    """What the Redis scripts search for (no decoding) to tell our record from another's: a
    token that is a prefix of the owner's, or one hidden in the payload hash, is not it."""
    record = Record(status=Status.IN_PROGRESS, payload_hash=ODD + owner_mark("tok"), token=token)
    stored = record.encode()
    assert owner_mark(token) in stored
    others = {"tok", "to", "tok1", ODD} - {token}
    assert [owner_mark(other) in stored for other in sorted(others)] == [False] * len(others)


def test_replies_are_kept_as_the_http_batch_and_read_back() -> None:
    events = [make_event("out", data={"n": 1}, id="r-1"), make_event("out", data=b"\x01", id="r-2")]
    kept = encode_replies(events)
    assert kept == to_batch(events)[1]  # what records written before this module hold
    assert [(e.id, e.data) for e in decode_replies(kept)] == [("r-1", {"n": 1}), ("r-2", b"\x01")]
    assert encode_replies([]) is None
    assert decode_replies(None) == []
