"""The cardinality guard of /metrics (router/metrics.py SpaceLabels) and the worker's per-label totals."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from engram import metrics
from engram import protocol as p
from router.metrics import RouterMetrics, SpaceLabels
from workers.metrics import WorkerMetrics

space_ids = st.text(alphabet="abcdefghij", min_size=1, max_size=3)


@given(limit=st.integers(min_value=1, max_value=8), spaces=st.lists(space_ids, max_size=60))
def test_never_more_than_max_metric_spaces_plus_one_labels(limit, spaces):
    labels = SpaceLabels(limit)
    given_labels = {labels.assign(space) for space in spaces}
    assert len(given_labels) <= limit + 1
    assert len(given_labels - {metrics.OTHER_SPACE}) == min(limit, len(set(spaces)))


@given(limit=st.integers(min_value=1, max_value=8), spaces=st.lists(space_ids, max_size=60))
def test_a_space_keeps_its_label_once_given(limit, spaces):
    labels = SpaceLabels(limit)
    first: dict[str, str] = {}
    for space in spaces:
        label = labels.assign(space)
        assert first.setdefault(space, label) == label
        assert label in (space, metrics.OTHER_SPACE)


def test_the_first_spaces_seen_keep_their_id_and_later_ones_fold_into_other():
    labels = SpaceLabels(2, existing=["old"])
    assert [labels.assign(s) for s in ("new", "late", "old", "new")] == ["new", "_other", "old", "new"]
    assert labels.peek("unknown") == metrics.OTHER_SPACE
    assert len(labels) == 2


def test_peek_gives_no_label_away():
    labels = SpaceLabels(1)
    assert labels.peek("ghost") == metrics.OTHER_SPACE
    assert labels.assign("real") == "real"


def test_only_existing_spaces_are_given_a_label_by_the_router():
    router = RouterMetrics(1)
    absent = router.label("ghost", p.Placement(False, 4))
    present = router.label("real", p.Placement(True, 4))
    assert (absent.metric_label, present.metric_label) == (metrics.OTHER_SPACE, "real")
    assert router.label("later", p.Placement(True, 4)).metric_label == metrics.OTHER_SPACE


class _FakeSpace:
    def __init__(self, count: int, stored: int, tail: int = 0) -> None:
        self.count = count
        self.stored_bytes = stored
        self.wal_bytes_since_snapshot = tail


def _gauge(gauge, label: str) -> float:
    return gauge.labels(label)._value.get()


def test_spaces_folded_into_other_add_up_in_the_worker():
    worker = WorkerMetrics()
    label = "_other"
    before, before_bytes = _gauge(metrics.MEMORIES, label), _gauge(metrics.STORED_BYTES, label)
    worker.after_request("fold-a", p.Placement(True, 4, metric_label=label), _FakeSpace(3, 30))
    worker.after_request("fold-b", p.Placement(True, 4, metric_label=label), _FakeSpace(5, 50))
    assert _gauge(metrics.MEMORIES, label) - before == 8
    worker.after_request("fold-a", p.Placement(True, 4, metric_label=label), _FakeSpace(4, 40))
    assert _gauge(metrics.MEMORIES, label) - before == 9
    worker.forget("fold-b")
    assert _gauge(metrics.MEMORIES, label) - before == 4
    assert _gauge(metrics.STORED_BYTES, label) - before_bytes == 40


def test_the_log_to_replay_adds_up_per_label_and_drops_once_a_snapshot_ended():
    worker = WorkerMetrics()
    label = "_other"
    before = _gauge(metrics.WAL_REPLAY_BYTES, label)
    worker.after_request("tail-a", p.Placement(True, 4, metric_label=label), _FakeSpace(3, 30, tail=100))
    worker.after_request("tail-b", p.Placement(True, 4, metric_label=label), _FakeSpace(5, 50, tail=50))
    assert _gauge(metrics.WAL_REPLAY_BYTES, label) - before == 150
    worker.refresh("tail-a", _FakeSpace(3, 30, tail=10))  # its background snapshot ended
    assert _gauge(metrics.WAL_REPLAY_BYTES, label) - before == 60
    worker.forget("tail-b")
    assert _gauge(metrics.WAL_REPLAY_BYTES, label) - before == 10
    worker.refresh("never-seen", _FakeSpace(1, 1, tail=999))  # no label yet: nothing to report under
    assert _gauge(metrics.WAL_REPLAY_BYTES, label) - before == 10


def test_resident_spaces_and_offloads_are_per_worker():
    worker = WorkerMetrics()
    offloads_before = metrics.OFFLOADS.labels("7")._value.get()
    worker.resident(7, 3)
    worker.resident(7, 2)
    worker.offloaded(7)
    assert metrics.RESIDENT_SPACES.labels("7")._value.get() == 2
    assert metrics.OFFLOADS.labels("7")._value.get() - offloads_before == 1
