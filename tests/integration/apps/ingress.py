"""An ASGI ingress served by `tidal.serve_asgi`, saying on stdout when it is ready and when a
shutdown signal arrives; ``/slow`` answers after a second (a request in flight at SIGTERM).

Run: ``TIDAL_PORT=N python -m tests.integration.apps.ingress``.
"""

from __future__ import annotations

import asyncio
from typing import Any

from tidal import Settings, run_on_fastest_loop, serve_asgi


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    if scope["path"] == "/slow":
        await asyncio.sleep(1.0)
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"done"})


def main() -> None:
    settings = Settings(host="127.0.0.1")
    run_on_fastest_loop(
        serve_asgi(
            app,
            settings,
            ready=lambda: print("ready", flush=True),
            stopping=lambda: print("stopping", flush=True),
        )
    )


if __name__ == "__main__":
    main()
