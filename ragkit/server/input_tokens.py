"""``POST /v1/responses/input_tokens``: how many tokens a Responses request's input holds.

An application checks a long input against its budget before sending it (the SDK's
``responses.input_tokens.count``). Counted, as OpenAI counts them before anything runs: the
``instructions``, every input item's text (messages, function calls and their outputs) and the
definitions of ``function`` tools, in cl100k tokens. Passages that ``file_search`` will add are not
in the input yet; they show in the ``usage`` of the response itself. An earlier response or a
conversation (``previous_response_id``, ``conversation``) is not counted: the request gets a
400 that says to send those items as ``input`` instead of a count that silently leaves them out.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Depends

from ragkit.conversations.messages import content_text
from ragkit.library.answering import count_tokens
from ragkit.library.item_fields import check_items
from ragkit.server.auth import reader
from ragkit.server.errors import bad_request
from ragkit.server.json_body import JsonRoute
from ragkit.server.keys import Principal
from ragkit.server.meta import resolve_model
from ragkit.server.params import Body
from ragkit.server.state import ServerContext, context

router = APIRouter(route_class=JsonRoute, tags=["responses"])


class CountBody(Body):
    model: str | None = None
    input: str | list[dict[str, Any]] | None = None
    instructions: str | None = None
    tools: list[dict[str, Any]] | None = None
    previous_response_id: str | None = None
    conversation: str | dict[str, Any] | None = None
    # settings of the response itself: they change no count of the input
    parallel_tool_calls: bool | None = None
    personality: str | None = None
    reasoning: dict[str, Any] | None = None
    text: dict[str, Any] | None = None
    tool_choice: str | dict[str, Any] | None = None
    truncation: str | None = None


def _item_text(item: dict[str, Any]) -> str:
    """The text an input item puts before the model."""
    content = item.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    if item.get("type") == "function_call":
        return f"{item.get('name', '')} {item.get('arguments', '')}"
    if item.get("type") == "function_call_output":
        output = item.get("output", "")
        if isinstance(output, list):  # input_text parts: their text, as the model reads it
            return content_text(output)
        return output if isinstance(output, str) else json.dumps(output, ensure_ascii=False)
    return ""


def input_tokens(body: CountBody) -> int:
    texts = [body.instructions or ""]
    if isinstance(body.input, str):
        texts.append(body.input)
    elif body.input:
        texts.extend(_item_text(item) for item in body.input)
    for tool in body.tools or []:
        if tool.get("type") == "function":
            definition = {key: tool.get(key) for key in ("name", "description", "parameters") if tool.get(key)}
            texts.append(json.dumps(definition, ensure_ascii=False))
    return sum(count_tokens(text) for text in texts if text)


@router.post("/v1/responses/input_tokens")
def count_input_tokens(body: CountBody, ctx: ServerContext = Depends(context),
                       principal: Principal = Depends(reader)) -> dict[str, Any]:
    if body.model is not None:
        resolve_model(ctx, body.model)  # an unknown model is a 404, as on /v1/responses
    for field in ("previous_response_id", "conversation"):
        if getattr(body, field) is not None:
            raise bad_request(f"{field} is not counted here: send the earlier items as input to count them.",
                              field)
    if body.input is None and not body.instructions:
        raise bad_request("Nothing to count: give input (a string or items) or instructions.", "input")
    check_items(body.input, "input")  # what /v1/responses refuses is not counted either
    return {"object": "response.input_tokens", "input_tokens": input_tokens(body)}
