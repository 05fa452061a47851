"""tidal: CloudEvents handlers that run on Knative (HTTP push) or Kafka (KEDA-scaled pull).

This is the interface users touch; everything not re-exported here is private detail::

    from tidal import App, Context, DeliveryPolicy, Event

    app = App("orders")

    @app.on(type="com.acme.pos.order.confirmed.v1", data={"total": [{"numeric": [">", 100]}]})
    async def high_value(event: Event, ctx: Context) -> None:
        ctx.logger.info("big order %s", event.data["orderId"])
"""

from tidal._app import App, Subscription
from tidal._bindings.http import from_http
from tidal._context import Context
from tidal._delivery import DeliveryPolicy
from tidal._errors import (
    AttemptsExhaustedError,
    ConfigurationError,
    DependencyUnavailableError,
    EventExpiredError,
    FilterError,
    FilterWarning,
    HandlerTimeoutError,
    IdempotencyConflictError,
    IdempotencyInProgressError,
    InvalidEventError,
    PayloadTooLargeError,
    PermanentError,
    RetryableError,
    TidalError,
)
from tidal._events import Event
from tidal._filters import all_of, any_of, cesql, exact, not_, prefix, suffix
from tidal._publishing import Publisher
from tidal._settings import Settings
from tidal._sources.s3events import notification_events as s3_notification_events
from tidal._transports.ingress import run_on_fastest_loop, serve_asgi
from tidal._transports.publishers import open_publisher

__all__ = [
    "App",
    "AttemptsExhaustedError",
    "ConfigurationError",
    "Context",
    "DeliveryPolicy",
    "DependencyUnavailableError",
    "Event",
    "EventExpiredError",
    "FilterError",
    "FilterWarning",
    "HandlerTimeoutError",
    "IdempotencyConflictError",
    "IdempotencyInProgressError",
    "InvalidEventError",
    "PayloadTooLargeError",
    "PermanentError",
    "Publisher",
    "RetryableError",
    "Settings",
    "Subscription",
    "TidalError",
    "all_of",
    "any_of",
    "cesql",
    "exact",
    "from_http",
    "not_",
    "open_publisher",
    "prefix",
    "run_on_fastest_loop",
    "s3_notification_events",
    "serve_asgi",
    "suffix",
]

for _name in __all__:  # an error says where users import it from: tracebacks, span attributes
    _exported = globals()[_name]
    if isinstance(_exported, type) and issubclass(_exported, BaseException):
        _exported.__module__ = "tidal"
del _name, _exported
