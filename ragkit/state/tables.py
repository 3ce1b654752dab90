"""The base of every repository over the state database: per-thread connections, short write
transactions and the OpenAI list contract (cursor pages).

SQLite connections must not cross threads, so each thread gets its own
(:meth:`ragkit.state.StateDB.connections`), returning rows as dicts. Every write is one short
``BEGIN IMMEDIATE`` transaction: the write lock is taken when the transaction starts, so two
writers queue on the busy timeout instead of deadlocking when both upgrade a read lock. WAL lets
readers run beside the one writer.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

from ragkit.state.database import StateDB, open_database

Row = dict[str, Any]


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


def _row(cursor: sqlite3.Cursor, values: tuple) -> Row:
    return {d[0]: v for d, v in zip(cursor.description, values)}


class Tables:
    """Connections and transactions of one state database; the repositories build on it."""

    def __init__(self, target: StateDB | Path) -> None:
        """``target`` is a state database, or the file of one (``ServerConfig.db_path``)."""
        self.state = target if isinstance(target, StateDB) else open_database(target)
        self.path = self.state.path
        self._connections = self.state.connections(row_factory=_row)

    @property
    def db(self) -> sqlite3.Connection:
        """This thread's connection, opened on first use."""
        return self._connections.db

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One short write transaction (taken immediately, so writers queue instead of deadlocking)."""
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def one(self, sql: str, args: Sequence[Any] = ()) -> Row | None:
        return self.db.execute(sql, args).fetchone()

    def all(self, sql: str, args: Sequence[Any] = ()) -> list[Row]:
        return self.db.execute(sql, args).fetchall()

    def page(self, table: str, where: str, args: Sequence[Any], cursor: Cursor, *,
             id_column: str = "id") -> Page:
        """One cursor page ordered by insertion (``seq``): the OpenAI list contract.

        ``after``/``before`` are ids of objects in the same listing; items strictly after (or
        before) them in the requested order are returned, ``limit`` at most, and ``has_more``
        says whether more lie beyond in the direction of travel. An unknown cursor is
        :class:`NotFound` (the API answers 400, naming the parameter)."""
        descending = cursor.order == "desc"
        clauses, params = [where], list(args)
        for anchor, later in ((cursor.after, True), (cursor.before, False)):
            if anchor is None:
                continue
            found = self.one(f"SELECT seq FROM {table} WHERE {where} AND {id_column}=?", (*args, anchor))
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
