"""Fixtures for the sync tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.couch import pouchdb_server


@pytest.fixture(scope="session")
def couchdb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The base URL of a pouchdb-server (in memory) shared by the session's tests.

    Each test makes databases of its own names; tests/couch.py starts servers of
    their own for tests that stop or restart one.
    """
    with pouchdb_server(tmp_path_factory.mktemp("pouchdb"), "--in-memory") as server:
        yield server.url
