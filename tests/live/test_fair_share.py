"""The router's space gate (router/fair.py) on a live server: with one request of a space allowed at its worker at
a time, many clients hammering one space all get their answers and nothing is lost or duplicated, while another
space on the same worker is written concurrently."""

from __future__ import annotations

import threading

from engram.client import Client
from engram.testing import wait_until

CLIENTS = 12
WRITES = 15


def test_a_space_held_by_the_gate_loses_nothing_and_does_not_block_another(make_server, tmp_path):
    config = tmp_path / "gate.toml"
    config.write_text("[router]\nspace_inflight_limit = 1\n")
    running = make_server(workers=1, extra_args=["--config", str(config)])  # one worker: both spaces share it
    failures: list[BaseException] = []
    started = threading.Barrier(CLIENTS + 1)

    def hammer(number: int) -> None:
        try:
            started.wait()
            for write in range(WRITES):
                native.remember(f"fact {number}-{write}", id=f"m{number}-{write}", space="busy")
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            failures.append(exc)

    with Client(running.router) as native:
        native.remember("first", id="q0", space="quiet")
        threads = [threading.Thread(target=hammer, args=(n,)) for n in range(CLIENTS)]
        for thread in threads:
            thread.start()
        started.wait()
        for write in range(1, 6):  # sent while the busy space's clients keep its queue full
            native.remember(f"quiet {write}", id=f"q{write}", space="quiet")
        for thread in threads:
            thread.join(timeout=120)
        assert failures == []
        busy = {m.id for m in native.list(space="busy", limit=1000).memories}
        assert busy == {f"m{n}-{w}" for n in range(CLIENTS) for w in range(WRITES)}
        assert {m.id for m in native.list(space="quiet", limit=100).memories} == {f"q{w}" for w in range(6)}


def test_a_space_taking_the_cpu_beside_another_is_paced_loses_nothing_and_is_let_go_when_alone(make_server, tmp_path):
    """With a CPU target no machine stays under, the space written by many clients is paced (status shows its
    rate) while a quiet space is active; every acknowledged write of both lands; once the quiet space stops, the
    busy space is alone and its pace ends."""
    config = tmp_path / "pacing.toml"
    config.write_text("[router]\npacing_cpu_target = 0.01\n")
    running = make_server(workers=1, extra_args=["--config", str(config)])
    stop_busy, stop_quiet = threading.Event(), threading.Event()
    acknowledged: dict[str, list[str]] = {"busy": [], "quiet": []}
    failures: list[BaseException] = []

    def write(space: str, client_number: int, stop: threading.Event, pause_s: float) -> None:
        number = 0
        try:
            while not stop.is_set():
                memory_id = f"{space}-{client_number}-{number}"
                native.remember(f"fact {memory_id}", id=memory_id, space=space)
                acknowledged[space].append(memory_id)
                number += 1
                stop.wait(pause_s)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            failures.append(exc)

    def paced_rps(space: str) -> float | None:
        return native.status(space=space).spaces[0].paced_rps

    with Client(running.router) as native:
        threads = [threading.Thread(target=write, args=("busy", n, stop_busy, 0.0)) for n in range(6)]
        threads.append(threading.Thread(target=write, args=("quiet", 0, stop_quiet, 0.02)))
        for thread in threads:
            thread.start()
        try:
            wait_until(lambda: paced_rps("busy") is not None, timeout_s=30, message="the busy space paced")
            assert paced_rps("quiet") is None
            stop_quiet.set()
            wait_until(lambda: paced_rps("busy") is None, timeout_s=30, message="the pace ended, busy alone")
        finally:
            stop_quiet.set()
            stop_busy.set()
            for thread in threads:
                thread.join(timeout=60)
        assert failures == []
        for space, ids in acknowledged.items():
            stored = _all_ids(native, space)
            assert set(ids) <= stored and len(ids) > 0


def _all_ids(native: Client, space: str) -> set[str]:
    ids: set[str] = set()
    while True:
        page = native.list(len(ids), 1000, space=space).memories
        ids |= {memory.id for memory in page}
        if len(page) < 1000:
            return ids
