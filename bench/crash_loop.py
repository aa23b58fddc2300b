"""Crash loop: SIGKILL a worker at random moments under concurrent writes to many spaces, and after every recovery
check that every acknowledged write is still there.

    python bench/crash_loop.py [--kills 50] [--spaces 20] [--writers 5] [--seed 1] [--out bench/results/crash_loop.json]

Writers (bench/writers.py) remember, replace and delete memories over REST, round robin over their spaces, and
record each answer; one more writer creates, writes and deletes two spaces over and over. A write that got an error
(a 503 while its worker died) is not acknowledged and may or may not be stored. After each kill the loop waits until
the replacement worker serves, pauses the writers, lists every space and holds it against the acknowledgements
(bench/promises.py): a remembered or replaced memory missing or at an older version, a deleted one back, a created
space gone or a deleted one back (or showing an earlier incarnation's memories), is a lost write, the one thing
that must never happen (DESIGN §5).
tests/live/test_crash_loop.py runs a few kills of the same loop; this script runs the full 50 and prints the
recovery times.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.writers import Writers, check_spaces, publish  # noqa: E402
from engram.config import default_worker_count  # noqa: E402
from engram.testing import RunningServer, wait_until  # noqa: E402

RECOVERY_TIMEOUT_S = 60.0
LIFECYCLE_SPACES = 2  # spaces created, written and deleted over and over beside the others (bench/writers.py)


@dataclass
class CrashReport:
    kills: int
    spaces: int
    acknowledged: int
    lost: list[str] = field(default_factory=list)  # "space/id" of acknowledged writes lost (bench/promises.py)
    leaks: list[str] = field(default_factory=list)  # "space/id" listed in a space that did not write it
    acknowledged_by_kind: dict[str, int] = field(default_factory=dict)  # remember, replace, delete
    recovery_s: list[float] = field(default_factory=list)  # kill -> replacement worker serving again
    unacknowledged: int = 0  # writes answered with an error (in flight during a kill)

    def summary(self) -> dict:
        recovery = sorted(self.recovery_s)
        return {
            "kills": self.kills,
            "spaces": self.spaces,
            "acknowledged_writes": self.acknowledged,
            "acknowledged_by_kind": self.acknowledged_by_kind,
            "unacknowledged_writes": self.unacknowledged,
            "lost_writes": len(self.lost),
            "cross_space_leaks": len(self.leaks),
            "recovery_p50_s": round(statistics.median(recovery), 3) if recovery else None,
            "recovery_max_s": round(recovery[-1], 3) if recovery else None,
        }


def _workers(url: str) -> list[dict]:
    return requests.get(f"{url}/health", timeout=10).json()["workers"]


def run_crash_loop(url: str, kills: int, spaces: int = 20, writers: int = 5, seed: int = 1) -> CrashReport:
    """Run the loop against the server at ``url`` (its workers are killed; the server must restart them)."""
    rng = random.Random(seed)
    names = [f"crash-{i:02d}" for i in range(spaces)]
    load = Writers(url, names, writers, lifecycle_spaces=[f"crash-life-{i}" for i in range(LIFECYCLE_SPACES)])
    report = CrashReport(kills, spaces, 0)
    load.start()
    try:
        for _ in range(kills):
            target = load.total() + rng.randint(5, 60)  # a random moment: after 5 to 60 more acknowledged writes
            wait_until(lambda target=target: load.total() >= target, timeout_s=60, message="writes between kills")
            victim = rng.choice([w for w in _workers(url) if w["ready"]])
            os.kill(victim["pid"], signal.SIGKILL)
            killed_at = time.monotonic()

            def replaced(victim=victim) -> bool:
                current = {w["id"]: w for w in _workers(url)}[victim["id"]]
                return current["pid"] != victim["pid"] and current["ready"]

            wait_until(replaced, timeout_s=RECOVERY_TIMEOUT_S, interval_s=0.02, message="replacement worker ready")
            report.recovery_s.append(time.monotonic() - killed_at)
            load.pause()
            findings, leaks = check_spaces(url, load.spaces, load.since(0.0), excused=set(report.lost))
            load.resume()
            report.lost += [finding.key for finding in findings]  # each once: later checks excuse it
            report.leaks += leaks
    finally:
        load.stop()
    report.acknowledged = load.total()
    report.acknowledged_by_kind = load.by_kind()
    report.unacknowledged = load.unacknowledged()
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=50)
    parser.add_argument("--spaces", type=int, default=20)
    parser.add_argument("--writers", type=int, default=5)
    parser.add_argument("--workers", type=int, default=default_worker_count())
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", default="bench/results/crash_loop.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="engram-crash-") as data, RunningServer(Path(data), args.workers) as server:
        started = time.monotonic()
        report = run_crash_loop(server.url, args.kills, args.spaces, args.writers, args.seed)
        elapsed = time.monotonic() - started
    summary = {**report.summary(), "seconds": round(elapsed, 1), "workers": args.workers}
    publish(summary, report.recovery_s, report.lost, report.leaks, args.out)
    return 1 if report.lost or report.leaks else 0


if __name__ == "__main__":
    sys.exit(main())
