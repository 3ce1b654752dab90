"""Fixtures of test modules that drive one offline ``ragkit serve`` (no key, the extractive
answerer) with the stock SDK: import ``server`` and ``client`` from here. The home is named
after the test module, and the server lives as long as the module's tests."""

from __future__ import annotations

import pytest
from server_helpers import Server


@pytest.fixture(scope="module")
def server(tmp_path_factory, request):
    running = Server(tmp_path_factory.mktemp(request.module.__name__) / "home", "--no-auth").start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def client(server):
    return server.client()
