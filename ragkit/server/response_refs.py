"""Item references in ``/v1/responses`` input.

``{"type": "item_reference", "id": ...}`` (or an item holding only an ``id``) names an output item
of an earlier stored response. OpenAI's API takes them in ``input``, and the Vercel AI SDK sends
the earlier turns of a conversation that way by default (``store: true``): its own messages
in full, ragkit's ``file_search_call`` and answer messages as references.

:func:`resolve` puts each stored item in its reference's place, so every reader of ``input`` (a
follow-up's history, the function-tool loop, the input items kept with the response) sees the
message or call itself. An id that no stored response of the key holds is OpenAI's 404 ``Item
with id '...' not found.`` An item's id names its response (:func:`ragkit.server.response_items.item_id`),
so each reference costs one lookup.

:func:`resumed` finds the function-tool loop an input goes on with when it names no
``previous_response_id``: the stored response of the last item that came from one (a reference, or
a call sent back with its id). Its saved chat and passages already hold everything up to that
item, so only the items after it are new, and the answer can cite what the earlier searches found.
"""

from __future__ import annotations

from typing import Any

from ragkit.server.errors import ApiError
from ragkit.server.response_items import response_of
from ragkit.state import responses as stored
from ragkit.state.tables import Tables


def is_reference(item: Any) -> bool:
    return isinstance(item, dict) and (item.get("type") == "item_reference"
                                       or ("type" not in item and "role" not in item and "id" in item))


def resolve(db: Tables, owner: str, items: str | list[dict[str, Any]]) -> str | list[dict[str, Any]]:
    """``items`` with every reference replaced by the item it names (404 for an unknown one)."""
    if isinstance(items, str) or not any(is_reference(item) for item in items):
        return items
    responses: dict[str, dict[str, Any] | None] = {}
    return [_stored_item(db, owner, str(item.get("id") or ""), responses) if is_reference(item) else item
            for item in items]


def _stored_item(db: Tables, owner: str, wanted: str, responses: dict[str, dict[str, Any] | None]) -> dict[str, Any]:
    response_id = response_of(wanted)
    if response_id is not None and response_id not in responses:
        responses[response_id] = stored.response(db, response_id, owner)
    found = responses.get(response_id) if response_id is not None else None
    for item in (found or {}).get("output", []):
        if item.get("id") == wanted:
            return item
    raise ApiError(404, f"Item with id '{wanted}' not found.", param="input")


def resumed(db: Tables, owner: str, items: str | list[dict[str, Any]]) -> tuple[str | None, Any]:
    """The stored response whose function-tool loop ``items`` go on with, and the items after
    the last of its own; ``(None, items)`` when they continue none.

    The response's answer may follow that item by value, without its id: the Agents SDK's
    ``OpenAIConversationsSession`` keeps only the ``file_search_call``'s id and sends the answer
    back as a plain assistant message. The saved chat ends with that answer already, so it is
    left out of the new items (or the model reads it twice)."""
    if isinstance(items, str):
        return None, items
    for at in range(len(items) - 1, -1, -1):
        response_id = response_of(str(items[at].get("id") or ""))
        if response_id is not None and stored.tool_state(db, response_id, owner) is not None:
            return response_id, _after_its_answer(db, owner, response_id, items[at + 1:])
    return None, items


def _after_its_answer(db: Tables, owner: str, response_id: str, rest: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``rest`` without the assistant messages it opens with that repeat ``response_id``'s answer."""
    output = (stored.response(db, response_id, owner) or {}).get("output", [])
    answers = {_said(item) for item in output} - {None}
    start = 0
    while start < len(rest) and _said(rest[start]) in answers:
        start += 1
    return rest[start:]


def _said(item: Any) -> str | None:
    """The text of an assistant message item (None for any other item)."""
    if not isinstance(item, dict) or item.get("type", "message") != "message" or item.get("role") != "assistant":
        return None
    content = item.get("content")
    if isinstance(content, str):
        return content.strip()
    return " ".join(str(p.get("text", "")) for p in content or [] if isinstance(p, dict)).strip()
