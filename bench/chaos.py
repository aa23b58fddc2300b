"""Crash and fault harness: inject faults into a live server under writes to many spaces, and after each one check
that every acknowledged write is there, no space shows another's data, and the other spaces kept answering.

    python bench/chaos.py [--faults 24] [--kinds worker,router,...] [--spaces 20] [--writers 4] [--seed 1]
                          [--out bench/results/chaos.json]

Faults (bench/chaos_faults.py), each at a random moment (after 5 to 60 more acknowledged writes):
``worker``, ``router`` and ``http_worker`` SIGKILL that process (the router, the supervisor and gunicorn's master
replace them); ``wal_tail`` stops the server, appends garbage to or flips a byte of one space's newest log segment,
and starts it again; ``enospc`` / ``eio_write`` / ``enospc_fsync`` / ``eio_fsync`` make one space's log writes or
fsyncs fail through the workers' test-only hook (workers/faults.py, ENGRAM_FAULTS_FILE) for a while;
``disk_full`` (root, with a loop device; else reported as skipped) fills the real filesystem under the last space's
directory, which the harness put on a small disk of its own, until its writes fail, then empties it.

Writers (bench/writers.py) remember, replace and delete memories over REST, with content that names their space,
and log every answer with its send and receive times. A 2xx is an acknowledged write; anything else may or may not
be stored. Checks after each fault, with the writers paused:
- lost: an acknowledged write that the space no longer shows as it left it: a remembered or replaced memory
  missing or at an older version, a deleted one back (bench/promises.py). A ``flip`` destroys the last record of a
  segment on purpose; the id it held is reported as ``destroyed`` instead (recovery must drop exactly that record,
  nothing before it). Each loss is reported once, at the first check that finds it.
- leaks: a memory listed in space S whose content does not start with "S " (another space's data).
- I/O faults: writes to the faulted space sent after its first error reply and answered before the fault was
  lifted must all be errors (``acked_under_fault`` must be 0: an fsync error never acknowledges a write); the other
  spaces' errors and p99 latency during the fault are recorded (``others_errors``, ``others_p99_ms``).

Seeded: the same ``--seed`` replays the same faults, victims and moments (counted in acknowledged writes).
tests/live/test_chaos.py runs one fault of each kind; the evidence suite runs the crash loop (bench/crash_loop.py), not
this harness.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path

import msgspec

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import chaos_faults as cf  # noqa: E402
from bench.loop_disk import loop_disks_available, make_disk, mounted  # noqa: E402
from bench.promises import Outcome  # noqa: E402
from bench.writers import Writers, check_spaces, stored  # noqa: E402
from engram.config import default_worker_count  # noqa: E402
from engram.testing import RunningServer, wait_until  # noqa: E402
from workers.faults import FAULTS_FILE_ENV  # noqa: E402

IO_FAULT_SEEN_TIMEOUT_S = 15.0  # the hook re-reads its file at most once a second
IO_FAULT_HOLD_S = 1.5  # how long an I/O fault stays after its first error
DISK_FULL_SEEN_TIMEOUT_S = 60.0  # a full disk shows once the space's log used the room it had written ahead


class FaultResult(msgspec.Struct):
    number: int
    kind: str
    target: str
    space: str | None = None  # the space an I/O or log fault hit
    at_acknowledged: int = 0
    recovery_s: float = 0.0
    lost: list[str] = []
    leaks: list[str] = []
    destroyed: list[str] = []  # acknowledged ids a "flip" corruption destroyed on purpose
    detected: bool | None = None  # wal_tail: recovery kept a forensic copy of what it dropped
    faulted_errors: int = 0  # I/O faults: error answers for the faulted space during the fault
    faulted_codes: dict[str, int] = {}
    acked_under_fault: int = 0  # I/O faults: acknowledgements the faulted space must not have given
    others_requests: int = 0  # writes to other spaces sent during the fault (until recovery)
    others_errors: int = 0
    others_p99_ms: float | None = None


class ChaosReport(msgspec.Struct):
    seed: int
    spaces: int
    workers: int
    kinds: list[str]
    faults: list[FaultResult] = []
    skipped_kinds: list[str] = []  # kinds this target cannot take (a bare URL only allows worker kills)
    skipped_why: dict[str, str] = {}
    acknowledged: int = 0
    acknowledged_by_kind: dict[str, int] = {}  # remember, replace, delete
    unacknowledged: int = 0
    baseline_p99_ms: float | None = None
    seconds: float = 0.0

    @property
    def lost(self) -> list[str]:
        return [item for fault in self.faults for item in fault.lost]

    @property
    def leaks(self) -> list[str]:
        return [item for fault in self.faults for item in fault.leaks]

    def summary(self) -> dict:
        io = [f for f in self.faults if f.kind in cf.IO_KINDS]
        storage = [f for f in self.faults if f.kind in cf.STORAGE_KINDS]
        return {
            "seed": self.seed,
            "faults_injected": len(self.faults),
            "by_kind": dict(Counter(f.kind for f in self.faults)),
            "acknowledged_writes": self.acknowledged,
            "acknowledged_by_kind": self.acknowledged_by_kind,
            "unacknowledged_writes": self.unacknowledged,
            "lost_writes": len(self.lost),
            "cross_space_leaks": len(self.leaks),
            "destroyed_by_flips": sum(len(f.destroyed) for f in self.faults),
            "acked_under_io_fault": sum(f.acked_under_fault for f in io),
            "io_fault_errors_faulted_space": sum(f.faulted_errors for f in storage),
            "io_fault_errors_other_spaces": sum(f.others_errors for f in storage),
            "recovery_max_s": round(max((f.recovery_s for f in self.faults), default=0.0), 3),
            "baseline_p99_ms": self.baseline_p99_ms,
            "seconds": self.seconds,
        }


def _p99_ms(outcomes: list[Outcome]) -> float | None:
    latencies = sorted((o.received - o.sent) * 1000.0 for o in outcomes if o.code == "OK")
    if len(latencies) < 2:
        return round(latencies[0], 1) if latencies else None
    return round(statistics.quantiles(latencies, n=100, method="inclusive")[98], 1)


def schedule(kinds: Sequence[str], count: int, rng: random.Random) -> list[str]:
    """``count`` faults in shuffled rounds of ``kinds``: every kind is injected as evenly as the count allows."""
    order: list[str] = []
    while len(order) < count:
        round_ = list(kinds)
        rng.shuffle(round_)
        order += round_
    return order[:count]


@contextlib.contextmanager
def _env(name: str, value: str) -> Iterator[None]:
    old = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = old


def space_names(spaces: int) -> list[str]:
    """The harness's spaces; the last one's directory is the one ``disk_full`` fills the disk of."""
    return [f"chaos-{i:02d}" for i in range(spaces)]


def start_chaos_server(data_dir: Path, workers: int = 2, faults_file: Path | None = None) -> RunningServer:
    """Start a server whose workers read ``faults_file`` (default: beside ``data_dir``) for injected I/O faults."""
    faults_file = faults_file or data_dir.parent / f"{data_dir.name}-faults.json"
    cf.set_io_faults(faults_file, {})
    server = RunningServer(data_dir, workers)
    with _env(FAULTS_FILE_ENV, str(faults_file)):
        return server.start()


def _faults_file_of(server: RunningServer) -> Path | None:
    for worker in cf.health_workers(server.url):
        path = cf.environ_of(worker["pid"]).get(FAULTS_FILE_ENV)
        if path:
            return Path(path)
    return None


def run_chaos(
    target: RunningServer | str | None = None,
    kills: int = 24,
    seed: int = 1,
    *,
    spaces: int = 20,
    writers: int = 4,
    kinds: Sequence[str] = cf.FAULT_KINDS,
    workers: int = 2,
    small_disk: Path | None = None,
) -> ChaosReport:
    """Inject ``kills`` faults (shuffled rounds of ``kinds``) into ``target`` under writes and check after each.

    ``target``: a RunningServer (every kind but ``disk_full``, unless ``small_disk`` is the mounted filesystem that
    holds the last space's directory; if its workers lack ENGRAM_FAULTS_FILE it is restarted once with it), a URL
    of a local server (only ``worker`` kills: the harness finds nothing else of it), or None to start and stop a
    server of its own in a temporary directory with ``workers`` workers (and, for ``disk_full``, the last space's
    directory on a small loop-device disk: root only).
    """
    names = space_names(spaces)
    if target is None:
        with tempfile.TemporaryDirectory(prefix="engram-chaos-") as scratch:
            why_not = loop_disks_available() if cf.DISK_KIND in kinds else "not asked for"
            with contextlib.ExitStack() as stack:
                disk = None if why_not else stack.enter_context(_victim_on_small_disk(Path(scratch), names[-1]))
                server = start_chaos_server(Path(scratch) / "data", workers)
                stack.callback(server.kill)
                stack.callback(server.stop)
                report = run_chaos(server, kills, seed, spaces=spaces, writers=writers, kinds=kinds, small_disk=disk)
            if why_not and cf.DISK_KIND in kinds:
                report.skipped_why[cf.DISK_KIND] = f"no loop-device filesystem for it: {why_not}"
            return report
    started = time.monotonic()
    server = target if isinstance(target, RunningServer) else None
    url = server.url if server else str(target).rstrip("/")
    usable = [k for k in kinds if (server or k == "worker") and (k != cf.DISK_KIND or small_disk is not None)]
    report = ChaosReport(seed, spaces, len(cf.health_workers(url)), usable, [], [k for k in kinds if k not in usable])
    faults_file = None
    if server and any(k in cf.IO_KINDS for k in usable):
        faults_file = _faults_file_of(server)
        if faults_file is None:  # started without the hook: restart it once with the hook on
            faults_file = server.data_dir.parent / f"{server.data_dir.name}-faults.json"
            cf.set_io_faults(faults_file, {})
            server.stop()
            with _env(FAULTS_FILE_ENV, str(faults_file)):
                server.start()
    rng = random.Random(seed)
    load = Writers(url, names, writers)
    excused: set[str] = set()  # destroyed by flips on purpose, or found lost already
    load.start()
    try:
        wait_until(lambda: load.total() >= 2 * spaces, 60, message="first writes acknowledged")
        report.baseline_p99_ms = _p99_ms(load.since(0.0))
        for number, kind in enumerate(schedule(usable, kills, rng), 1):
            target_count = load.total() + rng.randint(5, 60)
            wait_until(lambda t=target_count: load.total() >= t, 60, message="writes between faults")
            fault = _inject(number, kind, url, server, faults_file, names, load, rng, small_disk)
            excused |= {f"{fault.space}/{i}" for i in fault.destroyed}
            load.pause()
            findings, fault.leaks = check_spaces(url, names, load.since(0.0), excused)
            load.resume()
            fault.lost = [finding.key for finding in findings]
            excused |= set(fault.lost)  # each loss is reported once, at the fault after which it was found
            report.faults.append(fault)
    finally:
        load.stop()
        if faults_file is not None:
            cf.set_io_faults(faults_file, {})
    report.acknowledged = load.total()
    report.acknowledged_by_kind = load.by_kind()
    report.unacknowledged = load.unacknowledged()
    report.seconds = round(time.monotonic() - started, 1)
    return report


def _inject(
    number: int,
    kind: str,
    url: str,
    server: RunningServer | None,
    faults_file: Path | None,
    names: list[str],
    load: Writers,
    rng: random.Random,
    small_disk: Path | None = None,
) -> FaultResult:
    fault = FaultResult(number, kind, "", at_acknowledged=load.total())
    began = time.monotonic()
    if kind == "worker":
        killed = cf.kill_worker(url, rng)
    elif kind == "router":
        killed = cf.kill_router(server)  # type: ignore[arg-type]
    elif kind == "http_worker":
        killed = cf.kill_http_worker(server, rng)  # type: ignore[arg-type]
    elif kind == cf.WAL_KIND:
        return _corrupt(fault, server, faults_file, names, load, rng)  # type: ignore[arg-type]
    elif kind == cf.DISK_KIND:
        return _disk_full(fault, small_disk, names[-1], load)  # type: ignore[arg-type]
    else:
        return _io_fault(fault, url, faults_file, names, load, rng)  # type: ignore[arg-type]
    fault.target, fault.recovery_s = killed.target, round(killed.recovery_s, 3)
    during = load.since(began)
    fault.others_requests = len(during)
    fault.others_errors = sum(1 for o in during if o.code != "OK")
    fault.others_p99_ms = _p99_ms(during)
    return fault


def _corrupt(
    fault: FaultResult,
    server: RunningServer,
    faults_file: Path | None,
    names: list[str],
    load: Writers,
    rng: random.Random,
) -> FaultResult:
    """Stop the server, damage one space's log tail, start it again; then its first use replays the damage."""
    load.pause()
    began = time.monotonic()
    server.stop()
    corruption = cf.corrupt_wal_tail(server.data_dir, names, rng)
    with _env(FAULTS_FILE_ENV, str(faults_file)) if faults_file else contextlib.nullcontext():
        server.start()
    fault.recovery_s = round(time.monotonic() - began, 3)
    load.resume()
    if corruption is None:
        fault.target = "no space had a log segment yet"
        return fault
    fault.space = corruption.space
    fault.target = f"{corruption.mode} in {corruption.space}/wal/{corruption.segment}"
    fault.destroyed = corruption.destroyed_ids
    before = set(cf.dropped_files(server.data_dir, corruption.space))
    stored(server.url, corruption.space)  # opens the space: recovery cuts the damaged tail off
    fault.detected = bool(set(cf.dropped_files(server.data_dir, corruption.space)) - before)
    fault.target += " (recovery dropped it)" if fault.detected else " (NOT detected by recovery)"
    return fault


@contextlib.contextmanager
def _victim_on_small_disk(scratch: Path, victim: str) -> Iterator[Path]:
    """``scratch/data/<victim>`` made a link to a directory on a small loop-device disk of its own, mounted for
    the block; yields the mount point (where the ``disk_full`` fault's fillers go)."""
    image, mount_point = scratch / "small.img", scratch / "small"
    mount_point.mkdir()
    make_disk(image, cf.SMALL_DISK_BYTES)
    with mounted(image, mount_point):
        (mount_point / victim).mkdir()
        (scratch / "data").mkdir()
        (scratch / "data" / victim).symlink_to(mount_point / victim)
        yield mount_point


def _disk_full(fault: FaultResult, small_disk: Path, space: str, load: Writers) -> FaultResult:
    """Fill the filesystem that holds ``space``'s directory until its writes fail, hold it full for
    ``IO_FAULT_HOLD_S``, empty it, and wait until the space acknowledges again. Unlike the hook's faults, a full
    disk may still take a write that fits where the log already has room: such an acknowledgement is no fault (the
    loss check after it says whether it held), so ``acked_under_fault`` is not counted."""
    fault.space, fault.target = space, f"filled the {cf.SMALL_DISK_BYTES >> 20} MiB filesystem holding {space}"
    began = time.monotonic()
    fillers = cf.fill_disk(small_disk)
    try:

        def first_error() -> Outcome | None:
            return next((o for o in load.since(began) if o.space == space and not o.acknowledged), None)

        wait_until(lambda: first_error() is not None, DISK_FULL_SEEN_TIMEOUT_S, message=f"a full disk seen in {space}")
        seen = first_error().received  # type: ignore[union-attr]
        wait_until(lambda: time.monotonic() >= seen + IO_FAULT_HOLD_S, IO_FAULT_HOLD_S + 5, message="disk kept full")
    finally:
        cf.empty_disk(fillers)
    lifted = time.monotonic()
    return _recovered(fault, load, space, began, lifted)


def _io_fault(
    fault: FaultResult, url: str, faults_file: Path, names: list[str], load: Writers, rng: random.Random
) -> FaultResult:
    """Fail one space's log writes or fsyncs until it has answered errors for ``IO_FAULT_HOLD_S``, then lift it."""
    space = rng.choice(names)
    fault.space, fault.target = space, f"{fault.kind} in {space}"
    began = time.monotonic()
    cf.set_io_faults(faults_file, {space: fault.kind})

    def first_error() -> Outcome | None:
        return next((o for o in load.since(began) if o.space == space and o.code != "OK"), None)

    wait_until(lambda: first_error() is not None, IO_FAULT_SEEN_TIMEOUT_S, message=f"{fault.kind} seen in {space}")
    seen = first_error().received  # type: ignore[union-attr]
    wait_until(lambda: time.monotonic() >= seen + IO_FAULT_HOLD_S, IO_FAULT_HOLD_S + 5, message="fault held")
    lifted = time.monotonic()
    cf.set_io_faults(faults_file, {})
    fault = _recovered(fault, load, space, began, lifted)
    # Sent after the first error reached us, answered before the file was rewritten: the worker had the fault on
    # for the whole of such a write, so its fsync (or write) failed and it must not have been acknowledged.
    under = [o for o in load.since(seen) if o.space == space and o.sent > seen and o.received < lifted]
    fault.acked_under_fault = sum(1 for o in under if o.code == "OK")
    return fault


def _recovered(fault: FaultResult, load: Writers, space: str, began: float, lifted: float) -> FaultResult:
    """Wait until ``space`` acknowledges a write sent after ``lifted``; then record the fault's recovery time, the
    space's errors, and the other spaces' errors and p99 from ``began`` to the recovery."""

    def acknowledged_again() -> bool:
        return any(o.space == space and o.code == "OK" for o in load.since(lifted))

    wait_until(acknowledged_again, IO_FAULT_SEEN_TIMEOUT_S, message=f"{space} acknowledging again")
    recovered = time.monotonic()
    fault.recovery_s = round(recovered - lifted, 3)
    during = [o for o in load.since(began) if o.sent < recovered]
    mine = [o for o in during if o.space == space]
    fault.faulted_errors = sum(1 for o in mine if o.code != "OK")
    fault.faulted_codes = dict(Counter(o.code for o in mine if o.code != "OK"))
    others = [o for o in during if o.space != space]
    fault.others_requests = len(others)
    fault.others_errors = sum(1 for o in others if o.code != "OK")
    fault.others_p99_ms = _p99_ms(others)
    return fault


def print_table(report: ChaosReport) -> None:
    print("| # | fault | target | recovery s | lost | leaks | destroyed | faulted errors | acked under fault |"
          " others errors/requests | others p99 ms |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for f in report.faults:
        storage, io = f.kind in cf.STORAGE_KINDS, f.kind in cf.IO_KINDS
        print(
            f"| {f.number} | {f.kind} | {f.target} | {f.recovery_s} | {len(f.lost)} | {len(f.leaks)} | "
            f"{len(f.destroyed)} | {f.faulted_errors if storage else '-'} | {f.acked_under_fault if io else '-'} | "
            f"{f.others_errors}/{f.others_requests} | {f.others_p99_ms} |"
        )
    print()
    print("| figure | value |\n|---|---|")
    for key, value in report.summary().items():
        print(f"| {key} | {value} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--faults", type=int, default=24, help="faults to inject (shuffled rounds of --kinds)")
    parser.add_argument("--kinds", default=",".join(cf.FAULT_KINDS), help="comma-separated fault kinds")
    parser.add_argument("--spaces", type=int, default=20)
    parser.add_argument("--writers", type=int, default=4)
    parser.add_argument("--workers", type=int, default=default_worker_count())
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", default="bench/results/chaos.json")
    args = parser.parse_args()
    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    unknown = set(kinds) - set(cf.FAULT_KINDS)
    if unknown:
        parser.error(f"unknown fault kinds {sorted(unknown)}; choose from {', '.join(cf.FAULT_KINDS)}")
    report = run_chaos(
        None, args.faults, args.seed, spaces=args.spaces, writers=args.writers, kinds=kinds, workers=args.workers
    )
    print_table(report)
    failed = report.lost or report.leaks or any(f.acked_under_fault for f in report.faults)
    if failed:
        print("LOST:", report.lost[:20], "LEAKS:", report.leaks[:20])
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_bytes(
        msgspec.json.format(msgspec.json.encode({"summary": report.summary(), "report": report}), indent=2)
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
