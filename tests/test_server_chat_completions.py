"""Chat completions over a vector store, as assistant builders write them with the stock SDK:
a conversation (earlier turns make the follow-up standalone), the caller's function tools with
every ``tool_choice`` and the tool-result round trip, image parts for the chat model, streamed
and not. Two real ``ragkit serve`` processes: one offline (the extractive answerer), one whose
chat model is the test OpenAI-compatible server on 127.0.0.1 (tests/openai_server.py)."""

from __future__ import annotations

import json

import openai
import pytest
from conftest import CORPUS
from server_helpers import Server, chat_model_server, e42_and_weather, upload_batch

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]
MODEL = "test-model"
FILES = ["cloud-api-guide.md", "support-faq.txt", "ws200-user-manual.pdf"]
RATE = "How many requests per minute may a Halvard Cloud API token send?"
ABOVE = "And what happens above that?"
WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "The weather in a city now.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}
PIXEL = ("data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAA"
         "AABJRU5ErkJggg==")


def _store(client) -> str:
    vs = client.vector_stores.create(name="halvard")
    assert upload_batch(client, vs.id, [CORPUS / name for name in FILES]).file_counts.completed == len(FILES)
    return vs.id


@pytest.fixture(scope="module")
def offline(tmp_path_factory):
    running = Server(tmp_path_factory.mktemp("chat-offline") / "home", "--no-auth").start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def offline_client(offline):
    return offline.client()


@pytest.fixture(scope="module")
def offline_store(offline_client):
    return _store(offline_client)


@pytest.fixture(scope="module")
def online(tmp_path_factory, openai_server):
    running = chat_model_server(tmp_path_factory.mktemp("chat-model") / "home", openai_server.url, MODEL)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def client(online):
    return online.client()


@pytest.fixture(scope="module")
def store(client):
    return _store(client)


def _ask(client, store, messages, **options):
    return client.chat.completions.create(model=options.pop("model", MODEL), messages=messages,
                                          extra_body={"vector_store_ids": [store]}, **options)


def _sent(llm) -> list[dict]:
    """The bodies of the chat completion requests the model got."""
    return [r["body"] for r in llm.chat_requests()]


# -- a conversation ----------------------------------------------------------------------------
def test_offline_a_follow_up_continues_the_conversation(offline_client, offline_store):
    messages = [{"role": "user", "content": RATE}]
    first = _ask(offline_client, offline_store, messages, model="ragkit-extractive")
    assert "120" in first.choices[0].message.content
    messages += [{"role": "assistant", "content": first.choices[0].message.content},
                 {"role": "user", "content": ABOVE}]
    follow = _ask(offline_client, offline_store, messages, model="ragkit-extractive")
    meta = follow.model_extra["ragkit"]
    assert not meta["refused"] and meta["search_query"] != ABOVE and "token" in meta["search_query"].lower()
    assert "429" in follow.choices[0].message.content
    assert follow.choices[0].message.model_extra["citations"][0]["filename"] == "cloud-api-guide.md"
    streamed = list(offline_client.chat.completions.create(
        model="ragkit-extractive", messages=messages, stream=True, extra_body={"vector_store_ids": [offline_store]}))
    assert "429" in "".join(c.choices[0].delta.content or "" for c in streamed if c.choices)


def test_offline_a_conversation_ending_with_the_answer_asks_its_question_again(offline_client, offline_store):
    """A conversation may end with an assistant message (OpenAI continues it; LangGraph's
    ``create_react_agent`` sends one to have its answer restated): its question is the last user
    message's, which the extractive answerer answers again, streamed or not."""
    messages = [{"role": "user", "content": RATE}, {"role": "assistant", "content": "Let me look that up."}]
    done = _ask(offline_client, offline_store, messages, model="ragkit-extractive")
    assert "120" in done.choices[0].message.content and done.model_extra["ragkit"]["search_query"] == RATE
    streamed = list(offline_client.chat.completions.create(
        model="ragkit-extractive", messages=messages, stream=True, extra_body={"vector_store_ids": [offline_store]}))
    assert "120" in "".join(c.choices[0].delta.content or "" for c in streamed if c.choices)
    with pytest.raises(openai.BadRequestError, match="assistant message after a user message") as caught:
        _ask(offline_client, offline_store, [{"role": "system", "content": "Be brief."}, messages[1]],
             model="ragkit-extractive")
    assert caught.value.body["param"] == "messages"


def test_with_the_chat_model_the_model_condenses_the_follow_up(client, store, llm):
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": RATE}]
    first = _ask(client, store, messages)
    assert "120" in first.choices[0].message.content
    standalone = "What happens when a Halvard Cloud API token sends more than 120 requests per minute?"
    llm.state.tool_script.append({"content": standalone})  # the condense request has no tools
    messages += [first.choices[0].message, {"role": "user", "content": ABOVE}]
    follow = _ask(client, store, messages)
    condensed, answered = _sent(llm)[-2:]
    assert condensed["messages"][0]["content"].startswith("You rewrite the last message")
    assert f"<user>{RATE}</user>" in condensed["messages"][1]["content"]
    assert follow.model_extra["ragkit"]["search_query"] == standalone
    assert f"Question: {standalone}" in answered["messages"][1]["content"]
    assert "429" in follow.choices[0].message.content
    assert {c["filename"] for c in follow.choices[0].message.model_extra["citations"]} == {"cloud-api-guide.md"}


# -- the caller's functions --------------------------------------------------------------------
def test_tool_calls_come_back_and_the_tool_results_complete_the_answer(client, store, llm):
    llm.state.tool_script.extend([
        {"tool_calls": [{"name": "file_search", "arguments": {"query": "error code E42"}}]},
        {"tool_calls": [{"name": "get_weather", "arguments": {"city": "Oslo"}}]},
        e42_and_weather])
    messages: list = [{"role": "user", "content": "What does E42 mean, and what is the weather in Oslo?"}]
    first = _ask(client, store, messages, tools=[WEATHER])
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    [call] = choice.message.tool_calls
    assert call.function.name == "get_weather" and json.loads(call.function.arguments) == {"city": "Oslo"}
    assert _sent(llm)[0]["tool_choice"] == "auto"
    assert [t["function"]["name"] for t in _sent(llm)[0]["tools"]] == ["file_search", "get_weather"]

    messages += [choice.message, {"role": "tool", "tool_call_id": call.id, "content": "cloudy, 12 C"}]
    second = _ask(client, store, messages, tools=[WEATHER])
    answer = second.choices[0]
    assert answer.finish_reason == "stop" and "anemometer" in answer.message.content
    assert "cloudy, 12 C" in answer.message.content
    [cited] = answer.message.model_extra["citations"]
    assert cited["filename"] in FILES and cited["quote"]
    # stateless: the search the model ran before its call was run again, with the same numbers
    last = _sent(llm)[-1]["messages"]
    assert [m["role"] for m in last] == ["system", "user", "assistant", "tool", "tool"]
    assert [c["function"]["name"] for c in last[2]["tool_calls"]] == ["file_search", "get_weather"]
    assert "E42" in last[3]["content"] and last[4] == {"role": "tool", "tool_call_id": call.id,
                                                       "content": "cloudy, 12 C"}


def test_a_model_that_never_stops_searching_is_a_502_naming_the_upstream_model(client, store, llm):
    """Even the last round, sent with tool_choice "none", calls a tool (a real model may ignore it)."""
    llm.state.tool_script.append({"tool_calls": [{"name": "file_search", "arguments": {"query": "E42"}}],
                                  "repeat": True})
    try:
        with pytest.raises(openai.APIStatusError) as info:
            _ask(client, store, [{"role": "user", "content": "What does E42 mean?"}], tools=[WEATHER])
    finally:
        llm.state.tool_script.clear()
    assert info.value.status_code == 502
    assert info.value.body["type"] == "upstream_error" and info.value.body["code"] == "tool_loop_exhausted"
    assert "kept calling tools" in info.value.body["message"]  # was a 500 server_error
    # the server is fine: the next question is answered
    llm.state.tool_script.append({"content": "E42 means the anemometer is disconnected [1]."})
    assert "anemometer" in _ask(client, store, [{"role": "user", "content": "What does E42 mean?"}]
                                ).choices[0].message.content


@pytest.mark.parametrize("choice", ["required", {"type": "function", "function": {"name": "get_weather"}}])
def test_a_forcing_tool_choice_reaches_the_model(client, store, llm, choice):
    llm.state.tool_script.append({"tool_calls": [{"name": "get_weather", "arguments": {"city": "Bergen"}},
                                                 {"name": "get_weather", "arguments": {"city": "Oslo"}}]})
    done = _ask(client, store, [{"role": "user", "content": "Weather in Bergen and Oslo?"}], tools=[WEATHER],
                tool_choice=choice, parallel_tool_calls=True)
    assert done.choices[0].finish_reason == "tool_calls"
    assert [json.loads(c.function.arguments)["city"] for c in done.choices[0].message.tool_calls] == ["Bergen", "Oslo"]
    [sent] = _sent(llm)
    assert sent["tool_choice"] == choice and sent["parallel_tool_calls"] is True


def test_a_function_named_in_tool_choice_is_filled_in_from_the_documents(client, store, llm):
    """A tool_choice naming one of the caller's functions (how instructor asks for a shape) makes
    the model call it at once, so it could not search: ragkit searches the question first. The
    search goes back with the message (``ragkit.searches``) and is kept by the server, so a client
    that rebuilds the message without it (instructor's reask) gets it run in place too; a call the
    server never returned gets the question searched again, never an unsourced call."""
    def fill(body: dict) -> dict:  # the model fills the shape in from the passages it was given
        seen = "anemometer cable is disconnected" in json.dumps(body["messages"])
        return {"tool_calls": [{"name": "error_code", "arguments": {
            "code": "E42", "meaning": "the anemometer cable is disconnected" if seen else "unknown"}}]}

    llm.state.tool_script.extend([fill, fill, fill, fill])
    shape = {"type": "function", "function": {"name": "error_code", "parameters": {
        "type": "object", "properties": {"code": {"type": "string"}, "meaning": {"type": "string"}},
        "required": ["code", "meaning"]}}}
    named = {"type": "function", "function": {"name": "error_code"}}
    messages: list = [{"role": "user", "content": "What does error code E42 mean?"}]
    first = _ask(client, store, messages, tools=[shape], tool_choice=named).choices[0]
    [call] = first.message.tool_calls
    assert json.loads(call.function.arguments)["meaning"] == "the anemometer cable is disconnected"
    [search] = first.message.model_extra["ragkit"]["searches"]
    assert json.loads(search["arguments"]) == {"query": "What does error code E42 mean?"}
    sent = _sent(llm)[0]
    assert sent["tool_choice"] == named and [m["role"] for m in sent["messages"]] == ["system", "user", "assistant", "tool"]
    assert sent["messages"][2]["tool_calls"][0]["function"]["name"] == "file_search"

    # sent back as returned: the search is run again in its place, not twice
    invalid = {"role": "tool", "tool_call_id": call.id, "content": "meaning: too long, shorten it"}
    again = _ask(client, store, [*messages, first.message, invalid], tools=[shape], tool_choice=named)
    assert json.loads(again.choices[0].message.tool_calls[0].function.arguments)["meaning"] != "unknown"
    assert [m["role"] for m in _sent(llm)[1]["messages"]] == ["system", "user", "assistant", "tool", "tool"]
    # rebuilt without ragkit's searches, as instructor's reask sends it: the server kept them under
    # the call, so they are run in place as well
    rebuilt = {"role": "assistant", "content": None, "tool_calls": [call.model_dump()]}
    reask = _ask(client, store, [*messages, rebuilt, invalid], tools=[shape], tool_choice=named)
    assert json.loads(reask.choices[0].message.tool_calls[0].function.arguments)["meaning"] != "unknown"
    assert [m["role"] for m in _sent(llm)[2]["messages"]] == ["system", "user", "assistant", "tool", "tool"]
    # a call the server did not return (other arguments under the id): the question is searched again
    other = {"role": "assistant", "content": None, "tool_calls": [
        call.model_dump() | {"function": {"name": "error_code", "arguments": '{"code": "E41"}'}}]}
    reask = _ask(client, store, [*messages, other, invalid], tools=[shape], tool_choice=named)
    assert json.loads(reask.choices[0].message.tool_calls[0].function.arguments)["meaning"] != "unknown"
    assert [m["role"] for m in _sent(llm)[3]["messages"]] == ["system", "user", "assistant", "tool", "assistant", "tool"]
    assert len(_sent(llm)) == 4


def test_structured_output_offline_says_a_chat_model_is_needed(offline_client, offline_store):
    with pytest.raises(openai.BadRequestError) as caught:
        _ask(offline_client, offline_store, [{"role": "user", "content": "What does E42 mean?"}],
             model="ragkit-extractive", response_format={"type": "json_schema", "json_schema": {
                 "name": "answer", "schema": {"type": "object"}}})
    assert caught.value.param == "response_format"
    assert "needs a chat model behind ragkit" in caught.value.message and "RAGKIT_MODEL" in caught.value.message
    with pytest.raises(openai.BadRequestError) as caught:  # a malformed format says what it lacks
        _ask(offline_client, offline_store, [{"role": "user", "content": "What does E42 mean?"}],
             model="ragkit-extractive", response_format={"type": "json_schema", "json_schema": {"schema": {}}})
    assert caught.value.param == "response_format" and "json_schema.name" in caught.value.message


def test_tool_choice_none_answers_from_the_documents(client, store, llm):
    done = _ask(client, store, [{"role": "user", "content": "What does error code E42 mean?"}], tools=[WEATHER],
                tool_choice="none", parallel_tool_calls=False)
    assert done.choices[0].finish_reason == "stop" and "anemometer" in done.choices[0].message.content.lower()
    assert done.choices[0].message.model_extra["citations"]
    assert all("get_weather" not in json.dumps(body.get("tools", [])) for body in _sent(llm))


def test_tool_choice_must_name_a_tool_it_offers(client, store, llm):
    with pytest.raises(openai.BadRequestError) as named:
        _ask(client, store, [{"role": "user", "content": "x"}], tools=[WEATHER],
             tool_choice={"type": "function", "function": {"name": "get_time"}})
    assert named.value.body["param"] == "tool_choice.function.name"
    with pytest.raises(openai.BadRequestError) as unanswered:
        _ask(client, store, [{"role": "user", "content": "x"}, {"role": "assistant", "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}]},
            {"role": "user", "content": "and?"}], tools=[WEATHER])
    assert "call_1" in unanswered.value.message
    assert not _sent(llm)


def test_streamed_tool_calls_and_streamed_answer(client, store, llm):
    llm.state.tool_script.extend([
        {"tool_calls": [{"name": "get_weather", "arguments": {"city": "Tromsø"}}]},
        lambda body: {"content": "It is " + next(m["content"] for m in body["messages"] if m["role"] == "tool")}])
    messages: list = [{"role": "user", "content": "What is the weather in Tromsø?"}]
    with client.chat.completions.stream(model=MODEL, messages=messages, tools=[WEATHER],
                                        extra_body={"vector_store_ids": [store]}) as events:
        first = events.get_final_completion()
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    [call] = choice.message.tool_calls
    assert call.function.name == "get_weather" and json.loads(call.function.arguments) == {"city": "Tromsø"}
    messages += [{"role": "assistant", "tool_calls": [call.model_dump()]},
                 {"role": "tool", "tool_call_id": call.id, "content": "snow, -3 C"}]
    chunks = list(client.chat.completions.create(model=MODEL, messages=messages, tools=[WEATHER], stream=True,
                                                 stream_options={"include_usage": True},
                                                 extra_body={"vector_store_ids": [store]}))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "It is snow, -3 C"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].usage.total_tokens > 0


def test_function_tools_and_tool_messages_offline_need_a_chat_model(offline_client, offline_store):
    with pytest.raises(openai.BadRequestError) as tools:
        _ask(offline_client, offline_store, [{"role": "user", "content": "Weather?"}], tools=[WEATHER],
             model="ragkit-extractive")
    assert "need a chat model" in tools.value.message and tools.value.body["param"] == "tools"


# -- images ------------------------------------------------------------------------------------
def test_an_image_part_reaches_the_chat_model(client, store, llm):
    llm.state.tool_script.append(lambda body: {"content": "That is the WS-200 sensor array [1]."})
    parts = [{"type": "text", "text": "What does error code E42 on this display mean?"},
             {"type": "image_url", "image_url": {"url": PIXEL, "detail": "low"}}]
    done = _ask(client, store, [{"role": "user", "content": parts}])
    assert done.choices[0].message.content == "That is the WS-200 sensor array [1]."
    assert done.choices[0].message.model_extra["citations"][0]["filename"] in FILES
    [sent] = _sent(llm)
    assert {"role": "user", "content": parts} in sent["messages"]
    searched = next(m for m in sent["messages"] if m["role"] == "tool")  # the text parts were searched first
    assert "E42" in searched["content"]


def test_offline_an_image_part_is_a_400_naming_it(offline_client, offline_store):
    parts = [{"type": "text", "text": "What is this?"}, {"type": "image_url", "image_url": {"url": PIXEL}}]
    with pytest.raises(openai.BadRequestError) as refused:
        _ask(offline_client, offline_store, [{"role": "user", "content": parts}], model="ragkit-extractive")
    assert refused.value.body["param"] == "messages[0].content[1]"
    assert "image_url" in refused.value.message and "vision-capable chat model" in refused.value.message


# -- what ragkit does not serve ----------------------------------------------------------------
def test_fine_tuning_audio_and_images_say_ragkit_does_not_serve_them(offline_client, tmp_path):
    sound = tmp_path / "hello.wav"
    sound.write_bytes(b"RIFF0000WAVE")
    calls = {"fine-tuning": lambda: offline_client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file="file-x"),
             "audio": lambda: offline_client.audio.transcriptions.create(model="whisper-1", file=sound),
             "image": lambda: offline_client.images.generate(model="gpt-image-1", prompt="a weather station")}
    for family, call in calls.items():
        with pytest.raises(openai.NotFoundError) as refused:
            call()
        assert f"ragkit does not serve {family}" in refused.value.message
        assert refused.value.body["code"] == "unsupported_endpoint"


def test_response_compaction_says_ragkit_does_not_compact(offline_client):
    """``responses.compact`` (the Agents SDK's compaction session calls it) was a bare 405 from the
    route that retrieves a stored response."""
    with pytest.raises(openai.NotFoundError) as refused:
        offline_client.responses.compact(model="ragkit-extractive", input=[{"role": "user", "content": "hi"}])
    assert "ragkit does not serve response compaction" in refused.value.message
    assert refused.value.body["code"] == "unsupported_endpoint"


# -- tool_choice on the other surfaces ---------------------------------------------------------
def test_assistants_runs_honour_and_responses_echo_tool_choice(client, store, llm):
    named = {"type": "function", "function": {"name": "get_weather"}}
    llm.state.tool_script.append({"tool_calls": [{"name": "get_weather", "arguments": {"city": "Oslo"}}]})
    assistant = client.beta.assistants.create(model=MODEL, tools=[{"type": "file_search"}, WEATHER],
                                              tool_resources={"file_search": {"vector_store_ids": [store]}})
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "Weather in Oslo?"}])
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id,
                                                   tool_choice=named, parallel_tool_calls=False)
    assert run.status == "requires_action", run.last_error
    assert run.tool_choice.type == "function" and run.tool_choice.function.name == "get_weather"
    assert run.parallel_tool_calls is False
    assert _sent(llm)[-1]["tool_choice"] == named

    llm.state.tool_script.append({"tool_calls": [{"name": "get_weather", "arguments": {"city": "Oslo"}}]})
    response = client.responses.create(
        model=MODEL, input="Weather in Oslo?", tool_choice="required",
        tools=[{"type": "file_search", "vector_store_ids": [store]}, {"type": "function", **WEATHER["function"]}])
    assert response.tool_choice == "required" and response.output[-1].type == "function_call"
    assert _sent(llm)[-1]["tool_choice"] == "required"


def test_the_page_condenses_its_follow_ups_with_the_chat_model(online, llm):
    import urllib.request

    llm.state.tool_script.append({"content": "How often is the WS-200 sensor array serviced?"})
    body = {"question": "and how often is it serviced?", "previous": "How do I reset the WS-200 sensor array?",
            "passages": ["Hold SYNC for 10 seconds [1]."]}
    request = urllib.request.Request(online.url + "/page/standalone", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json", "Authorization": "Bearer x"})
    with urllib.request.urlopen(request, timeout=60) as reply:
        made = json.loads(reply.read())
    assert made["query"] == "How often is the WS-200 sensor array serviced?" and made["method"] == "model"
    [condense] = _sent(llm)
    assert "<user>How do I reset the WS-200 sensor array?</user>" in condense["messages"][1]["content"]
