"""The Assistants API (v2) against ``ragkit serve``, as OpenAI's file search guide writes it:
an assistant with ``file_search`` over a vector store, a thread, a run, then a follow-up
question in the same thread (ragkit makes it standalone from the thread before searching).

Each answer is printed with its citations: the annotation's text in the answer (``[1]``), the
cited file, its page and the exact quote (ragkit's extras on ``file_citation``).

Run::

    ragkit serve --no-auth &        # offline answers; with RAGKIT_MODEL the chat model answers
    python examples/openai_sdk_assistants.py

Environment: ``RAGKIT_BASE_URL`` (default http://127.0.0.1:8080/v1), ``RAGKIT_API_KEY``,
``RAGKIT_VECTOR_STORE_ID`` (default: a store of the sample corpus, created on first use).
The assistant and the thread are deleted at the end.
"""

from __future__ import annotations

import sys
import warnings

from ragkit_env import OFFLINE_MODEL, chat_model, check, client, vector_store

# the SDK marks the Assistants API deprecated (OpenAI retires it in favour of Responses); it works
warnings.filterwarnings("ignore", category=DeprecationWarning)
QUESTIONS = ["What battery does the WS-200 sensor array use?", "How long does it last?"]


def show(sdk, message) -> int:
    """Print the answer and its citations; return how many citations it has."""
    text = message.content[0].text
    print(text.value)
    names: dict[str, str] = {}
    shown: set[str] = set()
    for note in text.annotations:
        if note.type != "file_citation":
            continue
        cited = note.file_citation
        file_id = cited.file_id
        name = getattr(cited, "filename", None) or names.get(file_id) or sdk.files.retrieve(file_id).filename
        names[file_id] = name
        page = getattr(cited, "page", None)
        quote = " ".join(str(getattr(cited, "quote", "") or "").split())
        line = f"  {note.text} {name}{f' p.{page}' if page else ''}: {quote}"
        if line not in shown:  # a source cited twice is listed once
            shown.add(line)
            print(line)
    return len(text.annotations)


def ask(sdk, thread_id: str, assistant_id: str, question: str) -> int:
    print(f"\nQ: {question}")
    sdk.beta.threads.messages.create(thread_id=thread_id, role="user", content=question)
    run = sdk.beta.threads.runs.create_and_poll(thread_id=thread_id, assistant_id=assistant_id)
    check(run.status == "completed", f"the run ended {run.status}: {run.last_error}")
    [answer] = sdk.beta.threads.messages.list(thread_id=thread_id, run_id=run.id).data
    return show(sdk, answer)


def main() -> int:
    sdk = client()
    store = vector_store(sdk)
    model = chat_model(sdk) or OFFLINE_MODEL
    assistant = sdk.beta.assistants.create(
        name="Halvard support", model=model, tools=[{"type": "file_search"}],
        instructions="You answer questions about Halvard weather stations from their documents.",
        tool_resources={"file_search": {"vector_store_ids": [store]}})
    thread = sdk.beta.threads.create()
    print(f"assistant {assistant.id} ({model}), thread {thread.id}")
    try:
        cited = [ask(sdk, thread.id, assistant.id, question) for question in QUESTIONS]
        check(all(cited), "an answer had no citation")
    finally:
        sdk.beta.threads.delete(thread.id)
        sdk.beta.assistants.delete(assistant.id)
    return 0


if __name__ == "__main__":
    sys.exit(main())
