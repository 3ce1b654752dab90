"""Fixtures that run a state test once per backend: a SQLite file in a temp dir, and a fresh
database on the session's real PostgreSQL server (``postgres_url``, tests/postgres_server.py).

A test module imports the fixtures it uses (``from state_backends import state, state_url``);
each test taking one then runs as ``[sqlite]`` and ``[postgres]``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ragkit.state import StateDB, open_database

BACKENDS = ("sqlite", "postgres")


@pytest.fixture(params=BACKENDS)
def state_url(request, tmp_path) -> str:
    """The URL of an empty state database on each backend in turn."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state.sqlite'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def state(state_url) -> Iterator[StateDB]:
    """That database, migrated to head; its idle pooled connections are closed afterwards."""
    opened = open_database(state_url)
    yield opened
    opened.dispose()


@pytest.fixture
def home_on_each_backend(state_url, tmp_path, monkeypatch):
    """A home directory whose ``database_url`` is the backend's database (for code that opens a
    home's state itself, such as the feedback store)."""
    monkeypatch.setenv("RAGKIT_DATABASE_URL", state_url)
    return tmp_path / "home"
