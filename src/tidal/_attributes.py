"""CloudEvents attribute values: the spec's type system, checked, and each value's wire text.

`tidal._events.Event` validates its attributes here (and re-exports `Timestamp`); the bindings
parse ``time`` with `parse_time` and write every attribute with `text` (the spec's canonical
string encoding, "type system" in spec.md): booleans are ``true`` / ``false``, a timestamp that
arrived as text goes out as exactly that text (nanoseconds and offset included), binary is
base64.
"""

from __future__ import annotations

import base64
import re
from datetime import datetime
from typing import Any, Final

from tidal._errors import InvalidEventError

INT_MIN: Final = -(2**31)
INT_MAX: Final = 2**31 - 1

# RFC 3339 section 5.6 date-time (ABNF literals are case-insensitive: 't', 'z' too)
_RFC3339: Final = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})", re.ASCII
)
# spec.md "String": no control characters, no unpaired surrogates (a Python str from valid
# UTF-8 or JSON holds pairs as one character), no Unicode noncharacters
_NONCHARACTERS: Final = "\ufdd0-\ufdef" + "".join(
    f"{chr(plane * 0x10000 + 0xFFFE)}{chr(plane * 0x10000 + 0xFFFF)}" for plane in range(17)
)
_DISALLOWED: Final = re.compile(f"[\x00-\x1f\x7f-\x9f\ud800-\udfff{_NONCHARACTERS}]")


class Timestamp(datetime):
    """An event's ``time`` as a binding read it: a ``datetime`` that keeps its wire ``text``.

    The HTTP and Kafka bindings build it (`parse_time`), their writers write ``text`` back;
    filters compare ``text``, not a re-rendering (CloudEvents SQL v1 §3.2 represents a
    Timestamp as a String; Knative's exact/prefix/suffix compare the attribute's text).
    Arithmetic, ``replace`` and copies give a datetime without ``text``, which filters render
    as RFC 3339 and writers as ISO 8601 instead.
    """

    __slots__ = ("text",)
    text: str

    @classmethod
    def read(cls, text: str) -> Timestamp:
        """``datetime.fromisoformat(text)`` as a `Timestamp` (``ValueError`` if it is not)."""
        stamp = cls.fromisoformat(text)
        stamp.text = text
        return stamp

    @classmethod
    def parse(cls, text: str, parsed: datetime) -> Timestamp:
        """``parsed`` (what ``text`` means) as a `Timestamp` that remembers ``text``."""
        stamp = cls(
            parsed.year,
            parsed.month,
            parsed.day,
            parsed.hour,
            parsed.minute,
            parsed.second,
            parsed.microsecond,
            parsed.tzinfo,
            fold=parsed.fold,
        )
        stamp.text = text
        return stamp

    def __reduce_ex__(self, protocol: Any) -> Any:
        """Copies and pickles keep ``text`` (a datetime's own reduction would drop it)."""
        text = wire_text(self)
        if text is None:
            return super().__reduce_ex__(protocol)
        plain = datetime.combine(self.date(), self.timetz(), self.tzinfo)
        return (Timestamp.parse, (text, plain.replace(fold=self.fold)))


def wire_text(value: datetime) -> str | None:
    """The text a `Timestamp` was read from; None for any other datetime."""
    return getattr(value, "text", None)


def parse_time(value: Any) -> Timestamp:
    """An RFC 3339 ``time`` as a `Timestamp` keeping ``value``, or `InvalidEventError` naming
    the attribute (``datetime.fromisoformat`` alone takes ISO 8601 forms RFC 3339 refuses)."""
    if not isinstance(value, str) or not _RFC3339.fullmatch(value):
        raise InvalidEventError(f"attribute 'time' is not an RFC 3339 timestamp: {value!r}")
    try:
        if value[10] == "T" and value[-1] != "z":
            return Timestamp.read(value)
        return Timestamp.parse(value, datetime.fromisoformat(value.upper()))
    except ValueError as exc:  # 2026-02-30, 24:00:00, a leap second
        raise InvalidEventError(
            f"attribute 'time' is not an RFC 3339 timestamp: {value!r} ({exc})"
        ) from exc


def time_text(value: datetime) -> str:
    """RFC 3339 text of a datetime: a Timestamp's own text, else ISO 8601 with ``Z`` for UTC."""
    kept = wire_text(value)
    if kept is not None:
        return kept
    written = value.isoformat()
    return written[:-6] + "Z" if written.endswith("+00:00") else written


def text(value: Any) -> str:
    """The canonical string encoding of an attribute value (spec.md, "Type System")."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, datetime):
        return time_text(value)
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode("ascii")
    raise InvalidEventError(f"{type(value).__name__} is not a CloudEvents attribute type")


def valid_string(value: str) -> bool:
    """True when ``value`` is a legal CloudEvents String (``isprintable`` settles most)."""
    return value.isprintable() or _DISALLOWED.search(value) is None


def check_value(name: str, value: Any) -> None:
    """Raise `InvalidEventError` unless ``value`` is of a CloudEvents type and legal."""
    if isinstance(value, str):
        if not valid_string(value):
            raise InvalidEventError(
                f"attribute {name!r} holds a character CloudEvents forbids (a control "
                f"character, an unpaired surrogate or a noncharacter): {value!r}"
            )
    elif isinstance(value, bool):
        return
    elif isinstance(value, int):
        if not INT_MIN <= value <= INT_MAX:
            raise InvalidEventError(
                f"attribute {name!r} is an integer outside the signed 32-bit range: {value}"
            )
    elif isinstance(value, datetime):
        if value.tzinfo is None:
            raise InvalidEventError(f"attribute {name!r} is a timestamp without a time zone")
    elif not isinstance(value, bytes | bytearray):
        kind = _JSON_KINDS.get(type(value), type(value).__name__)
        raise InvalidEventError(
            f"attribute {name!r} must be a string, boolean, integer, binary or timestamp, "
            f"not {kind}"
        )


_JSON_KINDS: Final[dict[type, str]] = {
    dict: "an object",
    list: "an array",
    float: "a number with a fraction or exponent",
}
