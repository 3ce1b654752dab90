"""The ``feedback`` table: ratings of answers, kept to be exported as gold questions later.

Ratings are rare and the page makes a store per request; each call checks a connection out of the
state database's pool for just that statement.
"""

from __future__ import annotations

from typing import Any

from ragkit.state.database import StateDB


class FeedbackTable:
    """Ratings in one state database, in the order they were given."""

    def __init__(self, state: StateDB) -> None:
        self.state = state

    def insert(self, row: dict[str, Any]) -> None:
        """Store one rating (its columns are the keys of ``row``)."""
        with self.state.write() as db:
            db.execute(f"INSERT INTO feedback({', '.join(row)}) VALUES({', '.join(':' + k for k in row)})", row)

    def rows(self, vector_store_id: str | None = None) -> list[dict[str, Any]]:
        """Every rating (of one vector store, if given), oldest first."""
        where, args = ("WHERE vector_store_id=?", (vector_store_id,)) if vector_store_id else ("", ())
        return self.state.all(f"SELECT * FROM feedback {where} ORDER BY seq", args)
