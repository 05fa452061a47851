"""The CloudEvent model tidal hands to handlers: the `cloudevents` 2.x SDK event plus properties.

Built on `cloudevents.core.v1.event.CloudEvent`, so every SDK binding and format accepts it
(pass ``Event`` as the event factory). Handlers, bindings, the dispatcher and the transports use it.
"""

from __future__ import annotations

import dataclasses
import functools
import re
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final, Generic, NewType

from cloudevents.core.exceptions import BaseCloudEventException
from cloudevents.core.v1.event import CloudEvent
from typing_extensions import TypeVar

from tidal._attributes import Timestamp, check_value, text, wire_text
from tidal._errors import InvalidEventError

__all__ = [
    "CORE_ATTRIBUTES",
    "PARTITIONKEY",
    "REQUIRED",
    "Event",
    "EventKey",
    "Timestamp",
    "event_key",
    "wire_text",
]

EventKey = NewType("EventKey", str)
"""The idempotency key: ``source`` and ``id`` joined, unique per the CloudEvents spec."""

Data = dict[str, Any] | list[Any] | str | bytes | int | float | bool | None
D = TypeVar("D", default=Any)
"""The type of an event's ``data``: ``Event[Order]`` in a handler's annotation asks tidal to
validate the data as an ``Order`` (`tidal._payloads`); a bare ``Event`` is ``Event[Any]``."""

PARTITIONKEY: Final = "partitionkey"
REQUIRED: Final = ("id", "source", "type", "specversion")
CORE_ATTRIBUTES: Final = frozenset(
    {"id", "source", "type", "specversion", "datacontenttype", "dataschema", "subject", "time"}
)


class Event(CloudEvent, Generic[D]):
    """A CloudEvents 1.0 event with attribute properties; validated on construction.

    ``Event[Order]`` is the type of an event whose ``data`` is an ``Order`` (a typed handler's
    argument, see `tidal._payloads`); at run time every event is a plain ``Event``.
    """

    def __init__(self, attributes: dict[str, Any], data: Any = None) -> None:
        for name in REQUIRED:
            if name not in attributes:
                raise InvalidEventError(f"missing required attribute '{name}'")
        if not _plainly_valid(attributes):
            _validate(attributes)
        # The SDK's constructor would validate again and stamp a time onto events received
        # without one; an event must stay as it was sent.
        self._attributes = attributes
        self._data = data

    @classmethod
    def create(
        cls,
        *,
        type: str,
        source: str,
        data: Any = None,
        id: str | None = None,
        subject: str | None = None,
        time: datetime | None = None,
        datacontenttype: str | None = "application/json",
        **extensions: Any,
    ) -> Event:
        """Build an event from keyword attributes; ``id`` and ``time`` default to fresh values.

        ``data`` that is a pydantic model or dataclass instance is stored as its JSON form.
        """
        attributes: dict[str, Any] = {
            "type": type,
            "source": source,
            "id": id or str(uuid.uuid4()),
            "time": time or datetime.now(UTC),
            "specversion": "1.0",
        }
        optional = {
            "subject": subject,
            "datacontenttype": datacontenttype if data is not None else None,
        }
        attributes.update({k: v for k, v in optional.items() if v is not None})
        attributes.update({k: v for k, v in extensions.items() if v is not None})
        return cls(attributes, jsonable(data))

    def with_data(self, data: Any) -> Event[Any]:
        """This event with other ``data`` and the same attributes (not validated again: they
        are this event's); a typed handler's view of its event."""
        view: Event[Any] = Event.__new__(Event)
        view._attributes = self._attributes
        view._data = data
        return view

    # the three the hot path reads read the attributes directly (what the getters do)
    @property
    def id(self) -> str:
        return self._attributes["id"]  # type: ignore[no-any-return]

    @property
    def source(self) -> str:
        return self._attributes["source"]  # type: ignore[no-any-return]

    @property
    def type(self) -> str:
        return self._attributes["type"]  # type: ignore[no-any-return]

    @property
    def subject(self) -> str | None:
        return self.get_subject()

    @property
    def time(self) -> datetime | None:
        return self.get_time()

    @property
    def data(self) -> D:
        return self.get_data()  # type: ignore[return-value]

    @property
    def partitionkey(self) -> str | None:
        value = self.get_extension(PARTITIONKEY)
        return None if value is None else str(value)

    def text(self, name: str) -> str | None:
        """Attribute ``name`` as text, the spec's canonical string encoding (a ``time`` that
        arrived as text: exactly that text), or None when the event lacks it."""
        value = self._attributes.get(name)
        return None if value is None else text(value)

    @property
    def key(self) -> EventKey:
        """The idempotency key (``source`` + ``id``)."""
        return event_key(self.source, self.id)

    @property
    def extensions(self) -> dict[str, Any]:
        return {k: v for k, v in self.get_attributes().items() if k not in CORE_ATTRIBUTES}

    def with_extensions(self, extensions: Mapping[str, Any]) -> Event:
        """A copy of this event with extension attributes added or replaced."""
        attributes = dict(self.get_attributes())
        attributes.update(extensions)
        return Event(attributes, self.get_data())

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CloudEvent):
            return NotImplemented
        return bool(
            self.get_attributes() == other.get_attributes() and self.get_data() == other.get_data()
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Event(type={self.type!r}, source={self.source!r}, id={self.id!r})"


_EXTENSION_NAME: Final = re.compile(r"^[a-z0-9]+$")
_STRINGS: Final = CORE_ATTRIBUTES - {"time"}  # each a non-empty printable string


@functools.lru_cache(maxsize=1024)
def _valid_extension(name: str) -> bool:
    return name not in ("data", "data_base64") and _EXTENSION_NAME.match(name) is not None


def _plainly_valid(attributes: dict[str, Any]) -> bool:
    """A fast check that accepts only what `_validate` would accept (printable strings), in
    one pass: every event comes through."""
    if attributes["specversion"] != "1.0":
        return False
    for name, value in attributes.items():
        if name in _STRINGS:
            if type(value) is not str or not value or not value.isprintable():
                return False
        elif name == "time":
            if value is not None and not (isinstance(value, datetime) and value.tzinfo is not None):
                return False
        elif not _valid_extension(name) or type(value) is not str or not value.isprintable():
            return False
    content_type = attributes.get("datacontenttype")
    return content_type is None or content_type.isascii()


def _validate(attributes: dict[str, Any]) -> None:
    """The SDK's validation, then the spec's type system (`tidal._attributes`), which the SDK
    leaves out: raise `InvalidEventError` describing the first problem found."""
    try:
        CloudEvent._validate_attribute(attributes)
    except BaseCloudEventException as exc:
        raise InvalidEventError(f"invalid CloudEvent: {exc}") from exc
    for name, value in attributes.items():
        check_value(name, value)
    content_type = attributes.get("datacontenttype")
    if content_type is not None and not (content_type.isascii() and content_type.isprintable()):
        raise InvalidEventError(f"datacontenttype is not a media type: {content_type!r}")


def jsonable(data: Any) -> Any:
    """``data`` unchanged, or the JSON form of a pydantic model / dataclass instance."""
    if isinstance(data, dict | list | str | bytes | int | float | bool) or data is None:
        return data
    if hasattr(data, "__pydantic_fields__") or (
        dataclasses.is_dataclass(data) and not isinstance(data, type)
    ):
        return _dumper(type(data))(data)  # type: ignore[arg-type]
    return data


@functools.lru_cache(maxsize=256)
def _dumper(model: type) -> Any:
    from pydantic import TypeAdapter  # only when a handler emits a model

    adapter: TypeAdapter[Any] = TypeAdapter(model)
    return functools.partial(adapter.dump_python, mode="json")


def event_key(source: str, event_id: str) -> EventKey:
    """Join ``source`` and ``id`` unambiguously (the source cannot contain a NUL)."""
    return EventKey(f"{source}\x00{event_id}")
