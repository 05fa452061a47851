"""Typed payloads: a handler's ``data`` as a pydantic model, dataclass or TypedDict.

`App.add` calls `payload_of` at registration to read what the handler wants, from its first
parameter's annotation (``event: Event[Order]``, or ``order: Order`` as FastStream does) or an
explicit ``model=`` (as Powertools' ``event_parser(model=...)``), and `typed` to wrap it: the
wrapper validates ``event.data`` once per attempt, before the call, and raises
`InvalidEventError` (permanent: dead-lettered at once) naming the field paths and errors, never
the payload. The dispatcher calls the wrapper exactly as it calls any handler. `Emitted` is what
``emits=`` declares. `tidal asyncapi` and `tidal manifests --event-types` read the JSON Schemas.

pydantic's validation machinery (``TypeAdapter``) is imported only when a handler is typed, so
an App without models starts without it.
"""

from __future__ import annotations

import functools
import inspect
import types
import typing
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Literal

from tidal._errors import ConfigurationError, InvalidEventError
from tidal._events import Event

if TYPE_CHECKING:
    from pydantic import TypeAdapter, ValidationError

# annotations that mean "the raw event" (also when given as text that cannot be resolved)
UNTYPED: Final = frozenset(
    {"", "Event", "tidal.Event", "CloudEvent", "Any", "typing.Any", "object", "Event[Any]"}
)
MAX_ERRORS: Final = 5  # errors named in one message; the rest are counted
MAX_MESSAGE: Final = 160  # characters of one error's message
MAX_KEY: Final = 40  # characters of one mapping key in a field path


@dataclass(frozen=True)
class Payload:
    """What a typed handler takes: ``model`` validated, passed as the event's ``data`` (``shape``
    "event": ``event.data`` is the instance) or alone (``shape`` "data": ``handle(order)``)."""

    model: Any
    shape: Literal["event", "data"]
    adapter: TypeAdapter[Any] = field(repr=False, compare=False)

    @classmethod
    def of(cls, model: Any, shape: Literal["event", "data"]) -> Payload:
        from pydantic import PydanticUserError, TypeAdapter

        try:
            return cls(model, shape, TypeAdapter(model))
        except PydanticUserError as exc:  # schema generation errors included
            raise ConfigurationError(f"{model!r} cannot be a payload model: {exc}") from exc

    @property
    def name(self) -> str:
        return model_name(self.model)

    def validate(self, event: Event) -> Any:
        """The event's data as the model; `InvalidEventError` naming each failing field."""
        from pydantic import ValidationError

        data = event.data
        try:
            if isinstance(data, bytes | bytearray):
                return self.adapter.validate_json(data)
            return self.adapter.validate_python(data)
        except ValidationError as exc:
            raise InvalidEventError(describe(exc, self.name)) from None

    def argument(self, event: Event) -> Any:
        """What the handler is called with in place of the event."""
        value = self.validate(event)
        return value if self.shape == "data" else event.with_data(value)


@dataclass(frozen=True)
class Emitted:
    """An event type a subscription declares it emits, with the model of its data (or None)."""

    type: str
    model: Any = None


def emitted(emits: Mapping[str, Any] | Iterable[str] | None) -> tuple[Emitted, ...]:
    """``emits=`` as given to ``App.on``: ``{type: Model}`` or a list of types (untyped)."""
    if emits is None:
        return ()
    if isinstance(emits, str):
        raise ConfigurationError("emits= takes a list of types or a {type: model} mapping")
    if isinstance(emits, Mapping):
        return tuple(Emitted(str(t), m) for t, m in emits.items())
    return tuple(Emitted(str(t)) for t in emits)


def model_name(model: Any) -> str:
    """A readable name for a model: its class name, else its text (``list[int]``)."""
    if typing.get_origin(model) is typing.Annotated:
        return model_name(typing.get_args(model)[0])
    if isinstance(model, type):
        return model.__name__
    return str(model).replace("typing.", "")


def json_schema(model: Any, mode: Literal["validation", "serialization"] = "validation") -> Any:
    """The model's standalone JSON Schema (draft 2020-12, its own ``$defs``)."""
    from pydantic import TypeAdapter

    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema"}
    return schema | TypeAdapter(model).json_schema(mode=mode)


def describe(exc: ValidationError, name: str) -> str:
    """``data.items[0].qty: Input should be ... (greater_than)``, at most `MAX_ERRORS` of them."""
    errors = exc.errors(include_url=False, include_context=False, include_input=False)
    parts = [f"{field_path(e['loc'])}: {_short(e['msg'])} ({e['type']})" for e in errors]
    shown = "; ".join(parts[:MAX_ERRORS])
    more = len(parts) - MAX_ERRORS
    suffix = f"; and {more} more" if more > 0 else ""
    return f"data does not match {name}: {shown}{suffix}"


def field_path(loc: Iterable[int | str]) -> str:
    """``("items", 0, "qty")`` -> ``data.items[0].qty``."""
    path = "data"
    for part in loc:  # a dict key comes from the input: cut, like messages
        path += f"[{part}]" if isinstance(part, int) else f".{_short(str(part), MAX_KEY)}"
    return path


def _short(text: str, limit: int = MAX_MESSAGE) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def payload_of(
    handler: Callable[..., Any],
    model: Any,
    name: str,
    localns: Mapping[str, Any] | None = None,
) -> Payload | None:
    """The payload ``handler`` of subscription ``name`` takes; None: the raw event.

    The first parameter's annotation decides: ``Event[M]`` -> ``event.data`` is an ``M``;
    ``Event`` / none -> untyped unless ``model`` is given (then ``event.data`` is a ``model``);
    any other type ``M`` -> the handler gets the ``M`` itself. ``model`` must agree with it.
    """
    annotation = _first_annotation(handler, name, localns)
    if annotation is None:
        return None if model is None else Payload.of(model, "event")
    shape: Literal["event", "data"]
    if typing.get_origin(annotation) is Event:
        (declared,) = typing.get_args(annotation)
        declared, shape = (None if declared is Any else declared), "event"
    elif Event in getattr(annotation, "__mro__", ()) or annotation in Event.__mro__:
        # Event or a subclass, or a base of it (CloudEvent); no issubclass: TypedDicts refuse it
        declared, shape = None, "event"
    else:
        declared, shape = annotation, "data"
    if model is not None and declared is not None and model is not declared:
        raise ConfigurationError(
            f"handler of subscription {name!r} is annotated with {model_name(declared)} "
            f"but model={model_name(model)} was given"
        )
    chosen = declared if model is None else model
    return None if chosen is None else Payload.of(chosen, shape)


def _first_annotation(
    handler: Callable[..., Any], name: str, localns: Mapping[str, Any] | None
) -> Any:
    """The resolved annotation of the handler's first parameter; None when it means the raw
    event (absent, ``Event``, ``Any``, ``object``)."""
    try:
        first = next(iter(inspect.signature(handler).parameters.values()))
    except (StopIteration, TypeError, ValueError):
        return None
    raw = first.annotation
    if raw is inspect.Parameter.empty:
        return None
    if isinstance(raw, str):
        if raw.strip() in UNTYPED:
            return None
        # only this parameter's text: another's may name what exists only for type checkers
        shim = types.SimpleNamespace(
            __annotations__={first.name: raw},
            __globals__=getattr(inspect.unwrap(handler), "__globals__", {}),
        )
        try:
            hints = typing.get_type_hints(shim, localns=dict(localns or {}), include_extras=True)
        except Exception as exc:  # any failure to evaluate the text: say which and how to fix
            raise ConfigurationError(
                f"handler of subscription {name!r}: cannot resolve the annotation {raw!r} of "
                f"{first.name!r} ({exc}); define the model at module level or pass model="
            ) from exc
        raw = hints.get(first.name, inspect.Parameter.empty)
    if raw in (inspect.Parameter.empty, Any, object):
        return None
    return raw


Call = Callable[..., Any]


def typed(handler: Call, payload: Payload, *, is_async: bool) -> Call:
    """``handler`` behind a validation of the event's data; called like ``handler``."""
    argument = payload.argument
    if is_async:

        @functools.wraps(handler)
        async def validated_async(event: Event, *rest: Any) -> Any:
            result: Awaitable[Any] = handler(argument(event), *rest)
            return await result

        return validated_async

    @functools.wraps(handler)
    def validated(event: Event, *rest: Any) -> Any:
        return handler(argument(event), *rest)

    return validated
