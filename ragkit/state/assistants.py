"""Stored state of the Assistants API: assistants, threads, messages, runs and run steps (and the
conversations of the Conversations API, whose objects are stored the same way; their items and the
stored responses are :mod:`ragkit.state.responses`).

The tables live in the home's state database (``<home>/ragkit.sqlite``) beside the files and
vector stores, created by its migrations (:mod:`ragkit.state`), so they survive a restart and are
shared by ``--workers N`` processes like everything else a client can see. Each row keeps the
API object itself as JSON (``body``) plus the few columns that are filtered on (owner, thread,
run, role, status): the object a client reads back is the object that was stored, field for field.

Threads and their messages are a view of the conversation model
(:mod:`ragkit.state.conversations`): a thread is a conversation of kind ``assistants_thread``
(``THREADS``), a message one of its items, so a run's follow-up is read from the same records as a
chat thread's. A Responses conversation (``CONVERSATIONS``) is one of kind
``responses_conversation``. Assistants, runs and run steps keep tables of their own.

Every object belongs to the key that created it (``owner``); a lookup by another key finds
nothing and becomes a 404, so ids of other keys' threads do not leak.

A run's status is changed in one write transaction that reads and writes it, so a cancel and the
worker finishing the run cannot overwrite each other. A thread has one active run at most: a run is
inserted (:func:`insert_run`), and messages are added to a thread (:func:`idle_thread`), in the same
write transaction that finds no active run on it. Writes are serialized (``BEGIN IMMEDIATE`` on
SQLite, an advisory lock on PostgreSQL), so of concurrent run creations on one thread, from any
number of threads or processes, exactly one succeeds and the others raise :class:`ActiveRun`.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from ragkit.errors import NotFound
from ragkit.state import conversations
from ragkit.state.conversation_model import Item, api_conversation, thread_message_item
from ragkit.state.tables import Cursor, Page, Tables, bury, now

#: where each kind of object is kept: assistants in a table, threads and conversations in the model
ASSISTANTS, THREADS, CONVERSATIONS = "asst_assistants", "assistants_thread", "responses_conversation"
_MODEL_KINDS = (THREADS, CONVERSATIONS)
#: statuses in which a run may still change on its own
ACTIVE = ("queued", "in_progress", "cancelling")
#: this process, as written into the runs it works on (pid:token; a reused pid has another token)
WORKER = f"{os.getpid()}:{secrets.token_hex(4)}"


class ActiveRun(Exception):
    """The thread already has an active run (queued, in progress, cancelling or waiting for tool outputs)."""

    def __init__(self, thread_id: str, run_id: str) -> None:
        super().__init__(f"Thread {thread_id} already has an active run {run_id}.")
        self.thread_id = thread_id
        self.run_id = run_id


class MissingRun(NotFound):
    """The run is gone: deleted with its thread, by another request, while this one used it. A
    request that meets it gets the 404 it would have had a moment later; a worker running the
    run has nothing left to finish or fail."""

    def __init__(self, run_id: str) -> None:
        super().__init__("run", run_id)


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


def body_of(row: dict[str, Any] | None) -> dict[str, Any] | None:
    return json.loads(row["body"]) if row is not None else None


# -- assistants, threads and conversations --------------------------------------------------------
def insert(db: Tables, table: str, obj: dict[str, Any], owner: str) -> dict[str, Any]:
    if table in _MODEL_KINDS:
        conversations.create(db, api_conversation(table, obj, owner))  # type: ignore[arg-type]
        return obj
    with db.write() as conn:
        conn.execute(f"INSERT INTO {table}(id, owner, body) VALUES(?,?,?)", (obj["id"], owner, json.dumps(obj)))
    return obj


def owned(db: Tables, table: str, object_id: str, owner: str) -> dict[str, Any] | None:
    """The object when it exists and belongs to ``owner``."""
    if table in _MODEL_KINDS:
        found = conversations.get(db, object_id, table, owner=owner)  # type: ignore[arg-type]
        return found.body if found is not None else None
    return body_of(db.one(f"SELECT body FROM {table} WHERE id=? AND owner=?", (object_id, owner)))


def replace(db: Tables, table: str, obj: dict[str, Any]) -> dict[str, Any]:
    if table in _MODEL_KINDS:
        return conversations.save_body(db, table, obj)  # type: ignore[arg-type]
    with db.write() as conn:
        conn.execute(f"UPDATE {table} SET body=? WHERE id=?", (json.dumps(obj), obj["id"]))
    return obj


def _runs_of(thread_id: str) -> Callable[[Any], None]:
    def delete_runs(conn: Any) -> None:
        runs = [r["id"] for r in conn.execute("SELECT id FROM asst_runs WHERE thread_id=?", (thread_id,))]
        conn.executemany("DELETE FROM asst_steps WHERE run_id=?", [(r,) for r in runs])
        conn.execute("DELETE FROM asst_runs WHERE thread_id=?", (thread_id,))
    return delete_runs


def delete(db: Tables, table: str, object_id: str) -> None:
    """Delete an object; a thread goes with its messages, runs and steps, a conversation with its items."""
    if table in _MODEL_KINDS:
        conversations.delete(db, object_id, table,  # type: ignore[arg-type]
                             also=_runs_of(object_id) if table == THREADS else None)
        return
    with db.write() as conn:
        bury(conn, table, "id=?", (object_id,))
        conn.execute(f"DELETE FROM {table} WHERE id=?", (object_id,))


# -- messages: items of the thread's conversation ---------------------------------------------------
def add_message(db: Tables, message: dict[str, Any], *, standalone: str | None = None,
                sources: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Add a message to its thread; :class:`NotFound` when the thread was deleted since it was found."""
    try:
        conversations.append(db, [thread_message_item(message, standalone=standalone, sources=sources)], THREADS)
    except conversations.MissingConversation:
        raise NotFound("thread", message["thread_id"]) from None
    return message


def message(db: Tables, thread_id: str, message_id: str) -> dict[str, Any] | None:
    found = conversations.item(db, message_id, thread_id)
    return found.body if found is not None else None


def update_message(db: Tables, obj: dict[str, Any], *, standalone: str | None = None,
                   sources: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Store a changed message; its standalone query and sources are kept unless given."""
    columns = conversations.BODY_COLUMNS + (("standalone",) if standalone is not None else ()) + \
        (("sources",) if sources is not None else ())
    conversations.update_item(db, thread_message_item(obj, standalone=standalone, sources=sources), columns)
    return obj


def remove_message(db: Tables, message_id: str) -> None:
    conversations.delete_item(db, message_id)


def thread_messages(db: Tables, thread_id: str) -> list[Item]:
    """Every message of a thread, oldest first, with its standalone query and sources."""
    return conversations.items(db, thread_id)


# -- runs ------------------------------------------------------------------------------------
@contextmanager
def idle_thread(db: Tables, thread_id: str) -> Iterator[None]:
    """One write transaction in which ``thread_id`` has no active run (else :class:`ActiveRun`):
    what the block writes (messages, a run) commits with that check, or not at all."""
    with db.write():
        active = active_run(db, thread_id)  # read inside the transaction: no writer interleaves
        if active:
            raise ActiveRun(thread_id, active)
        yield


def insert_run(db: Tables, run: dict[str, Any], owner: str, state: dict[str, Any]) -> dict[str, Any]:
    """Store a new run, in the transaction that checks its thread has no active run
    (:class:`ActiveRun`); inside :func:`idle_thread`, in that one."""
    with db.write() as conn, idle_thread(db, run["thread_id"]):
        conn.execute("INSERT INTO asst_runs(id, thread_id, owner, status, body, state) VALUES(?,?,?,?,?,?)",
                     (run["id"], run["thread_id"], owner, run["status"], json.dumps(run), json.dumps(state)))
    return run


def run_row(db: Tables, thread_id: str, run_id: str) -> dict[str, Any] | None:
    return db.one("SELECT * FROM asst_runs WHERE id=? AND thread_id=?", (run_id, thread_id))


def has_run(db: Tables, run_id: str) -> bool:
    return db.one("SELECT 1 AS x FROM asst_runs WHERE id=?", (run_id,)) is not None


def active_run(db: Tables, thread_id: str) -> str | None:
    marks = ",".join("?" * (len(ACTIVE) + 1))
    row = db.one(f"SELECT id FROM asst_runs WHERE thread_id=? AND status IN ({marks}) LIMIT 1",
                         (thread_id, *ACTIVE, "requires_action"))
    return row["id"] if row else None


Change = Callable[[dict[str, Any], dict[str, Any]], bool]


def change_run(db: Tables, run_id: str, change: Change) -> tuple[dict[str, Any], dict[str, Any], bool]:
    """Apply ``change(run, state)`` to the stored run in one transaction; it edits both in place
    and returns whether to save. Returns (run, state, saved); :class:`MissingRun` when the run is gone."""
    with db.write() as conn:
        row = conn.execute("SELECT body, state FROM asst_runs WHERE id=?", (run_id,)).fetchone()
        if row is None:
            raise MissingRun(run_id)
        run, state = json.loads(row["body"]), json.loads(row["state"] or "{}")
        saved = change(run, state)
        if saved:
            claimed = WORKER if run["status"] in ("queued", "in_progress") else None
            conn.execute("UPDATE asst_runs SET status=?, body=?, state=?, claimed_by=? WHERE id=?",
                         (run["status"], json.dumps(run), json.dumps(state), claimed, run_id))
            if run["status"] in _STEP_ENDS:
                _end_open_steps(conn, run_id, run["status"])
    return run, state, saved


#: a run that ends this way ends its steps still in progress the same way (OpenAI's cancelled run
#: lists the function-call step it was waiting on as cancelled, not in progress)
_STEP_ENDS = {"cancelled": "cancelled_at", "failed": "failed_at", "expired": "expired_at"}


def _end_open_steps(conn: Any, run_id: str, status: str) -> None:
    for row in conn.execute("SELECT id, body FROM asst_steps WHERE run_id=?", (run_id,)).fetchall():
        step = json.loads(row["body"])
        if step.get("status") == "in_progress":
            step["status"], step[_STEP_ENDS[status]] = status, now()
            conn.execute("UPDATE asst_steps SET body=? WHERE id=?", (json.dumps(step), row["id"]))


def set_status(run: dict[str, Any], status: str, **fields: Any) -> None:
    """A status change with its timestamp field (``completed_at``, ``failed_at``, ...)."""
    run["status"] = status
    stamp = {"in_progress": "started_at", "completed": "completed_at", "failed": "failed_at",
             "cancelled": "cancelled_at"}.get(status)
    if stamp and not run.get(stamp):
        run[stamp] = now()
    run.update(fields)


def orphaned(row: dict[str, Any]) -> bool:
    """A run marked active by a process that is gone (a restart or a crash): nobody will finish it."""
    if row["status"] not in ("queued", "in_progress") or not row.get("claimed_by"):
        return False
    pid, _, token = row["claimed_by"].partition(":")
    if row["claimed_by"] == WORKER:
        return False
    if pid == str(os.getpid()):
        return True  # this pid, another token: the process that ran it was replaced
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except (PermissionError, ValueError):
        return False
    return False


# -- run steps -------------------------------------------------------------------------------
def save_step(db: Tables, step: dict[str, Any]) -> dict[str, Any]:
    with db.write() as conn:
        conn.execute("INSERT INTO asst_steps(id, run_id, body) VALUES(?,?,?) "
                     "ON CONFLICT(id) DO UPDATE SET body=excluded.body",
                     (step["id"], step["run_id"], json.dumps(step)))
    return step


def step(db: Tables, run_id: str, step_id: str) -> dict[str, Any] | None:
    return body_of(db.one("SELECT body FROM asst_steps WHERE id=? AND run_id=?", (step_id, run_id)))


def run_steps(db: Tables, run_id: str) -> list[dict[str, Any]]:
    return [json.loads(r["body"]) for r in
            db.all("SELECT body FROM asst_steps WHERE run_id=? ORDER BY seq", (run_id,))]


# -- cursor pages ----------------------------------------------------------------------------
def owned_page(db: Tables, table: str, owner: str, cursor: Cursor) -> Page:
    """Objects of ``table`` (assistants, threads, conversations) that ``owner`` created."""
    return db.page(table, "owner=?", (owner,), cursor)


def messages_page(db: Tables, thread_id: str, cursor: Cursor, run_id: str | None = None) -> Page:
    """A thread's messages (those a run wrote, if ``run_id``)."""
    return conversations.items_page(db, thread_id, cursor, run_id)


def runs_page(db: Tables, thread_id: str, cursor: Cursor) -> Page:
    return db.page("asst_runs", "thread_id=?", (thread_id,), cursor)


def steps_page(db: Tables, run_id: str, cursor: Cursor) -> Page:
    return db.page("asst_steps", "run_id=?", (run_id,), cursor)
