"""The live per-subscription summary `tidal dev` shows: handled / retried / dead-lettered counts."""

from __future__ import annotations

from rich.table import Table

from tidal._stats import Stats

COLUMNS = ("received", "handled", "duplicate", "retried", "dead_lettered", "filtered")


def table(stats: Stats, *, published: int, elapsed: float) -> Table:
    """A rich table of the counts, one row per subscription."""
    rate = published / elapsed if elapsed > 0 else 0.0
    title = f"tidal dev: {published} events published, {rate:.0f}/s, {elapsed:.1f}s"
    grid = Table(title=title)
    grid.add_column("subscription")
    for column in COLUMNS:
        grid.add_column(column.replace("_", "-"), justify="right")
    for sub in stats.subscriptions():
        grid.add_row(sub, *(str(stats.get(sub, c)) for c in COLUMNS))  # type: ignore[arg-type]
    return grid


def line(stats: Stats, *, published: int) -> str:
    """One plain line for logs and non-terminal output."""
    parts = [
        f"{sub}: {stats.get(sub, 'handled')} handled, {stats.get(sub, 'retried')} retried, "
        f"{stats.get(sub, 'dead_lettered')} dead-lettered"
        for sub in stats.subscriptions()
    ]
    return f"published {published} | " + " | ".join(parts)
