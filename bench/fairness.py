"""Overhead and fairness of many spaces, each comparison measured in one run on one server.

    python bench/fairness.py [--counts 1,10,100,1000] [--seconds 10] [--rounds 2] [--middle-every 1] [--concurrency 4]
                             [--inflight-limit N]
                             [--quiet-spaces 4] [--quiet-rate 20] [--noisy-concurrency 8] [--noisy-nice 10]
                             [--noisy-rounds 3]
                             [--transport rest|native] [--url ... --router ...] [--out bench/results/fairness.json]

- **Overhead**: the same closed-loop remember load (C clients) spread over 1, 10, 100, 1,000 spaces. The figure is
  each count's throughput as a share of the 1-space throughput in the same round, the median over rounds (the issue
  asks >= 95% at 1,000); the ratio of the rounds' mean throughputs is kept beside it. The smallest and largest
  counts run back to back, and rounds alternate the order (1, 1000, 10, 100, then 100, 10, 1000, 1), so a drift or a
  burst of the shared machine does not read as a cost of many spaces. Spaces are created before their first round.
  Each phase follows 1.5 s of idle: otherwise the last requests of 1,000 spaces and the first of the next phase's
  one space fall in one tick of the router's pacer (router/pacing.py), which may pace that space for a second as if
  it were crowding the others out, and the 1-space figure would be measured low. C is 4 by default, the server's
  ``space_inflight_limit``: with more clients one space's requests beyond 4 wait at the router while many spaces'
  do not, so the comparison would measure that limit, not the cost of many spaces (docs/scaling.md: 16 clients gave
  1,000 spaces more throughput than 1 space at the default limit and less with the limit at 16).
  ``--inflight-limit C`` starts the server with that limit, to compare at any C with equal work in flight.
- **Noisy neighbour**: quiet spaces get a steady open-loop load (``--quiet-rate`` requests per second each, so
  their latencies include any queueing); their p99 is measured alone and beside one noisy space hammered at full
  speed by ``--noisy-concurrency`` closed-loop clients, alternately: ``--noisy-rounds`` noisy phases, each between
  two solo phases. The figure is the p99 of all the noisy phases' quiet requests over the p99 of all the solo
  phases' (the issue asks <= 1.5); each round's own ratio is listed beside it. The noisy clients run in a process
  of their own at ``--noisy-nice``: they stand for clients on other machines, so they must not share the quiet
  clients' interpreter lock, nor take the server's CPU on this one box (the server's own work for them is all
  still here).

The load generator shares the machine's cores with the server, so read the ratios, not the absolute numbers.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import msgspec

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.load import LoadSpec, Target, run_load, serving, write_json  # noqa: E402
from bench.load_ops import space_names  # noqa: E402
from bench.load_stats import interval_text, latency_figures, median_interval  # noqa: E402
from bench.machine import MachineWatch, busy_text, steal_text  # noqa: E402
from engram.client import Client  # noqa: E402
from engram.config import default_worker_count  # noqa: E402
from engram.errors import EngramError  # noqa: E402
from router.pacing import ACTIVE_S, TICK_S  # noqa: E402

NOISY_PREFIX = "noisy"
PHASE_GAP_S = ACTIVE_S + 2 * TICK_S  # idle before each overhead phase: the router's pacer no longer sees the last one
NOISY_LEAD_S = 3.0  # the noisy run lasts this much longer than a quiet phase, so it covers the phase throughout
NOISY_STARTED = 20
NOISY_START_TIMEOUT_S = 30.0
OVERHEAD_TARGET_RATIO = 0.95
NOISY_TARGET_RATIO = 1.5
DEFAULT_OUT = "bench/results/fairness.json"


def overhead(
    target: Target,
    counts: list[int],
    seconds: float,
    concurrency: int,
    rounds: int,
    transport: str,
    middle_every: int = 1,
) -> dict:
    """Remember throughput and latency per space count; ``ratio_to_1`` is against the smallest count, in the same
    round. The counts between the smallest and the largest run in every ``middle_every``-th round only, so that the
    headline pair gets more rounds in the same time."""
    runs: dict[int, list[dict]] = {count: [] for count in counts}
    for round_number in range(rounds):
        middle = counts[1:-1] if round_number % middle_every == 0 else []
        paired = list(dict.fromkeys([counts[0], counts[-1], *middle]))  # the headline pair back to back
        for count in paired if round_number % 2 == 0 else list(reversed(paired)):
            time.sleep(PHASE_GAP_S)
            spec = LoadSpec(
                spaces=count,
                mix="remember=1",
                seconds=seconds,
                concurrency=concurrency,
                transport=transport,
                prefix=f"ovh{count}",
                warmup=round_number == 0,
                per_space_limit=0,
                name=f"overhead {count} spaces, round {round_number + 1}",
            )
            with MachineWatch() as machine:
                result = run_load(spec, target)
            runs[count].append(
                {
                    "round": round_number + 1,
                    "throughput_per_s": result["overall"]["throughput_per_s"],
                    "p50_ms": result["overall"]["p50_ms"],
                    "p99_ms": result["overall"]["p99_ms"],
                    "errors": result["overall"]["errors"],
                    "jain_fairness": result["space_throughput"]["jain_fairness"],
                    "machine": machine.figures(),
                }
            )
    rows = {}
    for count in counts:
        rows[str(count)] = {
            key: _mean(run[key] for run in runs[count]) for key in ("throughput_per_s", "p50_ms", "p99_ms")
        }
        rows[str(count)]["errors"] = sum(run["errors"] for run in runs[count])
        rows[str(count)]["runs"] = runs[count]
    base = rows[str(counts[0])]["throughput_per_s"] or 1.0
    alone_in = {run["round"]: run["throughput_per_s"] for run in runs[counts[0]]}
    for count in counts:
        row = rows[str(count)]
        row["round_ratios"] = [
            round(run["throughput_per_s"] / alone_in[run["round"]], 4) if alone_in[run["round"]] else 0.0
            for run in runs[count]
        ]
        row["ratio_to_1"] = round(statistics.median(row["round_ratios"]), 4)
        row["ratio_interval"] = median_interval(row["round_ratios"])
        row["ratio_of_means"] = round(row["throughput_per_s"] / base, 4)
    largest = rows[str(counts[-1])]["ratio_to_1"]
    return {
        "interval_at_max": rows[str(counts[-1])]["ratio_interval"],
        "counts": counts,
        "seconds": seconds,
        "concurrency": concurrency,
        "rounds": rounds,
        "middle_every": middle_every,
        "transport": transport,
        "space_counts": rows,
        "ratio_at_max": largest,
        "target_ratio": OVERHEAD_TARGET_RATIO,
        "meets_target": largest >= OVERHEAD_TARGET_RATIO,
    }


def noisy_neighbour(
    target: Target,
    quiet_spaces: int,
    quiet_rate: float,
    seconds: float,
    noisy_concurrency: int,
    transport: str,
    noisy_nice: int = 10,
    rounds: int = 3,
) -> dict:
    """Quiet spaces' latency alone and beside a noisy space at full speed, alternately: ``rounds`` noisy phases,
    each between two solo phases. The p99s compared are of all solo and all noisy phases' samples pooled: one
    phase holds a few hundred quiet requests, whose p99 is the fifth or sixth slowest and moves by 2x between
    identical phases on a shared machine."""

    def quiet(phase: str, warmup: bool) -> tuple[dict, list[float]]:
        spec = LoadSpec(
            spaces=quiet_spaces,
            mix="remember=70,recall=30",
            seconds=seconds,
            concurrency=max(4, quiet_spaces * 2),
            rate=quiet_rate * quiet_spaces,
            transport=transport,
            prefix="quiet",
            warmup=warmup,
            keep_latencies=True,
            name=f"quiet spaces, {phase.replace('_', ' ')}",
        )
        with MachineWatch() as machine:
            result = run_load(spec, target)
        per_space = {name: row["p99_ms"] for name, row in result["spaces"].items()}
        summary = {
            **result["overall"],
            "per_space_p99_ms": per_space,
            "errors_by_code": result["errors_by_code"],
            "machine": machine.figures(),
        }
        return summary, result["latencies_ms"]

    phases: dict[str, dict] = {}
    pooled: dict[str, list[float]] = {"solo": [], "with_noisy": []}
    noisy_runs = []
    paces: list[float | None] = []

    def record(kind: str, number: int, measured: tuple[dict, list[float]]) -> None:
        phases[f"{kind}_{number}"] = measured[0]
        pooled[kind] += measured[1]

    record("solo", 1, quiet("solo_1", warmup=True))
    for number in range(1, rounds + 1):
        with tempfile.TemporaryDirectory(prefix="engram-noisy-") as scratch:
            out = Path(scratch) / "noisy.json"
            hammer = _start_noisy(target, seconds, noisy_concurrency, noisy_nice, transport, out)
            try:
                _wait_until_noisy_runs(target, hammer)
                record("with_noisy", number, quiet(f"with_noisy_{number}", warmup=False))
                with _status_client(target) as client:  # the router's pace as the phase ended
                    paces.append(_noisy_status(target, client).get("paced_rps"))
            finally:
                if hammer.wait(timeout=seconds + 60) != 0:
                    raise RuntimeError(f"the noisy load generator exited {hammer.returncode}")
            noisy_runs.append(json.loads(out.read_text())["overall"])
        record("solo", number + 1, quiet(f"solo_{number + 1}", warmup=False))
    solo, beside = (latency_figures(pooled[kind]) for kind in ("solo", "with_noisy"))
    ratio = round(beside["p99_ms"] / solo["p99_ms"], 3) if solo["p99_ms"] else None
    round_ratios = []  # each noisy phase against the mean of the solo phases on either side of it
    for n in range(1, rounds + 1):
        around = _mean([phases[f"solo_{n}"]["p99_ms"], phases[f"solo_{n + 1}"]["p99_ms"]])
        round_ratios.append(round(phases[f"with_noisy_{n}"]["p99_ms"] / around, 3) if around else None)
    return {
        "quiet_spaces": quiet_spaces,
        "quiet_rate_per_space": quiet_rate,
        "seconds": seconds,
        "rounds": rounds,
        "noisy_concurrency": noisy_concurrency,
        "noisy_nice": noisy_nice,
        "transport": transport,
        "phases": phases,
        "pooled": {"solo": solo, "with_noisy": beside},
        "noisy": {
            key: round(_mean(run[key] for run in noisy_runs), 3)
            for key in ("throughput_per_s", "p50_ms", "p99_ms", "errors")
        },
        "noisy_paced_rps": paces,
        "solo_p99_ms": solo["p99_ms"],
        "with_noisy_p99_ms": beside["p99_ms"],
        "p99_ratio": ratio,
        "round_ratios": round_ratios,
        "target_ratio": NOISY_TARGET_RATIO,
        "meets_target": ratio is not None and ratio <= NOISY_TARGET_RATIO,
    }


def _start_noisy(
    target: Target, seconds: float, concurrency: int, nice: int, transport: str, out: Path
) -> subprocess.Popen:
    """The noisy space's clients, in a process of their own (``nice``): they stand for clients on other machines,
    so they must neither share the quiet clients' interpreter lock nor take the server's CPU away on one box."""
    command = [sys.executable, str(Path(__file__).with_name("load.py")), "--spaces", "1", "--prefix", NOISY_PREFIX,
               "--mix", "remember=1", "--seconds", str(seconds + NOISY_LEAD_S), "--concurrency", str(concurrency),
               "--transport", transport, "--quiet", "--out", str(out)]  # fmt: skip
    command += [arg for flag, value in (("--url", target.url), ("--router", target.router)) if value
                for arg in (flag, value)]  # fmt: skip
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, preexec_fn=lambda: os.nice(nice))


def _wait_until_noisy_runs(target: Target, hammer: subprocess.Popen) -> None:
    """Return once the noisy space is being written (its count grew by NOISY_STARTED writes since the launch)."""
    with _status_client(target) as client:

        def count() -> int:
            return _noisy_status(target, client).get("memories") or 0

        before = count()
        deadline = time.monotonic() + NOISY_START_TIMEOUT_S
        while count() < before + NOISY_STARTED:
            if hammer.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the noisy load generator did not start writing")
            time.sleep(0.05)


def _status_client(target: Target) -> contextlib.AbstractContextManager[Client | None]:
    """A native client for ``_noisy_status`` when the target has a router endpoint (None: REST is used)."""
    return Client(target.router) if target.router else contextlib.nullcontext()


def _noisy_status(target: Target, client: Client | None) -> dict:
    """The noisy space's measured status (memories, and the router's ``paced_rps``); empty before it exists."""
    space = space_names(NOISY_PREFIX, 1)[0]
    try:
        if client is not None:
            return msgspec.structs.asdict(client.status(space=space).spaces[0])
        with urllib.request.urlopen(f"{target.url}/api/v1/spaces/{space}/status", timeout=5) as answer:
            return json.load(answer)
    except (EngramError, OSError):
        return {}


def machine_text(figures) -> str:
    """Phases' machine figures (bench/machine.py) as "busy / steal (worst sample)", for a console line."""
    return ", ".join(f"{busy_text(f)} / {steal_text(f)}" for f in figures) + " as busy / steal (worst 0.25 s)"


def _mean(values) -> float:
    values = [v for v in values if v is not None]
    return round(statistics.fmean(values), 3) if values else 0.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--counts", default="1,10,100,1000", help="space counts of the overhead comparison")
    parser.add_argument("--seconds", type=float, default=10.0, help="duration of each measurement")
    parser.add_argument("--rounds", type=int, default=2, help="overhead rounds, alternating the order of the counts")
    parser.add_argument(
        "--middle-every", type=int, default=1, help="overhead: the counts between the smallest and largest run in "
        "every N-th round only, giving the headline pair more rounds in the same time"
    )  # fmt: skip
    parser.add_argument("--concurrency", type=int, default=4, help="overhead: closed-loop clients")
    parser.add_argument(
        "--inflight-limit", type=int, help="the server's space_inflight_limit (when this script starts the server; "
        "default: the server's own, 4): set it to --concurrency to give one space as many requests in flight at its "
        "worker as the many spaces get"
    )  # fmt: skip
    parser.add_argument("--quiet-spaces", type=int, default=4)
    parser.add_argument("--quiet-rate", type=float, default=20.0, help="open-loop requests/s per quiet space")
    parser.add_argument("--noisy-concurrency", type=int, default=8, help="closed-loop clients on the noisy space")
    parser.add_argument("--noisy-nice", type=int, default=10, help="niceness of the noisy clients' process")
    parser.add_argument("--noisy-rounds", type=int, default=3, help="noisy phases, each between two solo phases")
    parser.add_argument("--transport", choices=("rest", "native"), default="rest")
    parser.add_argument("--url")
    parser.add_argument("--router")
    parser.add_argument("--workers", type=int, default=default_worker_count())
    parser.add_argument("--out", default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    counts = sorted({int(c) for c in args.counts.split(",") if c.strip()})
    if args.inflight_limit is not None and (args.url or args.router):
        parser.error("--inflight-limit sets up the server this script starts; set it in the given server's config")
    settings = {} if args.inflight_limit is None else {"space_inflight_limit": args.inflight_limit}
    with serving(args.workers, args.url, args.router, settings) as target:
        over = overhead(target, counts, args.seconds, args.concurrency, args.rounds, args.transport, args.middle_every)
        noisy = noisy_neighbour(
            target,
            args.quiet_spaces,
            args.quiet_rate,
            args.seconds,
            args.noisy_concurrency,
            args.transport,
            args.noisy_nice,
            args.noisy_rounds,
        )
    print(f"\noverhead: {args.concurrency} clients; server settings beyond the defaults: {settings or 'none'}")
    print("| spaces | remember/s | vs 1 space (median of rounds) | per round | p50 ms | p99 ms |")
    print("|---|---|---|---|---|---|")
    for count, row in over["space_counts"].items():
        rounds = ", ".join(f"{r:.0%}" for r in row["round_ratios"])
        print(
            f"| {count} | {row['throughput_per_s']:.0f} | {row['ratio_to_1']:.1%} | {rounds} | {row['p50_ms']} "
            f"| {row['p99_ms']} |"
        )
    print(f"throughput at {counts[-1]} spaces vs {counts[0]}: {over['ratio_at_max']:.1%} (target >= 95%)"
          f"{interval_text(over['interval_at_max'])}")  # fmt: skip
    for count, row in over["space_counts"].items():
        print(f"machine during {count} spaces' rounds: {machine_text(run['machine'] for run in row['runs'])}")
    print(
        f"quiet p99 over {noisy['rounds']} rounds: solo {noisy['solo_p99_ms']} ms, beside the noisy space "
        f"{noisy['with_noisy_p99_ms']} ms -> ratio {noisy['p99_ratio']} (target <= 1.5; per round "
        f"{noisy['round_ratios']}); the noisy space ran {noisy['noisy']['throughput_per_s']:.0f} req/s, paced by the "
        f"router to {noisy['noisy_paced_rps']} req/s as each noisy phase ended"
    )
    for kind in ("with_noisy", "solo"):
        figures = (phase["machine"] for name, phase in noisy["phases"].items() if name.startswith(kind))
        print(f"machine during the {kind.replace('_', ' ')} phases: {machine_text(figures)}")
    write_json(args.out, {"overhead": over, "noisy_neighbour": noisy, "workers": args.workers, "settings": settings})
    return 0


if __name__ == "__main__":
    sys.exit(main())
