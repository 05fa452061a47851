"""Hypothesis strategies for legal CloudEvents: every attribute type, nanosecond times, any data.

Used by the round-trip tests: whatever these give, tidal must write in a form the official SDKs
and librdkafka read back unchanged.
"""

from __future__ import annotations

import json
import string
from datetime import datetime
from typing import Any

from hypothesis import strategies as st

from tidal._attributes import INT_MAX, INT_MIN, parse_time
from tidal._events import CORE_ATTRIBUTES, Event

# CloudEvents Strings: no control characters, surrogates or noncharacters (Cn covers those)
TEXT = st.text(st.characters(blacklist_categories=("Cc", "Cs", "Cn")), min_size=1, max_size=20)
# what survives an HTTP header without percent-encoding (the 1.x SDK does not decode it)
HEADER_SAFE = st.text(
    st.sampled_from([c for c in string.printable[:94] if c not in '"%']), min_size=1, max_size=20
)
NAMES = st.text(string.ascii_lowercase + string.digits, min_size=1, max_size=12).filter(
    lambda name: name not in CORE_ATTRIBUTES and name != "data"
)


@st.composite
def timestamps(draw: st.DrawFn) -> datetime:
    """RFC 3339 text with 0-9 fraction digits and any offset, as Knative's Go senders write."""
    moment = draw(
        st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(2200, 1, 1))
    ).replace(microsecond=0)
    digits = draw(st.integers(0, 9))
    fraction = draw(st.text("0123456789", min_size=digits, max_size=digits))
    fraction = "." + fraction if fraction else ""
    minutes = draw(st.sampled_from([None, 0, 330, -480, 59]))
    if minutes is None:
        offset = draw(st.sampled_from(["Z", "z"]))
    else:
        sign = "-" if minutes < 0 else "+"
        offset = f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
    separator = draw(st.sampled_from(["T", "t"]))
    return parse_time(moment.strftime(f"%Y-%m-%d{separator}%H:%M:%S") + fraction + offset)


def _json() -> st.SearchStrategy[Any]:
    scalars = (
        st.none()
        | st.booleans()
        | st.integers(-(2**63), 2**63)
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.text(max_size=10)
    )
    return st.recursive(
        scalars,
        lambda inner: (
            st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4)
        ),
        max_leaves=12,
    )


@st.composite
def payloads(draw: st.DrawFn) -> tuple[Any, str | None]:
    """(data, datacontenttype): JSON (labelled or implied), text, or bytes (labelled or not)."""
    kind = draw(st.sampled_from(["none", "json", "implied", "text", "bytes", "unlabelled"]))
    if kind == "none":
        return None, draw(st.sampled_from([None, "application/json"]))
    if kind in ("json", "implied"):
        data = draw(_json().filter(lambda value: value is not None))
        label = draw(st.sampled_from(["application/json", "application/vnd.x+json; charset=utf-8"]))
        return data, label if kind == "json" else None
    if kind == "text":
        return draw(st.text(min_size=1, max_size=30)), "text/plain; charset=utf-8"
    data = draw(st.binary(min_size=1, max_size=30))
    return data, "application/octet-stream" if kind == "bytes" else None


@st.composite
def events(draw: st.DrawFn, *, text: st.SearchStrategy[str] = TEXT) -> Event:
    """A legal event: required and optional attributes, typed extensions, any payload."""
    attributes: dict[str, Any] = {
        "specversion": "1.0",
        "id": draw(text),
        "source": draw(text),
        "type": draw(text),
        "time": draw(timestamps()),
    }
    if draw(st.booleans()):
        attributes["subject"] = draw(text)
    values = text | st.booleans() | st.integers(INT_MIN, INT_MAX)
    attributes.update(draw(st.dictionaries(NAMES, values, max_size=4)))
    if draw(st.booleans()):
        attributes["partitionkey"] = draw(text)
    data, content_type = draw(payloads())
    if content_type is not None:
        attributes["datacontenttype"] = content_type
    return Event(attributes, data)


def json_equal(left: Any, right: Any) -> bool:
    """Equal as JSON documents (1 and 1.0 differ, as they do on the wire)."""
    return json.dumps(left, sort_keys=True) == json.dumps(right, sort_keys=True)
