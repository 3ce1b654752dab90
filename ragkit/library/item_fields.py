"""The JSON types of the fields of items and messages a client sends: a Responses request's
``input``, the ``items`` added to a conversation, and a chat completion's ``messages``.

OpenAI's API fixes them -- an item's ``id``, ``type`` and ``status`` are strings, so are a
function call's ``call_id``, ``name`` and ``arguments``; a function call's ``output`` is a string
or a list of content parts; a file search call's ``queries`` a list of strings; a chat message's
``tool_calls`` a list of objects whose ``function`` has a string ``name`` and ``arguments`` --
and answers another type with its "Invalid type" 400 naming the field. ragkit reads these fields
as those types: it keeps them in the conversation model's columns, looks ids up in sets, parses
arguments and sends names and function definitions to the chat model. A list where a string goes had been a 500 (the
database cannot store it, a set cannot hold it, ``.get`` is no method of a string), often once
the model had already answered; it is now refused before anything runs, as any body field of
the wrong type is. A message's ``content`` parts are checked where they are read
(:func:`ragkit.library.history.message_item`, the chat model's part checks).
"""

from __future__ import annotations

from typing import Any

from ragkit.errors import InvalidParameter, json_kind

Spec = dict[str, tuple[type, ...]]

#: what OpenAI's error message calls each JSON type
_SAID = {str: "a string", list: "an array", dict: "an object", bool: "a boolean"}
#: the fields every Responses item may carry, then each item type's own, with the JSON types they take
_ANY_ITEM: Spec = {"id": (str,), "type": (str,), "status": (str,)}
_ITEMS: dict[str, Spec] = {
    "message": {"role": (str,)},
    "function_call": {"call_id": (str,), "name": (str,), "arguments": (str,)},
    "function_call_output": {"call_id": (str,), "output": (str, list)},
    "file_search_call": {"queries": (list,), "results": (list,)},
}
#: a chat completion's message, a tool call it holds, the function of a call, and a search ragkit
#: ran for an earlier turn (``ragkit.searches``: sent back as it was returned, run again)
_MESSAGE: Spec = {"role": (str,), "name": (str,), "content": (str, list), "tool_call_id": (str,),
                  "tool_calls": (list,), "function_call": (dict,), "ragkit": (dict,)}
_CALL: Spec = {"id": (str,), "type": (str,), "function": (dict,)}
_FUNCTION: Spec = {"name": (str,), "arguments": (str,)}
_SEARCH: Spec = {"id": (str,), "arguments": (str,)}
#: a function definition the caller gives (chat completions' and Assistants' ``tools``), sent on
#: to the model as it is: a field of another type is a 400 here, not the model's 400 (a 502)
FUNCTION_FIELDS: Spec = {"name": (str,), "description": (str,), "parameters": (dict,), "strict": (bool,)}


def _refuse(param: str, kinds: tuple[type, ...], value: Any) -> InvalidParameter:
    expected = " or ".join(_SAID[kind] for kind in kinds)
    return InvalidParameter(f"Invalid type for '{param}': expected {expected}, but got {json_kind(value)} instead.",
                            param, "invalid_type")


def check_object(value: Any, where: str, spec: Spec, required: tuple[str, ...] = ()) -> dict[str, Any]:
    """``value``, an object whose fields in ``spec`` have their JSON types (a missing or null one
    is left to the reader, which knows whether it is needed, unless it is ``required``)."""
    if not isinstance(value, dict):
        raise _refuse(where, (dict,), value)
    for name, kinds in spec.items():
        field = value.get(name)
        if field is None and name in required:
            raise InvalidParameter(f"Missing required parameter: '{where}.{name}'.", f"{where}.{name}",
                                   "missing_required_parameter")
        if field is not None and (not isinstance(field, kinds) or (isinstance(field, bool) and bool not in kinds)):
            raise _refuse(f"{where}.{name}", kinds, field)
    return value


def duplicate_item(item_id: str, param: str) -> InvalidParameter:
    """OpenAI's "Duplicate item found" 400 for an item id sent twice or already held elsewhere."""
    return InvalidParameter(f"Duplicate item found with id {item_id!r}. Remove duplicate items, or leave 'id' out "
                            "to have a new one assigned, and try again.", param, "duplicate_item")


def check_items(items: Any, param: str) -> None:
    """:func:`check_item` of each item of a list (a Responses ``input`` that is a string has none),
    and no id twice: OpenAI's "Duplicate item found" (one id names one item, in a listing of the
    response's input items and in a conversation)."""
    if isinstance(items, list):
        seen: set[str] = set()
        for n, item in enumerate(items):
            check_item(item, f"{param}[{n}]")
            item_id = item.get("id")
            if item_id and item_id in seen:
                raise duplicate_item(item_id, f"{param}[{n}].id")
            seen.add(item_id)


def check_item(item: Any, where: str) -> None:
    """Refuse (400 naming ``where.field``) a Responses item that is not an object, or one of its
    fields with a JSON type OpenAI does not take there."""
    kind = item.get("type") if isinstance(item, dict) and isinstance(item.get("type"), str) else "message"
    check_object(item, where, {**_ANY_ITEM, **_ITEMS.get(kind, {})})
    for k, query in enumerate(item.get("queries") or [] if kind == "file_search_call" else []):
        if not isinstance(query, str):
            raise _refuse(f"{where}.queries[{k}]", (str,), query)


def check_messages(messages: list[Any], param: str = "messages") -> None:
    """Refuse (400 naming the field) a chat completion's message, tool call, function or earlier
    search whose fields have a JSON type OpenAI (or ragkit, for its own ``ragkit.searches``) does
    not take there."""
    for n, raw in enumerate(messages):
        where = f"{param}[{n}]"
        message = check_object(raw, where, _MESSAGE)
        for k, call in enumerate(message.get("tool_calls") or []):
            at = f"{where}.tool_calls[{k}]"
            if check_object(call, at, _CALL).get("function") is not None:
                check_object(call["function"], f"{at}.function", _FUNCTION)
        if message.get("function_call") is not None:
            check_object(message["function_call"], f"{where}.function_call", _FUNCTION)
        searches = (message.get("ragkit") or {}).get("searches")
        if searches is not None and not isinstance(searches, list):
            raise _refuse(f"{where}.ragkit.searches", (list,), searches)
        for k, search in enumerate(searches or []):
            check_object(search, f"{where}.ragkit.searches[{k}]", _SEARCH, required=("id", "arguments"))
