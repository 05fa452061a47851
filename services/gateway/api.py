"""The gateway's HTTP API (FastAPI): routes, health, and the OpenAPI document.

`create_gateway` builds the ASGI app over a `Publisher`; ``python -m services.gateway`` serves it
in production (publishing to Kafka or ``K_SINK``), ``tidal dev`` runs it in process over the
memory broker, and the tests drive it with httpx's ASGI transport. Its `tidal.observability.Ingress`
counts every POST's status and the events published per route, traces each POST (an ingest
span continuing the request's ``traceparent``, the events published carrying its context), and
``GET /metrics`` serves all of it to Prometheus.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from services.catalog import Catalog, load_catalog
from services.gateway import documenting as docs
from services.gateway.errors import Accepted, Refusal, render
from services.gateway.ingesting import Ingest
from services.gateway.replays import close_replays
from services.gateway.settings import GatewaySettings
from services.gateway.timelines import OrderTimeline, Timelines
from tidal import Publisher
from tidal.observability import Ingress, exposition, readiness

TITLE = "tidal ingest gateway"
VERSION = "1.0.0"
SERVICE = "gateway"
ROUTES = ("/events", "/telemetry", "/webhooks/pos", "/webhooks/payments")


def create_gateway(
    publisher: Publisher,
    settings: GatewaySettings | None = None,
    *,
    catalog: Catalog | None = None,
    clock: Callable[[], float] = time.time,
    service: str = SERVICE,
    metrics: bool = True,
) -> FastAPI:
    """The gateway as an ASGI app publishing through ``publisher``, its metrics and traces
    under ``service`` (``metrics``: serve ``/metrics``)."""
    schemas, options = catalog or load_catalog(), settings or GatewaySettings()
    ingress = Ingress(service, routes=ROUTES)
    ingest = Ingest(publisher, options, schemas, clock=clock, ingress=ingress)
    timelines = Timelines.from_settings(options)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        await close_replays(ingest.replays)
        await timelines.close()

    app = FastAPI(  # tidal traces it (sampled, see `Ingress`): not FastAPI's span per request
        lifespan=lifespan,
        title=TITLE,
        version=VERSION,
        description=docs.DESCRIPTION,
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.ready = True
    app.state.replays = ingest.replays  # closed on shutdown (its Redis connections)
    app.add_exception_handler(Refusal, render)
    app.add_middleware(ingress.asgi)  # inside Starlette's 500 handler: escapes are counted
    exposed = exposition() if metrics else None
    accepted: dict[int | str, dict[str, Any]] = {202: {"model": Accepted}, **docs.ERRORS}
    signed = {**accepted, **docs.REPLAYED}

    @app.post("/events", status_code=202, responses=accepted, openapi_extra=docs.events_extra())
    async def events(request: Request) -> JSONResponse:
        """Publish CloudEvents (binary, structured or batched mode)."""
        return _accepted(await ingest.events(request))

    @app.post(
        "/telemetry",
        status_code=202,
        responses=accepted,
        openapi_extra=docs.telemetry_extra(schemas),
    )
    async def telemetry(request: Request) -> JSONResponse:
        """Publish a vehicle's telemetry reading (plain JSON)."""
        return _accepted(await ingest.telemetry(request))

    @app.post(
        "/webhooks/pos", status_code=202, responses=signed, openapi_extra=docs.pos_extra(schemas)
    )
    async def pos_webhook(request: Request) -> JSONResponse:
        """Publish a signed POS transaction as OrderConfirmed."""
        return _accepted(await ingest.pos_webhook(request))

    @app.post(
        "/webhooks/payments",
        status_code=202,
        responses=signed,
        openapi_extra=docs.payments_extra(),
    )
    async def payment_webhook(request: Request) -> JSONResponse:
        """Publish a signed payment webhook (checkout.session.completed; others are ignored)."""
        event_id, published = await ingest.payment_webhook(request)
        return _accepted([event_id], published=published)

    @app.get(
        "/orders/{order_id}/timeline",
        response_model=OrderTimeline,
        responses=docs.TIMELINE_ERRORS,
        openapi_extra={"security": docs.BEARER},
    )
    async def order_timeline(order_id: str, request: Request) -> OrderTimeline:
        """An order saga's state and its step changes, oldest first (from the saga's Redis)."""
        ingest.authorise(request)
        return await timelines.read(order_id)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> JSONResponse:
        return JSONResponse({"status": "ok"})

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> JSONResponse:
        if not app.state.ready:
            return JSONResponse({"status": "shutting down"}, status_code=503)
        down, body = await readiness()  # the broker (kafka, or the K_SINK sink) unreachable
        return JSONResponse(body, status_code=503 if down else 200)

    @app.get("/metrics", include_in_schema=False)
    async def prometheus(request: Request) -> Response:
        if exposed is None:
            return JSONResponse(
                {"error": "metrics_disabled", "message": "metrics are off or missing"},
                status_code=404,
            )
        body, content_type = exposed(request.headers.get("accept"))
        return Response(body, headers={"content-type": content_type})

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=TITLE, version=VERSION, description=docs.DESCRIPTION, routes=app.routes
            )
            schema.setdefault("components", {})["securitySchemes"] = docs.SECURITY_SCHEMES
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def _accepted(ids: list[str], *, published: bool = True) -> JSONResponse:
    body: dict[str, Any] = {"id": ids[0], "ids": ids}
    if not published:
        body["ignored"] = True
    return JSONResponse(body, status_code=202)
