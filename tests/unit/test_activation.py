"""Spreading activation as pure code: decay per hop, the strongest path, bounds in depth and time, and ranking."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engram.errors import EngramError, ErrorCode
from workers.activation import ACTIVATION_THRESHOLD, HOP_FACTOR, check_spreading, rank_scores, spread
from workers.graph import EXPLICIT, Graph

BUDGET_S = 60.0  # generous: these tests are about hops, not time


def chain(*weights: float) -> Graph:
    """n0 - n1 - n2 ... with the given weights."""
    graph = Graph()
    for i, weight in enumerate(weights):
        graph.link(f"n{i}", f"n{i + 1}", weight, EXPLICIT)
    return graph


def test_each_hop_passes_activation_times_weight_times_e_to_the_minus_0_7() -> None:
    graph = chain(0.9, 0.5)
    result = spread({"n0": 0.8}, graph.neighbours, max_depth=3, time_budget_s=BUDGET_S)

    assert result.reached["n0"] == (0.8, 0, ("n0",))
    assert result.reached["n1"].activation == pytest.approx(0.8 * 0.9 * math.exp(-0.7))
    assert result.reached["n2"].activation == pytest.approx(0.8 * 0.9 * 0.5 * math.exp(-1.4))
    assert (result.reached["n2"].depth, result.reached["n2"].path) == (2, ("n0", "n1", "n2"))
    assert (result.hops, result.complete) == (2, True)


def test_max_depth_stops_spreading_and_zero_spreads_nothing() -> None:
    graph = chain(1.0, 1.0, 1.0)
    assert set(spread({"n0": 1.0}, graph.neighbours, 2, BUDGET_S).reached) == {"n0", "n1", "n2"}
    assert spread({"n0": 1.0}, graph.neighbours, 0, BUDGET_S) == ({"n0": (1.0, 0, ("n0",))}, 0, True)


def test_a_memory_reached_twice_keeps_the_stronger_path_even_when_longer() -> None:
    graph = Graph()
    graph.link("cue", "weak", 1.0, EXPLICIT)
    graph.link("cue", "target", 0.05, EXPLICIT)  # direct but faint
    graph.link("weak", "target", 1.0, EXPLICIT)  # two strong hops beat it
    reached = spread({"cue": 1.0}, graph.neighbours, 3, BUDGET_S).reached

    assert reached["target"].path == ("cue", "weak", "target")
    assert reached["target"].activation == pytest.approx(math.exp(-1.4))


def test_activation_below_the_threshold_does_not_spread() -> None:
    graph = chain(1.0, 1.0)
    seed = ACTIVATION_THRESHOLD / HOP_FACTOR * 1.5  # one hop stays above the threshold, two do not
    reached = spread({"n0": seed}, graph.neighbours, 5, BUDGET_S).reached
    assert set(reached) == {"n0", "n1"}


def test_the_time_budget_cuts_spreading_short_and_keeps_what_it_reached() -> None:
    graph = chain(1.0, 1.0, 1.0)
    ticks = iter(range(100))
    clock = lambda: float(next(ticks))  # noqa: E731 - each call is one second later

    result = spread({"n0": 1.0}, graph.neighbours, 5, time_budget_s=2.5, clock=clock)

    assert not result.complete
    assert set(result.reached) == {"n0", "n1", "n2"}  # expansions at t=1 and t=2 ran; the one at t=3 did not


def test_rank_scores_by_mode() -> None:
    similarity, activation, confidence = np.array([0.9, 0.0]), np.array([0.9, 0.4]), np.array([0.5, 1.0])
    np.testing.assert_allclose(rank_scores("similarity", similarity, activation, confidence), [0.9, 0.0])
    np.testing.assert_allclose(rank_scores("spreading", similarity, activation, confidence), [0.45, 0.4])
    np.testing.assert_allclose(rank_scores("hybrid", similarity, activation, confidence), [0.675, 0.2])


@pytest.mark.parametrize(
    ("mode", "max_depth", "budget_ms", "named"),
    [("telepathy", 3, 10.0, "mode"), ("hybrid", -1, 10.0, "max_depth"), ("hybrid", 9, 10.0, "max_depth")]
    + [("hybrid", 3, 0.0, "time_budget_ms"), ("hybrid", 3, float("nan"), "time_budget_ms")],
)
def test_bad_spreading_parameters_are_invalid_input(mode: str, max_depth: int, budget_ms: float, named: str) -> None:
    with pytest.raises(EngramError) as caught:
        check_spreading(mode, max_depth, budget_ms)
    assert caught.value.code == ErrorCode.INVALID_MEMORY_INPUT and named in caught.value.message


NODES = [f"m{i}" for i in range(8)]
edges = st.lists(
    st.tuples(st.sampled_from(NODES), st.sampled_from(NODES), st.floats(0.001, 1.0)).filter(lambda e: e[0] != e[1]),
    max_size=30,
)
seeds = st.dictionaries(st.sampled_from([*NODES, "lonely"]), st.floats(0.0, 1.0), min_size=1, max_size=4)


@settings(max_examples=300, deadline=None)
@given(edge_list=edges, seed_map=seeds, max_depth=st.integers(0, 6))
def test_spreading_stays_within_the_seeds_the_graph_and_the_depth(
    edge_list: list[tuple[str, str, float]], seed_map: dict[str, float], max_depth: int
) -> None:
    graph = Graph()
    for a, b, weight in edge_list:
        graph.link(a, b, weight, EXPLICIT)
    weight_of = {(a, b): w for a in NODES for b, w in graph.neighbours(a)}
    strongest_seed = max(seed_map.values())

    result = spread(seed_map, graph.neighbours, max_depth, BUDGET_S)

    assert result.complete and 0 <= result.hops <= max_depth
    for memory_id, (activation, depth, path) in result.reached.items():
        assert memory_id in seed_map or memory_id in graph  # never a node outside the graph
        assert 0 <= depth <= max_depth and len(path) == depth + 1 and path[-1] == memory_id
        assert activation <= strongest_seed + 1e-12  # never more than a seed had
        assert path[0] in seed_map
        expected = seed_map[path[0]] * HOP_FACTOR**depth
        for a, b in zip(path, path[1:], strict=False):
            expected *= weight_of[(a, b)]  # every step of the path is a real edge
        assert activation == pytest.approx(expected)
        if depth == 0:
            assert activation == seed_map[memory_id]
        else:
            assert activation >= ACTIVATION_THRESHOLD
