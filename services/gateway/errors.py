"""The gateway's error answers: one exception, one JSON shape, statuses for client mistakes.

Every refusal is a `Refusal` raised by the API and rendered by `render` as
``{"error": <code>, "message": <what to fix>, "field": <where>}`` with its status: 400 malformed,
401 unauthenticated, 413 too large, 415 unsupported media type, 422 off-schema, and 503 (with
``Retry-After``) when the broker did not take the events. A client mistake is never a 500.
"""

from __future__ import annotations

from typing import Final

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

RETRY_AFTER_SECONDS: Final = 1


class Refusal(Exception):
    """A request the gateway will not take; ``field`` names what is wrong (None: the request)."""

    def __init__(self, status: int, code: str, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field


class ErrorBody(BaseModel):
    """What a refused request gets back."""

    error: str
    message: str
    field: str | None = None


class Accepted(BaseModel):
    """What an accepted request gets back: the id of every event published, in order."""

    id: str
    ids: list[str]


async def render(request: Request, exc: Exception) -> Response:
    """The exception handler for `Refusal`."""
    assert isinstance(exc, Refusal)
    body = {"error": exc.code, "message": exc.message, "field": exc.field}
    headers = {"retry-after": str(RETRY_AFTER_SECONDS)} if exc.status == 503 else None
    return JSONResponse(body, status_code=exc.status, headers=headers)


def malformed(message: str, field: str | None = None) -> Refusal:
    return Refusal(400, "malformed", message, field=field)


def off_schema(message: str, field: str | None) -> Refusal:
    return Refusal(422, "invalid_event", message, field=field)
