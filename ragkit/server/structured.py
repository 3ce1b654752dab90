"""Structured output over vector stores: chat completions' ``response_format``, Responses'
``text.format`` and an assistant's or a run's ``response_format``, of type ``json_schema`` or
``json_object``.

With a chat model behind ragkit, retrieval is the same as for any answer, and the passages go to
the model in the same grounded prompt with the format beside them
(:meth:`ragkit.generators.openai_chat.OpenAIChatGenerator.formatted`); the reply is the model's
JSON. What changes, and why:

* no ``[n]`` is checked in JSON, so the reply has **no citations and no annotations**. An
  annotation marks where a checked marker sits in the text; in JSON a marker is the caller's data
  (or a JSON array), and annotations for every passage given would claim support nobody checked.
  What was searched is still reported: the Responses ``file_search_call`` (its ``results`` with
  ``include``); on chat completions ``ragkit.sources``, the passages the model was given, numbered
  as in the prompt (a text answer's ``citations`` names only the cited ones); an Assistants run's
  ``file_search`` step;
* a **refusal** (ragkit's: the documents do not hold the answer; or the model's own) is not text
  in the caller's JSON: it is OpenAI's refusal of structured outputs, ``message.refusal`` with
  ``content: null`` on chat completions, a ``refusal`` content part in Responses (so the SDKs'
  ``parse`` give ``parsed = None`` beside the reason) and a ``refusal`` block in an Assistants
  message;
* the same holds for a turn that goes through the tool loop (the caller's functions, tool
  results, images and files, on chat completions and on Responses): the format goes with every
  call to the model, which either calls a tool or answers in it
  (:func:`ragkit.answer.loop.structured_answer`);
* offline (the extractive answerer) it is a 400 naming the field that says a chat model is
  needed.

Assistants take chat completions' shape of ``response_format``, checked when the body is read
(:func:`stored_format`, the form stored and returned) and against the model when an assistant is
saved or a run created (:func:`requested`). A run's format is the one it was given, else its
assistant's; it is saved with the run, so a run resumed after ``requires_action`` keeps it, and
it holds in both of a run's modes (:mod:`ragkit.server.run_engine`). The answer is a ``text``
block holding the JSON with no annotations, or a ``refusal`` block
(:func:`ragkit.server.thread_objects.answer_content`).
"""

from __future__ import annotations

import re
from typing import Any

from ragkit.library.answering import Grounded
from ragkit.server.errors import bad_request
from ragkit.server.meta import EXTRACTIVE

#: the structured output formats served (besides ``text``)
FORMATS = ("json_schema", "json_object")
NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def check_format(value: Any, flat: bool) -> dict[str, Any] | None:
    """The chat completions ``response_format`` to send the model for a requested format, or None
    for a text answer; a ``ValueError`` that says what is wrong otherwise. ``flat``: the Responses
    shape (``{"type": "json_schema", "name", "schema", "strict"}``) rather than chat completions'
    (``{"type": "json_schema", "json_schema": {"name", "schema", "strict"}}``)."""
    kind = value.get("type") if isinstance(value, dict) else value
    if kind in (None, "auto", "text"):
        return None
    if not isinstance(value, dict):
        raise ValueError(f"{value!r} is not a format: give an object such as {{'type': 'json_object'}}")
    if kind not in FORMATS:
        raise ValueError(f"format type {kind!r} is not supported: use 'text', 'json_schema' or 'json_object'")
    if kind == "json_object":
        return {"type": "json_object"}
    spec = value if flat else value.get("json_schema")
    where = "" if flat else "json_schema."
    if not isinstance(spec, dict):
        raise ValueError("a json_schema format needs 'json_schema': {name, schema, strict}")
    if not isinstance(spec.get("name"), str) or not NAME.match(spec["name"]):
        raise ValueError(f"a json_schema format needs '{where}name': 1-64 letters, digits, '_' or '-'")
    if not isinstance(spec.get("schema"), dict) and (flat or "schema" in spec):
        raise ValueError(f"a json_schema format needs '{where}schema': a JSON schema object")
    keep = {k: spec[k] for k in ("name", "description", "schema", "strict") if spec.get(k) is not None}
    return {"type": "json_schema", "json_schema": keep}


def stored_format(value: Any) -> Any:
    """An assistant's or a run's ``response_format`` as stored and returned, OpenAI's
    ``AssistantResponseFormatOption``: ``"auto"``, ``{"type": "text"}`` or the checked JSON format
    (:func:`check_format`, chat completions' shape); ``None`` when not given. A ``ValueError`` for
    a malformed format, which the body's validation turns into a 400 naming the field. Whether the
    model can answer in it is checked later, against the run's model (:func:`requested`)."""
    wanted = check_format(value, flat=False)
    if wanted is not None:
        return wanted
    if value is None:
        return None
    kind = value.get("type") if isinstance(value, dict) else value
    return "auto" if kind in (None, "auto") else {"type": "text"}


def requested(value: Any, param: str, generator: str, flat: bool = False) -> dict[str, Any] | None:
    """The format a request asks for (see :func:`check_format`), or a 400 naming ``param``:
    a malformed format, or structured output without a chat model."""
    try:
        wanted = check_format(value, flat)
    except ValueError as exc:
        raise bad_request(f"Invalid value for '{param}': {exc}.", param, "invalid_value") from None
    if wanted is not None and generator != "openai":
        raise bad_request(
            f"Invalid value for '{param}': structured output ({wanted['type']}) is not supported by {EXTRACTIVE}, "
            "which quotes the documents in text with checked [n] citations and cannot fill in a JSON shape. "
            "Structured output needs a chat model behind ragkit: start ragkit serve with one (RAGKIT_MODEL, and "
            "RAGKIT_BASE_URL for a local server). Otherwise leave it out or use type 'text'.", param, "invalid_value")
    return wanted


def sources(grounded: Grounded) -> list[dict[str, Any]]:
    """The passages the model was given, numbered as in its prompt: what a JSON reply rests on."""
    return [{"n": n, "file_id": f.file_id, "filename": f.filename, "vector_store_id": f.vector_store_id,
             "page": f.hit.page, "chunk_id": f.hit.chunk_id, "score": f.score}
            for n, f in enumerate(grounded.found, start=1)]


def chat_message(grounded: Grounded) -> dict[str, Any]:
    """A chat completion's message: the JSON as content, or the refusal as OpenAI gives one."""
    refusal = grounded.text if grounded.refused else None
    return {"role": "assistant", "content": None if grounded.refused else grounded.text, "refusal": refusal,
            "annotations": [], "citations": []}

