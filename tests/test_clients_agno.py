"""Agno (PyPI ``agno``) against a real ``ragkit serve``, as its docs write another OpenAI-compatible
server: ``OpenAIChat`` and ``OpenAIResponses`` with ``id``, ``base_url`` and ``api_key``
(docs/clients.md has what each shows and what it cannot do).

* ``OpenAIChat`` (chat completions) names the store in ``extra_body``; an ``Agent`` with
  ``instructions`` (sent as a ``developer`` message) and its session history in Agno's
  ``InMemoryDb`` (``add_history_to_context``), so the follow-up goes with the earlier turn and ragkit
  makes it standalone. Agno keeps only ``url_citation`` annotations of a chat message: ragkit's
  give each cited file and page (``RunOutput.citations.urls``); the quotes of ragkit's
  ``citations`` need a small subclass (``CitingOpenAIChat``) to reach ``RunOutput.citations``.
* ``OpenAIResponses`` with the ``file_search`` tool dict: the ``file_citation`` annotations reach
  ``RunOutput.citations.raw`` when streamed; not streamed Agno keeps only ``url_citation`` ones, and
  the stored response (``model_provider_data["response_id"]``) has them.
* ``OpenAILike`` and ``OpenResponses`` (``store: false``), the classes Agno names for other
  OpenAI-compatible servers; ``OpenAIEmbedder`` with the model's own ``dimensions``.
* With a chat model behind ragkit (the scripted test server, tests/openai_server.py): a Python
  function beside the store on both models, run, streamed and ``arun``, and a follow-up in the same
  session; ``output_schema`` (``json_schema``, or ``json_object`` with ``use_json_mode``); a model
  named like OpenAI's reasoning models, which Agno chains with ``previous_response_id``. Offline,
  tools, ``output_schema`` and session summaries need the chat model: a 400 saying so, which Agno
  reports as a failed run (a summary's failure is only logged).

Skipped when Agno is not installed (``pip install agno``; not in the ``examples`` extra).
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import pytest
from pydantic import BaseModel
from server_helpers import Server, chat_model_server, manuals_store
from tool_loop_helpers import MODEL, QUESTION, SEARCH_AND_CALL, WEATHER, get_weather

pytestmark = pytest.mark.timeout(600)
E42 = "Error code E42 means the anemometer cable is disconnected."
#: a chat model named like OpenAI's reasoning models, which Agno treats differently
REASONING = "gpt-5-mini"


@pytest.fixture(scope="module")
def agno():
    """Skips before the servers start (a module fixture listed first) when Agno is absent; Agno's
    telemetry (a request to its own API after each run) is switched off for the whole module."""
    module = pytest.importorskip("agno", reason="pip install agno")
    previous, os.environ["AGNO_TELEMETRY"] = os.environ.get("AGNO_TELEMETRY"), "false"
    yield module
    os.environ.pop("AGNO_TELEMETRY")
    os.environ.update({"AGNO_TELEMETRY": previous} if previous is not None else {})


@pytest.fixture(scope="module")
def offline(agno, tmp_path_factory):
    server = Server(tmp_path_factory.mktemp("agno-offline") / "home", "--no-auth").start()
    files = ["ws200-user-manual.pdf", "warranty-and-returns.docx"]
    server.store = manuals_store(server.client(), files)  # type: ignore[attr-defined]
    yield server
    server.stop()


def _chat_server(tmp_path_factory, openai_server, model: str):
    """A ragkit whose chat model (the scripted server) is called ``model``, over the manual."""
    server = chat_model_server(tmp_path_factory.mktemp("agno-chat") / "home", openai_server.url, model)
    server.store = manuals_store(server.client(), ["ws200-user-manual.pdf"])  # type: ignore[attr-defined]
    yield server
    server.stop()


@pytest.fixture(scope="module")
def chat(agno, tmp_path_factory, openai_server):
    yield from _chat_server(tmp_path_factory, openai_server, MODEL)


@pytest.fixture(scope="module")
def reasoning(agno, tmp_path_factory, openai_server):
    """A ragkit whose chat model is named like OpenAI's reasoning models."""
    yield from _chat_server(tmp_path_factory, openai_server, REASONING)


def _chat_model(server: Server, model: str = "ragkit-extractive", cls: Any = None, **options: Any) -> Any:
    from agno.models.openai import OpenAIChat

    return (cls or OpenAIChat)(id=model, base_url=server.base_url, api_key="none", max_retries=0,
                               extra_body={"vector_store_ids": [server.store]},  # type: ignore[attr-defined]
                               **options)


def _responses_model(server: Server, model: str = "ragkit-extractive", cls: Any = None) -> Any:
    from agno.models.openai import OpenAIResponses

    return (cls or OpenAIResponses)(id=model, base_url=server.base_url, api_key="none", max_retries=0)


def _open_responses() -> type:
    from agno.models.openai.open_responses import OpenResponses

    return OpenResponses


def _file_search(server: Server) -> dict[str, Any]:
    return {"type": "file_search", "vector_store_ids": [server.store]}  # type: ignore[attr-defined]


def _streamed_text(events: Any) -> str:
    return "".join(e.content or "" for e in events if type(e).__name__ == "RunContentEvent"
                   and isinstance(e.content, str))


def _streamed(agent: Any, question: str, **options: Any) -> tuple[str, Any]:
    """A streamed run: its text, and the ``RunOutput`` Agno yields last with
    ``yield_run_output=True`` (without a database ``get_last_run_output`` has none)."""
    from agno.run.agent import RunOutput

    events = list(agent.run(question, stream=True, yield_run_output=True, **options))
    assert isinstance(events[-1], RunOutput)
    return _streamed_text(events), events[-1]


def _citing_chat_class() -> type:
    """``OpenAIChat`` that keeps ragkit's ``citations`` (on the message, and on the finishing
    chunk's delta when streamed): Agno reads only ``url_citation`` annotations of a chat message."""
    from agno.models.message import Citations, DocumentCitation
    from agno.models.openai import OpenAIChat

    def cited(found: list[dict[str, Any]] | None) -> Citations | None:
        if not found:
            return None
        documents = [DocumentCitation(document_title=c["filename"], file_name=c["filename"], cited_text=c["quote"])
                     for c in found]
        return Citations(raw=found, documents=documents)

    class CitingOpenAIChat(OpenAIChat):
        def _parse_provider_response(self, response: Any, response_format: Any = None) -> Any:
            parsed = super()._parse_provider_response(response, response_format=response_format)
            parsed.citations = cited(getattr(response.choices[0].message, "citations", None)) or parsed.citations
            return parsed

        def _parse_provider_response_delta(self, response_delta: Any) -> Any:
            parsed = super()._parse_provider_response_delta(response_delta)
            if response_delta.choices:
                parsed.citations = cited(getattr(response_delta.choices[0].delta, "citations", None)) \
                    or parsed.citations
            return parsed

    return CitingOpenAIChat


# --- offline: the extractive answerer ---------------------------------------------------------


@pytest.mark.parametrize("cls", ["OpenAIChat", "OpenAILike"])
def test_an_agent_on_openai_chat_over_a_store_with_session_history(agno, offline, cls):
    """``extra_body`` names the store; ``instructions`` go as a ``developer`` message
    (``OpenAILike``: ``system``); the session (``InMemoryDb``) sends the earlier turn with the
    follow-up, which ragkit makes standalone."""
    import agno.models.openai as models
    from agno.agent import Agent
    from agno.db.in_memory import InMemoryDb

    agent = Agent(model=_chat_model(offline, cls=getattr(models, cls)), instructions="Answer from the manuals.",
                  db=InMemoryDb(), add_history_to_context=True, telemetry=False)
    first = agent.run("What does error E42 mean?", session_id="support")
    assert first.status.value == "COMPLETED" and E42 in first.content and "[1]" in first.content
    # Agno keeps the url_citation annotations: file, page and address (the quote: CitingOpenAIChat below)
    [source] = first.citations.urls
    assert source.title == "ws200-user-manual.pdf, page 4" and source.url.endswith("/content#page=4")
    follow_up = agent.run("How do I fix it?", session_id="support")
    assert [m.role for m in follow_up.messages] == ["system", "user", "assistant", "user", "assistant"]
    ragkit = follow_up.model_provider_data["model_extra"]["ragkit"]
    assert "E42" in ragkit["search_query"]  # "it" read from the session's earlier turn

    streamed, run = _streamed(agent, "What does the warranty cover?", session_id="support")
    assert "warranty" in streamed.lower() and len(run.messages) == 7  # both earlier turns went along


@pytest.mark.parametrize("streamed", [False, True], ids=["run", "stream"])
def test_ragkit_citations_on_openai_chat_through_a_subclass(agno, offline, streamed):
    """``CitingOpenAIChat`` puts the message's ``citations`` in ``RunOutput.citations``: file name
    and quote as Agno's ``DocumentCitation``, ragkit's ``n``, ``page`` and ``file_id`` in ``raw``."""
    from agno.agent import Agent

    agent = Agent(model=_chat_model(offline, cls=_citing_chat_class()), telemetry=False)
    if streamed:
        text, run = _streamed(agent, "What does error E42 mean?")
        assert E42 in text
    else:
        run = agent.run("What does error E42 mean?")
    [document] = run.citations.documents
    assert document.file_name == "ws200-user-manual.pdf" and document.cited_text == E42
    [raw] = run.citations.raw
    assert raw["n"] == 1 and raw["page"] == 4 and raw["file_id"].startswith("file-")


def test_an_agent_on_openai_responses_with_file_search(agno, offline, tmp_path):
    """The ``file_search`` tool dict runs over ragkit's store. Not streamed, Agno keeps no
    ``file_citation`` (the stored response has them); streamed, each annotation event reaches the
    run's ``citations.raw`` with ragkit's ``page`` and ``quote``. The follow-up goes with the
    session's history, here in Agno's ``SqliteDb`` (Agno resends the turns rather than
    ``previous_response_id``)."""
    from agno.agent import Agent
    from agno.db.sqlite import SqliteDb

    agent = Agent(model=_responses_model(offline), tools=[_file_search(offline)],
                  db=SqliteDb(db_file=str(tmp_path / "agno.db")), add_history_to_context=True,
                  instructions="Answer from the manuals.", telemetry=False)
    first = agent.run("What does error E42 mean?", session_id="support")
    assert E42 in first.content and first.citations is None
    stored = offline.client().responses.retrieve(first.model_provider_data["response_id"])
    [note] = stored.output[-1].content[0].annotations
    assert note.filename == "ws200-user-manual.pdf" and note.page == 4 and note.quote == E42

    events = list(agent.run("How do I fix it?", session_id="support", stream=True))
    assert E42 in _streamed_text(events)
    [note] = [n for e in events if getattr(e, "citations", None) for n in e.citations.raw]
    assert note.type == "file_citation" and note.page == 4 and note.quote == E42
    run = agent.get_last_run_output(session_id="support")
    assert run.citations.raw[0]["filename"] == "ws200-user-manual.pdf"
    follow_up = offline.client().responses.retrieve(run.model_provider_data["response_id"])
    assert "E42" in follow_up.model_extra["ragkit"]["search_query"]
    assert follow_up.previous_response_id is None  # the history went in the input


def test_an_async_agent_on_openai_responses(agno, offline):
    """``arun`` (Agno's ``AsyncOpenAI``), streamed and not."""
    from agno.agent import Agent

    agent = Agent(model=_responses_model(offline), tools=[_file_search(offline)], telemetry=False)

    async def scenario() -> tuple[str, str]:
        run = await agent.arun("What does error E42 mean?")
        streamed = [event async for event in agent.arun("What does error E42 mean?", stream=True)]
        return run.content, _streamed_text(streamed)

    ran, streamed = asyncio.run(scenario())
    assert E42 in ran and E42 in streamed


def test_open_responses_files_and_the_embedder(agno, offline):
    """``OpenResponses`` sends ``store: false``: the answer is not kept (retrieving it is a 404, as at
    OpenAI). ``files=[File(...)]`` beside a ``file_search`` tool without stores: Agno uploads the file,
    makes a store ("knowledge_base"), waits until it is ingested and searches it (without the tool the
    file goes as an ``input_file`` part: a chat model's to read). ``OpenAIEmbedder``
    sends ``dimensions`` (1536 by default) to any ``base_url``: ragkit's model has its own."""
    import openai
    from agno.agent import Agent
    from agno.exceptions import EmbeddingError
    from agno.knowledge.embedder.openai import OpenAIEmbedder
    from agno.media import File
    from conftest import CORPUS

    run = Agent(model=_responses_model(offline, cls=_open_responses()), tools=[_file_search(offline)],
                telemetry=False).run("What does error E42 mean?")
    assert E42 in run.content
    with pytest.raises(openai.NotFoundError):
        offline.client().responses.retrieve(run.model_provider_data["response_id"])

    agent = Agent(model=_responses_model(offline), tools=[{"type": "file_search"}], telemetry=False)
    run = agent.run("What does error E42 mean?", files=[File(filepath=CORPUS / "ws200-user-manual.pdf")])
    assert E42 in run.content
    assert "knowledge_base" in [store.name for store in offline.client().vector_stores.list()]
    inline = Agent(model=_responses_model(offline), telemetry=False)  # without file_search: an input_file part
    run = inline.run("What does error E42 mean?", files=[File(filepath=CORPUS / "ws200-user-manual.pdf")])
    assert run.status.value == "ERROR" and "input_file" in run.content and "chat model" in run.content

    size = len(offline.client().embeddings.create(model="ragkit-embedding", input="E42").data[0].embedding)
    wrong = OpenAIEmbedder(id="ragkit-embedding", base_url=offline.base_url, api_key="none")
    with pytest.raises(EmbeddingError, match=f"dimensions must be {size}"):
        wrong.get_embedding("What does E42 mean?")
    embedder = OpenAIEmbedder(id="ragkit-embedding", base_url=offline.base_url, api_key="none", dimensions=size)
    vector, usage = embedder.get_embedding_and_usage("What does E42 mean?")
    assert len(vector) == size and usage["prompt_tokens"] > 0


class Warranty(BaseModel):
    product: str
    years: int


@pytest.mark.parametrize("api", ["chat", "responses"])
def test_tools_and_output_schema_offline_fail_the_run_naming_the_chat_model(agno, offline, api):
    """A function tool or ``output_schema`` needs a chat model behind ragkit: a 400 saying so, which
    Agno turns into a run with status ``ERROR`` and the message as its content. Session summaries
    ask the agent's model for ``json_schema`` output too: that failure is only logged."""
    from agno.agent import Agent
    from agno.db.in_memory import InMemoryDb

    model = _chat_model(offline) if api == "chat" else _responses_model(offline)
    store = [] if api == "chat" else [_file_search(offline)]
    for options in ({"tools": [*store, get_weather]}, {"tools": store, "output_schema": Warranty},
                    {"tools": store, "output_schema": Warranty, "use_json_mode": True}):
        run = Agent(model=model, telemetry=False, **options).run("How long is the WS-200 warranty?")
        assert run.status.value == "ERROR" and "chat model" in run.content, run.content
    if api == "chat":  # as the server documents: completions are not kept, nor scored token by token
        for refused in ({"store": True}, {"logprobs": True}):
            run = Agent(model=_chat_model(offline, **refused), telemetry=False).run("What does error E42 mean?")
            assert run.status.value == "ERROR" and ("store" if "store" in refused else "logprobs") in run.content
    agent = Agent(model=model, tools=store, db=InMemoryDb(), enable_session_summaries=True, telemetry=False)
    assert E42 in agent.run("What does error E42 mean?", session_id="s").content
    assert agent.get_session_summary(session_id="s") is None


# --- with a chat model behind ragkit ----------------------------------------------------------


def _agent_with_weather(api: str, server: Server, model: str = MODEL, **options: Any) -> Any:
    from agno.agent import Agent

    if api == "chat":
        return Agent(model=_chat_model(server, model), tools=[get_weather], telemetry=False,
                     instructions="Answer from the manual.", **options)
    cls = _open_responses() if api == "open_responses" else None
    return Agent(model=_responses_model(server, model, cls=cls), tools=[_file_search(server), get_weather],
                 instructions="Answer from the manual.", telemetry=False, **options)


ANSWER = f"E42 means the anemometer cable is disconnected [1]. Oslo: {WEATHER}."


@pytest.mark.parametrize("mode", ["run", "stream", "arun"])
@pytest.mark.parametrize("api", ["chat", "responses", "open_responses"])
def test_an_agent_with_a_function_tool_beside_the_store(agno, chat, llm, api, mode):
    """The model searches and calls ``get_weather`` at once: ragkit runs the search, Agno the
    function, and the answer cites the passage and uses the function's output. On the Responses
    API Agno sends the call back with its item id, so ragkit goes on from the stored response; on
    chat completions the message's ``ragkit.searches`` do not come back, but the server kept them
    under the calls: either way the passage is in the last request and the ``[1]`` stays. With
    ``store: false`` nothing was kept, so the passages searched before the call are not in the last
    request (ragkit drops an ``[n]`` it cannot check)."""
    llm.state.tool_script.extend([SEARCH_AND_CALL, {"content": ANSWER}])
    agent = _agent_with_weather(api, chat)
    if mode == "run":
        run = agent.run(QUESTION)
    elif mode == "stream":
        text, run = _streamed(agent, QUESTION)
        assert "Oslo" in text
    else:
        run = asyncio.run(agent.arun(QUESTION))
    assert [tool.tool_name for tool in run.tools] == ["get_weather"]  # the search is not Agno's to run
    assert run.tools[0].result == WEATHER and run.metrics.input_tokens > 0 and run.metrics.output_tokens > 0
    bodies = [r["body"] for r in llm.chat_requests()]
    assert {t["function"]["name"] for t in bodies[0]["tools"]} == {"file_search", "get_weather"}
    system = [m["content"] for m in bodies[0]["messages"] if m["role"] == "system"]
    assert any("Answer from the manual." in text for text in system)  # the agent's instructions
    assert {"role": "tool", "tool_call_id": "call_1_1", "content": WEATHER} in bodies[-1]["messages"]
    kept = api != "open_responses"
    passages = any(m["role"] == "tool" and E42 in str(m["content"]) for m in bodies[-1]["messages"])
    assert passages == kept
    assert run.content == (ANSWER if kept else ANSWER.replace(" [1]", ""))
    if api == "chat":  # the [1] as a url_citation annotation: file, page and address
        [source] = run.citations.urls
        assert source.title == "ws200-user-manual.pdf, page 4" and source.url.endswith("/content#page=4")


@pytest.mark.parametrize("api", ["chat", "responses"])
def test_a_follow_up_after_a_function_call_in_the_session(agno, chat, llm, api):
    """The session resends the first run (the call, its output, the answer) with the follow-up.
    ragkit rebuilds it with the passages searched before the call: on the Responses API from the
    stored response, on chat completions from the searches the server kept under the calls; on
    chat completions it also has the model make the follow-up standalone first (one more call)."""
    from agno.db.in_memory import InMemoryDb

    agent = _agent_with_weather(api, chat, db=InMemoryDb(), add_history_to_context=True)
    llm.state.tool_script.extend([SEARCH_AND_CALL, {"content": ANSWER}])
    agent.run(QUESTION, session_id="support")
    if api == "chat":
        llm.state.tool_script.append({"content": "How do I fix error E42?", "when": "Last message"})
    llm.state.tool_script.append({"content": "Reconnect the anemometer cable.", "when": "How do I fix it?"})
    follow_up = agent.run("How do I fix it?", session_id="support")
    assert follow_up.content == "Reconnect the anemometer cable."
    last = llm.chat_requests()[-1]["body"]["messages"]
    assert [m["role"] for m in last][-3:] == ["tool", "assistant", "user"] and last[-1]["content"] == "How do I fix it?"
    assert any(m["role"] == "tool" and E42 in str(m["content"]) for m in last)  # the first run's passages


def test_a_model_named_like_a_reasoning_model_chains_previous_response_id(agno, reasoning, llm):
    """For ``gpt-5*``, ``o3`` and ``o4-mini`` ids Agno stores responses and sends only what is new
    with ``previous_response_id`` (the function's output, the next question): ragkit goes on from
    the stored response, so the answer keeps its ``[1]`` and the follow-up has the first turn."""
    from agno.db.in_memory import InMemoryDb

    agent = _agent_with_weather("responses", reasoning, model=REASONING, db=InMemoryDb(),
                                add_history_to_context=True)
    llm.state.tool_script.extend([SEARCH_AND_CALL, {"content": ANSWER}])
    first = agent.run(QUESTION, session_id="support")
    assert first.content == ANSWER
    llm.state.tool_script.append({"content": "Reconnect the anemometer cable [1].", "when": "How do I fix it?"})
    follow_up = agent.run("How do I fix it?", session_id="support")
    assert follow_up.content == "Reconnect the anemometer cable [1]."
    stored = reasoning.client().responses.retrieve(follow_up.model_provider_data["response_id"])
    assert stored.previous_response_id == first.model_provider_data["response_id"]


@pytest.mark.parametrize("api", ["chat", "responses", "json_mode"])
def test_an_agent_with_an_output_schema_over_the_store(agno, chat, llm, api):
    """``output_schema`` sends ``json_schema`` output (``response_format`` or ``text.format``),
    which the chat model fills in from the passages; ``use_json_mode=True`` sends ``json_object``
    and the schema in the instructions. ``run.content`` is the model."""
    from agno.agent import Agent

    if api == "responses":
        agent = Agent(model=_responses_model(chat, MODEL), tools=[_file_search(chat)], output_schema=Warranty,
                      telemetry=False)
    else:
        if api == "json_mode":  # the model's JSON, given only when Agno's schema reached it
            llm.state.tool_script.append({"content": '{"product": "WS-200", "years": 2}', "when": '\\"years\\"'})
        agent = Agent(model=_chat_model(chat, MODEL), output_schema=Warranty, use_json_mode=api == "json_mode",
                      telemetry=False)
    # a question of its own per API: ragkit would answer the second from its answer cache
    run = agent.run(f"How long is the WS-200 warranty ({api})?")
    assert isinstance(run.content, Warranty) and run.content.years > 0, run.content
    [body] = [r["body"] for r in llm.chat_requests()]
    assert body["response_format"]["type"] == ("json_object" if api == "json_mode" else "json_schema")
    if api == "json_mode":
        assert run.content == Warranty(product="WS-200", years=2)
        assert any('"years"' in str(m["content"]) for m in body["messages"] if m["role"] == "system")
    else:
        assert body["response_format"]["json_schema"]["name"] == "Warranty"
