"""An App whose handler takes a while: lets a test send SIGTERM while an event is in flight."""

from __future__ import annotations

import asyncio

from tidal import App, Event

app = App("slow")


@app.on(type="slow")
async def slow(event: Event) -> Event:
    await asyncio.sleep(float(event.data["seconds"]))
    return Event.create(type="slow.done", source="/slow", data={"for": event.id})
