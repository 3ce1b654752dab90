"""``/v1/responses`` with function tools: the function-calling loop of the guides, with the test
OpenAI-compatible server (tests/openai_server.py) scripted to play the model. ragkit runs the
model's ``file_search`` calls itself and hands the user's function calls back to the client,
which answers them with ``previous_response_id`` or by sending the whole exchange again."""

from __future__ import annotations

import json

import openai
import pytest
from tool_loop_helpers import MODEL, client, server, store  # noqa: F401 - the module's fixtures
from server_helpers import e42_and_weather

from ragkit.library.answering import count_tokens
from ragkit.state import open_home
from ragkit.state import responses as stored
from ragkit.state.server import ServerState

pytestmark = pytest.mark.timeout(600)
WEATHER = {"type": "function", "name": "get_weather", "description": "The weather in a city now.",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}


def _chats(llm) -> list[dict]:
    """The bodies of the chat completion requests the model got."""
    return [r["body"] for r in llm.chat_requests()]


def test_a_function_call_is_handed_back_and_answered_with_previous_response_id(client, store, llm):
    llm.state.tool_script.extend([
        {"tool_calls": [{"name": "file_search", "arguments": {"query": "error code E42"}}]},
        {"tool_calls": [{"name": "get_weather", "arguments": {"city": "Oslo"}}]},
        e42_and_weather])
    tools = [{"type": "file_search", "vector_store_ids": [store]}, WEATHER]
    first = client.responses.create(model=MODEL, input="What does E42 mean, and what is the weather in Oslo?",
                                    tools=tools, include=["file_search_call.results"])
    assert first.status == "completed" and first.output_text == ""
    searched, call = first.output
    assert searched.type == "file_search_call" and searched.queries == ["error code E42"]
    assert any("E42" in r.text for r in searched.results)
    assert call.type == "function_call" and call.name == "get_weather"
    assert json.loads(call.arguments) == {"city": "Oslo"}

    second = client.responses.create(model=MODEL, previous_response_id=first.id, tools=tools, input=[
        {"type": "function_call_output", "call_id": call.call_id, "output": "cloudy, 12 C"}])
    assert second.status == "completed", second.error
    assert "cloudy, 12 C" in second.output_text and "anemometer" in second.output_text
    [note] = second.output[-1].content[0].annotations
    assert note.type == "file_citation" and note.filename in ("ws200-user-manual.pdf", "support-faq.txt")
    assert second.output_text[note.index:].startswith("[")
    # the model saw the restored chat: its own tool calls, then the function's output as a tool message
    last = _chats(llm)[-1]["messages"]
    assert [m["role"] for m in last][-2:] == ["assistant", "tool"]
    assert last[-1] == {"role": "tool", "tool_call_id": call.call_id, "content": "cloudy, 12 C"}
    assert client.responses.retrieve(second.id).output_text == second.output_text
    [given] = client.responses.input_items.list(second.id).data
    assert given.type == "function_call_output" and given.call_id == call.call_id and given.id


def test_a_conversation_keeps_the_function_calls_and_resumes_the_loop(server, client, store, llm):
    """With ``conversation`` the loop goes on from the response that wrote its last item (its
    passages numbered as before), and the conversation holds every item: the question, the
    search, the function call, its output and the cited answer, each kept with its tool call or
    citations."""
    llm.state.tool_script.extend([
        {"tool_calls": [{"name": "file_search", "arguments": {"query": "error code E42"}}]},
        {"tool_calls": [{"name": "get_weather", "arguments": {"city": "Oslo"}}]},
        e42_and_weather])
    tools = [{"type": "file_search", "vector_store_ids": [store]}, WEATHER]
    conversation = client.conversations.create()
    first = client.responses.create(model=MODEL, input="What does E42 mean, and what is the weather in Oslo?",
                                    tools=tools, conversation=conversation.id)
    call = first.output[-1]
    assert call.type == "function_call" and first.conversation.id == conversation.id
    answer = client.responses.create(model=MODEL, conversation=conversation.id, tools=tools, input=[
        {"type": "function_call_output", "call_id": call.call_id, "output": "cloudy, 12 C"}])
    assert answer.status == "completed", answer.error
    assert "cloudy, 12 C" in answer.output_text and "anemometer" in answer.output_text
    sent = _chats(llm)[-1]["messages"]  # the restored chat: the call once, then its output
    assert [c["id"] for m in sent for c in m.get("tool_calls") or []].count(call.call_id) == 1
    assert sent[-1] == {"role": "tool", "tool_call_id": call.call_id, "content": "cloudy, 12 C"}

    listed = list(client.conversations.items.list(conversation.id, order="asc"))
    assert [i.type for i in listed] == ["message", "file_search_call", "function_call", "function_call_output",
                                        "message"]
    asked, searched, called, output, said = stored.items(ServerState(open_home(server.home)), conversation.id)
    assert [i.response_id for i in (asked, searched, called, output, said)] == [first.id] * 3 + [answer.id] * 2
    assert (called.tool.name, called.tool.call_id, json.loads(called.tool.arguments)) == (
        "get_weather", call.call_id, {"city": "Oslo"})
    assert (output.tool.call_id, output.tool.output) == (call.call_id, "cloudy, 12 C")
    assert json.loads(searched.tool.arguments) == ["error code E42"]
    [note] = listed[-1].content[0].annotations
    assert [c["file_id"] for c in said.citations] == [note.file_id] and said.content == answer.output_text


def test_an_input_id_another_conversation_holds_or_sent_twice_is_refused_before_the_model_runs(client, store, llm):
    """Ids stay unique across conversations: an input item under an id another conversation holds,
    or the same id twice, is OpenAI's "Duplicate item found" 400 naming it, before the model is
    asked (it had been refused only when the answer was stored, the model's work lost)."""
    tools = [{"type": "file_search", "vector_store_ids": [store]}, WEATHER]
    said = {"type": "message", "role": "user", "content": "What is the weather in Oslo?", "id": "msg_held_elsewhere"}
    client.conversations.create(items=[said])
    conversation = client.conversations.create()
    output = {"type": "function_call_output", "call_id": "call_9", "output": "cloudy", "id": "fc_twice"}
    call = {"type": "function_call", "call_id": "call_9", "name": "get_weather", "arguments": "{}"}
    for items, param in (([said], "input[0].id"), ([said | {"id": "msg_new"}, call, output, output], "input[3].id")):
        with pytest.raises(openai.BadRequestError) as caught:
            client.responses.create(model=MODEL, conversation=conversation.id, tools=tools, input=items)
        assert caught.value.param == param and caught.value.code == "duplicate_item"
    assert llm.chat_requests() == [] and client.conversations.items.list(conversation.id).data == []


def test_the_guides_stateless_loop_sends_the_call_back_as_input(client, llm):
    """As the function-calling guide writes it: append the returned call object and its output
    to the input list and ask again, without previous_response_id (no stores: functions only)."""
    llm.state.tool_script.extend([
        {"tool_calls": [{"name": "get_weather", "arguments": {"city": "Bergen"}}]},
        lambda body: {"content": "It is " + next(m["content"] for m in body["messages"] if m["role"] == "tool")}])
    input_messages: list = [{"role": "user", "content": "What is the weather in Bergen?"}]
    response = client.responses.create(model=MODEL, input=input_messages, tools=[WEATHER], store=False)
    tool_call = response.output[0]
    assert tool_call.type == "function_call"
    input_messages.append(tool_call)
    input_messages.append({"type": "function_call_output", "call_id": tool_call.call_id, "output": "rain, 9 C"})
    answer = client.responses.create(model=MODEL, input=input_messages, tools=[WEATHER], store=False)
    assert answer.output_text == "It is rain, 9 C"
    sent = _chats(llm)[-1]["messages"]
    assert sent[-2]["tool_calls"][0]["id"] == tool_call.call_id and sent[-1]["role"] == "tool"
    assert [t["function"]["name"] for t in _chats(llm)[-1]["tools"]] == ["get_weather"]
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(answer.id)  # store=False keeps nothing


def test_an_output_sent_as_input_text_parts_reaches_the_model_as_its_text(client, llm):
    """OpenAI takes a function's output as a string or a list of content parts; Haystack's
    Responses generator sends every output as ``input_text`` parts. The model must read their
    text, not the parts' JSON; an image part cannot go into a tool message and is a 400 naming it."""
    llm.state.tool_script.extend([
        {"tool_calls": [{"name": "get_weather", "arguments": {"city": "Bergen"}}]},
        lambda body: {"content": "It is " + next(m["content"] for m in body["messages"] if m["role"] == "tool")}])
    first = client.responses.create(model=MODEL, input="What is the weather in Bergen?", tools=[WEATHER])
    call = first.output[0]
    parts = [{"type": "input_text", "text": '{"sky": "rain",'}, {"type": "input_text", "text": '"celsius": 9}'}]
    answer = client.responses.create(model=MODEL, previous_response_id=first.id, tools=[WEATHER], input=[
        {"type": "function_call_output", "call_id": call.call_id, "output": parts}])
    assert answer.status == "completed", answer.error
    assert answer.output_text == 'It is {"sky": "rain", "celsius": 9}'
    assert _chats(llm)[-1]["messages"][-1] == {"role": "tool", "tool_call_id": call.call_id,
                                              "content": '{"sky": "rain", "celsius": 9}'}
    image = {"type": "input_image", "image_url": "data:image/png;base64,iVBORw0KGgo="}
    with pytest.raises(openai.BadRequestError) as refused:
        client.responses.create(model=MODEL, previous_response_id=first.id, tools=[WEATHER], input=[
            {"type": "function_call_output", "call_id": call.call_id, "output": [parts[0], image]}])
    assert refused.value.body["param"] == "input[0].output[1]" and "input_image" in refused.value.message


def test_a_history_resent_with_previous_response_id_keeps_each_output_after_its_call(client, store, llm):
    """LlamaIndex's ``OpenAIResponses(track_previous_responses=True)`` (a ``FunctionAgent`` on it)
    sends ``previous_response_id`` and the whole exchange again: its messages, the call without
    its id, the output. OpenAI appends such input to the stored chain and matches an output to its
    call by ``call_id``. The chat model must get each output right after the assistant message
    that made the call (OpenAI's chat completions refuse a tool message anywhere else), and the
    resent messages after them."""
    llm.state.tool_script.extend([
        {"tool_calls": [{"name": "file_search", "arguments": {"query": "error code E42"}},
                        {"name": "get_weather", "arguments": {"city": "Oslo"}}]},
        e42_and_weather])
    tools = [{"type": "file_search", "vector_store_ids": [store]}, WEATHER]
    history = [{"role": "developer", "content": "Answer from the manual."},
               {"role": "user", "content": "What does E42 mean, and what is the weather in Oslo?"}]
    first = client.responses.create(model=MODEL, input=history, tools=tools)
    call = first.output[-1]
    resent = [*history, {"type": "function_call", "call_id": call.call_id, "name": call.name,
                         "arguments": call.arguments},
              {"type": "function_call_output", "call_id": call.call_id, "output": "cloudy, 12 C"}]
    second = client.responses.create(model=MODEL, previous_response_id=first.id, input=resent, tools=tools)
    assert second.status == "completed", second.error
    assert "cloudy, 12 C" in second.output_text and second.output[-1].content[0].annotations
    sent = _chats(llm)[-1]["messages"]
    [calling] = [i for i, m in enumerate(sent) if m.get("tool_calls")]
    assert [m["role"] for m in sent[calling:]] == ["assistant", "tool", "tool", "system", "user"]
    assert sent[calling + 2] == {"role": "tool", "tool_call_id": call.call_id, "content": "cloudy, 12 C"}

    # the agent's next question: the exchange again, the answer, the new question; the output of
    # the call answered before is in the chat once, after its call
    llm.state.tool_script.append({"content": "Reconnect the cable."})
    follow = [*resent, {"role": "assistant", "content": second.output_text}, *history[:1],
              {"role": "user", "content": "How do I fix it?"}]
    third = client.responses.create(model=MODEL, previous_response_id=second.id, input=follow, tools=tools)
    assert third.output_text == "Reconnect the cable."
    sent = _chats(llm)[-1]["messages"]
    assert [m.get("tool_call_id") for m in sent].count(call.call_id) == 1
    assert [m["role"] for m in sent][-3:] == ["assistant", "system", "user"]


def test_function_tools_are_refused_clearly_where_they_cannot_work(client, store, llm):
    with pytest.raises(openai.BadRequestError) as offline:
        client.responses.create(model="ragkit-extractive", input="Weather in Oslo?", tools=[WEATHER])
    assert "need a chat model" in offline.value.message and offline.value.body["param"] == "tools"
    with pytest.raises(openai.BadRequestError) as bad_name:
        client.responses.create(model=MODEL, input="x", tools=[{**WEATHER, "name": "no spaces allowed"}])
    assert bad_name.value.body["param"] == "tools[0].name"
    llm.state.tool_script.append({"tool_calls": [{"name": "get_weather", "arguments": {"city": "Oslo"}}]})
    first = client.responses.create(model=MODEL, input="Weather in Oslo?", tools=[WEATHER])
    with pytest.raises(openai.BadRequestError) as unanswered:  # the call's output is missing
        client.responses.create(model=MODEL, previous_response_id=first.id, tools=[WEATHER],
                                input=[{"role": "user", "content": "and tomorrow?"}])
    assert first.output[0].call_id in unanswered.value.message


def test_tool_choice_none_answers_without_searching(client, store, llm):
    """file_search is one of the request's tools, so ``tool_choice: "none"`` rules it out: the
    model answers with no tool called and the output has no file_search_call, streamed or not
    (the Vercel AI SDK throws on a tool call it did not allow)."""
    reply = "I did not search the manuals for this answer."
    llm.state.tool_script.extend([{"content": reply}, {"content": reply}])
    tools = [{"type": "file_search", "vector_store_ids": [store]}]
    done = client.responses.create(model=MODEL, input="What does E42 mean?", tools=tools, tool_choice="none")
    assert [item.type for item in done.output] == ["message"] and done.output_text == reply
    assert done.tool_choice == "none" and done.tools[0].type == "file_search"
    asked = _chats(llm)[-1]
    assert asked["tool_choice"] == "none" and all(m["role"] != "tool" for m in asked["messages"])
    events = list(client.responses.create(model=MODEL, input="What does E42 mean?", tools=tools,
                                          tool_choice="none", stream=True))
    assert not [e for e in events if "file_search_call" in e.type]
    assert events[-1].type == "response.completed"
    assert [item.type for item in events[-1].response.output] == ["message"]


def test_a_model_that_never_stops_calling_tools_fails_the_response(client, store, llm):
    llm.state.tool_script.append({"tool_calls": [{"name": "nope", "arguments": {}}], "repeat": True})
    response = client.responses.create(model=MODEL, input="Loop forever", tools=[WEATHER])
    assert response.status == "failed" and "kept calling tools" in response.error.message
    # the unknown tool went back to the model as an error it could have corrected
    assert "there is no tool 'nope'" in _chats(llm)[-1]["messages"][-1]["content"]


def test_a_streamed_response_sends_the_function_call_events(client, llm):
    llm.state.tool_script.append({"tool_calls": [{"name": "get_weather", "arguments": {"city": "Oslo"}}]})
    events = list(client.responses.create(model=MODEL, input="Weather in Oslo?", tools=[WEATHER], stream=True))
    kinds = [e.type for e in events]
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed"
    done = next(e for e in events if e.type == "response.function_call_arguments.done")
    assert json.loads(done.arguments) == {"city": "Oslo"}
    assert events[-1].response.output[0].name == "get_weather"


def test_the_sdks_stream_helper_accumulates_each_item_once(client, llm):
    """``responses.stream()`` adds every delta to the item ``output_item.added`` announced: that
    item starts without arguments or content, or the snapshot holds everything twice."""
    llm.state.tool_script.extend([{"tool_calls": [{"name": "get_weather", "arguments": {"city": "Oslo"}}]},
                                  lambda body: {"content": "It is cloudy in Oslo."}])
    with client.responses.stream(model=MODEL, input="Weather in Oslo?", tools=[WEATHER]) as events:
        snapshots = [e.snapshot for e in events if e.type == "response.function_call_arguments.delta"]
        call = events.get_final_response().output[0]
    assert snapshots and snapshots[-1] == call.arguments == '{"city": "Oslo"}'
    with client.responses.stream(model=MODEL, input="Weather in Oslo?", tools=[WEATHER]) as stream:
        events = list(stream)
    added = [e.item for e in events if e.type == "response.output_item.added"]
    texts = [e.snapshot for e in events if e.type == "response.output_text.delta"]
    assert added[0].type == "message" and added[0].content == []
    assert texts[-1] == "It is cloudy in Oslo."


def test_the_loops_file_search_keeps_the_ranking_options_and_the_answer_keeps_max_output_tokens(client, store, llm):
    reply = "E42 means that the anemometer cable is disconnected: check the plug at the mast, then restart it."
    llm.state.tool_script.extend([{"tool_calls": [{"name": "file_search", "arguments": {"query": "error code E42"}}]},
                                  lambda body: {"content": reply}])
    strict = {"type": "file_search", "vector_store_ids": [store], "ranking_options": {"score_threshold": 0.99}}
    done = client.responses.create(model=MODEL, input="What does E42 mean?", tools=[strict, WEATHER],
                                   include=["file_search_call.results"], max_output_tokens=16)
    searched, answer = done.output
    assert searched.results == [] and searched.model_extra["ranking_options"]["score_threshold"] == 0.99
    assert "<source" not in next(m for m in _chats(llm)[-1]["messages"] if m["role"] == "tool")["content"]
    assert done.status == "incomplete" and done.incomplete_details.reason == "max_output_tokens"
    assert answer.status == "incomplete" and reply.startswith(done.output_text)
    assert count_tokens(done.output_text) == 16


def test_a_streamed_answer_after_a_function_call_builds_up_in_the_sdks_stream_helper(client, llm):
    """A response answered in one piece is streamed item by item: ``response.output_item.added``
    announces each item empty (no message parts, no arguments yet) and the events after it fill
    it, as OpenAI streams. openai-node's ``responses.stream`` rejected an announced message that
    already held its text ("missing content at index 0"); both SDKs doubled the arguments."""
    llm.state.tool_script.extend([{"tool_calls": [{"name": "get_weather", "arguments": {"city": "Oslo"}}]},
                                  {"content": "In Oslo it is cloudy, 12 C."}])
    with client.responses.stream(model=MODEL, input="Weather in Oslo?", tools=[WEATHER]) as stream:
        events = list(stream)
        first = stream.get_final_response()
    [delta] = [e for e in events if e.type == "response.function_call_arguments.delta"]
    assert json.loads(delta.snapshot) == {"city": "Oslo"}  # the helper's running arguments, not twice
    call = first.output[0]
    output = {"type": "function_call_output", "call_id": call.call_id, "output": "cloudy, 12 C"}
    with client.responses.stream(model=MODEL, previous_response_id=first.id, input=[output], tools=[WEATHER]) as stream:
        events = list(stream)
        second = stream.get_final_response()
    deltas = [e for e in events if e.type == "response.output_text.delta"]
    assert deltas[-1].snapshot == "In Oslo it is cloudy, 12 C." == second.output_text
    # the events as sent (the helper fills the announced items in place), and a stored response
    # streamed again (GET /v1/responses/{id}?stream=true), announce each item empty
    for response, empty in ((first, {"arguments": ""}), (second, {"content": []})):
        [added] = [e.item for e in client.responses.retrieve(response.id, stream=True)
                   if e.type == "response.output_item.added"]
        assert added.status == "in_progress" and {k: getattr(added, k) for k in empty} == empty


def test_a_response_that_goes_on_from_another_follows_its_own_instructions(client, llm):
    """OpenAI carries no instructions over from the response a request continues: an agent that
    hands off to another (the Agents SDK's handoffs: a function call, then the next agent asks
    with its own ``instructions``) goes on with the new ones, by ``previous_response_id`` or with
    the exchange sent again. The restored chat kept the first response's."""
    llm.state.tool_script.extend([{"tool_calls": [{"name": "get_weather", "arguments": {"city": "Oslo"}}]},
                                  {"content": "Cloudy."}, {"content": "Cloudy."}])
    question = {"role": "user", "content": "Weather in Oslo?"}
    first = client.responses.create(model=MODEL, input=[question], tools=[WEATHER], instructions="Route the user.")
    [call] = first.output
    output = {"type": "function_call_output", "call_id": call.call_id, "output": "cloudy, 12 C"}
    client.responses.create(model=MODEL, previous_response_id=first.id, input=[output], tools=[WEATHER],
                            instructions="You are the weather expert.")
    client.responses.create(model=MODEL, input=[question, call.model_dump(exclude_none=True), output], tools=[WEATHER],
                            instructions="You are the weather expert.")
    for asked in _chats(llm)[1:]:
        system = asked["messages"][0]
        assert system["role"] == "system" and system["content"].endswith("You are the weather expert.")
        assert "Route the user." not in json.dumps(asked["messages"])


def test_an_exchange_kept_in_a_conversation_is_sent_back_without_repeating_its_answer(client, llm):
    """A client that keeps an agent's memory in a conversation's items adds each turn's items as
    the responses returned them, with their ids, and sends all of them back before the next
    question. A conversation keeps an added item's id (and an answer's citations), as OpenAI's
    do, so ragkit goes on from the response the answer came from and the model reads that answer
    once; under a new id it read it twice."""
    llm.state.tool_script.extend([{"tool_calls": [{"name": "get_weather", "arguments": {"city": "Oslo"}}]},
                                  {"content": "Cloudy in Oslo."}, {"content": "Take a jacket."}])
    question = {"role": "user", "content": "Weather in Oslo?"}
    first = client.responses.create(model=MODEL, input=[question], tools=[WEATHER])
    call = first.output[0].model_dump(exclude_unset=True)
    output = {"type": "function_call_output", "call_id": call["call_id"], "output": "cloudy, 12 C"}
    done = client.responses.create(model=MODEL, input=[question, call, output], tools=[WEATHER])
    answer = done.output[0].model_dump(exclude_unset=True)
    conversation = client.conversations.create()
    client.conversations.items.create(conversation.id, items=[question, call, output, answer])
    kept = [i.model_dump(exclude_unset=True) for i in client.conversations.items.list(conversation.id, order="asc")]
    assert [i["id"] for i in kept[1:]] == [call["id"], kept[2]["id"], answer["id"]]
    assert kept[-1]["content"] == answer["content"]
    client.responses.create(model=MODEL, input=[*kept, {"role": "user", "content": "Jacket?"}], tools=[WEATHER])
    said = [m["content"] for m in _chats(llm)[-1]["messages"] if m["role"] == "assistant" and m["content"]]
    assert said == ["Cloudy in Oslo."]


def test_an_answer_sent_back_without_its_id_after_its_search_is_read_once(client, store, llm):
    """The Agents SDK's ``OpenAIConversationsSession`` sends a turn back with its
    ``file_search_call``'s id but the answer as a plain assistant message (it strips the ids of
    messages): ragkit goes on from the response of that search, whose saved chat ends with the
    answer, so the message is not added to it a second time."""
    llm.state.tool_script.extend([{"tool_calls": [{"name": "file_search", "arguments": {"query": "error code E42"}}]},
                                  {"content": "E42: the anemometer cable is loose."}, {"content": "Plug it in."}])
    tools = [{"type": "file_search", "vector_store_ids": [store]}, WEATHER]
    question = {"role": "user", "content": "What does E42 mean?"}
    searched, answer = client.responses.create(model=MODEL, input=[question], tools=tools).output
    text = answer.content[0].text
    said = {"role": "assistant", "content": [{"type": "output_text", "text": text, "annotations": []}]}
    client.responses.create(model=MODEL, tools=tools, input=[question, searched.model_dump(exclude_unset=True), said,
                                                             {"role": "user", "content": "How do I fix it?"}])
    sent = _chats(llm)[-1]["messages"]
    assert [m["content"] for m in sent if m["role"] == "assistant" and m["content"]] == [answer.content[0].text]
    assert sent[-1] == {"role": "user", "content": "How do I fix it?"}


def test_a_response_over_no_store_is_answered_by_the_chat_model(client, llm):
    """A request that names no store and no tool (an Agents SDK guardrail agent classifying the
    input in its ``output_type``) is answered by the chat model from its instructions, as chat
    completions without a store are, streamed too, rather than a 400 asking for a store. There is
    nothing to search, so the model gets no file_search tool and no rules about documents."""
    verdict = '{"off_topic": true}'
    llm.state.tool_script.extend([{"content": verdict}, {"content": verdict}])
    text = {"format": {"type": "json_schema", "name": "verdict", "strict": True, "schema": {
        "type": "object", "properties": {"off_topic": {"type": "boolean"}}, "required": ["off_topic"],
        "additionalProperties": False}}}
    done = client.responses.create(model=MODEL, input="What is 2+2?", instructions="Is it off topic?", text=text)
    assert done.status == "completed" and done.output_text == verdict
    assert [item.type for item in done.output] == ["message"] and done.usage.total_tokens > 0
    streamed = list(client.responses.create(model=MODEL, input="What is 2+2?", instructions="Is it off topic?",
                                            text=text, stream=True))
    assert streamed[-1].type == "response.completed" and streamed[-1].response.output_text == verdict
    for asked in _chats(llm):
        assert "tools" not in asked and asked["messages"][0]["content"].startswith("Is it off topic?")
        assert "documents" not in asked["messages"][0]["content"]


def test_parallel_tool_calls_reaches_the_model_with_the_functions(client, store, llm):
    """``parallel_tool_calls: false`` (the Agents SDK's ``ModelSettings(parallel_tool_calls=False)``)
    means at most one call per response: it goes to the model with the functions, as on chat
    completions; it was echoed and dropped."""
    llm.state.tool_script.extend([{"content": "No call needed."}, {"content": "No call needed."}])
    tools = [{"type": "file_search", "vector_store_ids": [store]}, WEATHER]
    done = client.responses.create(model=MODEL, input="Hello", tools=tools, parallel_tool_calls=False)
    assert done.parallel_tool_calls is False
    client.responses.create(model=MODEL, input="Hello", tools=tools)
    assert [asked.get("parallel_tool_calls") for asked in _chats(llm)] == [False, None]
