"""Assistants v2 over ``ragkit serve`` with no chat model: the guide's thread code, unchanged but
for ``base_url``, answered by the extractive answerer with file citations; follow-ups in a thread,
streaming runs, run steps, ownership and a restart. A real server subprocess, the stock SDK."""

from __future__ import annotations

import json

import openai
import pytest
from conftest import CORPUS
from openai import AssistantEventHandler
from assistant_helpers import client, server  # noqa: F401 - the module's fixtures
from server_helpers import upload_batch

from ragkit.state import assistants as adb
from ragkit.state import open_home, responses
from ragkit.state.tables import Tables

pytestmark = pytest.mark.timeout(600)
FILES = ["ws200-user-manual.pdf", "safety-data-sheet.pdf", "warranty-and-returns.docx", "support-faq.txt"]


@pytest.fixture(scope="module")
def assistant(client):
    """The guide's steps: an assistant with file_search, a vector store, then tool_resources."""
    assistant = client.beta.assistants.create(
        name="Halvard Support", model="gpt-4o", tools=[{"type": "file_search"}],
        instructions="You answer questions about Halvard weather stations from the manuals.")
    vector_store = client.vector_stores.create(name="Halvard manuals")
    batch = upload_batch(client, vector_store.id, [CORPUS / name for name in FILES])
    assert batch.file_counts.completed == len(FILES)
    assistant = client.beta.assistants.update(
        assistant_id=assistant.id, tool_resources={"file_search": {"vector_store_ids": [vector_store.id]}})
    assert assistant.tool_resources.file_search.vector_store_ids == [vector_store.id]
    return assistant


def _cited(client, message) -> list[tuple[str, object]]:
    """(file name, annotation) of every file_citation, as the guide reads them."""
    text = message.content[0].text
    out = []
    for annotation in text.annotations:
        assert annotation.type == "file_citation"
        assert text.value[annotation.start_index:annotation.end_index] == annotation.text
        out.append((client.files.retrieve(annotation.file_citation.file_id).filename, annotation))
    return out


def _steps_text(client, thread_id: str, run_id: str) -> dict[str, str]:
    steps = client.beta.threads.runs.steps.list(
        thread_id=thread_id, run_id=run_id,
        include=["step_details.tool_calls[*].file_search.results[*].content"])
    return {r.model_extra["chunk_id"]: r.content[0].text for s in steps if s.type == "tool_calls"
            for call in s.step_details.tool_calls for r in call.file_search.results}


def test_the_guide_thread_code_cites_files_and_follows_up(client, assistant):
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "What battery does the sensor array use?"}])
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    assert run.status == "completed", run.last_error
    assert run.model == "ragkit-extractive" and run.usage.total_tokens > 0 and run.completed_at
    messages = list(client.beta.threads.messages.list(thread_id=thread.id, run_id=run.id))
    assert len(messages) == 1 and messages[0].role == "assistant" and messages[0].assistant_id == assistant.id
    assert "battery" in messages[0].content[0].text.value
    cited = _cited(client, messages[0])
    assert cited
    passages = _steps_text(client, thread.id, run.id)
    for name, annotation in cited:
        citation = annotation.file_citation
        assert citation.quote and citation.quote in passages[citation.model_extra["chunk_id"]]
        page = citation.model_extra["page"]
        assert isinstance(page, int) if name.endswith(".pdf") else page is None

    client.beta.threads.messages.create(thread_id=thread.id, role="user", content="Can I recharge it?")
    follow = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    assert follow.status == "completed", follow.last_error
    answer = client.beta.threads.messages.list(thread_id=thread.id).data[0]
    assert answer.run_id == follow.id
    searched = answer.model_extra["ragkit"]["search_query"]
    assert "battery" in searched.lower() and "it?" not in searched
    names = {name for name, _ in _cited(client, answer)}
    assert "safety-data-sheet.pdf" in names and "recharge" in answer.content[0].text.value.lower()
    everything = list(client.beta.threads.messages.list(thread_id=thread.id, order="asc"))
    assert [m.role for m in everything] == ["user", "assistant", "user", "assistant"]
    assert [r.id for r in client.beta.threads.runs.list(thread_id=thread.id)] == [follow.id, run.id]

    # truncation_strategy: a run that reads only the last message has no earlier turn to carry over
    client.beta.threads.messages.create(thread_id=thread.id, role="user", content="How long does it last?")
    alone = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant.id,
        truncation_strategy={"type": "last_messages", "last_messages": 1})
    assert alone.status == "completed" and alone.truncation_strategy.last_messages == 1
    searched = client.beta.threads.messages.list(thread_id=thread.id).data[0].model_extra["ragkit"]["search_query"]
    assert searched == "How long does it last?"


def test_quotes_of_a_text_file_are_spans_of_the_file(client, assistant):
    thread = client.beta.threads.create()
    client.beta.threads.messages.create(thread_id=thread.id, role="user", content="How many days of readings does the console store?")
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    assert run.status == "completed", run.last_error
    message = client.beta.threads.messages.list(thread_id=thread.id).data[0]
    cited = _cited(client, message)
    faq = [a for name, a in cited if name == "support-faq.txt"]
    assert faq, cited
    raw = " ".join(client.files.content(faq[0].file_citation.file_id).text.split())
    assert all(" ".join(a.file_citation.quote.split()) in raw for a in faq)


def test_a_file_attached_to_a_message_is_searched_by_the_run(client, assistant):
    with open(CORPUS / "employee-handbook.docx", "rb") as handle:
        handbook = client.files.create(file=handle, purpose="assistants")
    thread = client.beta.threads.create(messages=[{
        "role": "user", "content": "What is the daily allowance for a business trip to Germany?",
        "attachments": [{"file_id": handbook.id, "tools": [{"type": "file_search"}]}]}])
    [own] = client.beta.threads.retrieve(thread.id).tool_resources.file_search.vector_store_ids
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    assert run.status == "completed", run.last_error
    message = client.beta.threads.messages.list(thread_id=thread.id).data[0]
    assert "28 EUR" in message.content[0].text.value
    assert {name for name, _ in _cited(client, message)} == {"employee-handbook.docx"}
    assert client.vector_stores.retrieve(own).file_counts.completed == 1


def test_a_file_attached_in_a_runs_additional_messages_is_searched(client):
    """Semantic Kernel attaches files through ``additional_messages``; an assistant with no store of
    its own answers from them, as OpenAI's runs search the thread's store they go into."""
    with open(CORPUS / "employee-handbook.docx", "rb") as handle:
        handbook = client.files.create(file=handle, purpose="assistants")
    bare = client.beta.assistants.create(model="gpt-4o", tools=[{"type": "file_search"}])
    thread = client.beta.threads.create()
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=bare.id, additional_messages=[{
        "role": "user", "content": "What is the daily allowance for a business trip to Germany?",
        "attachments": [{"file_id": handbook.id, "tools": [{"type": "file_search"}]}]}])
    assert run.status == "completed", run.last_error
    message = client.beta.threads.messages.list(thread_id=thread.id).data[0]
    assert "28 EUR" in message.content[0].text.value
    assert {name for name, _ in _cited(client, message)} == {"employee-handbook.docx"}
    assert client.beta.threads.retrieve(thread.id).tool_resources.file_search.vector_store_ids


def test_run_steps_list_the_file_search_results(client, assistant):
    run = client.beta.threads.create_and_run_poll(
        assistant_id=assistant.id, thread={"messages": [{"role": "user", "content": "What does error code E42 mean?"}]})
    assert run.status == "completed", run.last_error
    steps = list(client.beta.threads.runs.steps.list(thread_id=run.thread_id, run_id=run.id, order="asc"))
    assert [s.type for s in steps] == ["tool_calls", "message_creation"]
    assert all(s.status == "completed" for s in steps)
    [call] = steps[0].step_details.tool_calls
    results = call.file_search.results
    assert call.type == "file_search" and results and results[0].file_name == "ws200-user-manual.pdf"
    assert results[0].content is None  # the passages' text only with include=
    message = client.beta.threads.messages.retrieve(thread_id=run.thread_id,
                                                    message_id=steps[1].step_details.message_creation.message_id)
    assert "anemometer" in message.content[0].text.value.lower()
    with_text = _steps_text(client, run.thread_id, run.id)
    assert any("E42" in text for text in with_text.values())
    with pytest.raises(openai.BadRequestError) as caught:  # an include that does not exist is named, not ignored
        client.beta.threads.runs.steps.list(thread_id=run.thread_id, run_id=run.id, include=["file_search.results"])
    assert caught.value.param == "include" and "include[0]" in caught.value.message
    with pytest.raises(openai.BadRequestError, match="Cannot cancel run with status 'completed'"):
        client.beta.threads.runs.cancel(thread_id=run.thread_id, run_id=run.id)


def _search_call(client, run):
    steps = client.beta.threads.runs.steps.list(thread_id=run.thread_id, run_id=run.id, order="asc")
    return steps.data[0].step_details.tool_calls[0].file_search


def test_a_file_search_tools_ranking_options_apply_to_the_run_and_its_steps(client, assistant):
    stores = {"file_search": {"vector_store_ids": assistant.tool_resources.file_search.vector_store_ids}}
    strict = client.beta.assistants.create(model="gpt-4o", tool_resources=stores, tools=[
        {"type": "file_search", "file_search": {"ranking_options": {"ranker": "auto", "score_threshold": 0.99}}}])
    assert strict.tools[0].file_search.ranking_options.score_threshold == 0.99
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "What does error code E42 mean?"}])
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=strict.id)
    assert run.status == "completed", run.last_error
    search = _search_call(client, run)
    assert search.results == [] and search.ranking_options.score_threshold == 0.99
    answer = client.beta.threads.messages.list(thread_id=thread.id, run_id=run.id).data[0]
    assert answer.content[0].text.annotations == [] and answer.model_extra["ragkit"]["refused"]
    # the run's own tools replace the assistant's: at most 2 passages, none scored under 0.2
    override = {"max_num_results": 2, "ranking_options": {"score_threshold": 0.2}}
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=strict.id,
                                                   tools=[{"type": "file_search", "file_search": override}])
    search = _search_call(client, run)
    assert search.ranking_options.score_threshold == 0.2 and search.ranking_options.ranker == "default_2024_08_21"
    assert 1 <= len(search.results) <= 2 and all(r.score >= 0.2 for r in search.results)
    with pytest.raises(openai.BadRequestError) as caught:
        client.beta.assistants.create(model="gpt-4o", tools=[
            {"type": "file_search", "file_search": {"ranking_options": {"ranker": "xx", "score_threshold": 0}}}])
    assert caught.value.param == "tools[0].file_search.ranking_options.ranker"


class Collector(AssistantEventHandler):
    def __init__(self) -> None:
        super().__init__()
        self.deltas: list[str] = []
        self.kinds: list[str] = []
        self.tool_calls: list[str] = []
        self.notes: list[tuple[str, object]] = []  # (the delta's text, an annotation in it)

    def on_event(self, event) -> None:
        self.kinds.append(event.event)

    def on_text_delta(self, delta, snapshot) -> None:
        self.deltas.append(delta.value)
        self.notes += [(delta.value, note) for note in delta.annotations or []]

    def on_tool_call_created(self, tool_call) -> None:
        self.tool_calls.append(tool_call.type)


def test_a_streamed_run_sends_deltas_and_completes(client, assistant):
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "How do I update the firmware?"}])
    handler = Collector()
    with client.beta.threads.runs.stream(thread_id=thread.id, assistant_id=assistant.id,
                                         event_handler=handler) as stream:
        stream.until_done()
    assert handler.kinds[0] == "thread.run.created" and handler.kinds[-1] == "thread.run.completed"
    for kind in ("thread.run.in_progress", "thread.run.step.created", "thread.message.created",
                 "thread.message.delta", "thread.message.completed"):
        assert kind in handler.kinds
    assert handler.tool_calls == ["file_search"]  # from the step delta, as OpenAI streams it
    run = stream.get_final_run()
    assert run.status == "completed"
    steps = stream.get_final_run_steps()
    assert steps[0].step_details.tool_calls[0].type == "file_search"  # the snapshot the deltas built
    [final] = stream.get_final_messages()
    assert "".join(handler.deltas) and final.content[0].text.value
    assert "firmware" in final.content[0].text.value.lower() and final.content[0].text.annotations
    stored = client.beta.threads.messages.list(thread_id=thread.id).data[0]
    assert stored.id == final.id and stored.content[0].text.value == final.content[0].text.value
    # each citation streams as OpenAI's do: the marker is a delta of its own and carries its
    # annotation (Semantic Kernel's invoke_stream reads citations only from there)
    text, final_notes = final.content[0].text.value, final.content[0].text.annotations
    assert [(n.index, n.start_index, n.end_index, n.file_citation.file_id) for _, n in handler.notes] == [
        (i, n.start_index, n.end_index, n.file_citation.file_id) for i, n in enumerate(final_notes)]
    assert all(value == note.text == text[note.start_index:note.end_index] for value, note in handler.notes)


def test_bad_requests_name_the_field(client, assistant):
    with pytest.raises(openai.BadRequestError) as caught:
        client.beta.assistants.create(model="gpt-4o", tools=[{"type": "code_interpreter"}])
    assert caught.value.param == "tools[0].type"
    with pytest.raises(openai.NotFoundError) as caught:
        client.beta.assistants.create(model="gpt-4o", tool_resources={"file_search": {"vector_store_ids": ["vs_nope"]}})
    assert caught.value.param == "tool_resources.file_search.vector_store_ids"
    bare = client.beta.assistants.create(model="gpt-4o", tools=[{"type": "file_search"}])
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "hello"}])
    with pytest.raises(openai.BadRequestError, match="nothing to answer from"):
        client.beta.threads.runs.create(thread_id=thread.id, assistant_id=bare.id)
    empty = client.beta.threads.create()
    with pytest.raises(openai.BadRequestError, match="no user message"):
        client.beta.threads.runs.create(thread_id=empty.id, assistant_id=assistant.id)
    assert client.beta.assistants.delete(bare.id).deleted
    with pytest.raises(openai.NotFoundError):
        client.beta.assistants.retrieve(bare.id)


def test_a_tool_field_of_the_wrong_json_type_is_a_400_naming_it(client):
    """A function tool's ``function`` and its fields, and ``tool_resources.file_search``, have
    fixed JSON types; a string ``function`` or ``file_search`` had been a 500 (``.get`` of a
    string), a string ``strict`` or ``description`` was stored and sent on to the model."""
    function = {"name": "get_weather", "parameters": {"type": "object"}}
    bare = client.beta.assistants.create(model="gpt-4o")
    for tools, param in (([{"type": "function", "function": "get_weather"}], "tools[0].function"),
                         ([{"type": "function", "function": {**function, "strict": "yes"}}],
                          "tools[0].function.strict"),
                         ([{"type": "function", "function": {**function, "description": ["x"]}}],
                          "tools[0].function.description")):
        for create in (lambda: client.beta.assistants.create(model="gpt-4o", tools=tools),
                       lambda: client.beta.threads.create_and_run(assistant_id=bare.id, tools=tools)):
            with pytest.raises(openai.BadRequestError) as caught:
                create()
            assert caught.value.param == param and caught.value.code == "invalid_type", caught.value.message
    for create in (lambda: client.beta.assistants.create(model="gpt-4o", tool_resources={"file_search": "vs_1"}),
                   lambda: client.beta.threads.create(tool_resources={"file_search": "vs_1"})):
        with pytest.raises(openai.BadRequestError) as caught:
            create()
        assert caught.value.param == "tool_resources.file_search" and caught.value.code == "invalid_type"


def test_another_key_cannot_see_assistants_threads_or_runs(server, client, assistant):
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "What does error code E17 mean?"}])
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    other = server.client(server.keys[1])
    for call in (lambda: other.beta.assistants.retrieve(assistant.id),
                 lambda: other.beta.threads.retrieve(thread.id),
                 lambda: other.beta.threads.messages.list(thread_id=thread.id),
                 lambda: other.beta.threads.runs.retrieve(thread_id=thread.id, run_id=run.id),
                 lambda: other.beta.threads.runs.steps.list(thread_id=thread.id, run_id=run.id),
                 lambda: other.beta.threads.delete(thread.id)):
        with pytest.raises(openai.NotFoundError):
            call()
    own = other.beta.threads.create(messages=[{"role": "user", "content": "What does error code E17 mean?"}])
    with pytest.raises(openai.NotFoundError) as caught:
        other.beta.threads.runs.create(thread_id=own.id, assistant_id=assistant.id)
    assert caught.value.param == "assistant_id"
    assert assistant.id not in [a.id for a in other.beta.assistants.list()]
    assert assistant.id in [a.id for a in client.beta.assistants.list()]


def test_stored_text_with_a_lone_surrogate_is_read_back_with_a_replacement_character(server, client, assistant):
    """A record written before bodies were read as strict JSON may hold an unpaired surrogate
    (``"\\ud800"`` was accepted, and kept in the JSON of an assistant or a response): listing or
    retrieving it was a 500, as it cannot be written as UTF-8."""
    made = client.beta.assistants.create(model="gpt-4o", name="legacy")
    stores = assistant.tool_resources.file_search.vector_store_ids
    answered = client.responses.create(model="ragkit-extractive", input="What does error code E17 mean?",
                                       tools=[{"type": "file_search", "vector_store_ids": stores}])
    state = open_home(server.home)
    try:
        db = Tables(state)
        owner = db.one("SELECT owner FROM asst_assistants WHERE id=?", (made.id,))["owner"]
        stored = adb.owned(db, adb.ASSISTANTS, made.id, owner)
        adb.replace(db, adb.ASSISTANTS, stored | {"name": "old \ud800 name",
                                                  "metadata": {"note": "\udc00", "k\ud83d": "v"}})
        body = responses.response(db, answered.id, owner) | {"metadata": {"note": "\udbff"}}
        with db.write() as conn:
            conn.execute("UPDATE resp_responses SET body=? WHERE id=?", (json.dumps(body), answered.id))
    finally:
        state.dispose()
    listed = {a.id: a for a in client.beta.assistants.list(limit=100)}
    assert listed[made.id].name == "old \ufffd name"
    assert listed[made.id].metadata == {"note": "\ufffd", "k\ufffd": "v"}
    assert client.beta.assistants.retrieve(made.id).name == "old \ufffd name"
    assert client.responses.retrieve(answered.id).metadata == {"note": "\ufffd"}
    assert client.beta.assistants.delete(made.id).deleted


def test_completed_runs_and_messages_survive_a_restart(server, client, assistant):
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "What is the warranty on the solar panel?"}])
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    before = [m.content[0].text.value for m in client.beta.threads.messages.list(thread_id=thread.id)]
    server.stop()
    server.start()
    assert client.beta.threads.runs.retrieve(thread_id=thread.id, run_id=run.id).status == "completed"
    after = client.beta.threads.messages.list(thread_id=thread.id)
    assert [m.content[0].text.value for m in after] == before and len(before) == 2
    assert after.data[0].content[0].text.annotations
