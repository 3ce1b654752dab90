"""The one tool loop (ragkit.answer.run_tool_loop) against the scripted OpenAI-compatible test
server (tests/openai_server.py), over HTTP with the real openai SDK: a tool run here, a caller's
function that pauses the turn and resumes from saved JSON, calls the model gets wrong, a model
that never stops calling tools, and citations to passages no tool returned."""

from __future__ import annotations

import json
import re

import openai
import pytest

from ragkit.answer import (
    LoopState, Tool, ToolResult, add_tool_outputs, file_search_tool, opening_messages, run_tool_loop,
)
from ragkit.errors import RagkitError, TransientModelError, UsageError
from ragkit.models import SearchHit

MODEL = "test-model"
SOURCE = re.compile(r'<source id="(\d+)" file="([^"]*)"(?: page="(\d+)")?>\n(.*?)\n</source>', re.S)
MANUAL = [
    ("c-e42", "ws200-manual.pdf", 4, "Error code E42 means the anemometer cable is disconnected."),
    ("c-reset", "ws200-manual.pdf", 7, "Hold the SYNC button for 10 seconds to reset the sensor array."),
    ("c-mqtt", "cloud-guide.md", None, "The MQTT broker listens on port 1883."),
]
WEATHER = {"name": "get_weather", "description": "The weather in a city now.",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}


def _hit(rank: int, chunk_id: str, source: str, page: int | None, text: str) -> SearchHit:
    return SearchHit(rank=rank, chunk_id=chunk_id, text=text, source=source, path=f"/docs/{source}", page=page,
                     section="", start=0, end=len(text), score=0.5)


def _search(query: str) -> tuple[list[SearchHit], list[dict]]:
    """A tiny keyword search over the manual: what a server's store search would hand the tool."""
    words = set(query.lower().split())
    rows = [row for row in MANUAL if words & set(row[3].lower().rstrip(".").split())]
    return ([_hit(i, *row) for i, row in enumerate(rows, start=1)],
            [{"file_id": f"file-{row[0]}"} for row in rows])


@pytest.fixture
def client(llm):
    return openai.OpenAI(api_key="test", base_url=llm.url, max_retries=0, timeout=5.0)


def _state(question: str) -> LoopState:
    return LoopState(opening_messages("Answer from the documents. Cite passages as [n].", []) +
                     [{"role": "user", "content": question}])


def _tool_messages(body: dict) -> list[str]:
    return [m["content"] for m in body["messages"] if m["role"] == "tool"]


def cite(word: str, claim: str):
    """A scripted final reply citing the passage (as numbered in the tool results) that holds ``word``."""
    def reply(body: dict) -> dict:
        numbers = [n for n, _f, _p, text in SOURCE.findall("\n".join(_tool_messages(body))) if word in text]
        return {"content": f"{claim} [{numbers[0]}]."}
    return reply


def test_a_tool_run_here_numbers_its_passages_and_the_answer_cites_them(client, llm):
    llm.state.tool_script.extend([
        {"tool_calls": [{"name": "file_search", "arguments": {"query": "mqtt port"}}]},
        {"tool_calls": [{"name": "file_search", "arguments": {"query": "error code E42"}}]},
        cite("E42", "E42 means the anemometer cable is disconnected")])
    state = _state("What does E42 mean?")
    forced = {"type": "function", "function": {"name": "file_search"}}
    result = run_tool_loop(client, state, [file_search_tool(_search)], model=MODEL, tool_choice=forced)
    assert result.status == "answered" and state.rounds == 2 and not result.pending
    first, second = result.calls
    assert first.ok and second.ok and second.details == {"query": "error code E42"}
    assert first.numbers == [1] and second.numbers == [2]  # one numbering for the whole turn
    assert second.origins == [{"file_id": "file-c-e42"}] and result.passages.origin(2) == {"file_id": "file-c-e42"}
    assert result.text == "E42 means the anemometer cable is disconnected [2]." and not result.warnings
    [citation] = result.citations
    assert (citation.n, citation.source, citation.page) == (2, "ws200-manual.pdf", 4)
    assert result.usage["total_tokens"] > 0 and result.usage == state.usage
    requests = [r["body"] for r in llm.chat_requests()]
    assert [r["tool_choice"] for r in requests] == [forced, "auto", "auto"]  # forced until the first call
    assert requests[0]["tools"][0]["function"]["name"] == "file_search"
    assert "(data, not instructions)" in requests[2]["messages"][-1]["content"]
    assert state.messages[-1] == {"role": "assistant", "content": result.raw_text}


def test_a_caller_function_pauses_the_turn_and_it_resumes_from_saved_json(client, llm):
    llm.state.tool_script.extend([
        {"tool_calls": [{"name": "file_search", "arguments": {"query": "E42"}},
                        {"name": "get_weather", "arguments": {"city": "Oslo"}}]},
        lambda body: {"content": f"E42 means the cable is disconnected [1]. Oslo: {_tool_messages(body)[-1]}."}])
    tools = [file_search_tool(_search), Tool.caller_function(WEATHER)]
    paused = run_tool_loop(client, _state("E42, and the weather in Oslo?"), tools, model=MODEL)
    assert paused.status == "pending" and [c.name for c in paused.calls] == ["file_search"]
    [call] = paused.pending
    assert call.name == "get_weather" and json.loads(call.arguments) == {"city": "Oslo"}
    saved = json.loads(json.dumps(paused.state.to_dict()))  # what a server stores; another process reads it

    with pytest.raises(UsageError):
        add_tool_outputs(LoopState.from_dict(saved), {"call_nobody_made": "sunny"})
    resumed = LoopState.from_dict(saved)
    add_tool_outputs(resumed, {call.id: "cloudy, 12 C"})
    done = run_tool_loop(client, resumed, tools, model=MODEL)
    assert done.status == "answered" and done.calls == [] and resumed.rounds == 1
    assert done.text == "E42 means the cable is disconnected [1]. Oslo: cloudy, 12 C."
    assert done.citations[0].chunk_id == "c-e42" and done.passages.origin(1) == {"file_id": "file-c-e42"}
    last = llm.chat_requests()[-1]["body"]
    assert last["messages"][-1] == {"role": "tool", "tool_call_id": call.id, "content": "cloudy, 12 C"}
    assert last["tools"][1]["function"] == WEATHER


def test_unknown_tools_bad_arguments_and_failing_tools_go_back_to_the_model(client, llm):
    def broken(arguments: dict) -> ToolResult:
        raise TransientModelError("the index is being rebuilt")

    llm.state.tool_script.extend([
        {"tool_calls": [{"name": "delete_everything", "arguments": {}},
                        {"name": "file_search", "arguments": "{not json"},
                        {"name": "file_search", "arguments": {"query": "", "colour": "red"}},
                        {"name": "reindex", "arguments": {}}]},
        {"content": "I could not find the answer in the documents."}])
    tools = [file_search_tool(_search), Tool("reindex", {"type": "object"}, run=broken)]
    result = run_tool_loop(client, _state("Anything?"), tools, model=MODEL)
    assert result.status == "answered" and result.refused and not result.citations
    unknown, not_json, invalid, failed = result.calls
    assert not any(c.ok for c in result.calls)
    assert unknown.result == "ERROR: there is no tool 'delete_everything'; the tools are: file_search, reindex."
    assert not_json.result.startswith("ERROR: the arguments are not valid JSON")
    assert "query: must not be empty" in invalid.result and "colour: unknown argument" in invalid.result
    assert failed.result == "ERROR: reindex failed: the index is being rebuilt"
    sent = _tool_messages(llm.chat_requests()[1]["body"])
    assert sent == [c.result for c in result.calls]


def test_a_model_that_never_stops_calling_tools_ends_after_max_rounds(client, llm):
    llm.state.tool_script.append({"tool_calls": [{"name": "file_search", "arguments": {"query": "E42"}}],
                                  "repeat": True})
    state = _state("Loop?")
    result = run_tool_loop(client, state, [file_search_tool(_search)], model=MODEL, max_rounds=2)
    assert result.status == "max_rounds" and state.rounds == 2 and len(result.calls) == 2
    assert [r["body"]["tool_choice"] for r in llm.chat_requests()] == ["auto", "auto", "none"]
    assert result.calls[1].numbers == [1]  # the same passage keeps its number


def test_a_citation_to_a_passage_no_tool_returned_is_removed(client, llm):
    llm.state.tool_script.extend([{"tool_calls": [{"name": "file_search", "arguments": {"query": "mqtt"}}]},
                                  {"content": "The port is 1883 [1]. TLS uses 8883 [7]."}])
    result = run_tool_loop(client, _state("What is the MQTT port?"), [file_search_tool(_search)], model=MODEL)
    assert result.text == "The port is 1883 [1]. TLS uses 8883." and result.invalid_citations == [7]
    assert [c.n for c in result.citations] == [1]
    assert result.warnings == ["removed citation(s) to passages no tool returned: [7]"]


def test_stopping_and_model_errors(client, llm):
    state = _state("Anything?")
    stopped = run_tool_loop(client, state, [file_search_tool(_search)], model=MODEL, should_stop=lambda: True)
    assert stopped.status == "stopped" and not llm.chat_requests()
    llm.state.reject_tools = True
    with pytest.raises(RagkitError, match="HTTP 400"):
        run_tool_loop(client, state, [file_search_tool(_search)], model=MODEL)
    assert state.rounds == 0
