"""Fixtures of the tool-loop tests (Assistants runs and Responses with function tools): one
``ragkit serve`` per test module whose chat model is the scripted OpenAI-compatible test server
(tests/openai_server.py), and a store with the WS-200 manual and the support FAQ."""

from __future__ import annotations

import pytest
from server_helpers import chat_model_server, manuals_store

#: the chat model the test server plays
MODEL = "test-model"

#: the agent scenario of the client tests: the manual answers half of the question (E42), the
#: caller's function the other half (the weather)
QUESTION = "What does E42 mean, and the weather in Oslo?"
WEATHER = "cloudy, 12 C"
#: the model's first reply: ragkit's search, and the caller's function
SEARCH_AND_CALL = {"tool_calls": [{"name": "file_search", "arguments": {"query": "error code E42"}},
                                  {"name": "get_weather", "arguments": {"city": "Oslo"}}]}


def get_weather(city: str) -> str:
    """The weather in a city now.

    Args:
        city: the city's name.
    """
    return WEATHER if city == "Oslo" else "unknown"


@pytest.fixture(scope="module")
def server(tmp_path_factory, request, openai_server):
    running = chat_model_server(tmp_path_factory.mktemp(request.module.__name__) / "home", openai_server.url, MODEL)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def client(server):
    return server.client()


@pytest.fixture(scope="module")
def store(client):
    return manuals_store(client)
