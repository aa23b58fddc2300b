"""``python -m workers.builder --endpoint ENDPOINT``: the index-builder process, started and supervised by the router.

Why a process of its own: pynndescent's build holds the GIL for seconds to minutes, so inside a worker it would
stall every request of every space that worker owns. Here it runs beside the workers, niced and on one numba
thread, so serving keeps a core (measured: a 2-thread build next to a serving process multiplied its exact-scan
p99 by 20). One builder serves all workers and builds one segment at a time, which also bounds the memory a build
needs (about 2.6x the raw vectors on top of them).

Protocol (ZeroMQ, ROUTER here, one DEALER per worker): a worker sends a ``BuildJob`` after writing the job's
input files into the space's ``hot/`` directory; the builder writes the segment's index there (atomically) and
replies ``BuildDone``. A seal's input is ``<name>.vectors.npy`` and ``<name>.serials.npy``; a merge's is
``<name>.serials.npy`` (the live serials to keep) plus the files of the ``sources`` segments, from which the
builder gathers the vectors itself, so the worker never has to write a large merge out.

Numba is warmed lazily: the first job of the process imports pynndescent and compiles its build code (tens of
seconds, numba cannot cache it across processes), so a server that never builds never pays for it. ``prepare()``
runs before pickling, which puts the search function in numba's on-disk cache for the workers.
"""

from __future__ import annotations

import argparse
import ctypes
import logging
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path

import msgspec
import numpy as np
import zmq

from engram.logs import setup_logging
from workers.segments import Searcher, build_index, save_array, save_index, segment_files

log = logging.getLogger("workers.builder")  # not __main__ when run with -m

BUILDER_NICENESS = 10
POLL_INTERVAL_MS = 200
_PR_SET_PDEATHSIG = 1


class BuildJob(msgspec.Struct, tag="build"):
    """Build segment ``name`` in ``hot_dir``: from its own vectors file (a seal), or from the vectors of the
    ``sources`` segments whose serials are listed in its serials file (a merge)."""

    job_id: int
    hot_dir: str
    name: str
    sources: list[str] = []


class BuildDone(msgspec.Struct):
    job_id: int
    hot_dir: str
    name: str
    ok: bool
    error: str = ""
    rows: int = 0
    build_s: float = 0.0


JOB_ENCODER = msgspec.msgpack.Encoder()
JOB_DECODER = msgspec.msgpack.Decoder(BuildJob)
DONE_DECODER = msgspec.msgpack.Decoder(BuildDone)


def execute(job: BuildJob, make_index: Callable[[np.ndarray], Searcher] = build_index) -> BuildDone:
    """Run one job; failures are reported in the reply (the worker keeps searching those memories exactly)."""
    started = time.monotonic()
    hot_dir = Path(job.hot_dir)
    files = segment_files(hot_dir, job.name)
    try:
        serials = np.load(files.serials)
        if job.sources:
            vectors = gather(hot_dir, job.sources, serials)
            save_array(files.vectors, vectors)
        else:
            vectors = np.load(files.vectors)
        if len(vectors) != len(serials):
            raise ValueError(f"{len(vectors)} vectors for {len(serials)} serials")
        save_index(files.index, make_index(vectors))
    except Exception as exc:  # noqa: BLE001 - one bad job must not stop the builder for every other space
        log.exception("building segment %s in %s failed", job.name, hot_dir)
        return BuildDone(job.job_id, job.hot_dir, job.name, False, error=f"{type(exc).__name__}: {exc}")
    elapsed = time.monotonic() - started
    log.info("built segment %s (%d vectors%s) in %.2f s", job.name, len(serials),
             f", merged from {len(job.sources)}" if job.sources else "", elapsed)  # fmt: skip
    return BuildDone(job.job_id, job.hot_dir, job.name, True, rows=len(serials), build_s=elapsed)


def gather(hot_dir: Path, sources: list[str], serials: np.ndarray) -> np.ndarray:
    """The vectors of ``serials`` (sorted) from the source segments' vector files, memory-mapped."""
    vectors: np.ndarray | None = None
    found = np.zeros(len(serials), dtype=bool)
    for name in sources:
        files = segment_files(hot_dir, name)
        source_serials = np.load(files.serials)
        source_vectors = np.load(files.vectors, mmap_mode="r")
        if vectors is None:
            vectors = np.empty((len(serials), source_vectors.shape[1]), dtype=np.float32)
        positions = np.minimum(np.searchsorted(source_serials, serials), len(source_serials) - 1)
        hit = source_serials[positions] == serials
        vectors[hit] = source_vectors[positions[hit]]
        found |= hit
    if vectors is None or not found.all():
        raise ValueError(f"{np.count_nonzero(~found)} of {len(serials)} serials are in no source segment")
    return vectors


class Builder:
    """The builder's loop: one job at a time, in arrival order."""

    def __init__(self, endpoint: str) -> None:
        self._endpoint = endpoint
        self._stopping = False

    def run(self) -> None:
        parent = os.getppid()
        _die_with_parent()
        signal.signal(signal.SIGTERM, self._request_stop)
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the router stops us in order
        context = zmq.Context()
        socket = context.socket(zmq.ROUTER)
        socket.setsockopt(zmq.LINGER, 1000)
        socket.bind(self._endpoint)
        log.info("index builder listening on %s (pid %d)", self._endpoint, os.getpid())
        try:
            while not self._stopping:
                if not socket.poll(POLL_INTERVAL_MS):
                    if os.getppid() != parent:
                        log.error("router (pid %d) is gone; stopping", parent)
                        break
                    continue
                identity, payload = socket.recv_multipart()
                try:
                    job = JOB_DECODER.decode(payload)
                except msgspec.DecodeError as exc:
                    log.error("ignoring a malformed build job: %s", exc)
                    continue
                # While building, SIGTERM kills at once (its default action): numba's compiled code would not
                # run our handler until the build returns, and every file is written atomically anyway.
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                done = execute(job)
                signal.signal(signal.SIGTERM, self._request_stop)
                socket.send_multipart([identity, JOB_ENCODER.encode(done)])
        finally:
            socket.close()
            context.term()

    def _request_stop(self, _signum: int, _frame: object) -> None:
        self._stopping = True


def _die_with_parent() -> None:
    """SIGTERM this process when the router dies, so no orphan builder keeps running."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        log.warning("prctl(PR_SET_PDEATHSIG) unavailable; an orphaned builder exits at its next parent check")


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m workers.builder")
    parser.add_argument("--endpoint", required=True, help="ZeroMQ endpoint to bind, e.g. tcp://127.0.0.1:7500")
    args = parser.parse_args()
    setup_logging("builder")
    os.nice(BUILDER_NICENESS)  # builds yield the CPU to the workers serving requests
    Builder(args.endpoint).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
