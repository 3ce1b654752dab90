"""The searches a chat completion ran before it stopped for the caller's functions (revision 0007).

Chat completions keep nothing between requests: a completion that ends with ``tool_calls``
returns the ``file_search`` calls it ran as ``ragkit.searches`` on the message, and when the
client sends that message back with the tool results they are run again, so the answer's ``[n]``
still point at the passages the model read. Agent libraries (LangChain, Agno, CrewAI, Semantic
Kernel, ...) rebuild the assistant message from their own record and keep only OpenAI's fields,
so the searches are also kept here for a day, under the key that asked and the first call's id.
The calls themselves (names and arguments, compared as parsed JSON: a library may write the
arguments back with other spacing) must match too, so a model that reuses ids (``call_0``) never
brings back another turn's searches.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from ragkit.state.tables import Tables, now

#: how long the searches of a turn that stopped for the caller's functions are kept
RETENTION_SECONDS = 24 * 3600


def _canonical(calls: Sequence[tuple[str, str, str]]) -> str:
    """The calls' names and arguments as one string: arguments as parsed JSON when they parse."""
    def arguments(text: str) -> Any:
        if not text:  # no arguments: a library writes them back as "{}"
            return {}
        try:
            return json.loads(text)
        except (TypeError, ValueError):
            return text

    return json.dumps([[name, arguments(args)] for _, name, args in calls], sort_keys=True, separators=(",", ":"))


def keep(db: Tables, owner: str, calls: Sequence[tuple[str, str, str]], searches: list[dict[str, str]]) -> None:
    """Keep ``searches`` for the turn that stopped for ``calls`` ((id, name, arguments), in order);
    older kept turns are forgotten on the way."""
    if not calls or not searches:
        return
    stamp = now()
    with db.write() as conn:
        conn.execute("DELETE FROM tool_call_searches WHERE created_at < ?", (stamp - RETENTION_SECONDS,))
        conn.execute("INSERT INTO tool_call_searches(owner, call_id, calls, searches, created_at) VALUES(?, ?, ?, ?, ?) "
                     "ON CONFLICT(owner, call_id) DO UPDATE SET calls=excluded.calls, searches=excluded.searches, "
                     "created_at=excluded.created_at",
                     (owner, calls[0][0], _canonical(calls), json.dumps(searches), stamp))


def recall(db: Tables, owner: str, calls: Sequence[tuple[str, str, str]]) -> list[dict[str, str]]:
    """The searches kept for the turn that stopped for ``calls``, or [] (none kept, expired, or
    other calls under the same id)."""
    if not calls:
        return []
    row = db.one("SELECT calls, searches FROM tool_call_searches WHERE owner=? AND call_id=? AND created_at >= ?",
                 (owner, calls[0][0], now() - RETENTION_SECONDS))
    if row is None or row["calls"] != _canonical(calls):
        return []
    return json.loads(row["searches"])
