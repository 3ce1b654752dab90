"""Assistants runs with a chat model: the test OpenAI-compatible server (tests/openai_server.py)
plays the model and is scripted to call ``file_search`` (run by ragkit) and the user's functions
(the run stops at ``requires_action`` until the client submits the outputs). Also: unknown tools,
a model that never stops calling tools, a model that is down, cancelling a run mid-way."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from tool_loop_helpers import MODEL, client, server, store  # noqa: F401 - the module's fixtures
from server_helpers import e42_and_weather, wait_until

pytestmark = pytest.mark.timeout(600)
WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "The weather in a city now.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}


def _assistant(client, store: str, *functions):
    return client.beta.assistants.create(
        model=MODEL, instructions="Answer field technicians.", tools=[{"type": "file_search"}, *functions],
        tool_resources={"file_search": {"vector_store_ids": [store]}})


def _thread(client, question: str):
    return client.beta.threads.create(messages=[{"role": "user", "content": question}])


def test_a_user_function_stops_the_run_until_its_output_is_submitted(client, store, llm):
    llm.state.tool_script.extend([
        {"tool_calls": [{"name": "file_search", "arguments": {"query": "error code E42"}}]},
        {"tool_calls": [{"name": "get_weather", "arguments": {"city": "Oslo"}}]},
        e42_and_weather])
    assistant = _assistant(client, store, WEATHER)
    thread = _thread(client, "What does E42 mean, and what is the weather in Oslo?")
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    assert run.status == "requires_action", run.last_error
    [call] = run.required_action.submit_tool_outputs.tool_calls
    assert call.function.name == "get_weather" and json.loads(call.function.arguments) == {"city": "Oslo"}
    assert not list(client.beta.threads.messages.list(thread_id=thread.id, run_id=run.id))

    done = client.beta.threads.runs.submit_tool_outputs_and_poll(
        thread_id=thread.id, run_id=run.id, tool_outputs=[{"tool_call_id": call.id, "output": "cloudy, 12 C"}])
    assert done.status == "completed", done.last_error
    assert done.model == MODEL and done.usage.total_tokens > 0
    message = client.beta.threads.messages.list(thread_id=thread.id).data[0]
    text = message.content[0].text
    assert "cloudy, 12 C" in text.value and "anemometer" in text.value
    [note] = text.annotations
    assert client.files.retrieve(note.file_citation.file_id).filename == "ws200-user-manual.pdf"
    assert note.file_citation.model_extra["page"] == 4 and "E42" in note.file_citation.quote

    first, second, third = llm.chat_requests()
    assert [t["function"]["name"] for t in first["body"]["tools"]] == ["file_search", "get_weather"]
    assert first["body"]["messages"][0]["content"].endswith("Answer field technicians.")
    assert third["body"]["messages"][-1] == {"role": "tool", "tool_call_id": call.id, "content": "cloudy, 12 C"}
    steps = list(client.beta.threads.runs.steps.list(thread_id=thread.id, run_id=run.id, order="asc"))
    assert [s.type for s in steps] == ["tool_calls", "tool_calls", "message_creation"]
    assert steps[0].step_details.tool_calls[0].file_search.results[0].file_name == "ws200-user-manual.pdf"
    assert steps[1].step_details.tool_calls[0].function.output == "cloudy, 12 C"


def test_an_unknown_tool_goes_back_to_the_model_and_the_run_recovers(client, store, llm):
    llm.state.tool_script.extend([
        {"tool_calls": [{"name": "delete_everything", "arguments": {}},
                        {"name": "file_search", "arguments": "{not json"}]},
        {"content": "I could not find the answer in the documents."}])
    run = client.beta.threads.runs.create_and_poll(thread_id=_thread(client, "Anything?").id,
                                                   assistant_id=_assistant(client, store, WEATHER).id)
    assert run.status == "completed", run.last_error
    errors = [m["content"] for m in llm.chat_requests()[1]["body"]["messages"] if m["role"] == "tool"]
    assert errors[0].startswith("ERROR: there is no tool 'delete_everything'") and "get_weather" in errors[0]
    assert errors[1].startswith("ERROR: the arguments are not valid JSON")


def test_a_model_that_never_stops_calling_tools_fails_the_run(client, store, llm):
    llm.state.tool_script.append({"tool_calls": [{"name": "nope", "arguments": {}}], "repeat": True})
    run = client.beta.threads.runs.create_and_poll(thread_id=_thread(client, "Loop?").id,
                                                   assistant_id=_assistant(client, store, WEATHER).id)
    assert run.status == "failed" and run.failed_at
    assert run.last_error.code == "server_error" and "kept calling tools" in run.last_error.message


def test_cancelling_a_run_waiting_for_its_functions_cancels_the_waiting_step(client, store, llm):
    """The function-call step a run waits on ends with the run, as OpenAI lists it: cancelled,
    not in progress forever."""
    llm.state.tool_script.append({"tool_calls": [{"name": "get_weather", "arguments": {"city": "Oslo"}}]})
    thread = _thread(client, "What is the weather in Oslo?")
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id,
                                                   assistant_id=_assistant(client, store, WEATHER).id)
    assert run.status == "requires_action", run.last_error
    [waiting] = client.beta.threads.runs.steps.list(thread_id=thread.id, run_id=run.id).data
    assert waiting.status == "in_progress"
    cancelled = client.beta.threads.runs.cancel(thread_id=thread.id, run_id=run.id)
    assert cancelled.status == "cancelled"
    step = client.beta.threads.runs.steps.retrieve(waiting.id, thread_id=thread.id, run_id=run.id)
    assert step.status == "cancelled" and step.cancelled_at


def test_a_model_that_is_down_fails_the_run_with_last_error(client, store, llm):
    llm.state.faults.append(("status", 500))
    thread = _thread(client, "What does E42 mean?")
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id,
                                                   assistant_id=_assistant(client, store, WEATHER).id)
    assert run.status == "failed"
    assert run.last_error.code == "server_error" and "chat model failed" in run.last_error.message
    assert "Traceback" not in run.last_error.message
    assert not list(client.beta.threads.messages.list(thread_id=thread.id, run_id=run.id))


def test_cancelling_a_run_while_the_model_works_drops_its_answer(client, store, llm):
    release = threading.Event()

    def slow(body: dict) -> dict:
        release.wait(60)
        return {"content": "Too late."}

    llm.state.tool_script.append(slow)
    thread = _thread(client, "What does E42 mean?")
    run = client.beta.threads.runs.create(thread_id=thread.id, assistant_id=_assistant(client, store, WEATHER).id)
    wait_until(lambda: llm.chat_requests())
    cancelling = client.beta.threads.runs.cancel(thread_id=thread.id, run_id=run.id)
    assert cancelling.status == "cancelling"
    release.set()
    final = client.beta.threads.runs.poll(run.id, thread_id=thread.id)
    assert final.status == "cancelled" and final.cancelled_at
    assert not list(client.beta.threads.messages.list(thread_id=thread.id, run_id=run.id))


def test_without_functions_the_model_answers_over_the_stores(client, store, llm):
    thread = _thread(client, "What does error code E42 mean?")
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=_assistant(client, store).id,
                                                   max_completion_tokens=300)
    assert run.status == "completed", run.last_error
    message = client.beta.threads.messages.list(thread_id=thread.id).data[0]
    assert message.model_extra["ragkit"]["generator"] == "openai"
    assert "anemometer" in message.content[0].text.value.lower() and message.content[0].text.annotations
    [request] = llm.chat_requests()
    assert request["body"]["max_tokens"] == 300  # the run's cap on the answer
    assert "tools" not in request["body"] and request["body"]["messages"][0]["content"].endswith(
        "Answer field technicians.")


def test_tool_choice_none_answers_without_searching(client, store, llm):
    """file_search is one of the run's tools, so ``tool_choice: "none"`` rules it out, as on
    Responses: the model is told ``none``, no tool_calls step is recorded."""
    reply = "I did not search the manuals for this answer."
    llm.state.tool_script.append({"content": reply})
    thread = _thread(client, "What does error code E42 mean?")
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=_assistant(client, store).id,
                                                   tool_choice="none")
    assert run.status == "completed", run.last_error
    assert client.beta.threads.messages.list(thread_id=thread.id).data[0].content[0].text.value == reply
    steps = client.beta.threads.runs.steps.list(thread_id=thread.id, run_id=run.id).data
    assert [step.type for step in steps] == ["message_creation"]
    [request] = llm.chat_requests()
    assert request["body"]["tool_choice"] == "none"
    assert all(m["role"] != "tool" for m in request["body"]["messages"])


def test_a_streamed_run_stops_for_a_function_and_streams_on_after_the_output(client, store, llm):
    llm.state.tool_script.extend([
        {"tool_calls": [{"name": "file_search", "arguments": {"query": "error code E42"}}]},
        {"tool_calls": [{"name": "get_weather", "arguments": {"city": "Oslo"}}]},
        e42_and_weather])
    thread = _thread(client, "What does E42 mean, and what is the weather in Oslo?")
    with client.beta.threads.runs.stream(thread_id=thread.id,
                                         assistant_id=_assistant(client, store, WEATHER).id) as stream:
        stream.until_done()
    paused = stream.get_final_run()
    assert paused.status == "requires_action"
    [call] = paused.required_action.submit_tool_outputs.tool_calls
    with client.beta.threads.runs.submit_tool_outputs_stream(
            thread_id=thread.id, run_id=paused.id,
            tool_outputs=[{"tool_call_id": call.id, "output": "sunny, 20 C"}]) as resumed:
        deltas = [event.data.delta.content[0].text for event in resumed if event.event == "thread.message.delta"]
    assert "sunny, 20 C" in "".join(d.value for d in deltas)
    assert resumed.get_final_run().status == "completed"
    [message] = resumed.get_final_messages()
    [note] = message.content[0].text.annotations
    assert note.file_citation.model_extra["page"] == 4
    # the citation streams in the delta of its marker, as OpenAI streams one
    [(marker, streamed)] = [(d.value, n) for d in deltas for n in d.annotations or []]
    assert marker == streamed.text == note.text == "[1]" and streamed.index == 0
    assert (streamed.start_index, streamed.end_index) == (note.start_index, note.end_index)
    assert streamed.file_citation.file_id == note.file_citation.file_id


def test_a_run_cut_off_by_a_crash_is_reported_failed_after_the_restart(server, client, store, llm):
    release = threading.Event()
    llm.state.tool_script.append(lambda body: release.wait(60) and {"content": "Too late."})
    thread = _thread(client, "What does E42 mean?")
    run = client.beta.threads.runs.create(thread_id=thread.id, assistant_id=_assistant(client, store, WEATHER).id)
    wait_until(lambda: llm.chat_requests())
    server.kill()
    release.set()
    server.start()
    after = client.beta.threads.runs.retrieve(thread_id=thread.id, run_id=run.id)
    assert after.status == "failed" and "stopped while this run was in progress" in after.last_error.message
    client.beta.threads.messages.create(thread_id=thread.id, role="user", content="Still there?")  # not blocked


def test_a_thread_deleted_while_its_run_works_ends_the_run_without_an_internal_error(server, client, store, llm):
    """Deleting a thread deletes its runs: the run being worked on has nothing left to finish or
    fail. A streamed run's client is told in-band with the 404 a request for the run gets now;
    neither run leaves a traceback in the server's log (its last write found no run, and the
    failure it then tried to record found none either)."""
    release = threading.Event()

    def slow(body: dict) -> dict:
        release.wait(60)
        return {"content": "Too late."}

    assistant = _assistant(client, store, WEATHER)
    runs = []
    for streamed in (True, False):
        llm.state.tool_script.append(slow)
        release.clear()
        asked = len(llm.chat_requests())
        thread = _thread(client, "What does E42 mean?")
        with ThreadPoolExecutor(1) as pool:
            started = pool.submit(client.beta.threads.runs.create, thread_id=thread.id, assistant_id=assistant.id,
                                  stream=streamed)
            wait_until(lambda: len(llm.chat_requests()) > asked)  # the model is answering
            client.beta.threads.delete(thread.id)
            release.set()
            made = started.result()
        if streamed:
            events = list(made)
            runs.append(events[0].data.id)
            assert events[-1].event == "error" and events[-1].data.code == "not_found"
            assert runs[-1] in events[-1].data.message
        else:
            runs.append(made.id)
    llm.state.tool_script.append({"content": "E42 means the anemometer cable is disconnected."})
    after = client.beta.threads.runs.create_and_poll(thread_id=_thread(client, "And E17?").id,
                                                     assistant_id=assistant.id)
    assert after.status == "completed"
    log = server.log.read_text(errors="replace")
    assert not [run for run in runs if run in log]
