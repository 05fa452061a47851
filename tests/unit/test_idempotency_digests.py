"""The digests idempotency records carry: the stable one Redis keeps across tidal versions never
changes, and the in-process store's cheaper one tells JSON payloads apart exactly as it does."""

from __future__ import annotations

import json
import math
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tidal._idempotency import Idempotency, MemoryIdempotencyStore
from tidal._idempotency.copies import event_hash, payload_hash, quick_event_hash, quick_hash
from tidal._stores.redis import RedisIdempotencyStore

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.sampled_from([0, 1, -1, 0.0, -0.0, 1.0, 2**64, True, False, "", "null", "1"])
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=6)
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=10,
)


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def test_the_digest_records_outliving_the_process_carry_never_changes() -> None:
    """Redis keeps records across upgrades: a redelivery read by a newer tidal must match the
    record an older one wrote (a changed digest is a false conflict, a dead letter)."""
    data = {"b": [1, 1.5, True, None], "a": "caf\u00e9 \U0001f600", "n": 12345678901234567890123}
    assert payload_hash(data) == "4ac6e58fcd1aaac8d7971b68839ef6c923c02a8b5e308bdb4ad6cb661a5c5941"
    assert payload_hash(b"raw") == (
        "d7439bee24773bcbfa2d0a97947ee36227b10d1022b1a55847e928965bb6bfde"
    )


@settings(max_examples=500, deadline=None)
@given(VALUES, VALUES)
def test_the_in_process_digest_tells_payloads_apart_as_the_stable_one(
    left: Any, right: Any
) -> None:
    assert (quick_hash(left) == quick_hash(right)) == (canonical(left) == canonical(right))
    reordered = json.loads(canonical(left))  # the same value, its keys in another order
    assert quick_hash(reordered) == quick_hash(left)


def test_values_the_fast_encoder_would_blur_stay_apart() -> None:
    """msgspec writes NaN and the infinities as null; the stable encoding tells them apart."""
    nulls = [None, math.nan, math.inf, -math.inf]
    digests = {quick_hash({"x": value}) for value in nulls}
    assert len(digests) == len(nulls)
    assert quick_hash({"x": "\ud800"}) != quick_hash({"x": "\ud801"})  # lone surrogates
    assert quick_hash({1: "a"}) == quick_hash({1: "a"})  # non-string keys: the stable way
    assert quick_hash(b"raw") == quick_hash(b"r" + b"aw") != quick_hash(b"raw ")  # as they are


def test_each_store_gets_the_digest_its_records_need() -> None:
    assert Idempotency(MemoryIdempotencyStore()).digest is quick_event_hash
    redis = RedisIdempotencyStore.from_url("redis://127.0.0.1:1")  # never connected
    assert Idempotency(redis).digest is event_hash
