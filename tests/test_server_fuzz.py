"""Requests generated from ragkit's own OpenAPI document (schemathesis), valid and invalid,
against a real offline ``ragkit serve`` over the sample corpus: none may get a 5xx, an error
outside OpenAI's shape, a traceback, or hang, and the server must keep answering.

The server does not publish its document (``openapi_url=None``: OpenAI's API has none either),
so it is taken from the app itself and completed where FastAPI cannot see a body: chat
completions read theirs by hand. Path ids are the seeded objects' ids or anything else, so the
generated requests reach real stores, files, threads and responses, not only 404s; deleting and
cancelling get made-up ids, so the objects live through the run. Bounded: a few examples of each
operation, derandomized, so a run is the same every time. The fuzzing this grew from (every
phase, stateful links, tens of thousands of cases) found the 500s tested in test_server_params.py.
Each operation's strategies are driven by Hypothesis here: schemathesis' own pytest integration
(``from_fixture(...).parametrize()``) fails under pytest 9, reading a node's ``_nodeid``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import CORPUS
from server_helpers import Server, upload_batch

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402 - schemathesis brings hypothesis
from hypothesis import strategies as st  # noqa: E402
from schemathesis import GenerationMode  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]
#: generated cases per operation (67 operations)
EXAMPLES = 5


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    running = Server(tmp_path_factory.mktemp("fuzz") / "home", "--no-auth", "--rate-limit", "0").start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def seeded(server) -> dict[str, str]:
    """One of each object the API's paths name, over the whole sample corpus."""
    client = server.client()
    store = client.vector_stores.create(name="halvard")
    batch = upload_batch(client, store.id, sorted(CORPUS.iterdir()))
    assert batch.file_counts.completed == len(list(CORPUS.iterdir()))
    assistant = client.beta.assistants.create(model="ragkit-extractive", tools=[{"type": "file_search"}],
                                              tool_resources={"file_search": {"vector_store_ids": [store.id]}})
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "What battery does the sensor use?"}])
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id,
                                                   poll_interval_ms=100)
    response = client.responses.create(model="ragkit-extractive", input="How long is the warranty?",
                                       tools=[{"type": "file_search", "vector_store_ids": [store.id]}])
    conversation = client.conversations.create(items=[{"type": "message", "role": "user", "content": "hi"}])
    upload = client.uploads.create(bytes=5, filename="x.txt", mime_type="text/plain", purpose="assistants")
    return {"vector_store_id": store.id, "file_id": client.vector_stores.files.list(store.id).data[0].id,
            "batch_id": batch.id, "assistant_id": assistant.id, "thread_id": thread.id, "run_id": run.id,
            "step_id": client.beta.threads.runs.steps.list(thread_id=thread.id, run_id=run.id).data[0].id,
            "message_id": client.beta.threads.messages.list(thread_id=thread.id).data[0].id,
            "response_id": response.id, "conversation_id": conversation.id,
            "item_id": client.conversations.items.list(conversation.id).data[0].id, "upload_id": upload.id,
            "model": "ragkit-extractive"}


def openapi_document(home: Path, ids: dict[str, str]) -> dict[str, Any]:
    """The app's OpenAPI document, with the chat completions body it cannot infer and the seeded
    ids as one choice of every path parameter that names one (except on delete and cancel)."""
    from ragkit.server.app import create_app
    from ragkit.server.chat import ChatBody
    from ragkit.server.config import ServerConfig

    spec = create_app(ServerConfig(home=home, no_auth=True)).openapi()
    chat = ChatBody.model_json_schema(ref_template="#/components/schemas/{model}")
    spec["components"]["schemas"] |= chat.pop("$defs", {}) | {"ChatBody": chat}
    spec["paths"]["/v1/chat/completions"]["post"]["requestBody"] = {
        "required": True, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ChatBody"}}}}
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method == "delete" or path.endswith(("/cancel", "/complete")):
                continue
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "path" and parameter["name"] in ids:
                    parameter["schema"] = {"anyOf": [{"enum": [ids[parameter["name"]]]}, parameter["schema"]]}
    return spec


@pytest.fixture(scope="module")
def api_schema(server, seeded, tmp_path_factory):
    spec = openapi_document(tmp_path_factory.mktemp("spec") / "home", seeded)
    return schemathesis.openapi.from_dict(spec)


def answer_problem(case, response) -> str | None:
    """What is wrong with the server's answer to ``case``, if anything."""
    text = response.content.decode("utf-8", "replace")
    said = f"{case.method} {case.formatted_path} -> {response.status_code} {text[:300]}"
    if response.status_code >= 500 or "Traceback (most recent call last)" in text:
        return said
    if response.status_code >= 400 and case.method != "HEAD":
        try:
            error = json.loads(text)["error"]
        except (ValueError, KeyError, TypeError):
            return f"not OpenAI's error shape: {said}"
        if set(error) != {"message", "type", "param", "code"} or not error["message"]:
            return f"not OpenAI's error shape: {said}"
    return None


def test_no_generated_request_breaks_the_server(api_schema, server):
    """Each operation: valid and invalid requests (schemathesis' strategies under hypothesis,
    derandomized); every problem of every operation is reported, not only the first."""
    problems: dict[str, str] = {}
    sent = 0
    for result in api_schema.get_all_operations():
        operation = result.ok()
        strategy = st.one_of(operation.as_strategy(GenerationMode.POSITIVE),
                             operation.as_strategy(GenerationMode.NEGATIVE))

        @given(case=strategy)
        @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate])
        def send(case) -> None:
            nonlocal sent
            sent += 1
            response = case.call(base_url=server.url, timeout=60)  # a hang fails here
            problem = answer_problem(case, response)
            if problem:
                problems.setdefault(operation.label, problem)

        send()
    assert problems == {}
    assert sent >= EXAMPLES * 60  # every operation got its examples (67 operations)


def test_the_server_still_answers_after_the_fuzzing(server, seeded):
    """Run after the generated requests (file order): the process is alive and searches."""
    assert server.process.poll() is None
    found = httpx.post(f"{server.base_url}/vector_stores/{seeded['vector_store_id']}/search",
                       json={"query": "warranty"}, timeout=60)
    assert found.status_code == 200 and found.json()["data"]
