"""Load generator: N spaces (1 to 10,000), a mix of remember / recall / episode / list, closed-loop with C clients or
open-loop at a target rate, over REST or the native client; per-space and overall throughput, p50/p95/p99/p99.9
latency, errors by code, a live progress line on stderr, and JSON results.

    python bench/load.py [--spaces 100] [--mix remember=70,recall=20,episode=5,list=5] [--seconds 10]
                         [--concurrency 8 | --rate 300] [--transport rest|native]
                         [--url http://127.0.0.1:7432 --router tcp://127.0.0.1:7433] [--out bench/results/load.json]
    engram bench load ...            # the same options

Without ``--url`` it starts its own server on a temporary data directory (index builds off, as bench/quick.py, so
no numba compile lands in a measurement) and stops it at the end. Every space gets one remember before the clock
starts (``--no-warmup`` skips it), so the figures measure serving spaces, not creating them.

Closed loop: C clients send back to back; the figure is the throughput the server sustains. Open loop (``--rate``):
requests are due at a fixed schedule whatever the answers, and each latency counts from when the request was due,
so a server that falls behind shows it in its percentiles (no coordinated omission); C is then the number of
threads that may wait on answers at once.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.httpload import run_closed_loop  # noqa: E402
from bench.load_ops import DEFAULT_MIX, Chooser, Executor, Mix, native_executor, rest_executor, space_names  # noqa: E402
from bench.load_stats import Progress, Recorder, summarise  # noqa: E402
from engram.client import Client  # noqa: E402
from engram.config import default_worker_count  # noqa: E402
from engram.testing import RunningServer  # noqa: E402

NO_INDEX_SEAL_ROWS = 10_000_000
OPEN_LOOP_GRACE_S = 5.0  # how long requests due before the end may still be sent once the run is over
DEFAULT_OUT = "bench/results/load.json"


@dataclass
class LoadSpec:
    """One load run. ``rate`` set means open loop at that many requests per second; None means closed loop."""

    spaces: int = 10
    mix: str = DEFAULT_MIX
    seconds: float = 10.0
    concurrency: int = 4
    rate: float | None = None
    transport: str = "rest"
    prefix: str = "load"
    seed: int = 1
    warmup: bool = True
    per_space_limit: int = 1000
    progress: bool = True
    name: str = "load"
    keep_latencies: bool = False  # put every success's latency (ms) in the result, for pooling runs (fairness.py)

    def check(self) -> tuple[Mix, list[str]]:
        """The parsed mix and the space names; ValueError (before any server is started) when a setting is wrong."""
        if self.transport not in ("rest", "native"):
            raise ValueError(f"--transport must be rest or native, got {self.transport!r}")
        if self.concurrency < 1 or self.seconds <= 0 or (self.rate is not None and self.rate <= 0):
            raise ValueError("--concurrency, --seconds and --rate must be positive")
        return Mix.parse(self.mix), space_names(self.prefix, self.spaces)


@dataclass(frozen=True)
class Target:
    """Where the load goes: the REST base URL and the native router endpoint (either may be None if unused)."""

    url: str | None
    router: str | None


@contextlib.contextmanager
def serving(
    workers: int = 2, url: str | None = None, router: str | None = None, settings: dict[str, int] | None = None
) -> Iterator[Target]:
    """The given server, or (neither given) a server of our own on a temporary directory with index builds off and
    ``settings`` (configuration keys, engram/config.py) on top of the defaults."""
    if url or router:
        yield Target(url, router)
        return
    with tempfile.TemporaryDirectory(prefix="engram-load-") as scratch:
        config = Path(scratch) / "load.toml"
        config.write_text(server_config_text(settings or {}))
        with RunningServer(Path(scratch) / "data", workers, extra_args=["--config", str(config)]) as server:
            yield Target(server.url, server.router)


def server_config_text(settings: dict[str, int]) -> str:
    """The TOML of a benchmark's own server: index builds off (``NO_INDEX_SEAL_ROWS``), then ``settings``."""
    chosen = {"index_seal_rows": NO_INDEX_SEAL_ROWS, **settings}
    return "".join(f"{key} = {json.dumps(value)}\n" for key, value in chosen.items())


def run_load(spec: LoadSpec, target: Target) -> dict:
    """Run ``spec`` against ``target``; returns the JSON-ready result (config, overall, operations, spaces)."""
    mix, names = spec.check()
    with contextlib.ExitStack() as stack:
        executor_for = _executors(spec.transport, target, stack)
        warmup_errors = _warm_up(names, spec.concurrency, executor_for) if spec.warmup else 0
        recorders = [Recorder() for _ in range(spec.concurrency)]

        def timed_for(number: int) -> Callable[[int, float], str | None]:
            execute, recorder = executor_for(number), recorders[number]
            chooser = Chooser(mix, len(names), number, spec.concurrency, spec.seed)

            def timed(sequence: int, due: float) -> str | None:
                operation, space = chooser.next(sequence)
                failure = execute(operation, names[space], sequence)
                if failure is None:
                    recorder.ok(space, operation, (time.perf_counter() - due) * 1000)
                else:
                    recorder.failed(space, operation, failure)
                return failure

            return timed

        with Progress(spec.name, recorders, spec.seconds, spec.progress):
            if spec.rate is None:
                seconds, missed = _closed_loop(spec, timed_for), 0
            else:
                seconds, missed = run_open_loop(spec.rate, spec.concurrency, spec.seconds, timed_for)
    result = summarise(recorders, names, seconds, spec.per_space_limit)
    config = {**asdict(spec), "mix": str(mix), "mode": "closed" if spec.rate is None else "open"}
    if spec.keep_latencies:
        result["latencies_ms"] = [x for recorder in recorders for x in recorder.latencies_ms]
    return {"name": spec.name, "config": config, "warmup_errors": warmup_errors, "missed": missed, **result}


def _executors(transport: str, target: Target, stack: contextlib.ExitStack) -> Callable[[int], Executor]:
    if transport == "rest":
        if not target.url:
            raise ValueError("REST load needs --url (or no --url/--router, to start a server)")
        return lambda number: rest_executor(target.url, number)
    if not target.router:
        raise ValueError("native load needs --router (or no --url/--router, to start a server)")
    client = stack.enter_context(Client(target.router))
    return lambda number: native_executor(client, number)


def _warm_up(names: list[str], concurrency: int, executor_for: Callable[[int], Executor]) -> int:
    """One remember in every space (creating it), spread over the clients; returns how many failed."""
    failures = [0] * concurrency

    def warm(number: int) -> None:
        execute = executor_for(number)
        for sequence, name in enumerate(names[number::concurrency]):
            failures[number] += execute("remember", name, sequence) is not None

    threads = [threading.Thread(target=warm, args=(n,)) for n in range(min(concurrency, len(names)))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(failures)


def _closed_loop(spec: LoadSpec, timed_for: Callable[[int], Callable[[int, float], str | None]]) -> float:
    def caller_for(number: int):
        timed = timed_for(number)
        return lambda sequence: None if timed(sequence, time.perf_counter()) is None else 1

    return run_closed_loop(spec.name, spec.concurrency, spec.seconds, caller_for).seconds


def run_open_loop(
    rate: float, threads: int, seconds: float, timed_for: Callable[[int], Callable[[int, float], str | None]]
) -> tuple[float, int]:
    """Requests due every 1/rate s for ``seconds``, sent by ``threads`` threads, each timed from when it was due.

    Returns (elapsed seconds, requests that were due but never sent because the server was still behind
    OPEN_LOOP_GRACE_S after the end)."""
    due_total = int(rate * seconds)
    ticks = itertools.count()
    start = time.perf_counter() + 0.05
    sent = [0] * threads

    def worker(number: int) -> None:
        timed = timed_for(number)
        local = 0
        while (tick := next(ticks)) < due_total:
            due = start + tick / rate
            now = time.perf_counter()
            if now > start + seconds + OPEN_LOOP_GRACE_S:
                return
            if due > now:
                time.sleep(due - now)
            timed(local, due)
            local += 1
            sent[number] += 1

    pool = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return max(seconds, time.perf_counter() - start), due_total - sum(sent)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The load generator's options; shared by this script and ``engram bench load``."""
    parser.add_argument("--spaces", type=int, default=10, help="number of spaces, 1 to 10,000 (default 10)")
    parser.add_argument("--mix", default=DEFAULT_MIX, help=f"operation weights (default {DEFAULT_MIX})")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured duration (default 10)")
    parser.add_argument("--concurrency", "-c", type=int, default=4, help="clients (closed) or threads (open loop)")
    parser.add_argument("--rate", type=float, help="open loop: requests per second in total (default: closed loop)")
    parser.add_argument("--transport", choices=("rest", "native"), default="rest")
    parser.add_argument("--url", help="REST base URL of a running server (default: start one)")
    parser.add_argument("--router", help="native endpoint of a running server, e.g. tcp://127.0.0.1:7433")
    parser.add_argument("--workers", type=int, default=default_worker_count(), help="workers of a server we start")
    parser.add_argument("--prefix", default="load", help="space ids are <prefix>-00000... (default load)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-warmup", dest="warmup", action="store_false", help="do not pre-create the spaces")
    parser.add_argument("--per-space-limit", type=int, default=1000, help="list per-space rows up to this many")
    parser.add_argument("--quiet", action="store_true", help="no progress line")
    parser.add_argument("--out", default=DEFAULT_OUT, help=f"JSON results (default {DEFAULT_OUT})")


def run_from_args(args: argparse.Namespace) -> int:
    spec = LoadSpec(
        spaces=args.spaces,
        mix=args.mix,
        seconds=args.seconds,
        concurrency=args.concurrency,
        rate=args.rate,
        transport=args.transport,
        prefix=args.prefix,
        seed=args.seed,
        warmup=args.warmup,
        per_space_limit=args.per_space_limit,
        progress=not args.quiet,
    )
    spec.check()
    with serving(args.workers, args.url, args.router) as target:
        result = run_load(spec, target)
    print_result(result)
    write_json(args.out, result)
    return 0 if not result["overall"]["errors"] else 1


def print_result(result: dict) -> None:
    config, overall = result["config"], result["overall"]
    load = f"{config['concurrency']} clients" if config["mode"] == "closed" else f"{config['rate']:g} req/s due"
    print(f"\n{result['name']}: {config['spaces']} spaces, {config['transport']}, {load}, {result['seconds']:g} s")
    print(f"{'operation':<10} {'ok':>8} {'req/s':>9} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'p99.9 ms':>9}")
    for name, row in [*result["operations"].items(), ("all", overall)]:
        cells = (row.get(f"p{q}_ms") for q in ("50", "95", "99", "99.9"))
        p50, p95, p99, p999 = (f"{x:.2f}" if x is not None else "-" for x in cells)
        ok = row.get("ok", row["count"])
        print(f"{name:<10} {ok:>8} {row['throughput_per_s']:>9.1f} {p50:>8} {p95:>8} {p99:>8} {p999:>9}")
    spread = result["space_throughput"]
    print(
        f"per space: min {spread['min_per_s']:g}/s, median {spread['p50_per_s']:g}/s, max {spread['max_per_s']:g}/s, "
        f"Jain fairness {spread['jain_fairness']}"
    )
    errors = ", ".join(f"{label}: {n}" for label, n in result["errors_by_code"].items()) or "none"
    print(f"errors: {errors}" + (f"; {result['missed']} due but never sent" if result["missed"] else ""))


def write_json(path: str | Path, result: dict) -> None:
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"wrote {out}")


def main(argv: list[str] | None = None, prog: str | None = None, epilog: str | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog=prog, description=__doc__, epilog=epilog, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_arguments(parser)
    return run_from_args(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
