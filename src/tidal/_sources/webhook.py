"""The HTTP endpoint behind ``tidal source s3-webhook``: an S3-compatible store's notifications.

MinIO (and other S3-compatible stores) post bucket notifications to a webhook; the body has the
same ``Records`` shape as S3's (MinIO adds ``EventName`` and ``Key``, ignored here). `webhook_app`
maps each body to CloudEvents (`tidal._sources.s3events`) and answers only once the `Publisher`
accepted them, so the store's own retry covers a refused publish:

| outcome | status |
|---|---|
| published (or an ``s3:TestEvent``) | 200 ``{"published": n}`` |
| not an S3 notification | 400 ``{"error", "message"}`` |
| bearer token required and wrong (MinIO's ``auth_token``) | 401 |
| body over the limit | 413 |
| the publisher refused | 503 (the store retries) |

`serve_webhook` runs it under uvicorn until SIGTERM. Called by `tidal.cli._source`.
"""

from __future__ import annotations

import hmac
from typing import Final

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tidal._errors import InvalidEventError, RetryableError
from tidal._publishing import Publisher
from tidal._sources.s3events import parse_notification

MAX_BODY_BYTES: Final = 1 << 20  # S3 notifications are a few KiB


def webhook_app(
    publisher: Publisher, *, token: str | None = None, max_body: int = MAX_BODY_BYTES
) -> Starlette:
    """The ASGI app: ``POST /`` takes a notification, ``GET /healthz`` answers 200."""

    async def notify(request: Request) -> Response:
        if token is not None and not _authorized(request, token):
            return _error(401, "unauthorized", "a valid bearer token is required")
        body = await request.body()
        if len(body) > max_body:
            return _error(413, "too-large", f"body over {max_body} bytes")
        try:
            events = parse_notification(body)
        except InvalidEventError as exc:
            return _error(400, "invalid-notification", str(exc))
        try:
            await publisher.publish_many(events)
        except RetryableError as exc:
            return _error(503, "unavailable", str(exc))
        return JSONResponse({"published": len(events)})

    async def healthz(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    return Starlette(
        routes=[Route("/", notify, methods=["POST"]), Route("/healthz", healthz, methods=["GET"])]
    )


async def serve_webhook(app: Starlette, *, host: str, port: int) -> None:
    """Serve ``app`` until a shutdown signal (uvicorn drains in-flight requests)."""
    config = uvicorn.Config(app, host=host, port=port, lifespan="off", access_log=False)
    await uvicorn.Server(config).serve()


def _authorized(request: Request, token: str) -> bool:
    given = request.headers.get("authorization", "")
    scheme, _, value = given.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(value.encode(), token.encode())


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": code, "message": message}, status_code=status)
