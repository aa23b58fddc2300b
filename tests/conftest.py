"""Fixtures that start real Engram servers (router, workers, gunicorn) on free loopback ports."""

from __future__ import annotations

import itertools
import uuid

import pytest
import requests

from engram.testing import RunningServer


class Api:
    """A thin requests wrapper bound to one server's base URL."""

    def __init__(self, base_url: str) -> None:
        self.base = base_url
        self.http = requests.Session()

    def request(self, method: str, path: str, **kwargs) -> requests.Response:
        kwargs.setdefault("timeout", 30)
        return self.http.request(method, self.base + path, **kwargs)

    def get(self, path: str, **kwargs) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs) -> requests.Response:
        return self.request("POST", path, **kwargs)

    def remember(self, space: str, content: str, **fields) -> requests.Response:
        return self.post(f"/api/v1/spaces/{space}/memories", json={"content": content, **fields})

    def recall(self, space: str, **fields) -> dict:
        response = self.post(f"/api/v1/spaces/{space}/recall", json=fields)
        assert response.status_code == 200, response.text
        return response.json()

    def list(self, space: str, **params) -> dict:
        response = self.get(f"/api/v1/spaces/{space}/memories", params=params)
        assert response.status_code == 200, response.text
        return response.json()


def recalled_ids(result: dict) -> list[str]:
    memories = result["memories"]
    return [m["id"] for m in memories["vivid"] + memories["associated"] + memories["reconstructed"]]


@pytest.fixture(scope="session")
def server(tmp_path_factory) -> RunningServer:
    """One server shared by the tests that only need isolation through unique space names."""
    with RunningServer(tmp_path_factory.mktemp("shared-data"), workers=2) as running:
        yield running


@pytest.fixture
def api(server) -> Api:
    return Api(server.url)


_names = itertools.count()


@pytest.fixture
def unique() -> str:
    """A prefix that makes space names unique on the shared server."""
    return f"t{uuid.uuid4().hex[:6]}{next(_names)}"


@pytest.fixture
def make_server(tmp_path):
    """Start dedicated servers (for restart and crash tests); all are stopped at the end of the test."""
    started: list[RunningServer] = []

    def make(data_dir=None, **kwargs) -> RunningServer:
        running = RunningServer(data_dir or tmp_path / f"data{len(started)}", **kwargs)
        started.append(running)
        return running.start()

    yield make
    for running in started:
        try:
            running.stop()
        finally:
            running.kill()
