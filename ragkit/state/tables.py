"""The base of every repository over the state database: reads, short write transactions and the
OpenAI list contract (cursor pages).

A repository is a :class:`Tables` (or takes one): ``one``/``all`` read with a connection from the
pool, ``write()`` is one short transaction holding the database's write lock
(:meth:`ragkit.state.StateDB.write`: ``BEGIN IMMEDIATE`` on SQLite, an advisory lock on
PostgreSQL), so a read-then-write inside it never interleaves with another writer's. Rows are
dicts by column name. WAL (SQLite) and MVCC (PostgreSQL) let readers run beside the one writer.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

from ragkit.state.database import StateDB, open_database
from ragkit.state.session import Row, Session

__all__ = ["Cursor", "NotFound", "Page", "Row", "Tables", "bury", "now"]

#: how long a deleted object's place in its list stays known to cursors (revision 0006)
TOMBSTONE_SECONDS = 86400


class NotFound(LookupError):
    """A cursor (``after``/``before``) names no object of the listed kind."""


class Cursor(Protocol):
    """Where a list page starts and how long it is (the server's ``ListQuery`` is one)."""

    limit: int
    order: str
    after: str | None
    before: str | None


Page = tuple[list[Row], bool]


def now() -> int:
    """Seconds since the epoch: the API's timestamps are whole seconds."""
    return int(time.time())


class Tables:
    """Reads and write transactions of one state database; the repositories build on it."""

    def __init__(self, target: StateDB | Path | str) -> None:
        """``target`` is a state database, or the file or URL of one."""
        self.state = target if isinstance(target, StateDB) else open_database(target)
        self.path = self.state.path

    @contextmanager
    def write(self) -> Iterator[Session]:
        """One short write transaction (writers take turns; see the module docstring)."""
        with self.state.write() as db:
            yield db

    def one(self, sql: str, args: Sequence[Any] = ()) -> Row | None:
        return self.state.one(sql, args)

    def all(self, sql: str, args: Sequence[Any] = ()) -> list[Row]:
        return self.state.all(sql, args)

    def page(self, table: str, where: str, args: Sequence[Any], cursor: Cursor, *,
             id_column: str = "id", scope: str = "", within: tuple[str, Sequence[Any]] | None = None) -> Page:
        """One cursor page ordered by insertion (``seq``): the OpenAI list contract.

        ``after``/``before`` are ids of objects in the same listing; items strictly after (or
        before) them in the requested order are returned, ``limit`` at most, and ``has_more``
        says whether more lie beyond in the direction of travel. A cursor naming an object that has
        left a filtered listing (a file no longer ``in_progress``) but is still ``within`` the
        unfiltered one (its condition and arguments), or was deleted in the last day (:func:`bury`;
        ``scope`` as it was buried), pages on from where it stood; an unknown one is
        :class:`NotFound` (the API answers 400, naming the parameter)."""
        descending = cursor.order == "desc"
        clauses, params = [where], list(args)
        for anchor, later in ((cursor.after, True), (cursor.before, False)):
            if anchor is None:
                continue
            found = self.one(f"SELECT seq FROM {table} WHERE {where} AND {id_column}=?", (*args, anchor))
            if found is None and within is not None:
                found = self.one(f"SELECT seq FROM {table} WHERE {within[0]} AND {id_column}=?", (*within[1], anchor))
            if found is None:
                found = self.one("SELECT seq FROM cursor_tombstones WHERE tbl=? AND id=? AND scope=?",
                                 (table, anchor, scope))
            if found is None:
                raise NotFound(anchor)
            clauses.append("seq > ?" if later != descending else "seq < ?")
            params.append(found["seq"])
        # Walking backwards from ``before``: fetch nearest first, then restore the order.
        backwards = cursor.before is not None and cursor.after is None
        ascending = descending == backwards
        rows = self.all(f"SELECT * FROM {table} WHERE {' AND '.join(clauses)} "
                        f"ORDER BY seq {'ASC' if ascending else 'DESC'} LIMIT ?", (*params, cursor.limit + 1))
        has_more = len(rows) > cursor.limit
        rows = rows[:cursor.limit]
        if backwards:
            rows.reverse()
        return rows, has_more


def bury(db: Session, table: str, where: str, args: Sequence[Any], *, id_column: str = "id",
         scope_column: str | None = None) -> None:
    """Keep the list places (``seq``) of the rows of ``table`` matching ``where``, in the write
    transaction that is about to delete (or hide) them, for :data:`TOMBSTONE_SECONDS`: a client
    deleting the objects of a list while it pages through it asks for the page ``after`` one it
    has just deleted, and :meth:`Tables.page` goes on from there. ``scope_column`` holds what the
    same id is listed under more than once by (a vector store file's store). Older places are
    forgotten on the way."""
    scope = scope_column or "''"
    rows = db.all(f"SELECT {id_column} AS id, {scope} AS scope, seq FROM {table} WHERE {where}", args)
    if not rows:
        return
    stamp = now()
    db.execute("DELETE FROM cursor_tombstones WHERE deleted_at < ?", (stamp - TOMBSTONE_SECONDS,))
    db.executemany("INSERT INTO cursor_tombstones(tbl, id, scope, seq, deleted_at) VALUES(?, ?, ?, ?, ?) "
                   "ON CONFLICT(tbl, id, scope) DO UPDATE SET seq=excluded.seq, deleted_at=excluded.deleted_at",
                   [(table, r["id"], r["scope"], r["seq"], stamp) for r in rows])
