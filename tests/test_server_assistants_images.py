"""Images in Assistants messages (``image_url`` and ``image_file`` parts) against real ``ragkit
serve`` processes through the stock ``openai`` SDK: they are stored and returned as OpenAI's
blocks; with a chat model (the scripted server of tests/openai_server.py) a run sends them to it
as ``image_url`` parts (an uploaded image as a ``data:`` URL of its bytes) beside the passages
found for the question's text, and cites them; offline, or with a ``ragkit-extractive`` run, an
image is a 400 naming the part."""

from __future__ import annotations

import base64
import io
import json

import openai
import pytest
from openai import AssistantEventHandler
from server_helpers import SOURCE, Server
from tool_loop_helpers import MODEL, client, server, store  # noqa: F401 - the module's fixtures

pytestmark = pytest.mark.timeout(600)
PIXEL_BYTES = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAA"
                               "AABJRU5ErkJggg==")
PIXEL = "data:image/png;base64," + base64.b64encode(PIXEL_BYTES).decode()
PHOTO = "https://example.com/display.png"  # never fetched: the scripted model only records it
QUESTION = "What does error code E42 on this display mean?"


@pytest.fixture(scope="module")
def image(client) -> str:
    """An uploaded PNG, as the guides upload images for vision."""
    return client.files.create(file=("display.png", io.BytesIO(PIXEL_BYTES)), purpose="vision").id


@pytest.fixture(scope="module")
def assistant(client, store):
    return client.beta.assistants.create(model=MODEL, instructions="Answer field technicians.",
                                         tools=[{"type": "file_search"}],
                                         tool_resources={"file_search": {"vector_store_ids": [store]}})


@pytest.fixture(scope="module")
def offline(tmp_path_factory):
    running = Server(tmp_path_factory.mktemp("images-offline") / "home", "--no-auth").start()
    yield running
    running.stop()


def _parts(image_id: str) -> list[dict]:
    return [{"type": "text", "text": QUESTION}, {"type": "image_url", "image_url": {"url": PHOTO, "detail": "low"}},
            {"type": "image_file", "image_file": {"file_id": image_id}}]


def _cite_e42(body: dict) -> dict:
    """The model's answer: cites the passage holding E42 among those ragkit sent it."""
    tools = "\n".join(m["content"] for m in body["messages"] if m["role"] == "tool")
    number = next(n for n, _file, _page, text in SOURCE.findall(tools) if "E42" in text)
    return {"content": f"The display shows E42: the anemometer cable is disconnected [{number}]."}


def _user_messages(request: dict) -> list:
    return [m["content"] for m in request["body"]["messages"] if m["role"] == "user"]


def test_image_parts_are_stored_and_returned_as_openais_blocks(client, image):
    thread = client.beta.threads.create(messages=[{"role": "user", "content": _parts(image)}])
    [message] = client.beta.threads.messages.list(thread_id=thread.id).data
    assert [block.type for block in message.content] == ["text", "image_url", "image_file"]
    text, url, file = message.content
    assert text.text.value == QUESTION and text.text.annotations == []
    assert (url.image_url.url, url.image_url.detail) == (PHOTO, "low")
    assert (file.image_file.file_id, file.image_file.detail) == (image, "auto")  # OpenAI's default
    again = client.beta.threads.messages.retrieve(message.id, thread_id=thread.id)
    assert again.model_dump() == message.model_dump()
    # a message may be an image alone, as on OpenAI; a data: URL is an image_url too
    alone = client.beta.threads.messages.create(thread_id=thread.id, role="user", content=[
        {"type": "image_url", "image_url": {"url": PIXEL, "detail": "high"}}])
    assert [(b.type, b.image_url.url, b.image_url.detail) for b in alone.content] == [("image_url", PIXEL, "high")]


def test_a_run_sends_the_images_to_the_chat_model_beside_the_passages(client, assistant, image, llm):
    llm.state.tool_script.append(_cite_e42)
    thread = client.beta.threads.create(messages=[{"role": "user", "content": _parts(image)}])
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    assert run.status == "completed", run.last_error
    [answer] = client.beta.threads.messages.list(thread_id=thread.id, run_id=run.id).data
    text = answer.content[0].text
    assert "anemometer" in text.value
    [note] = text.annotations
    assert note.text == text.value[note.start_index:note.end_index] and note.text.startswith("[")
    assert client.files.retrieve(note.file_citation.file_id).filename == "ws200-user-manual.pdf"
    assert "E42" in note.file_citation.quote and answer.model_extra["ragkit"]["search_query"] == QUESTION

    [request] = llm.chat_requests()  # no history: the question is searched as it is, then the model asked
    assert _user_messages(request)[-1] == [
        {"type": "text", "text": QUESTION}, {"type": "image_url", "image_url": {"url": PHOTO, "detail": "low"}},
        {"type": "image_url", "image_url": {"url": PIXEL, "detail": "auto"}}]  # the upload's bytes, as PNG
    searched = [m for m in request["body"]["messages"] if m.get("tool_calls")]
    assert json.loads(searched[0]["tool_calls"][0]["function"]["arguments"]) == {"query": QUESTION}
    [step, _] = client.beta.threads.runs.steps.list(thread_id=thread.id, run_id=run.id, order="asc").data
    assert step.step_details.tool_calls[0].type == "file_search"
    assert step.step_details.tool_calls[0].file_search.results


class Collector(AssistantEventHandler):
    def __init__(self) -> None:
        super().__init__()
        self.deltas: list[str] = []

    def on_text_delta(self, delta, snapshot) -> None:
        self.deltas.append(delta.value)


def test_a_streamed_run_reads_the_images_of_its_additional_messages(client, assistant, image, llm):
    llm.state.tool_script.append(_cite_e42)
    thread = client.beta.threads.create()
    handler = Collector()
    with client.beta.threads.runs.stream(thread_id=thread.id, assistant_id=assistant.id, event_handler=handler,
                                         additional_messages=[{"role": "user", "content": _parts(image)}]) as s:
        s.until_done()
    assert s.get_final_run().status == "completed"
    [final] = s.get_final_messages()
    assert "".join(handler.deltas) == final.content[0].text.value and final.content[0].text.annotations
    [request] = llm.chat_requests()
    assert {"type": "image_url", "image_url": {"url": PIXEL, "detail": "auto"}} in _user_messages(request)[-1]
    stored = client.beta.threads.messages.list(thread_id=thread.id, order="asc").data[0]
    assert [b.type for b in stored.content] == ["text", "image_url", "image_file"]


def test_an_image_alone_searches_the_question_before_it(client, assistant, image, llm):
    """A follow-up of images alone is searched as the earlier question (the text of the turns)."""
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "What does error code E42 mean?"}])
    first = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    assert first.status == "completed", first.last_error  # text only: the grounded answer
    llm.state.reset()
    llm.state.tool_script.append(_cite_e42)
    client.beta.threads.messages.create(thread_id=thread.id, role="user",
                                        content=[{"type": "image_file", "image_file": {"file_id": image}}])
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    assert run.status == "completed", run.last_error
    [request] = llm.chat_requests()
    users = _user_messages(request)
    assert users[0] == "What does error code E42 mean?"  # the earlier turn, as text
    assert users[-1] == [{"type": "image_url", "image_url": {"url": PIXEL, "detail": "auto"}}]
    call = next(m for m in request["body"]["messages"] if m.get("tool_calls"))["tool_calls"][0]
    assert json.loads(call["function"]["arguments"]) == {"query": "What does error code E42 mean?"}


def test_an_image_in_an_earlier_message_no_answer_follows_is_read(client, assistant, image, llm):
    """Clients that add each input message on its own (an image, then the question) leave the
    image in a message before the question: the run reads both, as OpenAI's does."""
    llm.state.tool_script.append(_cite_e42)
    thread = client.beta.threads.create(messages=[
        {"role": "user", "content": [{"type": "image_file", "image_file": {"file_id": image}}]},
        {"role": "user", "content": QUESTION}])
    with pytest.raises(openai.BadRequestError) as refused:
        client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id, model="ragkit-extractive")
    assert refused.value.param == "model"
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    assert run.status == "completed", run.last_error
    [request] = llm.chat_requests()
    assert _user_messages(request)[-2:] == [[{"type": "image_url", "image_url": {"url": PIXEL, "detail": "auto"}}],
                                            QUESTION]
    call = next(m for m in request["body"]["messages"] if m.get("tool_calls"))["tool_calls"][0]
    assert json.loads(call["function"]["arguments"]) == {"query": QUESTION}


def test_an_image_alone_after_an_unanswered_question_searches_that_question(client, assistant, image, llm):
    llm.state.tool_script.append(_cite_e42)
    thread = client.beta.threads.create(messages=[
        {"role": "user", "content": QUESTION},
        {"role": "user", "content": [{"type": "image_file", "image_file": {"file_id": image}}]}])
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    assert run.status == "completed", run.last_error
    [request] = llm.chat_requests()
    call = next(m for m in request["body"]["messages"] if m.get("tool_calls"))["tool_calls"][0]
    assert json.loads(call["function"]["arguments"]) == {"query": QUESTION}


def test_a_run_fails_naming_an_image_file_deleted_since(client, assistant, llm):
    gone = client.files.create(file=("gone.png", io.BytesIO(PIXEL_BYTES)), purpose="vision").id
    thread = client.beta.threads.create(messages=[{"role": "user", "content": _parts(gone)}])
    client.files.delete(gone)
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    assert run.status == "failed" and gone in run.last_error.message and "deleted" in run.last_error.message
    assert not llm.chat_requests()


def test_a_ragkit_extractive_run_refuses_images_naming_the_field(client, assistant, image, llm):
    thread = client.beta.threads.create(messages=[{"role": "user", "content": _parts(image)}])
    with pytest.raises(openai.BadRequestError) as refused:
        client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id, model="ragkit-extractive")
    assert refused.value.param == "model" and "vision-capable chat model" in refused.value.message
    with pytest.raises(openai.BadRequestError) as refused:
        client.beta.threads.runs.create(thread_id=client.beta.threads.create().id, assistant_id=assistant.id,
                                        model="ragkit-extractive",
                                        additional_messages=[{"role": "user", "content": _parts(image)}])
    assert refused.value.param == "additional_messages[0].content[1]"
    assert not llm.chat_requests()


def test_bad_image_parts_are_400s_and_404s_naming_the_field(client, image):
    thread = client.beta.threads.create()

    def refused(content: list[dict], role: str = "user") -> openai.APIStatusError:
        with pytest.raises(openai.APIStatusError) as caught:
            client.beta.threads.messages.create(thread_id=thread.id, role=role, content=content)  # type: ignore[arg-type]
        return caught.value

    text = {"type": "text", "text": QUESTION}
    unknown = refused([text, {"type": "image_file", "image_file": {"file_id": "file-nope"}}])
    assert unknown.status_code == 404 and unknown.body["param"] == "content[1].image_file.file_id"
    notes = client.files.create(file=("notes.txt", io.BytesIO(b"not an image")), purpose="vision").id
    not_image = refused([text, {"type": "image_file", "image_file": {"file_id": notes}}])
    assert not_image.status_code == 400 and not_image.body["param"] == "content[1].image_file.file_id"
    assert "not a PNG, JPEG, GIF or WebP image" in not_image.message
    bad_url = refused([text, {"type": "image_url", "image_url": {"url": "file:///etc/passwd"}}])
    assert bad_url.status_code == 400 and bad_url.body["param"] == "content[1].image_url.url"
    bad_detail = refused([text, {"type": "image_url", "image_url": {"url": PHOTO, "detail": "max"}}])
    assert bad_detail.body["param"] == "content[1].image_url.detail"
    other = refused([text, {"type": "input_audio", "input_audio": {}}])
    assert other.status_code == 400 and other.body["param"] == "content[1].type"
    assistant_image = refused([text, {"type": "image_file", "image_file": {"file_id": image}}], role="assistant")
    assert assistant_image.status_code == 400 and assistant_image.body["param"] == "content[1]"
    huge = client.files.create(file=("huge.png", io.BytesIO(PIXEL_BYTES + bytes(21 * 2**20))), purpose="vision").id
    too_big = refused([text, {"type": "image_file", "image_file": {"file_id": huge}}])
    assert too_big.status_code == 400 and too_big.body["param"] == "content[1].image_file.file_id"
    assert "at most 20 MB" in too_big.message
    assert refused([]).body["param"] == "content"
    assert not client.beta.threads.messages.list(thread_id=thread.id).data


def test_offline_an_image_part_is_a_400_naming_it_wherever_it_is_sent(offline):
    client = offline.client()
    parts = [{"type": "text", "text": QUESTION}, {"type": "image_url", "image_url": {"url": PHOTO}}]
    message = [{"role": "user", "content": parts}]
    assistant = client.beta.assistants.create(model="gpt-4o", tools=[{"type": "file_search"}])
    thread = client.beta.threads.create()
    attempts = {
        "content[1]": lambda: client.beta.threads.messages.create(thread_id=thread.id, role="user", content=parts),
        "messages[0].content[1]": lambda: client.beta.threads.create(messages=message),
        "additional_messages[0].content[1]": lambda: client.beta.threads.runs.create(
            thread_id=thread.id, assistant_id=assistant.id, additional_messages=message),
        "thread.messages[0].content[1]": lambda: client.beta.threads.create_and_run(
            assistant_id=assistant.id, thread={"messages": message}),
    }
    for param, attempt in attempts.items():
        with pytest.raises(openai.BadRequestError) as refused:
            attempt()
        assert refused.value.body["param"] == param
        assert "'image_url' part" in refused.value.message and "vision-capable chat model" in refused.value.message
    assert not client.beta.threads.messages.list(thread_id=thread.id).data
    assert not client.beta.threads.runs.list(thread_id=thread.id).data
