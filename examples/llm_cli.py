"""Simon Willison's ``llm`` command-line tool against ``ragkit serve``: ragkit registered as an
OpenAI-compatible model, questions answered over a vector store (streamed and not), a follow-up
with ``-c``, an ``llm chat`` session, and the cited file, page and quote from ``llm logs``.

llm registers OpenAI-compatible models from ``extra-openai-models.yaml`` in its user directory
(``llm logs path`` shows it; ``LLM_USER_PATH`` moves it). This script writes the two files below
into a temporary one and runs the ``llm`` commands a user types, printing each with its output:

``extra-openai-models.yaml``::

    - model_id: ragkit
      model_name: ragkit-extractive      # or the chat model behind ragkit
      api_base: http://127.0.0.1:8080/v1
      api_key_name: ragkit               # the key: llm keys set ragkit
      responses: true                    # the Responses API, where file_search names the store
      supports_tools: true               # llm's own tools (-T) beside file_search, with a chat model

``templates/halvard.yaml``::

    model: ragkit
    tools:
    - 'ServerSideTool(spec={"type": "file_search", "vector_store_ids": ["vs_..."]})'

llm sends neither extra body fields nor a store option, so the store goes where OpenAI's API
has it: a ``file_search`` tool on the Responses API, which llm passes as a ``ServerSideTool``
with the tool's JSON (``-T '...'``, or once in a template). ``llm -t halvard "question"`` then
answers over the store and ``llm -c`` goes on with the conversation (llm sends it whole, with
the tool). The answer's ``[n]`` markers are in the text; each ``file_citation`` (file, page,
exact quote) is in ``llm logs --json`` under ``response_json.output``. With a chat model behind
ragkit, llm's tools (``-T llm_time``) are called beside ``file_search``.

On chat completions (the yaml without ``responses: true``) there is no place for the store:
start ``ragkit serve --default-vector-store vs_...``. ``llm embed`` cannot reach ragkit: llm's
OpenAI embedding models take no ``api_base`` and only OpenAI's model names.

Run::

    pip install 'ragkit[examples]'
    python examples/llm_cli.py

Environment: ``RAGKIT_BASE_URL`` (default http://127.0.0.1:8080/v1), ``RAGKIT_API_KEY``,
``RAGKIT_VECTOR_STORE_ID`` (default: a store of the sample corpus, created on first use).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from ragkit_env import OFFLINE_MODEL, api_key, base_url, chat_model, check, client, fail, vector_store

QUESTION = "What does error code E42 mean?"
FOLLOW_UP = "How do I fix it?"
NOT_STREAMED = "How long is the warranty on the WS-200 sensor array?"
WITH_A_TOOL = "What time is it, and what does error code E42 mean?"


def configure(home: Path, model: str, store: str) -> None:
    """The files a user writes once: ragkit as a model, and a template that names the store."""
    spec = json.dumps({"type": "file_search", "vector_store_ids": [store]})
    (home / "extra-openai-models.yaml").write_text(
        f"- model_id: ragkit\n  model_name: {model}\n  api_base: {base_url()}\n  api_key_name: ragkit\n"
        "  responses: true\n  supports_tools: true\n")
    (home / "templates").mkdir(exist_ok=True)
    (home / "templates" / "halvard.yaml").write_text(f"model: ragkit\ntools:\n- 'ServerSideTool(spec={spec})'\n")


def llm(home: Path, *args: str, stdin: str | None = None, show: bool = True) -> str:
    """Run ``llm ARGS`` with ``home`` as its user directory; print the command and its output
    (stdout, then stderr)."""
    if show:
        print("$ llm " + " ".join(f"'{a}'" if " " in a or "{" in a else a for a in args))
    done = subprocess.run([sys.executable, "-m", "llm", *args], input=stdin, capture_output=True, text=True,
                          env={**os.environ, "LLM_USER_PATH": str(home)}, timeout=300)
    if done.returncode != 0:
        fail(f"llm {' '.join(args)} exited {done.returncode}: {done.stderr.strip() or done.stdout.strip()}")
    out = done.stdout + done.stderr  # --td prints the tool calls to stderr
    if show:
        print(out.rstrip() + "\n")
    return out


def show_citations(home: Path) -> int:
    """Print the last answer's citations from ``llm logs`` as ``[n] file p.page: quote``; return how many."""
    done = subprocess.run([sys.executable, "-m", "llm", "logs", "-n", "1", "--json"], capture_output=True, text=True,
                          env={**os.environ, "LLM_USER_PATH": str(home)}, check=True, timeout=60)
    [entry] = json.loads(done.stdout)
    notes = [note for item in entry["response_json"]["output"] if item["type"] == "message"
             for part in item["content"] for note in part.get("annotations") or []]
    for note in notes:
        page = f" p.{note['page']}" if note.get("page") else ""
        print(f"  [{note['n']}] {note['filename']}{page}: {' '.join(note['quote'].split())}")
    print()
    return len(notes)


def main() -> int:
    sdk = client()
    store = vector_store(sdk)
    model = chat_model(sdk)
    with tempfile.TemporaryDirectory(prefix="llm-ragkit-") as directory:
        home = Path(directory)
        configure(home, model or OFFLINE_MODEL, store)
        print(f"llm's user directory: {home}\n")
        llm(home, "keys", "set", "ragkit", "--value", api_key(), show=False)

        out = llm(home, "-t", "halvard", QUESTION)
        check("[1]" in out, "the streamed answer cites nothing")
        check(show_citations(home), "llm logs holds no citations")
        out = llm(home, "-c", FOLLOW_UP)
        check(out.strip(), "the follow-up got no answer")
        show_citations(home)
        out = llm(home, "-t", "halvard", "--no-stream", NOT_STREAMED)
        check(show_citations(home), "the answer that was not streamed has no citations")

        out = llm(home, "chat", "-t", "halvard", stdin=f"{QUESTION}\n{FOLLOW_UP}\nquit\n")
        check(out.count("[1]") >= 2, "llm chat did not answer both questions with citations")

        if model:
            out = llm(home, "-t", "halvard", "-T", "llm_time", "--td", WITH_A_TOOL)
            check("llm_time" in out, "the model did not call llm_time")
            check(show_citations(home), "the answer after the tool call has no citations")
        else:
            print("No chat model behind ragkit: skipping llm's own tools (-T llm_time needs a model "
                  "that calls functions).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
