"""Stateful fuzzing of spaces and memories on a live server against an in-memory model of what each space holds
(the machine and its model: bench/fuzz_machine.py). Failing examples are kept in tests/hypothesis-regressions
(committed), so a divergence found once is replayed first by every later run; the explicit regression below pins the
case we care most about.
"""

from __future__ import annotations

import sys
from pathlib import Path

from hypothesis.stateful import run_state_machine_as_test

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.fuzz_machine import SETTINGS, SpacesMachine  # noqa: E402


def test_spaces_and_memories_follow_the_model_under_random_operations(server):
    SpacesMachine.url = server.url
    run_state_machine_as_test(SpacesMachine, settings=SETTINGS)


def test_regression_recreated_space_is_empty_while_the_same_id_elsewhere_survives(server):
    """A deleted space answers 410, comes back empty when created again, and the colliding id in another space
    keeps its own content throughout."""
    SpacesMachine.url = server.url
    machine = SpacesMachine()
    try:
        machine.remember("a", "shared", "apple")
        machine.remember("b", "shared", "river")
        machine.delete_space("a")
        machine.remember("a", "shared", "lamp")
        machine.get_memory("a", "shared")
        machine.deleted_spaces_answer_410()
        machine.create_space("a")
        machine.list_memories("a")
        machine.get_memory("b", "shared")
        machine.list_memories("b")
    finally:
        machine.teardown()
