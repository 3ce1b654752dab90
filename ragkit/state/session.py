"""A connection to the state database as the repositories use it: SQL in, rows as dicts out.

A :class:`Session` wraps one SQLAlchemy connection, checked out of the engine's pool for one read
or one write transaction (:meth:`ragkit.state.StateDB.read` / :meth:`~ragkit.state.StateDB.write`).
Statements are plain SQL in the subset SQLite and PostgreSQL share (:mod:`ragkit.state.dialect`),
with ``?`` placeholders bound from a sequence or ``:name`` placeholders bound from a mapping. Each
is run as a SQLAlchemy ``text()`` construct, so the driver's own parameter style (``qmark`` for
``sqlite3``, ``%s``/server-side for psycopg) is SQLAlchemy's business, never a repository's.

Rows come back as plain dicts keyed by column name, all fetched before :meth:`Session.execute`
returns: the connection goes back to the pool when the transaction ends, and a cursor must not
outlive it. A repository that reads a large table pages through it (keyset pagination) instead.

Values are normalised on the way in and out so that both backends store the same thing: ``bool``
parameters are bound as ``0``/``1`` (the schema's flags are integer columns, which PostgreSQL
will not fill from a boolean), and PostgreSQL's ``numeric`` results (``SUM`` of a ``bigint``)
come back as ``int`` (or ``float``), as SQLite's do.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator, Mapping, Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import TextClause

from ragkit.state.dialect import Dialect

Row = dict[str, Any]
Params = Sequence[Any] | Mapping[str, Any]


class Rows:
    """What one statement returned: its rows (dicts, already fetched) and the rows it changed."""

    def __init__(self, rows: list[Row], rowcount: int) -> None:
        self._rows = rows
        self.rowcount = rowcount

    def fetchone(self) -> Row | None:
        return self._rows[0] if self._rows else None

    def fetchall(self) -> list[Row]:
        return list(self._rows)

    def scalar(self) -> Any:
        """The first column of the first row (None: no row)."""
        return next(iter(self._rows[0].values())) if self._rows else None

    def __iter__(self) -> Iterator[Row]:
        return iter(self._rows)

    def __len__(self) -> int:
        return len(self._rows)


class Session:
    """One checked-out connection, in a read (autocommit) or in a write transaction."""

    def __init__(self, connection: Connection, dialect: Dialect, *, writing: bool) -> None:
        self.connection = connection
        self.dialect = dialect
        self.writing = writing

    def execute(self, sql: str, params: Params = ()) -> Rows:
        """Run one statement; ``params`` is a sequence for ``?`` or a mapping for ``:name``."""
        result = self.connection.execute(statement(sql, _positional(params)), _bound(params))
        rows = [_row(r) for r in result.mappings()] if result.returns_rows else []
        return Rows(rows, result.rowcount if not result.returns_rows else len(rows))

    def executemany(self, sql: str, many: Iterable[Params]) -> int:
        """Run one statement once per parameter set (the driver batches them); returns how many."""
        batch = list(many)
        if not batch:
            return 0
        self.connection.execute(statement(sql, _positional(batch[0])), [_bound(p) for p in batch])
        return len(batch)

    def one(self, sql: str, params: Params = ()) -> Row | None:
        return self.execute(sql, params).fetchone()

    def all(self, sql: str, params: Params = ()) -> list[Row]:
        return self.execute(sql, params).fetchall()

    def scalar(self, sql: str, params: Params = ()) -> Any:
        return self.execute(sql, params).scalar()


def _positional(params: Params) -> bool:
    return not isinstance(params, Mapping)


def _value(value: Any) -> Any:
    return int(value) if isinstance(value, bool) else value


def _bound(params: Params) -> dict[str, Any]:
    if isinstance(params, Mapping):
        return {k: _value(v) for k, v in params.items()}
    return {f"p{i}": _value(v) for i, v in enumerate(params)}


def _row(mapping: Mapping[str, Any]) -> Row:
    return {k: _number(v) if isinstance(v, Decimal) else v for k, v in mapping.items()}


def _number(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)


@functools.lru_cache(maxsize=2048)
def statement(sql: str, positional: bool) -> TextClause:
    """``sql`` as a ``text()`` construct. With ``positional``, each ``?`` outside quotes becomes
    ``:p0``, ``:p1``, ... (bound from :func:`_bound`'s names) and a colon inside a quoted literal
    is escaped, so that ``text()`` takes neither for a parameter."""
    if not positional:
        return text(sql)
    out: list[str] = []
    quote: str | None = None
    count = 0
    for char in sql:
        if quote is not None:
            out.append("\\:" if char == ":" else char)
            if char == quote:
                quote = None
        elif char in ("'", '"'):
            quote = char
            out.append(char)
        elif char == "?":
            out.append(f":p{count}")
            count += 1
        else:
            out.append(char)
    return text("".join(out))
