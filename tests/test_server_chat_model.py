"""``ragkit serve`` with an upstream chat model: the test OpenAI-compatible server on 127.0.0.1
(tests/openai_server.py) plays the model, so generation, streaming, proxying and the fallback to
the extractive answer are exercised over real HTTP with no network."""

from __future__ import annotations

import json
import re

from concurrent.futures import ThreadPoolExecutor

import openai
import pytest
from pydantic import BaseModel
from server_helpers import wait_until
from tool_loop_helpers import MODEL, client, server, store  # noqa: F401 - the module's fixtures

from ragkit.state import open_home
from ragkit.state.server import ServerState

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


def test_models_include_the_configured_chat_model(server):
    assert [m.id for m in server.client().models.list()] == ["ragkit-extractive", MODEL, "ragkit-embedding"]
    assert server.client().models.retrieve(MODEL).id == MODEL


def test_responses_with_the_chat_model_cite_and_pass_instructions(server, store, llm):
    client = server.client()
    response = client.responses.create(
        model=MODEL, input="What does error code E42 mean?", instructions="Answer for a field technician.",
        tools=[{"type": "file_search", "vector_store_ids": [store]}])
    text = response.output[1].content[0]
    assert "anemometer" in text.text.lower()
    assert text.annotations and {a.filename for a in text.annotations} <= {"ws200-user-manual.pdf", "support-faq.txt"}
    assert all(a.quote for a in text.annotations)
    assert response.model == MODEL and response.model_extra["ragkit"]["generator"] == "openai"
    [request] = llm.chat_requests()
    system = request["body"]["messages"][0]["content"]
    assert "only the numbered sources" in system and system.endswith("Answer for a field technician.")
    assert response.usage.input_tokens > 0


def test_streamed_chat_completion_over_a_store(server, store, llm):
    chunks = list(server.client().chat.completions.create(
        model=MODEL, messages=[{"role": "system", "content": "Be brief."},
                               {"role": "user", "content": "How do I reset the sensor array?"}],
        stream=True, stream_options={"include_usage": True}, extra_body={"vector_store_ids": [store]}))
    deltas = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(deltas) > 3 and "SYNC" in "".join(deltas)
    assert chunks[-1].usage.completion_tokens > 0
    final = [c for c in chunks if c.choices and c.choices[0].finish_reason == "stop"][0]
    assert final.choices[0].delta.model_extra["citations"]


def test_without_a_store_the_request_is_proxied_unchanged(server, llm):
    client = server.client()
    messages = [{"role": "user", "content": "Question: what is the weather like?\n"}]
    plain = client.chat.completions.create(model=MODEL, messages=messages, temperature=0.3)
    assert plain.id == "chatcmpl-test" and plain.choices[0].message.content
    assert llm.chat_requests()[-1]["body"] == {"model": MODEL, "messages": messages, "temperature": 0.3}
    streamed = list(client.chat.completions.create(model=MODEL, messages=messages, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in streamed if c.choices) == plain.choices[0].message.content
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="other-model", messages=messages)


def test_an_unreachable_model_falls_back_to_the_extractive_answer(server, store, llm):
    llm.state.faults.append(("status", 500))
    response = server.client().responses.create(
        model=MODEL, input="What is the resolution of the rain gauge?",
        tools=[{"type": "file_search", "vector_store_ids": [store]}])
    meta = response.model_extra["ragkit"]
    assert meta["generator"] == "extractive" and any("extractive" in w for w in meta["warnings"])
    assert "0.2" in response.output_text


def test_a_requests_cap_on_answer_tokens_reaches_the_model(server, store, llm):
    client = server.client()
    tools = [{"type": "file_search", "vector_store_ids": [store]}]
    client.responses.create(model=MODEL, input="What does error code E42 mean?", tools=tools, max_output_tokens=40)
    assert llm.chat_requests()[-1]["body"]["max_tokens"] == 40
    # another cap is another answer: not served from the answer cache
    client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "What does error code E42 mean?"}],
                                   max_completion_tokens=24, extra_body={"vector_store_ids": [store]})
    assert llm.chat_requests()[-1]["body"]["max_tokens"] == 24
    with pytest.raises(openai.BadRequestError):
        client.responses.create(model=MODEL, input="x", tools=tools, max_output_tokens=2)


# -- structured output over a store ----------------------------------------------------------------
class ErrorCode(BaseModel):
    code: str
    meaning: str
    passages: int


E42 = "What does error code E42 mean?"
OFF_TOPIC = "Who painted the ceiling of the Sistine Chapel?"


def test_chat_completions_parse_answers_in_the_schema_from_the_passages(server, store, llm):
    done = server.client().chat.completions.parse(
        model=MODEL, messages=[{"role": "user", "content": E42}], response_format=ErrorCode,
        extra_body={"vector_store_ids": [store]})
    message = done.choices[0].message
    assert message.refusal is None and "anemometer" in message.parsed.meaning.lower()
    [request] = llm.chat_requests()
    sent = request["body"]
    assert sent["response_format"]["type"] == "json_schema"
    assert sent["response_format"]["json_schema"]["name"] == "ErrorCode"
    assert set(sent["response_format"]["json_schema"]["schema"]["properties"]) == {"code", "meaning", "passages"}
    system, user = sent["messages"]
    assert "only the numbered sources" in system["content"] and "JSON" in system["content"]
    assert '<source id="1"' in user["content"] and "anemometer" in user["content"]
    # the passages the model was given are listed; JSON is not checked for [n], nor annotated
    meta = done.model_extra["ragkit"]
    assert message.parsed.passages == len(meta["sources"]) > 0
    assert {s["filename"] for s in meta["sources"]} <= {"ws200-user-manual.pdf", "support-faq.txt"}
    assert [s["n"] for s in meta["sources"]] == list(range(1, len(meta["sources"]) + 1))
    assert message.model_extra["citations"] == [] and message.annotations == []
    assert json.loads(message.content) == message.parsed.model_dump() and not meta["refused"]
    assert re.search(r"\[\d+\]", message.parsed.meaning)  # the model's [n] are its JSON's, kept as sent


def test_structured_refusals_come_as_refusals_not_json(server, store, llm):
    client = server.client()
    ask = {"model": MODEL, "response_format": ErrorCode, "extra_body": {"vector_store_ids": [store]}}
    # ragkit refuses before asking the model: the documents do not hold the answer
    ragkits = client.chat.completions.parse(messages=[{"role": "user", "content": OFF_TOPIC}], **ask).choices[0]
    assert ragkits.message.content is None and ragkits.message.parsed is None
    assert ragkits.message.refusal == "Not found in the documents." and ragkits.finish_reason == "stop"
    assert not llm.chat_requests()
    # the model refuses in the refusal field, as OpenAI's structured outputs do
    llm.state.tool_script.append({"content": None, "refusal": "I could not find the answer in the documents."})
    models = client.chat.completions.parse(messages=[{"role": "user", "content": E42 + " (again)"}], **ask)
    assert models.choices[0].message.refusal == "I could not find the answer in the documents."
    assert models.choices[0].message.parsed is None and models.model_extra["ragkit"]["refused"]


def test_structured_output_streams_and_json_object_mode(server, store, llm):
    client = server.client()
    fresh = "What does the error code E42 mean?"  # not the answer cached by an earlier test: streamed as made
    with client.chat.completions.stream(model=MODEL, messages=[{"role": "user", "content": fresh}],
                                        response_format=ErrorCode, extra_body={"vector_store_ids": [store]}) as s:
        deltas = [e.delta for e in s if e.type == "content.delta"]
        final = s.get_final_completion()
    assert len(deltas) > 3 and "anemometer" in final.choices[0].message.parsed.meaning.lower()
    with client.chat.completions.stream(model=MODEL, messages=[{"role": "user", "content": OFF_TOPIC}],
                                        response_format=ErrorCode, extra_body={"vector_store_ids": [store]}) as s:
        refused = s.get_final_completion().choices[0].message
    assert refused.refusal == "Not found in the documents." and refused.parsed is None and not refused.content
    shaped = client.chat.completions.create(
        model=MODEL, messages=[{"role": "system", "content": "Reply as JSON with an answer field."},
                               {"role": "user", "content": E42}],
        response_format={"type": "json_object"}, extra_body={"vector_store_ids": [store]})
    assert "anemometer" in json.loads(shaped.choices[0].message.content)["answer"].lower()
    assert llm.chat_requests()[-1]["body"]["response_format"] == {"type": "json_object"}


def test_langchain_with_structured_output_over_a_store(server, store, llm):
    langchain_openai = pytest.importorskip("langchain_openai")
    chat = langchain_openai.ChatOpenAI(model=MODEL, base_url=server.base_url, api_key="none",
                                       extra_body={"vector_store_ids": [store]})
    found = chat.with_structured_output(ErrorCode).invoke("What is error code E42?")  # not cached: reaches the model
    assert isinstance(found, ErrorCode) and "anemometer" in found.meaning.lower()
    assert llm.chat_requests()[-1]["body"]["response_format"]["type"] == "json_schema"


WEATHER = {"type": "function", "name": "get_weather", "description": "The weather in a city now.",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}


def test_a_conversation_deleted_while_a_response_extends_it_is_a_404_and_nothing_is_kept(server, store, llm):
    """The client deletes the conversation while the model is answering (a grounded answer,
    streamed or not, or a turn of the function-tool loop): the request ends as it would have
    begun a moment later, a 404 naming ``conversation`` (in-band when streamed), and no response
    is stored. Before, the insert into the deleted conversation was a 500."""
    client = server.client()
    search = {"type": "file_search", "vector_store_ids": [store]}
    for n, mode in enumerate(("grounded", "streamed", "function")):
        conversation = client.conversations.create()
        question = f"What does error code E42 mean, and the weather in Oslo? (asked {n})"  # not a cached answer
        tools = [search, WEATHER] if mode == "function" else [search]
        if mode == "function":
            llm.state.tool_script.append({"tool_calls": [{"name": "get_weather", "arguments": {"city": "Oslo"}}]})
        llm.state.faults.append(("delay", 1.5))

        def ask():
            made = client.responses.create(model=MODEL, input=question, tools=tools, conversation=conversation.id,
                                           stream=mode == "streamed")
            return list(made) if mode == "streamed" else made

        with ThreadPoolExecutor(1) as pool:
            asked = pool.submit(ask)
            wait_until(lambda: len(llm.chat_requests()) > n, timeout=30)  # the model has the question
            client.conversations.delete(conversation.id)
            if mode == "streamed":
                events = asked.result()
                error = next(e for e in events if e.type == "error")
                assert error.code == "not_found" and conversation.id in error.message
                assert events[-1].type == "response.failed"
            else:
                with pytest.raises(openai.NotFoundError) as caught:
                    asked.result()
                assert caught.value.body["param"] == "conversation"
        db = ServerState(open_home(server.home))
        assert db.all("SELECT id FROM resp_responses WHERE question=?", (question,)) == []


def test_a_chat_message_field_of_the_wrong_json_type_is_a_400_naming_it(server, store, llm):
    """A tool call's ``id``, its function's ``name`` and ``arguments``, ``tool_calls`` itself and
    the searches ragkit returned on a message (``ragkit.searches``, sent back as they came) have
    fixed JSON types; another is OpenAI's "Invalid type" 400 naming the field, before the model
    is asked. Each had been a 500 (a list in a set, ``.get`` of a string, a missing key). So do a
    function definition's fields, which had gone on to the model as sent (its 400 was a 502)."""
    client = server.client()
    question = {"role": "user", "content": "What does E42 mean, and the weather in Oslo?"}
    call = {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}
    answered = {"role": "tool", "tool_call_id": "call_1", "content": "cloudy"}
    function = {key: value for key, value in WEATHER.items() if key != "type"}
    for calls, searches, param in (([{**call, "id": ["call_1"]}], None, "messages[1].tool_calls[0].id"),
                                   ([{**call, "function": "get_weather"}], None, "messages[1].tool_calls[0].function"),
                                   ([5], None, "messages[1].tool_calls[0]"),
                                   ("call_1", None, "messages[1].tool_calls"),
                                   ([call], [{"id": "fs_1"}], "messages[1].ragkit.searches[0].arguments"),
                                   ([call], "fs_1", "messages[1].ragkit.searches")):
        turn = {"role": "assistant", "content": None, "tool_calls": calls}
        if searches is not None:
            turn["ragkit"] = {"searches": searches}
        with pytest.raises(openai.BadRequestError) as caught:
            client.chat.completions.create(model=MODEL, messages=[question, turn, answered],
                                           tools=[{"type": "function", "function": function}],
                                           extra_body={"vector_store_ids": [store]})
        assert caught.value.param == param, caught.value.message
    for tools, functions, param in (([{"type": "function", "function": {**function, "parameters": "city"}}], None,
                                     "tools[0].function.parameters"),
                                    (None, [{**function, "description": ["weather"]}], "functions[0].description")):
        with pytest.raises(openai.BadRequestError) as caught:
            client.chat.completions.create(model=MODEL, messages=[question], tools=tools, functions=functions,
                                           extra_body={"vector_store_ids": [store]})
        assert caught.value.param == param, caught.value.message
    assert not llm.chat_requests()
