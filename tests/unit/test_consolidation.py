"""Consolidation as pure code: clustering, pattern identity, persistence."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from workers.consolidation import ConsolidationState, EpisodeView, cluster


def _unit(vector) -> np.ndarray:
    vector = np.asarray(vector, dtype=np.float64)
    return vector / np.linalg.norm(vector)


def _episode(i: int, vector, content: str = "") -> EpisodeView:
    return EpisodeView(f"ep{i}", _unit(vector), content or f"episode {i}", 0.6, 100.0 + i, 100.0 + i, 100.0 + i)


def test_three_similar_episodes_become_one_pattern_citing_all_three(tmp_path):
    episodes = [
        _episode(0, [1.0, 0.05, 0, 0], "walked the dog in the park"),
        _episode(1, [1.0, 0.0, 0.05, 0], "the dog played in the park"),
        _episode(2, [1.0, 0.05, 0.05, 0], "park visit with the dog"),
        _episode(3, [0, 0, 0, 1.0], "paid the electricity bill"),
    ]
    result = ConsolidationState(tmp_path).run(episodes, now=500.0)
    assert len(result.patterns) == 1
    pattern = result.patterns[0]
    assert sorted(c.episode_id for c in pattern.citations) == ["ep0", "ep1", "ep2"]
    assert "dog" in pattern.summary and "park" in pattern.summary
    assert 0 < pattern.strength <= 1 and pattern.last_consolidated == 500.0
    assert result.stats.total_runs == 1 and result.stats.episodes_considered == 4


def test_pattern_ids_are_stable_for_unchanged_clusters_and_change_with_the_space(tmp_path):
    state = ConsolidationState(tmp_path)
    base = [_episode(i, [1.0, 0.01 * i, 0, 0]) for i in range(3)]
    first = state.run(base, now=1.0).patterns[0].id
    assert state.run(base, now=2.0).patterns[0].id == first
    grown = state.run([*base, _episode(9, [1.0, 0.02, 0.01, 0])], now=3.0).patterns[0]
    assert grown.id != first and len(grown.citations) == 4


def test_result_survives_reload_and_small_clusters_are_not_patterns(tmp_path):
    ConsolidationState(tmp_path).run([_episode(i, [1.0, 0.01 * i, 0, 0]) for i in range(3)], now=7.0)
    reloaded = ConsolidationState(tmp_path)
    assert [len(p.citations) for p in reloaded.snapshot(10).patterns] == [3]
    assert not reloaded.changed_since_pass
    (tmp_path / "pair").mkdir()
    pair = ConsolidationState(tmp_path / "pair")
    assert pair.run([_episode(i, [1.0, 0.01 * i, 0, 0]) for i in range(2)], now=8.0).patterns == []


def test_due_only_after_a_change_and_the_interval(tmp_path):
    state = ConsolidationState(tmp_path)
    assert not state.due(now=0.0, interval_s=60)
    state.note_change()
    assert state.due(now=0.0, interval_s=60)
    state.run([], now=10.0)
    state.note_change()
    assert not state.due(now=30.0, interval_s=60) and state.due(now=70.0, interval_s=60)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.floats(-1, 1), min_size=4, max_size=4), min_size=1, max_size=40), st.floats(0.3, 0.99))
def test_every_row_lands_in_exactly_one_cluster_close_to_its_centroid(vectors, threshold):
    rows = [v for v in vectors if np.linalg.norm(v) > 1e-3]
    if not rows:
        return
    units = np.stack([_unit(v) for v in rows])
    clusters = cluster(units, threshold)
    assert sorted(i for members in clusters for i in members) == list(range(len(rows)))
    for members in clusters:
        if len(members) > 1:
            centroid = _unit(units[members].sum(axis=0))
            assert min(units[members] @ centroid) >= threshold - 0.35  # members stay near their cluster


def test_a_result_a_crash_did_not_keep_is_computed_again(tmp_path):
    """The result is saved without an fsync (derived from durable episodes): whether a crash leaves the previous
    file or one that cannot be read, the space's next pass is due again."""
    episodes = [_episode(i, [1.0, 0.01 * i, 0, 0]) for i in range(3)]
    state = ConsolidationState(tmp_path)
    state.run(episodes[:2], now=10.0)
    kept = (tmp_path / "consolidations.json").read_bytes()
    state.run(episodes, now=400.0)  # this result is "lost": the file goes back to the previous one
    (tmp_path / "consolidations.json").write_bytes(kept)
    reopened = ConsolidationState(tmp_path)
    assert reopened.last_run_at == 10.0
    reopened.found_on_open(stored_since_pass=1)  # the space counts the episode stored after the kept pass
    assert reopened.due(now=400.0, interval_s=300.0)
    assert len(reopened.run(episodes, now=400.0).patterns) == 1

    (tmp_path / "consolidations.json").write_bytes(kept[: len(kept) // 2])  # or torn
    torn = ConsolidationState(tmp_path)
    assert torn.snapshot(10).patterns == [] and torn.due(now=0.0, interval_s=300.0)
