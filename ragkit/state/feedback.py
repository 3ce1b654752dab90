"""The ``feedback`` table: ratings of answers, kept to be exported as gold questions later.

Ratings are rare and the page makes a store per request, so each call opens a connection and
closes it after (a connection kept per thread would only wait to be collected).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ragkit.state.database import StateDB


class FeedbackTable:
    """Ratings in one state database, in the order they were given."""

    def __init__(self, state: StateDB) -> None:
        self.state = state

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        conn = self.state.own_connection()
        conn.row_factory = sqlite3.Row
        try:
            yield conn
        finally:
            conn.close()

    def insert(self, row: dict[str, Any]) -> None:
        """Store one rating (its columns are the keys of ``row``)."""
        with self._connect() as conn:
            conn.execute(f"INSERT INTO feedback({', '.join(row)}) VALUES({', '.join(':' + k for k in row)})", row)

    def rows(self, vector_store_id: str | None = None) -> list[dict[str, Any]]:
        """Every rating (of one vector store, if given), oldest first."""
        where, args = ("WHERE vector_store_id=?", (vector_store_id,)) if vector_store_id else ("", ())
        with self._connect() as conn:
            return [dict(r) for r in conn.execute(f"SELECT * FROM feedback {where} ORDER BY seq", args)]
