"""`tidal._bindings.formats.loads` reads with msgspec first and the standard library where msgspec
refuses: every document must read to the very value the standard library gives it (types
included: 1 is not 1.0, big integers stay exact), or be refused as before."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tidal._bindings.formats import loads
from tidal._errors import InvalidEventError

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()  # past 64 bits too
    | st.integers(-(2**64), 2**64)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)  # non-ASCII, astral (escaped as surrogate pairs when ASCII-only)
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=20,
)
NUMBERS = st.from_regex(
    r"-?(0|[1-9][0-9]{0,30})(\.[0-9]{1,30})?([eE][+-]?[0-9]{1,3})?", fullmatch=True
)


def same(left: Any, right: Any) -> bool:
    """Equal with the same types all the way down (-0.0 is not 0.0, 1 is not 1.0 nor True)."""
    if type(left) is not type(right):
        return False
    if isinstance(left, float):
        return math.copysign(1, left) == math.copysign(1, right) and left == right
    if isinstance(left, dict):
        return list(left) == list(right) and all(same(left[k], right[k]) for k in left)
    if isinstance(left, list):
        return len(left) == len(right) and all(map(same, left, right))
    return bool(left == right)


@settings(max_examples=500, deadline=None)
@given(VALUES, st.booleans(), st.sampled_from([None, (",", ":")]))
def test_every_document_reads_as_the_standard_library_reads_it(
    value: Any, ascii_only: bool, separators: tuple[str, str] | None
) -> None:
    document = json.dumps(value, ensure_ascii=ascii_only, separators=separators)
    expected = json.loads(document)
    assert same(loads(document.encode(), what="data"), expected)
    assert same(loads(document, what="data"), expected)


@settings(max_examples=1000, deadline=None)
@given(NUMBERS)
def test_every_number_reads_to_the_same_int_or_float(literal: str) -> None:
    expected = json.loads(literal)
    if isinstance(expected, float) and math.isinf(expected):
        with pytest.raises(InvalidEventError, match="out of range"):
            loads(literal.encode(), what="data")
    else:
        assert same(loads(literal.encode(), what="data"), expected)


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        (b"123456789012345678901234567890", 123456789012345678901234567890),
        (b"1" + b"0" * 400, 10**400),  # an integer past a double's range is still an integer
        (b"-18446744073709551617", -18446744073709551617),
        (b"[1.0, 1, -0.0, 1e16]", [1.0, 1, -0.0, 1e16]),
        (b'"\\ud800"', "\ud800"),  # an escaped lone surrogate: the standard library's reading
        (b'"\xed\xa0\x80"', "\ud800"),  # encoded as a surrogate (surrogatepass)
        (b"\xef\xbb\xbf{}", {}),  # a BOM
        ('{"a": 1}'.encode("utf-16"), {"a": 1}),
        ('"caf\u00e9"'.encode(), "caf\u00e9"),
        (b'{"a": 1, "a": 2}', {"a": 2}),
    ],
)
def test_documents_msgspec_refuses_or_reads_differently_read_as_before(
    document: bytes, expected: Any
) -> None:
    assert same(loads(document, what="data"), expected)


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        (b"NaN", "not valid JSON"),
        (b"[1e400]", "out of range"),
        (b"1" + b"0" * 400 + b".5", "out of range"),
        (b"1" * 5000, "4300 digits"),  # the interpreter's limit on integer text
        (b'{"a": 1} x', "Extra data"),
        (b'"\x00"', "Invalid control character"),
        (b"[" * 2000 + b"]" * 2000, "nested deeper"),
    ],
)
def test_refused_documents_are_refused_in_the_words_of_before(document: bytes, reason: str) -> None:
    with pytest.raises(InvalidEventError, match=reason):
        loads(document, what="data")
