"""Power cuts: the machine loses everything that had not reached the disk, and every acknowledged write must still be
there afterwards.

    python bench/power_cut.py [--cuts 10] [--spaces 8] [--writers 4] [--seed 1] [--durability fsync|interval|none]
                              [--out bench/results/power_cut.json]

The data root lives on an ext4 filesystem on a loop device, whose backing file stands for the disk. A cut freezes
every process of the server (SIGSTOP), copies the backing file as it is at that moment and kills the server. The
copy holds what had been submitted to the block device and nothing else: a write the kernel still held in its page
cache, which a killed process's writes survive but a power loss does not, is missing from it, while everything an
``fdatasync`` or a ``sync_file_range`` waited for is there. Each round mounts the last copy (ext4 replays its
journal), starts a server on it (which recovers every space it opens), checks that every write acknowledged before
any cut so far is as it left the space (a remembered or replaced memory there at its version, a deleted one gone:
bench/promises.py; two more spaces are created, written and deleted over and over, and must exist or not as their
last acknowledged create or delete left them, never showing an earlier incarnation's memories) and that no space
holds another's, writes for a random number of acknowledgements, and
cuts again. Seeded: a failing run replays with the same ``--seed``.

What it does not model: a disk whose volatile cache drops writes it received but was never asked to flush (the
backing file keeps every write it got), and torn sectors. So it checks that the syncs before an acknowledgement
submit and wait for everything that acknowledgement depends on: the records, the allocation and size of the zeros
a log writes ahead (workers/wal.py), new segments' and spaces' directory entries, snapshots and their renames. Not
that the disk honours the cache flushes (docs/durability.md).

``--durability none`` runs the same rounds with spaces that acknowledge before any sync: the cuts must then lose
writes, which shows the harness can see a loss (tests/live/test_power_cut.py checks both). ``--durability
interval`` acknowledges at once and syncs within ``durability_interval_ms`` (50) of the write: a cut may take only
writes acknowledged in about that last interval, so each lost write's acknowledgement is timed against the cut
(``lost_ack_age_max_ms``), and one older than the interval plus ``INTERVAL_SLACK_MS`` fails the run.

Needs root (``losetup``, ``mount``) and ``mkfs.ext4``; where they are missing it says so, writes that reason as its
result and exits 77. Not 2: that is argparse's exit for a wrong command line, which must count as a failure.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import signal
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.loop_disk import loop_disks_available, make_disk, mounted, run_checked  # noqa: E402
from bench.promises import Outcome, acknowledged_by_kind  # noqa: E402
from bench.writers import Writers, check_spaces, publish  # noqa: E402
from engram.protocol import SpacePolicy  # noqa: E402
from engram.testing import RunningServer, wait_until  # noqa: E402

IMAGE_BYTES = 512 * 1024 * 1024  # sparse: only the blocks written take room
SNAPSHOT_WAL_BYTES = 64 * 1024  # small, so that snapshots and log truncations fall between the cuts
ACKS_BETWEEN_CUTS = (50, 800)
SNAPSHOT_WAIT_S = 5.0  # a cut timed to a snapshot waits this long for one, then cuts anyway
SNAPSHOT_POLL_S = 0.0005
SNAPSHOT_DELAY_MAX_S = 0.03  # a found snapshot is cut up to this far into its writing (they take 15-50 ms)
LIFECYCLE_SPACES = 2  # spaces created, written and deleted over and over beside the others (bench/writers.py)
WRITES_TIMEOUT_S = 60.0
INTERVAL_SLACK_MS = 100.0  # beyond the interval: the loop pass that finds the sync due, and the sync itself
NO_CUT_AFTER = -0.001  # the age of a loss an answer showed with no cut since its acknowledgement (fails any mode)
UNAVAILABLE_EXIT = 77  # no loop-device filesystem: bench/evidence.py reports the piece as not run, not failed


@dataclass
class CutReport:
    cuts: int
    spaces: int
    durability: str
    acknowledged: int = 0
    unacknowledged: int = 0
    lost: list[str] = field(default_factory=list)  # "cut N: space/id (kind)": acknowledged, lost (bench/promises.py)
    leaks: list[str] = field(default_factory=list)  # "space/id" found in a space that did not write it
    recovery_s: list[float] = field(default_factory=list)  # server start on the cut disk until it serves
    snapshots: list[int] = field(default_factory=list)  # snapshot directories on each cut disk, before recovery
    # (a space keeps its two newest, so one snapshot may be counted on several cut disks)
    timed_to_snapshots: int = 0  # cuts that waited for a snapshot being written, and found one
    during_snapshots: int = 0  # of those, the cuts that stopped its writer before it finished
    half_written_snapshots: int = 0  # unfinished snapshot directories on the cut disks, before recovery
    lost_ack_age_ms: list[float] = field(default_factory=list)  # each lost write: acknowledged this long before the cut
    acknowledged_by_kind: dict[str, int] = field(default_factory=dict)  # remember, replace, delete, space ops

    def summary(self) -> dict:
        recovery = sorted(self.recovery_s)
        return {
            "cuts": self.cuts,
            "spaces": self.spaces,
            "durability": self.durability,
            "acknowledged_writes": self.acknowledged,
            "acknowledged_by_kind": self.acknowledged_by_kind,
            "unacknowledged_writes": self.unacknowledged,
            "lost_writes": len(self.lost),
            "cross_space_leaks": len(self.leaks),
            "recovery_p50_s": round(recovery[len(recovery) // 2], 3) if recovery else None,
            "recovery_max_s": round(recovery[-1], 3) if recovery else None,
            "snapshots_on_cut_disks": sum(self.snapshots),
            "cuts_timed_to_snapshots": self.timed_to_snapshots,
            "cuts_during_snapshots": self.during_snapshots,
            "half_written_snapshots": self.half_written_snapshots,
            "lost_ack_age_max_ms": round(max(self.lost_ack_age_ms), 1) if self.lost_ack_age_ms else None,
            "lost_ack_age_bound_ms": self.age_bound_ms(),
        }

    def holds_its_promise(self) -> bool:
        """fsync: nothing lost; interval: only writes acknowledged within the interval (and slack) of a cut; none:
        something lost (the harness saw the loss). Never a write in another space."""
        if self.leaks:
            return False
        if self.durability == "fsync":
            return not self.lost
        if self.durability == "interval":
            return all(0 <= age <= self.age_bound_ms() for age in self.lost_ack_age_ms)
        return bool(self.lost)

    def age_bound_ms(self) -> float | None:
        """How long before a cut a lost write may have been acknowledged: 0 for fsync spaces, the interval plus
        ``INTERVAL_SLACK_MS`` for interval spaces, no bound (None) for spaces that never sync."""
        if self.durability == "interval":
            return SpacePolicy().durability_interval_ms + INTERVAL_SLACK_MS
        return 0.0 if self.durability == "fsync" else None


def run_power_cuts(
    cuts: int,
    spaces: int = 8,
    writers: int = 4,
    seed: int = 1,
    durability: str = "fsync",
    workers: int = 1,
    snapshot_share: float = 0.5,
) -> CutReport:
    """``cuts`` rounds of write, cut, remount and check (module docstring)."""
    rng = random.Random(seed)
    names = [f"cut-{i:02d}" for i in range(spaces)]
    lifecycle = [f"cut-life-{i}" for i in range(LIFECYCLE_SPACES)]
    report = CutReport(cuts, spaces, durability)
    reported: set[str] = set()  # "space/id" found lost already
    history: list[Outcome] = []  # every write of every round, all answered before the cut that ended its round
    cut_times: list[float] = []  # the writers' clock at each cut
    with tempfile.TemporaryDirectory(prefix="engram-cut-") as scratch:
        work = Path(scratch)
        mount_point = work / "mnt"
        mount_point.mkdir()
        config = work / "engram.toml"
        config.write_text(
            f'default_durability = "{durability}"\nsnapshot_wal_bytes = {SNAPSHOT_WAL_BYTES}\n'
            "snapshot_growth_ratio = 0\n"
        )
        disk = work / "disk-0.img"
        make_disk(disk, IMAGE_BYTES)
        for cut in range(cuts + 1):  # the last round only recovers and checks
            with mounted(disk, mount_point):
                if cut > 0:
                    report.snapshots.append(len(list(mount_point.glob("data/*/hot/snapshot-*"))))
                    report.half_written_snapshots += len(list(mount_point.glob("data/*/hot/.snapshot-*.tmp")))
                server = RunningServer(mount_point / "data", workers, extra_args=["--config", str(config)])
                started = time.monotonic()
                server.start()
                try:
                    if cut > 0:
                        report.recovery_s.append(time.monotonic() - started)
                    findings, leaks = check_spaces(server.url, names + lifecycle, history, excused=reported)
                    for finding in findings:  # counted once, in the round that found it lost
                        reported.add(finding.key)
                        report.lost.append(f"cut {cut}: {finding.key} ({finding.kind})")
                        cut_after = next((t for t in cut_times if t >= finding.acknowledged_at), None)
                        age_s = NO_CUT_AFTER if cut_after is None else cut_after - finding.acknowledged_at
                        report.lost_ack_age_ms.append(round(age_s * 1000.0, 1))
                    report.leaks += [f"cut {cut}: {item}" for item in leaks]
                    if cut == cuts:
                        break
                    at_snapshot = rng.random() < snapshot_share
                    disk, timed, during = _write_and_cut(
                        server, names, lifecycle, writers, rng, cut, history, cut_times, work, at_snapshot
                    )
                    report.timed_to_snapshots += timed
                    report.during_snapshots += during
                finally:
                    server.kill()
            if cut < cuts:
                (work / f"disk-{cut}.img").unlink()
    report.acknowledged = sum(1 for outcome in history if outcome.acknowledged)
    report.acknowledged_by_kind = acknowledged_by_kind(history)
    report.unacknowledged = len(history) - report.acknowledged
    return report


def _write_and_cut(
    server: RunningServer,
    names: list[str],
    lifecycle: list[str],
    writers: int,
    rng: random.Random,
    cut: int,
    history: list[Outcome],
    cut_times: list[float],
    work: Path,
    at_snapshot: bool,
) -> tuple[Path, bool, bool]:
    """Write until a random number of acknowledgements (then, ``at_snapshot``, until a snapshot is being written,
    for at most ``SNAPSHOT_WAIT_S``), freeze the server, copy the disk; returns the copy, whether the cut was timed to
    a snapshot's writer, and whether that writer had not finished when it was stopped."""
    load = Writers(server.url, names, writers, id_prefix=f"c{cut}-", lifecycle_spaces=lifecycle)
    target = rng.randint(*ACKS_BETWEEN_CUTS)
    workers = [worker["pid"] for worker in requests.get(f"{server.url}/health", timeout=10).json()["workers"]]
    load.start()
    try:
        wait_until(lambda: load.total() >= target, timeout_s=WRITES_TIMEOUT_S, message="writes before the cut")
        writing = _snapshot_child(workers) if at_snapshot else None
        if writing is not None:  # somewhere into its writes (or just after them), then stopped first
            time.sleep(rng.uniform(0.0, SNAPSHOT_DELAY_MAX_S))
            with contextlib.suppress(OSError):
                os.kill(writing, signal.SIGSTOP)
        server.freeze()
        mid_snapshot = writing is not None and _running(writing)
        cut_times.append(time.monotonic())  # the writers' clock: no answer comes after this
        copy = work / f"disk-{cut + 1}.img"
        run_checked("cp", "--sparse=always", str(work / f"disk-{cut}.img"), str(copy))  # the cut: the disk as it is now
        server.kill()
    finally:
        load.stop()
    history += load.since(0.0)  # every answer came before the freeze
    return copy, writing is not None, mid_snapshot


def _snapshot_child(workers: list[int]) -> int | None:
    """The pid of a snapshot being written by one of ``workers`` (their only child processes are the snapshots'
    writers: workers/background_snapshot.py), waited for up to ``SNAPSHOT_WAIT_S``; None if none came. A child that
    has exited stays listed until its worker reaps it (once a second): it is skipped."""
    deadline = time.monotonic() + SNAPSHOT_WAIT_S
    while time.monotonic() < deadline:
        for worker in workers:
            with contextlib.suppress(OSError):
                for child in Path(f"/proc/{worker}/task/{worker}/children").read_text().split():
                    if _running(int(child)):
                        return int(child)
        time.sleep(SNAPSHOT_POLL_S)
    return None


def _running(pid: int) -> bool:
    """Whether ``pid`` is alive and has not exited (a zombie waiting to be reaped has)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] not in "ZX"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cuts", type=int, default=10)
    parser.add_argument("--spaces", type=int, default=8)
    parser.add_argument("--writers", type=int, default=4)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--durability", choices=("fsync", "interval", "none"), default="fsync")
    parser.add_argument(
        "--snapshot-share", type=float, default=0.5, help="share of the cuts timed to a snapshot being written"
    )
    parser.add_argument("--out", default="bench/results/power_cut.json")
    args = parser.parse_args(argv)
    why_not = loop_disks_available()
    if why_not is not None:
        why_not = f"power cuts need a loop-device filesystem (root, losetup, mount, mkfs.ext4): {why_not}"
        print(why_not)
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps({"unavailable": why_not}))  # the report says why it was not run
        return UNAVAILABLE_EXIT
    started = time.monotonic()
    report = run_power_cuts(
        args.cuts, args.spaces, args.writers, args.seed, args.durability, args.workers, args.snapshot_share
    )
    summary = {**report.summary(), "seconds": round(time.monotonic() - started, 1), "seed": args.seed}
    publish(summary, report.recovery_s, report.lost, report.leaks, args.out)
    return 0 if report.holds_its_promise() else 1


if __name__ == "__main__":
    sys.exit(main())
