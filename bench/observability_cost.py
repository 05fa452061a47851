"""Cost of metrics plus tracing, on the HTTP path and on the Kafka path.

Each path runs the same no-op handler with observability off, and with ``/metrics`` scraped
every second plus tracing exporting every sampled span over OTLP (http/protobuf) to a collector
that discards them, at four samplers: always on, and ``parentbased_traceidratio`` at 10 %, 1 %
and 0 (tracing on, nothing sampled: the unsampled path alone; tidal decides sampling before the
SDK, unsampled events get no span). Every contender starts clean (`settle`).

- ``--path http``: three ``tidal run`` processes (which call `tidal.observability.setup`),
  loaded in turn by ``wrk`` as in `bench.http_path`;
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
Run: ``python -m bench.observability_cost --path http`` (or ``kafka``, ``kafka-interleaved``,
``dispatch``).
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
from collections.abc import Callable, Coroutine, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

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
        print(
            f"{name:36s} {rate:9,.0f} events/s (cost {100 * (1 - rate / base):5.1f} %)"
            f"  {cpu:6.1f} µs CPU/event (cost {100 * (1 - base_cpu / cpu):5.1f} %,"
            f" paired {100 * paired:5.1f} %)  rounds: {rounds}"
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
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def http(args: argparse.Namespace, collector_url: str) -> Rates:
    traced = {"TIDAL_OBSERVABILITY__TRACING": "on", "OTEL_EXPORTER_OTLP_ENDPOINT": collector_url}
    sampler = {"OTEL_TRACES_SAMPLER": "parentbased_traceidratio"}
    envs = [
        {"TIDAL_OBSERVABILITY__TRACING": "off", "TIDAL_OBSERVABILITY__METRICS": "false"},
        {"TIDAL_OBSERVABILITY__TRACING": "off"},
        traced,
        *({**traced, **sampler, "OTEL_TRACES_SAMPLER_ARG": ratio} for ratio in RATIOS),
    ]
    ports = [free_port() for _ in envs]
    procs = [start(port, env) for port, env in zip(ports, envs, strict=True)]
    rates: Rates = {name: [] for name in CONTENDERS}
    try:
        with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as fh:
            fh.write(WRK_SCRIPT)
        script = Path(fh.name)
        with contextlib.ExitStack() as scrapers:
            for port in ports[1:]:
                scrapers.enter_context(scraping(f"http://127.0.0.1:{port}/metrics"))
            for r in range(args.rounds):
                for name, port, proc in rotated(zip(CONTENDERS, ports, procs, strict=True), r):
                    before = cpu_seconds(proc.pid)
                    rate = load(
                        port, script, seconds=args.seconds, connections=args.connections
                    ).rate
                    cpu = cpu_seconds(proc.pid) - before
                    rates[name].append((rate, 1e6 * cpu / (rate * args.seconds)))
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait()
    return rates


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
    """What `tidal.observability.configuring.configure` builds for ``parentbased_traceidratio``
    at ``ratio``, exporting to ``collector_url`` (not installed as the global provider)."""
    from tidal.observability.configuring import build

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
    from tidal.observability import hooks
    from tidal.observability.collector import render
    from tidal.transports.kafka import KafkaWorker

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
    from tidal.observability import hooks
    from tidal.observability.collector import render
    from tidal.transports.kafka import KafkaWorker

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
    from tidal.bindings.kafka import from_consumed
    from tidal.dispatching import Dispatcher
    from tidal.observability import hooks

    records = kafka_path.records(args.events, args.keys)
    tracers = [None, None, _tracer(collector_url, 1.0)]
    tracers += [_tracer(collector_url, float(ratio)) for ratio in RATIOS]
    rates: Rates = {name: [] for name in CONTENDERS}
    for r in range(args.rounds):
        for name, tracer in rotated(zip(CONTENDERS, tracers, strict=True), r):
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
        "--path", choices=["http", "kafka", "kafka-interleaved", "dispatch"], default="http"
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
        help="kafka, kafka-interleaved: these contenders only, costs against the first (e.g."
        " leave out `all`: its queue overflows and its load lingers into the next contenders)",
    )
    args = parser.parse_args()
    if args.path == "http" and shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install wrk")
    with otlp_collector(keep=False) as collector:
        paths = {
            "http": http,
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
