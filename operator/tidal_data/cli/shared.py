"""What the data-plane commands share: store and encryption flags, duration and time types,
the run result written to ``--result-file``, progress bars, and stopping on SIGTERM.

Used by `tidal_data.cli.archive`, `tidal_data.cli.backup`, `tidal_data.cli.restore` and
`tidal_data.cli.dlq`.
"""

from __future__ import annotations

import asyncio
import sys
import traceback
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)

from tidal_data.crypto import Cipher, load_key
from tidal_data.durations import parse_duration, parse_time
from tidal_data.errors import RunFailure
from tidal_data.kafka import KafkaConnectionError, KafkaError
from tidal_data.results import PARTIALLY_FAILED, RunResult, write
from tidal_data.runs import utcnow
from tidal_data.store import ObjectStore, StoreConfig

F = TypeVar("F", bound=Callable[..., Any])
PARTIAL_EXIT = 3
"""Exit code of a run that did part of its work (PartiallyFailed); a failure exits 1, a
usage error 2 (click)."""


class Duration(click.ParamType):  # type: ignore[type-arg]
    name = "duration"

    def convert(self, value: Any, param: Any, ctx: Any) -> timedelta:
        if isinstance(value, timedelta):
            return value
        try:
            return parse_duration(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


class Time(click.ParamType):  # type: ignore[type-arg]
    name = "rfc3339"

    def convert(self, value: Any, param: Any, ctx: Any) -> datetime:
        if isinstance(value, datetime):
            return value
        try:
            return parse_time(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


def _prefix(ctx: Any, param: Any, value: str) -> str:
    if value and (not value.endswith("/") or value.startswith("/")):
        raise click.BadParameter("empty, or a path ending in '/' (e.g. backups/orders/)")
    return value


def _apply(func: F, options: list[Callable[[F], F]]) -> F:
    for option in reversed(options):
        func = option(func)
    return func


def store_options(func: F) -> F:
    """``--bucket --prefix [--region] [--endpoint] [--path-style]``."""
    return _apply(
        func,
        [
            click.option("--bucket", required=True, help="Bucket of the archive."),
            click.option(
                "--prefix", default="", callback=_prefix, help="Key prefix, empty or ending in /."
            ),
            click.option("--region", default=None, help="Region of the bucket."),
            click.option("--endpoint", default=None, help="S3-compatible endpoint URL."),
            click.option("--path-style", is_flag=True, help="Bucket in the path (MinIO)."),
        ],
    )


def encryption_options(func: F) -> F:
    """``--encryption server-side|client-side|none`` and its settings."""
    return _apply(
        func,
        [
            click.option(
                "--encryption",
                type=click.Choice(["server-side", "client-side", "none"]),
                default="none",
                show_default=True,
                help="Who encrypts the objects at rest.",
            ),
            click.option("--sse-algorithm", type=click.Choice(["AES256", "aws:kms"]), default=None),
            click.option("--sse-kms-key-id", default=None, help="KMS key for aws:kms."),
            click.option(
                "--encryption-key-file",
                type=click.Path(dir_okay=False, path_type=Path),
                default=None,
                help="AES-256-GCM key (32 bytes or their base64) for client-side encryption.",
            ),
            click.option(
                "--previous-key-file",
                "previous_key_files",
                type=click.Path(dir_okay=False, path_type=Path),
                multiple=True,
                help="An earlier key, to read what it encrypted (repeatable; after a rotation).",
            ),
        ],
    )


def lock_options(func: F) -> F:
    """``--object-lock-mode`` and ``--object-lock-days``: S3 Object Lock on every write."""
    return _apply(
        func,
        [
            click.option(
                "--object-lock-mode",
                type=click.Choice(["governance", "compliance"]),
                default=None,
                help="Write every object under S3 Object Lock retention (the bucket needs it).",
            ),
            click.option(
                "--object-lock-days",
                type=click.IntRange(1, 36_500),
                default=35,
                show_default=True,
                help="Days each object stays locked.",
            ),
        ],
    )


def result_options(func: F) -> F:
    """``--result-file`` and ``--progress``."""
    return _apply(
        func,
        [
            click.option(
                "--result-file",
                type=click.Path(dir_okay=False, path_type=Path),
                default=None,
                help="Write the tidal.dev/run-result/v1 JSON here (e.g. /dev/termination-log).",
            ),
            click.option("--progress", "show_progress", is_flag=True, help="Show a progress bar."),
        ],
    )


def store_config(options: dict[str, Any]) -> StoreConfig:
    """The store flags (and encryption flags, when the command has them) -> `StoreConfig`."""
    mode = options.get("encryption", "none")
    cipher = None
    key_file = options.get("encryption_key_file")
    if mode == "client-side" and key_file is None:
        raise click.UsageError("--encryption client-side needs --encryption-key-file")
    if key_file is not None:
        previous = [load_key(path) for path in options.get("previous_key_files") or ()]
        cipher = Cipher(load_key(key_file), previous)
    algorithm = options.get("sse_algorithm")
    if mode == "server-side" and algorithm is None:
        algorithm = "AES256"
    if algorithm == "aws:kms" and not options.get("sse_kms_key_id"):
        raise click.UsageError("--sse-algorithm aws:kms needs --sse-kms-key-id")
    return StoreConfig(
        bucket=options["bucket"],
        prefix=options["prefix"],
        region=options.get("region"),
        endpoint=options.get("endpoint"),
        path_style=bool(options.get("path_style")),
        sse_algorithm=algorithm if mode == "server-side" else None,
        sse_kms_key_id=options.get("sse_kms_key_id") if mode == "server-side" else None,
        cipher=cipher,
        object_lock_mode=lock.upper() if (lock := options.get("object_lock_mode")) else None,
        object_lock_days=int(options.get("object_lock_days") or 0),
    )


def open_store(options: dict[str, Any]) -> ObjectStore:
    store = ObjectStore(store_config(options))
    store.check()
    return store


def open_store_or_exit(options: dict[str, Any]) -> ObjectStore:
    """`open_store` for the commands that write no result (``ls``, ``show``): a failure is a
    plain error message and exit 1."""
    try:
        return open_store(options)
    except RunFailure as exc:
        raise click.ClickException(f"{exc.reason}: {exc}") from exc


def _reason(exc: BaseException) -> tuple[str, str]:
    if isinstance(exc, RunFailure):
        return exc.reason, str(exc)
    if isinstance(exc, KafkaConnectionError):
        return "BrokerUnreachable", f"cannot reach Kafka: {exc}"
    if isinstance(exc, KafkaError):
        return "KafkaError", f"{type(exc).__name__}: {exc}"
    return "InternalError", f"{type(exc).__name__}: {exc}"


def execute(
    command: str,
    result_file: Path | None,
    body: Callable[[RunResult], Coroutine[Any, Any, None]],
) -> RunResult:
    """Run ``body``; whatever happens, write the result file; exit 1 on a failure."""
    result = RunResult(command=command, started_at=utcnow())
    try:
        asyncio.run(body(result))
    except click.ClickException as exc:
        result.fail("InvalidArgument", exc.format_message())
        raise
    except asyncio.CancelledError:
        result.fail("Cancelled", "the run was cancelled")
    except Exception as exc:  # every failure is reported, none is lost
        reason, message = _reason(exc)
        result.fail(reason, message)
        if reason == "InternalError":
            traceback.print_exc(file=sys.stderr)
    finally:
        result.finished_at = utcnow()
        if result_file is not None:
            write(result_file, result)
    if result.outcome == "failed":
        click.echo(f"tidal {command}: failed: {result.reason}: {result.message}", err=True)
        sys.exit(1)
    if result.outcome == PARTIALLY_FAILED:
        said = f"{result.reason}: {result.message}"
        click.echo(f"tidal {command}: partially failed: {said}", err=True)
        sys.exit(PARTIAL_EXIT)
    return result


@contextmanager
def progress_bar(
    enabled: bool, description: str, total: int | None = None
) -> Iterator[Callable[[int, int], None]]:
    """A progress callback ``(events, bytes)``; draws on stderr when ``enabled`` or a TTY."""
    console = Console(stderr=True)
    if not (enabled or console.is_terminal):
        yield lambda events, size: None
        return
    columns = [
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn() if total else TaskProgressColumn(),
        TextColumn("events"),
        TextColumn("{task.fields[mb]:,.1f} MB"),
        TextColumn("{task.fields[rate]:,.0f} events/s"),
        TimeElapsedColumn(),
    ]
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task(description, total=total, rate=0.0, mb=0.0)
        state = {"bytes": 0, "events": 0}

        def advance(events: int, size: int) -> None:
            state["events"] += events
            state["bytes"] += size
            elapsed = bar.tasks[task].elapsed or 0.0
            rate = state["events"] / elapsed if elapsed > 0 else 0.0
            bar.update(task, advance=events, rate=rate, mb=state["bytes"] / 1e6)

        yield advance


def comma_list(value: str) -> str:
    return ",".join(part.strip() for part in value.split(",") if part.strip())
