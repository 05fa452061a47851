"""`App` and its subscriptions: what a team writes with ``@app.on(...)``.

Services build an App at import time; the dispatcher, the transports and `tidal manifests` read
its subscriptions. Filters compile here, so a bad filter fails at import naming its subscription.
"""

from __future__ import annotations

import inspect
import re
import sys
import warnings
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, TypeVar

from tidal._deadletters import FAILURE_EXTENSIONS
from tidal._delivery import DEFAULT_POLICY, DeliveryPolicy
from tidal._errors import ConfigurationError, FilterError, FilterWarning
from tidal._events import Event
from tidal._filters import CesqlError, DataPredicate, Predicate, compile_filters, compile_pattern
from tidal._filters.vocabulary import KNOWN, referenced_attributes
from tidal._payloads import Emitted, Payload, emitted, payload_of, typed

HandlerResult = Event | Iterable[Event] | None
Handler = Callable[..., HandlerResult | Awaitable[HandlerResult]]
H = TypeVar("H", bound=Handler)

NAME: Final = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


@dataclass(frozen=True, kw_only=True)
class Subscription:
    """A handler bound to its filters and delivery policy."""

    name: str
    handler: Handler
    filters: tuple[Mapping[str, Any], ...]
    data_pattern: Mapping[str, Any] | None
    policy: DeliveryPolicy
    idempotent: bool
    wants_context: bool
    is_async: bool
    matches_attributes: Predicate = field(repr=False)
    matches_data: DataPredicate | None = field(repr=False)
    payload: Payload | None = None
    """The model ``data`` is validated as before the call (None: the raw event)."""
    emits: tuple[Emitted, ...] = ()
    """The event types the handler declares it emits (``emits=``), with their models."""

    def matches(self, event: Event) -> bool:
        """True when the event passes the attribute filters and the content pattern."""
        if not self.matches_attributes(event.get_attributes()):
            return False
        return self.matches_data is None or self.matches_data(event.get_data())


class App:
    """A named set of subscriptions; one App is one deployable service."""

    def __init__(
        self,
        name: str,
        *,
        policy: DeliveryPolicy = DEFAULT_POLICY,
        extensions: Iterable[str] = (),
    ) -> None:
        """``extensions``: the extension attributes this App's events carry, beyond the
        CloudEvents context attributes and documented extensions; a filter naming any other
        attribute draws a `FilterWarning` (it is legal, and most likely a typo)."""
        _check_name(name, what="app")
        self.name = name
        self.policy = policy
        self.extensions = frozenset(extensions)
        self._subscriptions: dict[str, Subscription] = {}
        self._all: tuple[Subscription, ...] = ()  # the values, as a tuple: read per event

    @property
    def subscriptions(self) -> tuple[Subscription, ...]:
        return self._all

    def subscription(self, name: str) -> Subscription:
        try:
            return self._subscriptions[name]
        except KeyError:
            raise KeyError(f"app {self.name!r} has no subscription {name!r}") from None

    def on(
        self,
        *filters: Mapping[str, Any],
        type: str | None = None,
        source: str | None = None,
        data: Mapping[str, Any] | None = None,
        name: str | None = None,
        policy: DeliveryPolicy | None = None,
        idempotent: bool = True,
        model: Any = None,
        emits: Mapping[str, Any] | Iterable[str] | None = None,
    ) -> Callable[[H], H]:
        """Subscribe the decorated handler to events matching every filter given.

        ``type`` / ``source`` are shorthands for Knative ``exact`` filters; ``filters`` are
        Knative dialect dicts (see `tidal._filters`); ``data`` is an EventBridge content pattern.
        ``model`` (a pydantic model, dataclass or TypedDict) validates ``event.data`` before the
        call, as does a handler annotated ``event: Event[Model]`` or ``order: Model`` (then it
        gets the model alone); ``emits``: ``{type: Model}`` (or a list of types) it emits.
        """
        exact = [
            {"exact": {k: v}} for k, v in (("type", type), ("source", source)) if v is not None
        ]

        def register(handler: H) -> H:
            self.add(
                handler,
                filters=(*exact, *filters),
                data=data,
                name=name or handler.__name__.replace("_", "-").lower(),
                policy=policy or self.policy,
                idempotent=idempotent,
                model=model,
                emits=emits,
                localns=sys._getframe(1).f_locals,  # where the handler was defined
            )
            return handler

        return register

    def add(
        self,
        handler: Handler,
        *,
        filters: Sequence[Mapping[str, Any]],
        data: Mapping[str, Any] | None,
        name: str,
        policy: DeliveryPolicy,
        idempotent: bool,
        model: Any = None,
        emits: Mapping[str, Any] | Iterable[str] | None = None,
        localns: Mapping[str, Any] | None = None,
    ) -> Subscription:
        """Register a handler (the non-decorator form of `on`); ``localns`` resolves the text
        of annotations naming a model defined in a function (default: the caller's locals)."""
        _check_name(name, what="subscription")
        if name in self._subscriptions:
            raise ConfigurationError(f"app {self.name!r} already has a subscription named {name!r}")
        try:
            attr_predicate = compile_filters(list(filters))
            data_predicate = None if data is None else compile_pattern(data)
        except FilterError as exc:
            message = f"subscription {name!r} of app {self.name!r}: {exc}"
            if isinstance(exc, CesqlError):  # keeps its CESQL error kind (parse, missingFunction)
                raise CesqlError(message, exc.kind) from exc
            raise FilterError(message) from exc
        self._warn_unknown_attributes(name, filters)
        wants_context = _arity(handler, name) == 2
        is_async = inspect.iscoroutinefunction(handler)
        if localns is None:
            localns = sys._getframe(1).f_locals
        payload = payload_of(handler, model, name, localns)
        sub = Subscription(
            name=name,
            handler=handler if payload is None else typed(handler, payload, is_async=is_async),
            filters=tuple(filters),
            data_pattern=data,
            policy=policy,
            idempotent=idempotent,
            wants_context=wants_context,
            is_async=is_async,
            matches_attributes=attr_predicate,
            matches_data=data_predicate,
            payload=payload,
            emits=emitted(emits),
        )
        self._subscriptions[name] = sub
        self._all = tuple(self._subscriptions.values())
        return sub

    def _warn_unknown_attributes(self, name: str, filters: Sequence[Mapping[str, Any]]) -> None:
        known = KNOWN | self.extensions | set(FAILURE_EXTENSIONS)
        unknown = list(dict.fromkeys(a for a in referenced_attributes(filters) if a not in known))
        if unknown:
            warnings.warn(
                FilterWarning(
                    f"subscription {name!r} of app {self.name!r}: its filters name "
                    f"{', '.join(map(repr, unknown))}, neither a CloudEvents context attribute, "
                    "a documented extension nor one of the App's extensions; an event without "
                    "it never passes (a typo?). Declare it with App(..., extensions=[...])"
                ),
                stacklevel=4,
            )

    def matching(self, event: Event) -> list[Subscription]:
        """The subscriptions this event goes to (fan-out: every one that matches)."""
        return [s for s in self._subscriptions.values() if s.matches(event)]

    def __repr__(self) -> str:
        return f"App({self.name!r}, subscriptions={list(self._subscriptions)})"


def _check_name(name: str, *, what: str) -> None:
    if not NAME.match(name):
        raise ConfigurationError(
            f"{what} name {name!r} must be a DNS label: lowercase letters, digits and '-', "
            "at most 63 characters (it names Kubernetes objects and consumer groups)"
        )


def _arity(handler: Handler, name: str) -> int:
    params = [
        p
        for p in inspect.signature(handler).parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty
    ]
    if len(params) not in (1, 2):
        raise ConfigurationError(
            f"handler of subscription {name!r} must take (event) or (event, context), "
            f"not {len(params)} required positional parameters"
        )
    return len(params)
