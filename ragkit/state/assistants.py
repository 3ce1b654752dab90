"""Stored state of the Assistants API: assistants, threads, messages, runs and run steps (and the
conversations of the Conversations API, which are stored the same way; their items and the stored
responses are :mod:`ragkit.state.responses`).

The tables live in the home's state database (``<home>/ragkit.sqlite``) beside the files and
vector stores, created by its migrations (:mod:`ragkit.state`), so they survive a restart and are
shared by ``--workers N`` processes like everything else a client can see. Each row keeps the
API object itself as JSON (``body``) plus the few columns that are filtered on (owner, thread,
run, role, status): the object a client reads back is the object that was stored, field for field.

Every object belongs to the key that created it (``owner``); a lookup by another key finds
nothing and becomes a 404, so ids of other keys' threads do not leak.

A run's status is changed in one ``BEGIN IMMEDIATE`` transaction that reads and writes it, so a
cancel and the worker finishing the run cannot overwrite each other.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Callable
from typing import Any

from ragkit.state.tables import Cursor, Page, Tables, now

ASSISTANTS, THREADS, CONVERSATIONS = "asst_assistants", "asst_threads", "conv_conversations"
#: statuses in which a run may still change on its own
ACTIVE = ("queued", "in_progress", "cancelling")
#: this process, as written into the runs it works on (pid:token; a reused pid has another token)
WORKER = f"{os.getpid()}:{secrets.token_hex(4)}"


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


def body_of(row: dict[str, Any] | None) -> dict[str, Any] | None:
    return json.loads(row["body"]) if row is not None else None


# -- assistants and threads ------------------------------------------------------------------
def insert(db: Tables, table: str, obj: dict[str, Any], owner: str) -> dict[str, Any]:
    with db.write() as conn:
        conn.execute(f"INSERT INTO {table}(id, owner, body) VALUES(?,?,?)", (obj["id"], owner, json.dumps(obj)))
    return obj


def owned(db: Tables, table: str, object_id: str, owner: str) -> dict[str, Any] | None:
    """The object when it exists and belongs to ``owner``."""
    return body_of(db.one(f"SELECT body FROM {table} WHERE id=? AND owner=?", (object_id, owner)))


def replace(db: Tables, table: str, obj: dict[str, Any]) -> dict[str, Any]:
    with db.write() as conn:
        conn.execute(f"UPDATE {table} SET body=? WHERE id=?", (json.dumps(obj), obj["id"]))
    return obj


def delete(db: Tables, table: str, object_id: str) -> None:
    with db.write() as conn:
        conn.execute(f"DELETE FROM {table} WHERE id=?", (object_id,))
        if table == "asst_threads":
            runs = [r["id"] for r in conn.execute("SELECT id FROM asst_runs WHERE thread_id=?", (object_id,))]
            conn.executemany("DELETE FROM asst_steps WHERE run_id=?", [(r,) for r in runs])
            conn.execute("DELETE FROM asst_runs WHERE thread_id=?", (object_id,))
            conn.execute("DELETE FROM asst_messages WHERE thread_id=?", (object_id,))
        if table == CONVERSATIONS:
            conn.execute("DELETE FROM conv_items WHERE conversation_id=?", (object_id,))


# -- messages --------------------------------------------------------------------------------
def add_message(db: Tables, message: dict[str, Any], *, standalone: str | None = None,
                sources: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    with db.write() as conn:
        conn.execute("INSERT INTO asst_messages(id, thread_id, run_id, role, body, standalone, sources) "
                     "VALUES(?,?,?,?,?,?,?)", (message["id"], message["thread_id"], message.get("run_id"),
                                               message["role"], json.dumps(message), standalone,
                                               json.dumps(sources) if sources is not None else None))
    return message


def message(db: Tables, thread_id: str, message_id: str) -> dict[str, Any] | None:
    return body_of(db.one("SELECT body FROM asst_messages WHERE id=? AND thread_id=?",
                                  (message_id, thread_id)))


def update_message(db: Tables, obj: dict[str, Any], *, standalone: str | None = None,
                   sources: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    with db.write() as conn:
        conn.execute("UPDATE asst_messages SET body=?, standalone=COALESCE(?, standalone), "
                     "sources=COALESCE(?, sources) WHERE id=?",
                     (json.dumps(obj), standalone, json.dumps(sources) if sources is not None else None, obj["id"]))
    return obj


def remove_message(db: Tables, message_id: str) -> None:
    with db.write() as conn:
        conn.execute("DELETE FROM asst_messages WHERE id=?", (message_id,))


def thread_messages(db: Tables, thread_id: str) -> list[dict[str, Any]]:
    """Every message of a thread, oldest first, with its standalone query and sources."""
    rows = db.all("SELECT body, standalone, sources FROM asst_messages WHERE thread_id=? ORDER BY seq",
                          (thread_id,))
    out = []
    for row in rows:
        obj = json.loads(row["body"])
        obj["_standalone"] = row["standalone"]
        obj["_sources"] = json.loads(row["sources"]) if row["sources"] else []
        out.append(obj)
    return out


# -- runs ------------------------------------------------------------------------------------
def insert_run(db: Tables, run: dict[str, Any], owner: str, state: dict[str, Any]) -> dict[str, Any]:
    with db.write() as conn:
        conn.execute("INSERT INTO asst_runs(id, thread_id, owner, status, body, state) VALUES(?,?,?,?,?,?)",
                     (run["id"], run["thread_id"], owner, run["status"], json.dumps(run), json.dumps(state)))
    return run


def run_row(db: Tables, thread_id: str, run_id: str) -> dict[str, Any] | None:
    return db.one("SELECT * FROM asst_runs WHERE id=? AND thread_id=?", (run_id, thread_id))


def active_run(db: Tables, thread_id: str) -> str | None:
    marks = ",".join("?" * (len(ACTIVE) + 1))
    row = db.one(f"SELECT id FROM asst_runs WHERE thread_id=? AND status IN ({marks}) LIMIT 1",
                         (thread_id, *ACTIVE, "requires_action"))
    return row["id"] if row else None


Change = Callable[[dict[str, Any], dict[str, Any]], bool]


def change_run(db: Tables, run_id: str, change: Change) -> tuple[dict[str, Any], dict[str, Any], bool]:
    """Apply ``change(run, state)`` to the stored run in one transaction; it edits both in place
    and returns whether to save. Returns (run, state, saved)."""
    with db.write() as conn:
        row = conn.execute("SELECT body, state FROM asst_runs WHERE id=?", (run_id,)).fetchone()
        run, state = json.loads(row["body"]), json.loads(row["state"] or "{}")
        saved = change(run, state)
        if saved:
            claimed = WORKER if run["status"] in ("queued", "in_progress") else None
            conn.execute("UPDATE asst_runs SET status=?, body=?, state=?, claimed_by=? WHERE id=?",
                         (run["status"], json.dumps(run), json.dumps(state), claimed, run_id))
    return run, state, saved


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
    where, args = "thread_id=?", [thread_id]
    if run_id:
        where, args = where + " AND run_id=?", args + [run_id]
    return db.page("asst_messages", where, args, cursor)


def runs_page(db: Tables, thread_id: str, cursor: Cursor) -> Page:
    return db.page("asst_runs", "thread_id=?", (thread_id,), cursor)


def steps_page(db: Tables, run_id: str, cursor: Cursor) -> Page:
    return db.page("asst_steps", "run_id=?", (run_id,), cursor)
