"""The router's space gate (router/fair.py) on a live server: with one request of a space allowed at its worker at
a time, many clients hammering one space all get their answers and nothing is lost or duplicated, while another
space on the same worker is written concurrently."""

from __future__ import annotations

import threading

from engram.client import Client

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
