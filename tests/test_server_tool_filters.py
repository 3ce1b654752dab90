"""A ``file_search`` the chat model calls keeps to the request's attribute filters, as a grounded
answer does: Responses with function tools or image parts (the filters of the ``file_search``
tool) and chat completions with tools (``extra_body`` ``filters``) had searched the whole store. With several
``file_search`` tools, per-tool options that one search cannot honour are a 400 naming them."""

from __future__ import annotations

import openai
import pytest
from tool_loop_helpers import MODEL, client, server, store  # noqa: F401 - the module's fixtures

pytestmark = pytest.mark.timeout(600)
WEATHER = {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}
#: the support FAQ only: the WS-200 manual, where "E42" is explained, is filtered out
FAQ_ONLY = {"type": "eq", "key": "filename", "value": "support-faq.txt"}


def _searched_files(llm) -> set[str]:
    """The files of the passages ragkit gave the model as file_search results."""
    from server_helpers import SOURCE

    tools = [m["content"] for r in llm.chat_requests() for m in r["body"]["messages"] if m["role"] == "tool"]
    return {file for text in tools for _n, file, _page, _text in SOURCE.findall(text)}


def test_a_responses_file_search_called_by_the_model_keeps_to_the_filters(client, store, llm):
    llm.state.tool_script.extend([{"tool_calls": [{"name": "file_search", "arguments": {"query": "error code E42"}}]},
                                  {"content": "No E42 in the FAQ."}])
    tools = [{"type": "file_search", "vector_store_ids": [store], "filters": FAQ_ONLY}, {"type": "function", **WEATHER}]
    response = client.responses.create(model=MODEL, input="What does E42 mean?", tools=tools,
                                       include=["file_search_call.results"])
    searched = next(item for item in response.output if item.type == "file_search_call")
    assert searched.results and {r.filename for r in searched.results} == {"support-faq.txt"}
    assert _searched_files(llm) == {"support-faq.txt"}


def test_a_chat_completion_file_search_called_by_the_model_keeps_to_the_filters(client, store, llm):
    llm.state.tool_script.extend([{"tool_calls": [{"name": "file_search", "arguments": {"query": "error code E42"}}]},
                                  {"content": "No E42 in the FAQ."}])
    completion = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "What does E42 mean?"}],
        tools=[{"type": "function", "function": WEATHER}],
        extra_body={"vector_store_ids": [store], "filters": FAQ_ONLY})
    assert completion.choices[0].message.content == "No E42 in the FAQ."
    assert _searched_files(llm) == {"support-faq.txt"}


def test_a_question_with_an_image_is_searched_within_the_filters(client, store, llm):
    pixel = ("data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQ"
             "AAAABJRU5ErkJggg==")
    llm.state.tool_script.append(lambda body: {"content": "No E42 in the FAQ."})
    question = [{"role": "user", "content": [{"type": "input_text", "text": "What does error code E42 mean?"},
                                             {"type": "input_image", "image_url": pixel}]}]
    tools = [{"type": "file_search", "vector_store_ids": [store], "filters": FAQ_ONLY}]
    response = client.responses.create(model=MODEL, input=question, tools=tools, include=["file_search_call.results"])
    assert response.output_text == "No E42 in the FAQ."
    assert _searched_files(llm) == {"support-faq.txt"}


def test_per_tool_options_on_several_file_search_tools_are_a_400(client, store):
    tools = [{"type": "file_search", "vector_store_ids": [store]},
             {"type": "file_search", "vector_store_ids": [store], "filters": FAQ_ONLY}]
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(model=MODEL, input="What does E42 mean?", tools=tools)
    assert caught.value.body["param"] == "tools[1].filters"
    plain = [{"type": "file_search", "vector_store_ids": [store]}] * 2
    assert client.responses.create(model=MODEL, input="What does E42 mean?", tools=plain).status == "completed"
