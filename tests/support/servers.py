"""Real servers for the suite, each on a free port: `harness.servers` (shared with bench/)."""

from harness.servers import free_port, redis_server, wait_for_port

__all__ = ["free_port", "redis_server", "wait_for_port"]
