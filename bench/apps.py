"""The two servers of the HTTP benchmark: a tidal App with a no-op handler, and a bare Starlette
endpoint that parses the same JSON body. `bench.http_path` serves both under uvicorn."""

from __future__ import annotations

import json

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tidal import App, Event

app = App("bench")


@app.on(type="com.example.bench.v1")
async def noop(event: Event) -> None:
    return None


async def bare_endpoint(request: Request) -> Response:
    json.loads(await request.body())
    return Response(status_code=200)


async def bare_ready(request: Request) -> Response:
    return Response(status_code=200)


bare = Starlette(
    routes=[
        Route("/", bare_endpoint, methods=["POST"]),
        Route("/readyz", bare_ready, methods=["GET"]),
    ]
)
