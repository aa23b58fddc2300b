"""Compaction: when to seal, merge, rebuild or dissolve segments, what the builder makes of a job, and the worker's
client of the builder (jobs out, segments in, lost jobs planned again) over real ZeroMQ sockets.

The builder here is a thread running the real ``execute`` with the exact stand-in index of tests/unit/test_index.py.
"""

from __future__ import annotations

import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import zmq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engram.testing import free_port, wait_until
from tests.unit.test_index import DIM, NOW, SEAL_ROWS, ExactIndex, assert_exact, compact, remember
from workers.builder import DONE_DECODER, JOB_DECODER, JOB_ENCODER, BuildJob, execute
from workers.compaction import Compactor, _NothingDue, plan, prepare
from workers.segments import segment_files
from workers.space import Space


@pytest.fixture
def space(tmp_path: Path) -> Iterator[Space]:
    opened, _ = Space.open(tmp_path, "alpha", DIM, NOW)
    yield opened
    opened.close()


def test_the_buffer_is_sealed_once_it_holds_seal_rows_live_memories(space: Space) -> None:
    remember(space, 0, SEAL_ROWS - 1, seed=1)
    assert plan(space.index, SEAL_ROWS) is None
    remember(space, SEAL_ROWS, 1, seed=2)
    chosen = plan(space.index, SEAL_ROWS)
    assert chosen is not None and chosen.sources == []


def test_four_segments_of_a_tier_are_merged_into_one(space: Space) -> None:
    for batch in range(3):
        remember(space, batch * SEAL_ROWS, SEAL_ROWS, seed=batch)
        compact(space)
    assert space.index.segment_count == 3  # three of a tier wait for a fourth
    remember(space, 3 * SEAL_ROWS, SEAL_ROWS, seed=3)
    assert compact(space) == 2  # the seal, then the merge
    assert space.index.segment_count == 1
    assert space.index.segments[0].size == 4 * SEAL_ROWS
    assert_exact(space)


def test_a_merge_drops_deleted_memories_and_keeps_the_right_vectors(tmp_path: Path, space: Space) -> None:
    for batch in range(3):
        remember(space, batch * SEAL_ROWS, SEAL_ROWS, seed=batch)
        assert compact(space) == 1
        space.delete(f"m{batch * SEAL_ROWS}", NOW)  # one dead row in each of the first three segments
    remember(space, 3 * SEAL_ROWS, SEAL_ROWS, seed=3)
    space.delete(f"m{3 * SEAL_ROWS}", NOW)
    remember(space, 4 * SEAL_ROWS, 1, seed=4)
    assert compact(space) == 2  # seal the fourth, then merge all four
    (merged,) = space.index.segments
    assert merged.size == 4 * (SEAL_ROWS - 1) + 1
    hot = tmp_path / "alpha" / "hot"
    files = segment_files(hot, merged.name)
    c = space._columns
    rows = [c.row_of[f"m{i}"] for i in range(4 * SEAL_ROWS + 1) if i % SEAL_ROWS or i == 4 * SEAL_ROWS]
    np.testing.assert_array_equal(np.load(files.serials), c.serials[rows])
    np.testing.assert_array_equal(np.load(files.vectors), c.units[rows])
    assert sorted(p.name.split(".")[0] for p in hot.glob("seg-*")) == [merged.name] * 3  # sources' files removed


def test_a_large_mostly_deleted_segment_is_rebuilt_alone(space: Space) -> None:
    remember(space, 0, 4 * SEAL_ROWS, seed=1)
    compact(space)
    (segment,) = space.index.segments
    for i in range(0, 4 * SEAL_ROWS, 3):
        space.delete(f"m{i}", NOW)
    for i in range(1, 4 * SEAL_ROWS, 3):
        space.delete(f"m{i}", NOW)
    chosen = plan(space.index, SEAL_ROWS)
    assert chosen is not None and chosen.sources == [segment]
    compact(space)
    assert space.index.segments[0].size == space.count
    assert_exact(space)


def test_a_failed_build_is_reported_not_raised(tmp_path: Path) -> None:
    done = execute(BuildJob(7, str(tmp_path), "seg-000001-abcdef"), ExactIndex)
    assert (done.job_id, done.ok) == (7, False)
    assert "No such file" in done.error


class FakeBuilder:
    """A thread with the builder's ROUTER socket; it runs jobs with the exact index unless told to hold them."""

    def __init__(self, context: zmq.Context, endpoint: str, answer: bool = True) -> None:
        self.socket = context.socket(zmq.ROUTER)
        self.socket.setsockopt(zmq.LINGER, 0)
        wait_until(lambda: _bound(self.socket, endpoint), timeout_s=5, message=f"bind {endpoint}")
        self.answer = answer
        self.received: list[BuildJob] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            if self.socket.poll(20):
                identity, payload = self.socket.recv_multipart()
                job = JOB_DECODER.decode(payload)
                self.received.append(job)
                if self.answer:
                    self.socket.send_multipart([identity, JOB_ENCODER.encode(execute(job, ExactIndex))])

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.socket.close()


def _bound(socket: zmq.Socket, endpoint: str) -> bool:
    """Bind, or False while a socket closed a moment ago still holds the port (ZeroMQ closes asynchronously)."""
    try:
        socket.bind(endpoint)
    except zmq.ZMQError:
        return False
    return True


@pytest.fixture
def context() -> Iterator[zmq.Context]:
    ctx = zmq.Context()
    yield ctx
    ctx.destroy(linger=0)  # a socket a failed test left open must not block teardown


def test_the_compactor_sends_a_seal_and_swaps_the_segment_in(context: zmq.Context, space: Space) -> None:
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    builder = FakeBuilder(context, endpoint)
    compactor = Compactor(context, endpoint, SEAL_ROWS)
    try:
        remember(space, 0, SEAL_ROWS + 5, seed=1)
        spaces = {"alpha": space}
        compactor.tick(spaces, touched=spaces)  # the worker loop names the spaces its requests used
        wait_until(lambda: compactor.tick(spaces) or space.index.segment_count == 1, message="segment installed")
        assert space.index.buffer_count() == 0
        assert_exact(space)
    finally:
        compactor.close()
        builder.close()


def test_only_spaces_touched_since_the_last_check_are_planned(context: zmq.Context, space: Space) -> None:
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    builder = FakeBuilder(context, endpoint, answer=False)
    compactor = Compactor(context, endpoint, SEAL_ROWS)
    try:
        remember(space, 0, SEAL_ROWS, seed=1)  # a seal is due
        spaces = {"alpha": space}
        compactor.tick(spaces)
        assert compactor._in_flight == {}  # no request used it since: not looked at
        compactor._next_check = 0.0  # the next check is due now
        compactor.tick(spaces, touched=["alpha"])
        assert [flight.space_id for flight in compactor._in_flight.values()] == ["alpha"]  # sent at once
        wait_until(lambda: len(builder.received) == 1, message="job received")
    finally:
        compactor.close()
        builder.close()


def test_a_result_for_a_space_reloaded_meanwhile_is_discarded(tmp_path: Path, context: zmq.Context) -> None:
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    builder = FakeBuilder(context, endpoint)
    compactor = Compactor(context, endpoint, SEAL_ROWS)
    first, _ = Space.open(tmp_path, "alpha", DIM, NOW)
    try:
        remember(first, 0, SEAL_ROWS, seed=1)
        compactor.tick({"alpha": first}, touched=["alpha"])  # sends the seal
        wait_until(lambda: len(builder.received) == 1, message="job received")
        first.close()
        reloaded, _ = Space.open(tmp_path, "alpha", DIM, NOW)
        builder.answer = False  # the reloaded space's own seal stays pending
        name = builder.received[0].name

        def stale_files_gone() -> bool:
            compactor.tick({"alpha": reloaded})
            return not list((tmp_path / "alpha" / "hot").glob(f"{name}*"))

        wait_until(stale_files_gone, message="stale segment files removed")
        assert reloaded.index.segment_count == 0
        reloaded.close()
    finally:
        compactor.close()
        builder.close()


def test_jobs_lost_with_a_restarting_builder_are_sent_again(context: zmq.Context, space: Space) -> None:
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    silent = FakeBuilder(context, endpoint, answer=False)
    compactor = Compactor(context, endpoint, SEAL_ROWS)
    try:
        remember(space, 0, SEAL_ROWS, seed=1)
        spaces = {"alpha": space}
        compactor.tick(spaces, touched=spaces)
        wait_until(lambda: compactor.tick(spaces) or len(silent.received) == 1, message="job received")
        silent.close()  # the builder dies with the job
        restarted = FakeBuilder(context, endpoint)
        try:
            wait_until(lambda: compactor.tick(spaces) or space.index.segment_count == 1, timeout_s=30,
                       message="segment built by the restarted builder")  # fmt: skip
        finally:
            restarted.close()
        assert_exact(space)
    finally:
        compactor.close()


def test_a_job_reply_round_trips_through_the_wire_format(tmp_path: Path, space: Space) -> None:
    remember(space, 0, SEAL_ROWS, seed=1)
    chosen = plan(space.index, SEAL_ROWS)
    assert chosen is not None
    job, message = prepare(space.index, chosen, 3)
    assert JOB_DECODER.decode(JOB_ENCODER.encode(message)) == message
    done = DONE_DECODER.decode(JOB_ENCODER.encode(execute(message, ExactIndex)))
    assert (done.job_id, done.name, done.ok, done.rows) == (3, job.name, True, SEAL_ROWS)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(
        st.one_of(
            st.tuples(st.just("remember"), st.integers(1, 60)),
            st.tuples(st.just("delete"), st.integers(0, 400)),
            st.tuples(st.just("compact"), st.just(0)),
        ),
        max_size=25,
    )
)
def test_a_space_the_compactor_skips_is_one_plan_would_find_nothing_to_build(tmp_path: Path, steps) -> None:
    """The compactor plans only spaces whose state may have changed what is due (a worker holds thousands); the
    skip must never hide a due seal, merge, rebuild or dissolution."""
    with tempfile.TemporaryDirectory(dir=tmp_path) as scratch:
        space, _ = Space.open(Path(scratch), "alpha", DIM, NOW)
        written = 0
        deleted: set[int] = set()
        idle = _NothingDue.of(space) if plan(space.index, SEAL_ROWS) is None else None
        for step, argument in steps:
            if step == "remember":
                remember(space, written, argument, seed=written)
                written += argument
            elif step == "delete" and argument < written and argument not in deleted:
                space.delete(f"m{argument}", NOW)
                deleted.add(argument)
            elif step == "compact":
                compact(space)
            if idle is not None and idle.still_nothing_due(space, SEAL_ROWS):
                assert plan(space.index, SEAL_ROWS) is None
            else:
                idle = _NothingDue.of(space) if plan(space.index, SEAL_ROWS) is None else None
        space.close()


def test_a_skipped_space_is_planned_again_once_rows_die_or_the_buffer_fills(space: Space) -> None:
    remember(space, 0, SEAL_ROWS - 10, seed=1)
    idle = _NothingDue.of(space)
    remember(space, SEAL_ROWS - 10, 9, seed=2)
    assert idle.still_nothing_due(space, SEAL_ROWS)  # one row short of a seal
    remember(space, SEAL_ROWS - 1, 1, seed=3)
    assert not idle.still_nothing_due(space, SEAL_ROWS) and plan(space.index, SEAL_ROWS) is not None
    compact(space)
    idle = _NothingDue.of(space)
    space.delete("m0", NOW)
    assert not idle.still_nothing_due(space, SEAL_ROWS)  # a segment lost a row: it may be due for a rebuild
