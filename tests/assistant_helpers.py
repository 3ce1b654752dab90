"""Fixtures of the Assistants and conversations tests: one ``ragkit serve`` per test module, with
two keys, so each module can check that the second key cannot see the first key's objects."""

from __future__ import annotations

import pytest
from server_helpers import Server, create_key


@pytest.fixture(scope="module")
def server(tmp_path_factory, request):
    home = tmp_path_factory.mktemp(request.module.__name__) / "home"
    home.mkdir()
    first, second = create_key(home, "first", "--scope", "write"), create_key(home, "second")
    running = Server(home).start()
    running.keys = (first, second)  # type: ignore[attr-defined]
    yield running
    running.stop()


@pytest.fixture(scope="module")
def client(server):
    return server.client(server.keys[0])

