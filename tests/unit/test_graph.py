"""The association graph and its edge rules as pure code."""

from __future__ import annotations

import numpy as np
import pytest

from engram.protocol import EpisodeContext, Link
from workers.graph import (
    CONTEXT_MAX_LINKS,
    EPISODE,
    EXPLICIT,
    SIMILARITY,
    TEMPORAL,
    TEMPORAL_MAX_LINKS,
    TEMPORAL_WINDOW_S,
    EpisodeIndex,
    Graph,
    context_weight,
    strongest_similar,
    temporal_weight,
)

T0 = 1_700_000_000.0


def test_edges_are_symmetric_keep_one_weight_per_kind_and_spread_along_the_strongest() -> None:
    graph = Graph()
    graph.link("a", "b", 0.3, EXPLICIT)
    graph.link("b", "a", 0.6, TEMPORAL)
    graph.link("a", "b", 0.4, EXPLICIT)  # the same kind again replaces its weight

    assert graph.neighbours("a") == [("b", 0.6)] and graph.neighbours("b") == [("a", 0.6)]
    assert graph.links("a") == [Link("b", 0.6, TEMPORAL), Link("b", 0.4, EXPLICIT)]
    assert graph.edge_count == 1


def test_removing_a_memory_removes_every_edge_that_touches_it() -> None:
    graph = Graph()
    graph.link("a", "b", 1.0, EXPLICIT)
    graph.link("b", "c", 1.0, EXPLICIT)
    graph.remove("b")

    assert graph.neighbours("a") == [] and graph.neighbours("c") == []
    assert "a" not in graph and "b" not in graph and graph.edge_count == 0


@pytest.mark.parametrize(("a", "b", "weight"), [("a", "a", 0.5), ("a", "b", 0.0), ("a", "b", 1.5)])
def test_self_links_and_weights_outside_zero_to_one_are_refused(a: str, b: str, weight: float) -> None:
    with pytest.raises(ValueError):
        Graph().link(a, b, weight, EXPLICIT)


def test_similarity_links_go_to_the_most_similar_candidates_at_or_above_the_threshold() -> None:
    ids = ["self", "close", "closer", "far", "also-close"]
    rows, similarity = np.array([1, 2, 3, 4]), np.array([0.8, 0.95, 0.2, 0.8])

    links = strongest_similar(ids, rows, similarity, threshold=0.8)

    assert links == [
        Link("closer", pytest.approx(0.95), SIMILARITY),
        Link("close", pytest.approx(0.8), SIMILARITY),
        Link("also-close", pytest.approx(0.8), SIMILARITY),
    ]
    assert strongest_similar(ids, rows, similarity, threshold=0.96) == []
    many = strongest_similar([f"m{i}" for i in range(20)], np.arange(20), np.full(20, 0.9), 0.5)
    assert [link.target for link in many] == ["m0", "m1", "m2", "m3", "m4"]


def index_of(*episodes: tuple[str, float, EpisodeContext]) -> EpisodeIndex:
    index = EpisodeIndex()
    for memory_id, at, context in episodes:
        index.add(memory_id, at, context)
    return index


def test_episodes_link_to_the_nearest_in_time_within_one_hour() -> None:
    nowhere = EpisodeContext()
    index = index_of(
        ("early", T0 - 3000, nowhere),
        ("near", T0 + 600, nowhere),
        ("too-late", T0 + TEMPORAL_WINDOW_S + 1, nowhere),
        ("new", T0, nowhere),
    )

    links = index.links_of("new")

    assert [(link.target, link.kind) for link in links] == [("near", TEMPORAL), ("early", TEMPORAL)]
    assert links[0].weight == pytest.approx(temporal_weight(600)) and links[0].weight > links[1].weight


def test_temporal_links_are_bounded_however_many_episodes_share_the_instant() -> None:
    index = index_of(*[(f"e{i}", T0, EpisodeContext()) for i in range(200)])
    links = index.links_of("e100")
    assert len(links) == TEMPORAL_MAX_LINKS and "e100" not in {link.target for link in links}


def test_episodes_link_by_shared_place_and_people_case_insensitively() -> None:
    office = EpisodeContext(where_location="Office", who=["Ana", "Bo"])
    index = index_of(
        ("same-place", T0 - 10 * TEMPORAL_WINDOW_S, EpisodeContext(where_location=" office ")),
        ("same-people", T0 - 20 * TEMPORAL_WINDOW_S, EpisodeContext(who=["ana", "bo"])),
        ("elsewhere", T0 - 30 * TEMPORAL_WINDOW_S, EpisodeContext(where_location="beach", who=["Cy"])),
        ("new", T0, office),
    )

    links = {link.target: link for link in index.links_of("new")}

    assert set(links) == {"same-place", "same-people"}
    assert {link.kind for link in links.values()} == {EPISODE}
    assert links["same-place"].weight == pytest.approx(0.5) and links["same-people"].weight == pytest.approx(0.5)
    assert context_weight("x", frozenset({"a", "b"}), "x", frozenset({"b", "c"})) == pytest.approx(0.5 + 0.5 / 3)


def test_context_links_keep_the_strongest_few_and_removal_unindexes() -> None:
    far = 100 * TEMPORAL_WINDOW_S
    episodes = [(f"p{i}", T0 - far - i, EpisodeContext(where_location="lab")) for i in range(10)]
    index = index_of(*episodes, ("best", T0 - far, EpisodeContext(where_location="lab", who=["ana"])))
    index.add("new", T0, EpisodeContext(where_location="lab", who=["ana"]))

    links = index.links_of("new")
    assert len(links) == CONTEXT_MAX_LINKS and links[0].target == "best" and links[0].weight == pytest.approx(1.0)

    index.remove("best")
    assert "best" not in {link.target for link in index.links_of("new")} and len(index) == 11
