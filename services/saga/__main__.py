"""``python -m services.saga timeline ORDER_ID``: an order's saga as a timeline, from Redis.

Reads ``SAGA_REDIS_URL`` / ``SAGA_KEY_PREFIX`` (the service's settings) and prints one line per
step change, then the order's state; exit status 1 when no saga exists for the order.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from services.saga.settings import SagaSettings
from services.saga.stores import RedisSagaStore, SagaStore


async def show(store: SagaStore, order_id: str) -> list[str]:
    """The lines printed for ``order_id`` (empty: no saga)."""
    state = await store.state(order_id)
    if not state:
        return []
    lines = [f"{e['at']}  {e['step']:<9} {e['status']}" for e in await store.timeline(order_id)]
    end = state.get("order", "?")
    if state.get("reason"):
        end += f" ({state['reason']}; undone: {state.get('undone') or 'nothing'})"
    return [*lines, f"order {order_id}: {end}"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.saga")
    commands = parser.add_subparsers(dest="command", required=True)
    timeline = commands.add_parser("timeline", help="an order's step changes, oldest first")
    timeline.add_argument("order_id")
    args = parser.parse_args(argv)
    settings = SagaSettings()
    if settings.redis_url is None:
        parser.error("SAGA_REDIS_URL is not set: the saga's state lives in Redis")
    store = RedisSagaStore.from_url(
        settings.redis_url.get_secret_value(), prefix=settings.key_prefix
    )

    async def run() -> list[str]:
        try:
            return await show(store, args.order_id)
        finally:
            await store.aclose()

    lines = asyncio.run(run())
    if not lines:
        print(f"no saga for order {args.order_id!r}", file=sys.stderr)
        return 1
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
