"""Cost of metrics plus tracing, on the HTTP path and on the Kafka path.

Each path runs the same no-op handler with observability off, and with ``/metrics`` scraped
every second plus tracing exporting every sampled span over OTLP (http/protobuf) to a collector
that discards them, at four samplers: always on, and ``parentbased_traceidratio`` at 10 %, 1 %
and 0 (tracing on, nothing sampled: the unsampled path alone; tidal decides sampling before the
SDK, unsampled events get no span). Every contender starts clean (`settle`).

- ``--path http``: one ``tidal run`` process per contender (which call
  `tidal.observability.setup`), loaded in turn by ``wrk`` as in `bench.http_path`, CPU per
  thread from ``/proc`` (the event loop's thread, and the others': the span exporter's);
- ``--path http-interleaved``: one tidal HTTP server in this process while the contenders take
  turns of ``wrk`` load, the tracer installed between turns: no contender has a process of its
  own (separate processes differ from one another by a few % by themselves) and the machine's
  slow spells fall on all alike; CPU per thread as on ``kafka-interleaved``;
- ``--path asgi``: the HTTP server's ASGI app called in process with the requests ``wrk``
  sends, no uvicorn and no socket: tidal's own per-request cost, exporter flush included;
- ``--path kafka``: `bench.kafka_path`'s worker run in this process on a pre-produced topic,
  the tracer installed or removed between runs;
- ``--path kafka-interleaved``: one such worker consumes one topic while the contenders take
  turns every ``--segment`` events (``--rounds`` turns each, rotated): the machine's and the
  broker's slow spells fall on every contender alike, where separate runs put them on
  whichever ran then. CPU is counted per thread (`_billed`: the loop's per turn, each
  exporter's and the scraper's over the run, to their own contender);
- ``--path dispatch``: the Kafka worker's per-event work without the broker (decoding the
  same binary-mode records with `from_consumed`, then `Dispatcher.attempt`) in this process,
  CPU time per event including the exporter thread (flushed before the clock stops): tidal's
  own cost, free of the broker's and the machine's noise.

Rounds alternate the contenders, each round starting one contender later (`rotated`); medians
and the cost against "off" are printed, also paired (each round's cost against that round's
"off", then the median: steadier on a shared machine).
Run: ``python -m bench.observability_cost --path http`` (or ``http-interleaved``, ``asgi``,
``kafka``, ``kafka-interleaved``, ``dispatch``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Coroutine, Iterable, Iterator, MutableMapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final, TypeVar

import httpx
from harness.otlp import otlp_collector
from harness.servers import free_port, wait_for_port

from bench.http_path import WRK_SCRIPT, load

RATIOS = ("0.1", "0.01", "0")
SETTLE_SECONDS = 1.0
CONTENDERS = (
    "off",
    "metrics (scraped every second)",
    "metrics + tracing, all sampled",
    *(f"metrics + tracing, {ratio} sampled" for ratio in RATIOS),
)
KEYS = ("off", "metrics", "all", *RATIOS)  # --only names the contenders by these


Rates = dict[str, list[tuple[float, float]]]  # per contender: (events/s, CPU µs per event)
T = TypeVar("T")


def rotated(contenders: Iterable[T], round_number: int) -> list[T]:
    """The contenders in the order of round ``round_number``: each round starts one later, so
    none always runs right after the same one (a heavy contender's garbage and exporter leave
    work behind for whichever runs next)."""
    listed = list(contenders)
    shift = round_number % len(listed)
    return listed[shift:] + listed[:shift]


def report(rates: Rates) -> None:
    """Median events/s and CPU per event of each contender, and the cost against the first
    (normally "off") in both (the CPU figure holds up better on a machine shared with other
    work)."""
    off = next(iter(rates.values()))
    base = statistics.median(r for r, _ in off)
    base_cpu = statistics.median(c for _, c in off)
    for name, values in rates.items():
        rate = statistics.median(r for r, _ in values)
        cpu = statistics.median(c for _, c in values)
        # the same cost taken round by round against that round's "off" (run just before it),
        # then the median: drifts of the machine's speed cancel out
        paired = statistics.median(
            1 - off_cpu / c for (_, off_cpu), (_, c) in zip(off, values, strict=True)
        )
        rounds = ", ".join(f"{r:,.0f}" for r, _ in values)
        fastest = min(c for _, c in values)  # the round the machine disturbed least
        print(
            f"{name:36s} {rate:9,.0f} events/s (cost {100 * (1 - rate / base):5.1f} %)"
            f"  {cpu:6.1f} µs CPU/event (cost {100 * (1 - base_cpu / cpu):5.1f} %,"
            f" paired {100 * paired:5.1f} %; fastest {fastest:6.1f},"
            f" {fastest - min(c for _, c in off):+5.2f})  rounds: {rounds}"
        )


@contextmanager
def scraping(url: str) -> Iterator[None]:
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(1.0):
            httpx.get(url, timeout=5).raise_for_status()

    thread = threading.Thread(target=loop)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


# -- HTTP ----------------------------------------------------------------------------------


def start(port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "TIDAL_HOST": "127.0.0.1",
        "TIDAL_PORT": str(port),
        "TIDAL_IDEMPOTENCY__BACKEND": "none",
        "TIDAL_LOG_LEVEL": "WARNING",
        **env,
    }
    cmd = [sys.executable, "-m", "tidal.cli", "run", "bench.apps:app"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL)
    wait_for_port(port)
    return proc


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of process ``pid`` (its threads included)."""
    return sum(thread_cpu_seconds(pid).values())


def thread_cpu_seconds(pid: int) -> dict[int, float]:
    """User plus system CPU time of each live thread of process ``pid``, by thread id (the
    process's own id is its main thread: the event loop's)."""
    tick, spent = os.sysconf("SC_CLK_TCK"), {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):  # a thread that ended meanwhile
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
            spent[int(task.name)] = (int(fields[11]) + int(fields[12])) / tick
    return spent


def _split(pid: int, before: dict[int, float], after: dict[int, float]) -> tuple[float, float]:
    """CPU seconds between two `thread_cpu_seconds` readings: the main (event loop) thread's,
    and every other thread's (the span exporter's; a thread that ended between the readings
    is lost, none does here)."""
    main = after.get(pid, 0.0) - before.get(pid, 0.0)
    rest = sum(v - before.get(tid, 0.0) for tid, v in after.items() if tid != pid)
    return main, rest


def http(args: argparse.Namespace, collector_url: str) -> Rates:
    traced = {"TIDAL_OBSERVABILITY__TRACING": "on", "OTEL_EXPORTER_OTLP_ENDPOINT": collector_url}
    sampler = {"OTEL_TRACES_SAMPLER": "parentbased_traceidratio"}
    everything = [
        {"TIDAL_OBSERVABILITY__TRACING": "off", "TIDAL_OBSERVABILITY__METRICS": "false"},
        {"TIDAL_OBSERVABILITY__TRACING": "off"},
        traced,
        *({**traced, **sampler, "OTEL_TRACES_SAMPLER_ARG": ratio} for ratio in RATIOS),
    ]
    picked = [KEYS.index(key) for key in dict.fromkeys(args.only)]
    names, envs = [CONTENDERS[i] for i in picked], [everything[i] for i in picked]
    ports = [free_port() for _ in envs]
    procs = [start(port, env) for port, env in zip(ports, envs, strict=True)]
    rates: Rates = {name: [] for name in names}
    others: dict[str, list[float]] = {name: [] for name in names}  # µs / request off the loop
    try:
        with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as fh:
            fh.write(WRK_SCRIPT)
        script = Path(fh.name)
        with contextlib.ExitStack() as scrapers:
            for i, port in zip(picked, ports, strict=True):
                if i > 0:  # every contender but "off" serves /metrics
                    scrapers.enter_context(scraping(f"http://127.0.0.1:{port}/metrics"))
            for r in range(args.rounds):
                for name, port, proc in rotated(zip(names, ports, procs, strict=True), r):
                    before = thread_cpu_seconds(proc.pid)
                    rate = load(
                        port, script, seconds=args.seconds, connections=args.connections
                    ).rate
                    main, rest = _split(proc.pid, before, thread_cpu_seconds(proc.pid))
                    served = rate * args.seconds
                    rates[name].append((rate, 1e6 * (main + rest) / served))
                    others[name].append(1e6 * rest / served)
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait()
    for name, values in others.items():
        print(f"{name:36s} off the event loop's thread: {statistics.median(values):5.2f} µs/req")
    return rates


# -- HTTP, interleaved ---------------------------------------------------------------------


def http_interleaved(args: argparse.Namespace, collector_url: str) -> Rates:
    """One tidal HTTP server (`build_receiver`, `create_asgi_app` under uvicorn with tidal's
    deadlines, on uvloop) in this process while the contenders take turns of ``--seconds`` of
    ``wrk`` each (``--rounds`` turns each, rotated), the tracer installed between turns: a
    slow spell of the machine falls on every contender alike, and no contender runs in a
    process of its own (separate processes differ by a few % from one another by themselves).
    CPU is counted per thread as on `interleaved`: the event loop's per turn, each exporter's
    and the scraper's over the run, to their own contender."""
    import uvloop

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(_http_interleaved(args, collector_url))


async def _http_interleaved(args: argparse.Namespace, collector_url: str) -> Rates:
    import uvicorn

    from bench.apps import app
    from tidal._settings import Settings
    from tidal._transports.http.asgi import create_asgi_app
    from tidal._transports.http.deadlines import deadline_protocol
    from tidal._transports.http.serving import build_receiver
    from tidal.observability import _hooks as hooks
    from tidal.observability._collector import render

    names, tracers, scraped = _contenders(args, collector_url)
    settings = Settings()
    receiver = build_receiver(app, settings, session=None, idempotency=None)
    port = free_port()
    config = uvicorn.Config(
        create_asgi_app(receiver),
        host="127.0.0.1",
        port=port,
        log_config=None,
        access_log=False,
        http=deadline_protocol(head=settings.header_timeout, body=settings.body_timeout),
    )
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn says so by a flag
        await asyncio.sleep(0.01)
    gc.freeze()  # as `tidal run` does once started (tidal._transports.loops)
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as fh:
        fh.write(WRK_SCRIPT)
    script = Path(fh.name)
    turns: list[list[tuple[int, float, float]]] = [[] for _ in names]
    scraping, stop = threading.Event(), threading.Event()
    scraper = threading.Thread(target=_scrape_while, args=(render, scraping, stop))
    scraper.start()
    background = [_thread_cpu(_exporter_thread(t)) for t in tracers] + [_thread_cpu(scraper)]

    def served() -> int:
        return sum(receiver.statuses.values())

    try:
        await _wrk(port, script, 1, args.connections)  # warm-up
        for r in range(args.rounds):
            for i in rotated(range(len(names)), r):
                hooks.install(tracers[i])  # type: ignore[arg-type]
                (scraping.set if scraped[i] else scraping.clear)()
                first, started, cpu = served(), time.perf_counter(), time.thread_time()
                await _wrk(port, script, args.seconds, args.connections)
                n, wall = served() - first, time.perf_counter() - started
                turns[i].append((n, wall, time.thread_time() - cpu))
        spent = [clock() for clock in background]
    finally:
        hooks.install(None)
        stop.set()
        scraping.set()
        scraper.join()
        server.should_exit = True
        await serving
    for i, tracer in enumerate(tracers):
        spent[i] += _flushed(tracer)
    return _billed(names, turns, spent, scraped)


async def _wrk(port: int, script: Path, seconds: int, connections: int) -> None:
    """``wrk`` on ``port`` for ``seconds`` (the event loop serves meanwhile); any non-2xx
    answer fails the run."""
    proc = await asyncio.create_subprocess_exec(
        *("wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "-s", str(script)),
        f"http://127.0.0.1:{port}/",
        stdout=subprocess.PIPE,
    )
    out, _ = await proc.communicate()
    if proc.returncode != 0 or b"Non-2xx" in out:
        raise RuntimeError(f"wrk failed or saw non-2xx answers:\n{out.decode()}")


# -- ASGI (no server) ----------------------------------------------------------------------


def asgi(args: argparse.Namespace, collector_url: str) -> Rates:
    return asyncio.run(_asgi_rounds(args, collector_url))


async def _asgi_rounds(args: argparse.Namespace, collector_url: str) -> Rates:
    """The HTTP server's own per-request work without uvicorn and the socket: the ASGI app
    `tidal run` serves, called in process with the request ``wrk`` sends (binary mode, a new
    event id each), ``--events`` per turn, the contenders taking turns (rotated). CPU: this
    thread's per turn, each exporter thread's over the run (it exports as in a server: every
    ``OTEL_BSP_SCHEDULE_DELAY`` or 512 spans) spread over its contender's requests."""
    from bench.apps import app
    from bench.http_path import BODY
    from tidal._settings import Settings
    from tidal._transports.http.asgi import create_asgi_app
    from tidal._transports.http.serving import build_receiver
    from tidal.observability import _hooks as hooks

    names, tracers, _ = _contenders(args, collector_url)
    served = create_asgi_app(build_receiver(app, Settings(), session=None, idempotency=None))
    body = {"type": "http.request", "body": BODY.encode(), "more_body": False}
    head = [
        (b"host", b"127.0.0.1"),
        (b"content-type", b"application/json"),
        (b"content-length", str(len(BODY)).encode()),
        *((f"ce-{k}".encode(), v.encode()) for k, v in _BENCH_ATTRIBUTES.items()),
    ]

    async def receive() -> dict[str, Any]:
        return body

    async def send(message: MutableMapping[str, Any]) -> None:
        return None

    turns: list[list[tuple[int, float, float]]] = [[] for _ in names]  # (events, wall, cpu)
    background = [_thread_cpu(_exporter_thread(t)) for t in tracers]
    counter = 0
    for r in range(args.rounds):
        for i in rotated(range(len(names)), r):
            hooks.install(tracers[i])  # type: ignore[arg-type]
            started, cpu = time.perf_counter(), time.thread_time()
            for _ in range(args.events):
                counter += 1
                scope = {
                    "type": "http",
                    "method": "POST",
                    "path": "/",
                    "headers": [*head, (b"ce-id", b"%d" % counter)],
                }
                await served(scope, receive, send)
            wall, cpu = time.perf_counter() - started, time.thread_time() - cpu
            turns[i].append((args.events, wall, cpu))
    hooks.install(None)
    spent = [clock() + _flushed(tracer) for clock, tracer in zip(background, tracers, strict=True)]
    return _billed(names, turns, [*spent, 0.0], [False] * len(names))


_BENCH_ATTRIBUTES: Final = {  # what `bench.http_path.WRK_SCRIPT` sends beside ce-id
    "specversion": "1.0",
    "type": "com.example.bench.v1",
    "source": "/bench",
    "time": "2026-11-02T10:15:00Z",
}


# -- Kafka ---------------------------------------------------------------------------------


KafkaBody = Callable[[str, argparse.Namespace, str], Coroutine[Any, Any, Rates]]


def on_broker(body: KafkaBody, args: argparse.Namespace, collector_url: str) -> Rates:
    """``body(bootstrap, args, collector_url)`` on uvloop, beside a tansu broker (the worker
    runs without idempotency: no Redis)."""
    import uvloop

    from bench import kafka_path

    with (
        kafka_path.broker() as bootstrap,
        asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner,
    ):
        return runner.run(body(bootstrap, args, collector_url))


def kafka(args: argparse.Namespace, collector_url: str) -> Rates:
    return on_broker(_kafka_rounds, args, collector_url)


async def _kafka_rounds(bootstrap: str, args: argparse.Namespace, collector_url: str) -> Rates:
    from harness.kafka import create_topic, produce

    from bench import kafka_path

    topic = f"bench-{uuid.uuid4().hex[:8]}"
    await create_topic(bootstrap, topic, partitions=args.partitions)
    await produce(bootstrap, topic, kafka_path.records(args.events, args.keys))
    names, tracers, metrics = _contenders(args, collector_url)
    rates: Rates = {name: [] for name in names}
    for r in range(args.rounds):
        for name, tracer, scraped in rotated(zip(names, tracers, metrics, strict=True), r):
            settle(tracers)
            rate, cpu = await _kafka_run(bootstrap, topic, args.events, tracer, scraped=scraped)
            if tracer is not None:  # the exporter's work on this round's spans counts too
                before = time.process_time()
                tracer._tracer.span_processor.force_flush()  # type: ignore[attr-defined]
                cpu += time.process_time() - before
            rates[name].append((rate, 1e6 * cpu / args.events))
    return rates


def _contenders(
    args: argparse.Namespace, collector_url: str
) -> tuple[list[str], list[object], list[bool]]:
    """The contenders ``--only`` picks, in the order given: names, tracers (None: off) and
    whether ``/metrics`` is scraped."""
    everything = [None, None, 1.0, *(float(ratio) for ratio in RATIOS)]
    picked = [KEYS.index(key) for key in dict.fromkeys(args.only)]
    ratios = [everything[i] for i in picked]
    tracers = [None if ratio is None else _tracer(collector_url, ratio) for ratio in ratios]
    return [CONTENDERS[i] for i in picked], tracers, [i > 0 for i in picked]


def settle(tracers: list[object]) -> None:
    """A clean start for the next contender: every exporter flushed, garbage collected, the
    machine left to settle. Without it the all-sampled contender's leftovers (its collected
    spans, its exporter's last batches) were billed to the contenders after it: "off" read
    ~30 % dearer right after it."""
    for tracer in tracers:
        if tracer is not None:
            tracer._tracer.span_processor.force_flush()  # type: ignore[attr-defined]
    gc.collect()
    time.sleep(SETTLE_SECONDS)


def _tracer(collector_url: str, ratio: float) -> object:
    """What `tidal.observability._configuring.configure` builds for ``parentbased_traceidratio``
    at ``ratio``, exporting to ``collector_url`` (not installed as the global provider)."""
    from tidal.observability._configuring import build

    os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"] = collector_url  # the exporter reads it itself
    environ = {
        **os.environ,
        "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
        "OTEL_TRACES_SAMPLER_ARG": str(ratio),
    }
    provider, tracer = build(service="bench", version="bench", environ=environ)
    provider.get_tracer("warm-up").start_span("warm-up").end()  # first export imports, connects
    provider.force_flush()
    return tracer


async def _kafka_run(
    bootstrap: str, topic: str, n: int, tracer: object, *, scraped: bool
) -> tuple[float, float]:
    from bench import kafka_path
    from tidal._transports.kafka import KafkaWorker
    from tidal.observability import _hooks as hooks
    from tidal.observability._collector import render

    settings = kafka_path.settings_for(bootstrap, topic, redis=None)
    hooks.install(tracer)  # type: ignore[arg-type]
    stop = threading.Event()
    scraper = threading.Thread(target=_scrape_in_process, args=(render, stop))
    try:
        async with KafkaWorker(kafka_path.app, settings) as worker:
            if scraped:  # the worker registers its measures; render them every second
                scraper.start()
            return await _handled_rate(worker, n)
    finally:
        stop.set()
        if scraper.is_alive():
            scraper.join()
        hooks.install(None)


def _scrape_in_process(render: Callable[[], object], stop: threading.Event) -> None:
    while not stop.wait(1.0):
        render()


async def _handled_rate(worker: object, n: int) -> tuple[float, float]:
    """Events/s and CPU seconds of this process (worker, exporter, scraper) from the first
    event consumed to the last handled: the group join and the shutdown, whose idle polling
    varies from round to round, are left out."""
    metrics = worker.metrics  # type: ignore[attr-defined]
    while metrics.subscriptions["noop"].consumed == 0:  # noqa: ASYNC110 - polling a counter
        await asyncio.sleep(0.001)
    started, cpu = time.perf_counter(), time.process_time()
    await _until(_handled_counter(worker), n)
    return n / (time.perf_counter() - started), time.process_time() - cpu


# -- Kafka, interleaved -------------------------------------------------------------------


def interleaved(args: argparse.Namespace, collector_url: str) -> Rates:
    return on_broker(_interleaved, args, collector_url)


async def _interleaved(bootstrap: str, args: argparse.Namespace, collector_url: str) -> Rates:
    """One worker consumes one topic while the contenders take turns every ``--segment``
    events: a slow spell of the machine or the broker falls on all of them alike.

    CPU is counted per thread, so nothing one contender leaves behind is billed to another: the
    event loop's thread per turn; each tracer's exporter thread (and its final flush) over the
    whole run, spread over the events of that contender's turns; the scraper thread likewise
    over the scraped contenders' events. The collector is left out: it runs elsewhere in a
    deployment. Events/s is per turn on the wall clock (exporting in the background, so a
    traced turn's export may land in the next turn)."""
    from harness.kafka import create_topic, produce

    from bench import kafka_path
    from tidal._transports.kafka import KafkaWorker
    from tidal.observability import _hooks as hooks
    from tidal.observability._collector import render

    names, tracers, scraped = _contenders(args, collector_url)
    # a warm-up turn first, and one to spare: the last turn ends a few events past its count
    total = args.segment * (len(names) * args.rounds + 2)
    topic = f"bench-{uuid.uuid4().hex[:8]}"
    await create_topic(bootstrap, topic, partitions=args.partitions)
    await produce(bootstrap, topic, kafka_path.records(total, args.keys))
    turns: list[list[tuple[int, float, float]]] = [[] for _ in names]  # (events, wall, cpu)
    scraping, stop = threading.Event(), threading.Event()
    scraper = threading.Thread(target=_scrape_while, args=(render, scraping, stop))
    scraper.start()
    background = [_thread_cpu(_exporter_thread(t)) for t in tracers] + [_thread_cpu(scraper)]
    settings = kafka_path.settings_for(bootstrap, topic, redis=None)
    try:
        async with KafkaWorker(kafka_path.app, settings) as worker:
            handled = _handled_counter(worker)
            await _until(handled, args.segment)  # group joined, caches warm
            end = args.segment
            for r in range(args.rounds):
                for i in rotated(range(len(names)), r):
                    hooks.install(tracers[i])  # type: ignore[arg-type]
                    (scraping.set if scraped[i] else scraping.clear)()
                    end += args.segment  # ends on fixed counts: overshoots do not add up
                    turns[i].append(await _turn(handled, end))
            spent = [clock() for clock in background]  # read while the threads still run
    finally:
        hooks.install(None)
        stop.set()
        scraping.set()
        scraper.join()
    for i, tracer in enumerate(tracers):  # exporter threads, then the scraper
        spent[i] += _flushed(tracer)
    return _billed(names, turns, spent, scraped)


def _billed(
    names: list[str],
    turns: list[list[tuple[int, float, float]]],
    spent: list[float],
    scraped: list[bool],
) -> Rates:
    """Each turn's events/s and CPU µs per event, its contender's background CPU (exporter,
    scraper) spread over that contender's events."""
    scraper, events = spent[-1], [sum(n for n, _, _ in own) for own in turns]
    scraped_events = sum(n for n, flag in zip(events, scraped, strict=True) if flag)
    rates: Rates = {}
    for i, name in enumerate(names):
        extra = spent[i] / events[i]
        if scraped[i]:
            extra += scraper / scraped_events
        rates[name] = [(n / wall, 1e6 * (cpu / n + extra)) for n, wall, cpu in turns[i]]
    return rates


def _exporter_thread(tracer: object) -> threading.Thread | None:
    """The span exporter's worker thread of a `_tracer` (None: off)."""
    if tracer is None:
        return None
    multi = tracer._tracer.span_processor  # type: ignore[attr-defined]
    (batch,) = multi._span_processors
    thread: threading.Thread = batch._batch_processor._worker_thread
    return thread


def _thread_cpu(thread: threading.Thread | None) -> Callable[[], float]:
    """A clock of the CPU seconds ``thread`` spends from now on (always 0 for None)."""
    if thread is None or thread.ident is None:
        return lambda: 0.0
    clock = time.pthread_getcpuclockid(thread.ident)
    start = time.clock_gettime(clock)
    return lambda: time.clock_gettime(clock) - start


def _flushed(tracer: object) -> float:
    """CPU seconds of exporting what ``tracer`` still holds (in this thread)."""
    if tracer is None:
        return 0.0
    before = time.thread_time()
    tracer._tracer.span_processor.force_flush()  # type: ignore[attr-defined]
    return time.thread_time() - before


def _handled_counter(worker: object) -> Callable[[], int]:
    metrics = worker.metrics  # type: ignore[attr-defined]
    return lambda: int(metrics.count("noop", "handled"))


async def _until(handled: Callable[[], int], n: int) -> None:
    started = time.perf_counter()
    while handled() < n:
        if time.perf_counter() - started > 300:
            raise RuntimeError(f"the worker handled {handled()} events of {n}")
        await asyncio.sleep(0.002)


async def _turn(handled: Callable[[], int], end: int) -> tuple[int, float, float]:
    """Events handled, wall seconds and the event loop thread's CPU seconds until ``end``
    events are handled."""
    first, started, cpu = handled(), time.perf_counter(), time.thread_time()
    await _until(handled, end)
    return handled() - first, time.perf_counter() - started, time.thread_time() - cpu


def _scrape_while(
    render: Callable[[], object], scraping: threading.Event, stop: threading.Event
) -> None:
    while not stop.wait(1.0):
        if scraping.wait():
            render()


# -- dispatch (no broker) ------------------------------------------------------------------


def dispatch(args: argparse.Namespace, collector_url: str) -> Rates:
    return asyncio.run(_dispatch_rounds(args, collector_url))


async def _dispatch_rounds(args: argparse.Namespace, collector_url: str) -> Rates:
    from bench import kafka_path
    from tidal._bindings.kafka import from_consumed
    from tidal._dispatching import Dispatcher
    from tidal.observability import _hooks as hooks

    records = kafka_path.records(args.events, args.keys)
    names, tracers, _ = _contenders(args, collector_url)
    rates: Rates = {name: [] for name in names}
    for r in range(args.rounds):
        for name, tracer in rotated(zip(names, tracers, strict=True), r):
            settle(tracers)
            dispatcher = Dispatcher(kafka_path.app)
            sub = dispatcher.app.subscription("noop")
            hooks.install(tracer)  # type: ignore[arg-type]
            started, before = time.perf_counter(), time.process_time()
            for key, value, headers in records:  # as the worker decodes a fetched record
                await dispatcher.attempt(sub, from_consumed(headers, key, value))
            if tracer is not None:  # the exporter's encoding counts too
                tracer._tracer.span_processor.force_flush()  # type: ignore[attr-defined]
            cpu, wall = time.process_time() - before, time.perf_counter() - started
            hooks.install(None)
            rates[name].append((args.events / wall, 1e6 * cpu / args.events))
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--path",
        choices=["http", "http-interleaved", "asgi", "kafka", "kafka-interleaved", "dispatch"],
        default="http",
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=5, help="http: seconds of wrk per round")
    parser.add_argument("--connections", type=int, default=32, help="http: wrk connections")
    parser.add_argument("--events", type=int, default=20_000, help="kafka: events per round")
    parser.add_argument("--partitions", type=int, default=4, help="kafka: topic partitions")
    parser.add_argument("--keys", type=int, default=1000, help="kafka: distinct record keys")
    parser.add_argument(
        "--segment",
        type=int,
        default=5000,
        help="kafka-interleaved: events per turn (--rounds turns per contender)",
    )
    parser.add_argument(
        "--only",
        nargs="+",
        choices=KEYS,
        default=KEYS,
        help="these contenders only, costs against the first (e.g."
        " leave out `all`: its queue overflows and its load lingers into the next contenders)",
    )
    args = parser.parse_args()
    if args.path.startswith("http") and shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install wrk")
    with otlp_collector(keep=False) as collector:
        paths = {
            "http": http,
            "http-interleaved": http_interleaved,
            "asgi": asgi,
            "kafka": kafka,
            "kafka-interleaved": interleaved,
            "dispatch": dispatch,
        }
        rates = paths[args.path](args, collector.url)
        exports = collector.requests
    report(rates)
    print(f"{exports} OTLP export requests received and discarded")


if __name__ == "__main__":
    main()
