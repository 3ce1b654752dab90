"""The JSON types of the fields of items a client sends: a Responses request's ``input`` and the
``items`` added to a conversation.

OpenAI's API fixes them -- an item's ``id``, ``type`` and ``status`` are strings, so are a
function call's ``call_id``, ``name`` and ``arguments``; a function call's ``output`` is a string
or a list of content parts; a file search call's ``queries`` a list of strings -- and answers
another with its "Invalid type" 400 naming the field. ragkit reads these fields as those types:
it keeps them in the conversation model's columns, looks ids up in sets, and sends names and
arguments to the chat model. A list where a string goes had been a 500 (the database cannot
store it, a set cannot hold it) once the model had already answered; it is now refused before
anything runs, as any body field of the wrong type is. A message's ``content`` is checked where
it is read (:func:`ragkit.library.history.message_item`).
"""

from __future__ import annotations

from typing import Any

from ragkit.errors import InvalidParameter, json_kind

#: what OpenAI's error message calls each JSON type
_SAID = {str: "a string", list: "an array", dict: "an object"}
#: the fields every item may carry, then each item type's own, with the JSON types they take
_ANY_ITEM: dict[str, tuple[type, ...]] = {"id": (str,), "type": (str,), "status": (str,)}
_FIELDS: dict[str, dict[str, tuple[type, ...]]] = {
    "message": {"role": (str,)},
    "function_call": {"call_id": (str,), "name": (str,), "arguments": (str,)},
    "function_call_output": {"call_id": (str,), "output": (str, list)},
    "file_search_call": {"queries": (list,), "results": (list,)},
}


def _refuse(param: str, kinds: tuple[type, ...], value: Any) -> InvalidParameter:
    expected = " or ".join(_SAID[kind] for kind in kinds)
    return InvalidParameter(f"Invalid type for '{param}': expected {expected}, but got {json_kind(value)} instead.",
                            param, "invalid_type")


def check_items(items: Any, param: str) -> None:
    """:func:`check_item` of each item of a list (a Responses ``input`` that is a string has none)."""
    if isinstance(items, list):
        for n, item in enumerate(items):
            check_item(item, f"{param}[{n}]")


def check_item(item: Any, where: str) -> None:
    """Refuse (400 naming ``where.field``) an item that is not an object, or a field of it with a
    JSON type OpenAI does not take there. A missing or null field is left to the reader of the
    item, which knows whether it is required."""
    if not isinstance(item, dict):
        raise _refuse(where, (dict,), item)
    kind = item.get("type") if isinstance(item.get("type"), str) else "message"
    for name, kinds in {**_ANY_ITEM, **_FIELDS.get(kind, {})}.items():
        value = item.get(name)
        if value is not None and (not isinstance(value, kinds) or isinstance(value, bool)):
            raise _refuse(f"{where}.{name}", kinds, value)
    for k, query in enumerate(item.get("queries") or [] if kind == "file_search_call" else []):
        if not isinstance(query, str):
            raise _refuse(f"{where}.queries[{k}]", (str,), query)
