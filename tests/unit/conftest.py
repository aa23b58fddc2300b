"""Fixtures for the API translation tests: a Falcon test client over a scripted gateway (no router)."""

import pytest
from falcon import testing

from engram.api.app import create_app
from engram.config import Config
from tests.unit.api_fakes import FakeGateway


@pytest.fixture
def gateway() -> FakeGateway:
    return FakeGateway()


@pytest.fixture
def client(gateway: FakeGateway) -> testing.TestClient:
    return testing.TestClient(create_app(Config(), gateway))
