"""The similarity index on a live server: compaction seals memories into pynndescent segments built by the index
builder process, recall honours deletes and replacements in segments and buffer alike, spaces never share
anything, merges happen, and a restart loads the segments it built instead of building them again.

All of it runs on one server (module scope) with ``index_seal_rows = 200``: its builder compiles pynndescent's build
code once (numba cannot cache it; up to about 90 s on a cold machine), every later build takes a fraction of a
second. Waits are polls with deadlines on ``GET /api/v1/spaces/{space}``, which reports the index.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engram.testing import RunningServer, wait_until
from tests.conftest import Api

DIM = 32
SEAL_ROWS = 200
FIRST_BUILD_TIMEOUT_S = 240.0  # the builder's first job compiles numba code
BUILD_TIMEOUT_S = 60.0
SEALED = range(0, 200)  # written before the first seal could happen: they end up in the first segment
BUFFERED = range(250, 300)  # written after it, fewer than a seal: they stay in the exact buffer


def vectors(seed: int, count: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((count, DIM)).astype(np.float32)


def index_of(api: Api, space: str) -> dict:
    response = api.get(f"/api/v1/spaces/{space}")
    assert response.status_code == 200, response.text
    return response.json()["index"]


def remember_all(api: Api, space: str, ids: range, embeddings: np.ndarray) -> None:
    for i in ids:
        response = api.remember(space, f"{space} fact {i}", id=f"m{i}", embedding=embeddings[i].tolist())
        assert response.status_code == 201, response.text


def top_hits(api: Api, space: str, vector: np.ndarray, limit: int = 5) -> list[tuple[str, str, float]]:
    """(id, content, similarity) of the best similarity hits, best first."""
    body = {"embedding": vector.tolist(), "mode": "similarity", "threshold": 0.0, "max_results": limit}
    memories = api.recall(space, **body)["memories"]
    hits = memories["vivid"] + memories["associated"] + memories["reconstructed"]
    return sorted(((m["id"], m["content"], m["similarity_score"]) for m in hits), key=lambda h: -h[2])


@pytest.fixture(scope="module")
def index_server(tmp_path_factory) -> RunningServer:
    root = tmp_path_factory.mktemp("index")
    config = root / "engram.toml"
    config.write_text(f"index_seal_rows = {SEAL_ROWS}\n")
    with RunningServer(root / "data", workers=2, extra_args=["--config", str(config)]) as running:
        yield running


@pytest.fixture(scope="module")
def spaces(index_server: RunningServer) -> dict[str, np.ndarray]:
    """alpha and beta: the same ids and the same vectors, different content; 200 memories sealed, 50 buffered."""
    api = Api(index_server.url)
    shared = vectors(seed=1, count=300)
    for space in ("alpha", "beta"):
        assert api.post("/api/v1/spaces", json={"id": space, "dim": DIM}).status_code == 201
        remember_all(api, space, range(0, 250), shared)
    for space in ("alpha", "beta"):
        wait_until(lambda s=space: index_of(api, s)["segments"] == 1, FIRST_BUILD_TIMEOUT_S, 0.2, f"{space} sealed")
        remember_all(api, space, BUFFERED, shared)
        assert index_of(api, space)["buffer"] >= len(BUFFERED)
    return {"alpha": shared, "beta": shared}


def test_recall_finds_memories_in_segments_and_in_the_buffer(index_server: RunningServer, spaces) -> None:
    api = Api(index_server.url)
    for i in [*SEALED[::20], *BUFFERED[::10]]:
        best = top_hits(api, "alpha", spaces["alpha"][i])[0]
        assert best[:2] == (f"m{i}", f"alpha fact {i}") and best[2] == pytest.approx(1.0, abs=1e-4)


def test_deletes_and_replacements_are_honoured_in_segments_and_buffer(index_server: RunningServer, spaces) -> None:
    api = Api(index_server.url)
    old = spaces["alpha"]
    deleted, replaced = ("m10", "m260"), ("m11", "m261")
    for memory_id in deleted:
        assert api.request("DELETE", f"/api/v1/spaces/alpha/memories/{memory_id}").status_code == 200
    fresh = vectors(seed=2, count=2)
    for memory_id, vector in zip(replaced, fresh, strict=True):
        assert api.remember("alpha", "replaced", id=memory_id, embedding=vector.tolist()).status_code == 201

    for memory_id in (*deleted, *replaced):
        hits = top_hits(api, "alpha", old[int(memory_id[1:])])
        assert all(hit[2] < 0.999 for hit in hits), f"the old vector of {memory_id} is still found: {hits}"
        assert all(hit[0] not in deleted for hit in hits)
    for memory_id, vector in zip(replaced, fresh, strict=True):
        assert top_hits(api, "alpha", vector)[0][:2] == (memory_id, "replaced")
    index = index_of(api, "alpha")
    assert index["segments"] == 1 and index["buffer"] >= len(BUFFERED)  # both paths were really exercised


def test_recall_in_alpha_never_returns_beta_memories(index_server: RunningServer, spaces) -> None:
    api = Api(index_server.url)
    for i in (10, 11, 50, 260, 261, 280):  # alpha deleted or replaced some of these; beta did not
        beta = top_hits(api, "beta", spaces["beta"][i])
        assert beta[0][:2] == (f"m{i}", f"beta fact {i}")
        assert all(content.startswith("beta ") for _, content, _ in beta)
        assert all(
            content.startswith("alpha ") or content == "replaced"
            for _, content, _ in top_hits(api, "alpha", spaces["alpha"][i])
        )


def test_four_sealed_segments_are_merged_into_one(index_server: RunningServer) -> None:
    api = Api(index_server.url)
    assert api.post("/api/v1/spaces", json={"id": "gamma", "dim": DIM}).status_code == 201
    gamma = vectors(seed=3, count=4 * SEAL_ROWS)
    for seal in range(4):
        remember_all(api, "gamma", range(seal * SEAL_ROWS, (seal + 1) * SEAL_ROWS), gamma)
        expected = seal + 1 if seal < 3 else 1
        wait_until(
            lambda e=expected: index_of(api, "gamma") == {"segments": e, "buffer": 0},
            BUILD_TIMEOUT_S,
            0.1,
            f"gamma at {expected} segment(s)",
        )
    for i in range(0, 4 * SEAL_ROWS, 40):
        assert top_hits(api, "gamma", gamma[i])[0][0] == f"m{i}"


def test_a_restart_loads_the_segments_it_built_instead_of_rebuilding_them(index_server: RunningServer, spaces) -> None:
    api = Api(index_server.url)
    names = ("alpha", "beta", "gamma")
    before = {space: index_of(api, space) for space in names}
    probes = {space: top_hits(api, space, spaces["alpha"][12]) for space in ("alpha", "beta")}
    built = _index_files(index_server.data_dir)
    assert len(built) == sum(b["segments"] for b in before.values())

    index_server.restart()

    assert {space: index_of(api, space) for space in names} == before  # at once: loaded, not waiting for a build
    assert {space: top_hits(api, space, spaces["alpha"][12]) for space in ("alpha", "beta")} == probes
    assert _index_files(index_server.data_dir) == built  # same files, untouched


def _index_files(data_dir: Path) -> dict[str, int]:
    return {str(p.relative_to(data_dir)): p.stat().st_mtime_ns for p in data_dir.glob("*/hot/*.nnd")}
