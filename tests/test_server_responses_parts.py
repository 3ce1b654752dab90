"""``/v1/responses`` with images and files in ``input``: with a chat model they reach it in the
chat-completions shape (the text parts are what is searched); offline they are a 400 naming the
part. And structured output (``text.format``, the SDK's ``responses.parse``): the chat model
answers in the schema from the passages; offline a 400. Real ``ragkit serve`` processes, the stock
SDK, and the test model server."""

from __future__ import annotations

import openai
import pytest
from conftest import CORPUS
from pydantic import BaseModel
from server_helpers import Server, chat_model_server, upload_batch

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]
MODEL = "test-model"
FILES = ["cloud-api-guide.md", "support-faq.txt", "ws200-user-manual.pdf"]
PIXEL = ("data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAA"
         "AABJRU5ErkJggg==")
PDF = "data:application/pdf;base64,JVBERi0xLjQK"
QUESTION = "What does error code E42 on this display mean?"


def _store(client) -> str:
    vs = client.vector_stores.create(name="halvard")
    assert upload_batch(client, vs.id, [CORPUS / name for name in FILES]).file_counts.completed == len(FILES)
    return vs.id


@pytest.fixture(scope="module")
def offline(tmp_path_factory):
    running = Server(tmp_path_factory.mktemp("parts-offline") / "home", "--no-auth").start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def online(tmp_path_factory, openai_server):
    running = chat_model_server(tmp_path_factory.mktemp("parts-model") / "home", openai_server.url, MODEL)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def client(online):
    return online.client()


@pytest.fixture(scope="module")
def store(client):
    return _store(client)


def _user(*parts: dict) -> list[dict]:
    return [{"role": "user", "content": [{"type": "input_text", "text": QUESTION}, *parts]}]


def _sent(llm) -> list[dict]:
    return [r["body"] for r in llm.chat_requests()]


def test_an_image_part_reaches_the_chat_model_as_an_image_url_part(client, store, llm):
    llm.state.tool_script.append(lambda body: {"content": "That is the WS-200 display [1]."})
    image = {"type": "input_image", "image_url": PIXEL, "detail": "low"}
    done = client.responses.create(model=MODEL, input=_user(image),
                                   tools=[{"type": "file_search", "vector_store_ids": [store]}])
    assert done.status == "completed" and done.output_text == "That is the WS-200 display [1]."
    assert [item.type for item in done.output] == ["file_search_call", "message"]
    assert done.output[1].content[0].annotations[0].filename in FILES
    [sent] = _sent(llm)
    expected = [{"type": "text", "text": QUESTION},
                {"type": "image_url", "image_url": {"url": PIXEL, "detail": "low"}}]
    assert {"role": "user", "content": expected} in sent["messages"]
    searched = next(m for m in sent["messages"] if m["role"] == "tool")  # the text parts were searched first
    assert "E42" in searched["content"]
    kept = client.responses.input_items.list(done.id).data[0]
    assert [p.type for p in kept.content] == ["input_text", "input_image"]


def test_a_file_part_reaches_the_chat_model_as_a_file_part_and_streams(client, store, llm):
    llm.state.tool_script.append(lambda body: {"content": "The attached page shows error E42 [1]."})
    attached = {"type": "input_file", "filename": "display.pdf", "file_data": PDF}
    events = list(client.responses.create(model=MODEL, input=_user(attached), stream=True,
                                          tools=[{"type": "file_search", "vector_store_ids": [store]}]))
    assert events[-1].type == "response.completed"
    assert events[-1].response.output_text == "The attached page shows error E42 [1]."
    [sent] = _sent(llm)
    part = {"type": "file", "file": {"file_data": PDF, "filename": "display.pdf"}}
    assert any(m["role"] == "user" and part in m["content"] for m in sent["messages"])


def test_offline_an_image_part_is_a_400_naming_it(offline):
    client = offline.client()
    store = _store(client)
    with pytest.raises(openai.BadRequestError) as refused:
        client.responses.create(model="ragkit-extractive", input=_user({"type": "input_image", "image_url": PIXEL}),
                                tools=[{"type": "file_search", "vector_store_ids": [store]}])
    assert refused.value.body["param"] == "input[0].content[1]"
    assert "input_image" in refused.value.message and "vision-capable chat model" in refused.value.message


def test_an_image_part_reaches_the_chat_model_beside_function_tools(client, store, llm):
    llm.state.tool_script.append(lambda body: {"content": "The display shows E42 [1]."})
    image = {"type": "input_image", "image_url": PIXEL}
    weather = {"type": "function", "name": "get_weather", "description": "Weather in a city",
               "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}
    done = client.responses.create(model=MODEL, input=_user(image),
                                   tools=[{"type": "file_search", "vector_store_ids": [store]}, weather])
    assert done.status == "completed"
    sent = _sent(llm)[0]
    assert any(m["role"] == "user" and isinstance(m["content"], list)
               and {"type": "image_url", "image_url": {"url": PIXEL}} in m["content"] for m in sent["messages"])


# -- structured output: text.format ------------------------------------------------------------------
class ErrorCode(BaseModel):
    code: str
    meaning: str


def test_responses_parse_answers_in_the_schema_beside_the_file_search_call(client, store, llm):
    done = client.responses.parse(model=MODEL, input="What does error code E42 mean?", text_format=ErrorCode,
                                  tools=[{"type": "file_search", "vector_store_ids": [store]}],
                                  include=["file_search_call.results"])
    assert "anemometer" in done.output_parsed.meaning.lower()
    search, answer = done.output
    assert search.type == "file_search_call" and search.results and search.results[0].filename in FILES
    assert answer.content[0].type == "output_text" and answer.content[0].annotations == []
    assert done.text.format.type == "json_schema" and done.text.format.name == "ErrorCode"
    [sent] = _sent(llm)
    assert sent["response_format"]["type"] == "json_schema" and sent["response_format"]["json_schema"]["strict"]
    assert set(sent["response_format"]["json_schema"]["schema"]["properties"]) == {"code", "meaning"}
    assert '<source id="1"' in sent["messages"][1]["content"] and "E42" in sent["messages"][1]["content"]
    assert client.responses.retrieve(done.id).output[1].content[0].text == done.output_text


def test_responses_structured_refusal_is_a_refusal_part_streamed_or_not(client, store, llm):
    tools = [{"type": "file_search", "vector_store_ids": [store]}]
    question = "Who painted the ceiling of the Sistine Chapel?"
    done = client.responses.parse(model=MODEL, input=question, text_format=ErrorCode, tools=tools)
    assert done.output_parsed is None and done.output[1].content[0].type == "refusal"
    assert done.output[1].content[0].refusal == "Not found in the documents." and done.model_extra["ragkit"]["refused"]
    with client.responses.stream(model=MODEL, input=question + " Again.", text_format=ErrorCode, tools=tools) as s:
        kinds = [event.type for event in s]
        final = s.get_final_response()
    assert "response.refusal.done" in kinds and "response.output_text.delta" not in kinds
    assert final.output[1].content[0].type == "refusal" and final.output_parsed is None
    replayed = [e.type for e in client.responses.retrieve(done.id, stream=True)]
    assert "response.refusal.delta" in replayed and replayed[-1] == "response.completed"
    assert not _sent(llm)


def test_responses_structured_output_streams_its_json(client, store, llm):
    with client.responses.stream(model=MODEL, input="What does the error code E42 mean?", text_format=ErrorCode,
                                 tools=[{"type": "file_search", "vector_store_ids": [store]}]) as s:
        deltas = [event.delta for event in s if event.type == "response.output_text.delta"]
        final = s.get_final_response()
    assert len(deltas) > 3 and "anemometer" in final.output_parsed.meaning.lower()
    assert _sent(llm)[0]["stream"] and _sent(llm)[0]["response_format"]["type"] == "json_schema"


def test_responses_structured_output_is_a_400_offline(offline, llm):
    offline_client = offline.client()
    with pytest.raises(openai.BadRequestError) as refused:
        offline_client.responses.parse(model="ragkit-extractive", input="What does E42 mean?", text_format=ErrorCode,
                                       tools=[{"type": "file_search", "vector_store_ids": [_store(offline_client)]}])
    assert refused.value.param == "text" and "needs a chat model" in refused.value.message
    assert not _sent(llm)


def test_responses_structured_output_beside_an_image_is_the_models_json(client, store, llm):
    """An image in the input goes through the tool loop, which carries the format to the model."""
    reply = '{"code": "E42", "meaning": "The anemometer is not connected."}'
    llm.state.tool_script.append(lambda body: {"content": reply})
    done = client.responses.parse(model=MODEL, text_format=ErrorCode,
                                  input=_user({"type": "input_image", "image_url": PIXEL}),
                                  tools=[{"type": "file_search", "vector_store_ids": [store]}])
    assert done.status == "completed" and done.output_parsed == ErrorCode(code="E42", meaning="The anemometer "
                                                                                               "is not connected.")
    search, answer = done.output
    assert search.type == "file_search_call" and answer.content[0].annotations == []
    [sent] = _sent(llm)
    assert sent["response_format"]["json_schema"]["name"] == "ErrorCode"
    assert any(m["role"] == "user" and isinstance(m["content"], list)
               and {"type": "image_url", "image_url": {"url": PIXEL}} in m["content"] for m in sent["messages"])


def test_responses_structured_refusal_beside_a_file_is_a_refusal_part_streamed(client, store, llm):
    llm.state.tool_script.append(lambda body: {"refusal": "I cannot tell from this page."})
    attached = {"type": "input_file", "filename": "display.pdf", "file_data": PDF}
    with client.responses.stream(model=MODEL, input=_user(attached), text_format=ErrorCode,
                                 tools=[{"type": "file_search", "vector_store_ids": [store]}]) as s:
        kinds = [event.type for event in s]
        final = s.get_final_response()
    assert "response.refusal.done" in kinds and "response.output_text.delta" not in kinds
    assert final.output_parsed is None and final.output[-1].content[0].refusal == "I cannot tell from this page."
    assert _sent(llm)[0]["response_format"]["type"] == "json_schema"
