"""The few SQL fragments that differ between the state database's backends, SQLite and PostgreSQL.

Every statement of the repositories is written in the subset both understand: ``?`` or ``:name``
parameters (:mod:`ragkit.state.session` binds them through SQLAlchemy), ``INSERT ... ON CONFLICT
... DO NOTHING / DO UPDATE``, ``RETURNING`` instead of ``lastrowid``, no ``PRAGMA`` and no
``rowid``. What cannot be said the same way in both -- a substring test, a field of a JSON text
column, a join whose order the planner must keep -- is asked of the :class:`Dialect` of the
connection (``session.dialect``), so a repository never branches on the backend's name itself.
"""

from __future__ import annotations

from dataclasses import dataclass

SQLITE, POSTGRESQL = "sqlite", "postgresql"


@dataclass(frozen=True)
class Dialect:
    """SQL fragments for one backend; ``name`` is ``"sqlite"`` or ``"postgresql"``."""

    name: str

    def contains(self, haystack: str, needle: str = "?") -> str:
        """A condition: ``needle`` (a parameter) occurs in ``haystack``, case-sensitively.

        ``LIKE`` is not it: SQLite's ignores ASCII case and both treat ``%`` and ``_`` in the
        needle as wildcards."""
        function = "instr" if self.name == SQLITE else "strpos"
        return f"{function}({haystack}, {needle}) > 0"

    def json_text(self, column: str, key: str) -> str:
        """The text of top-level field ``key`` of the JSON held in the text column ``column``
        (NULL when absent). ``key`` is a constant of the caller's, never user input."""
        if not key.isidentifier():
            raise ValueError(f"not a JSON field name: {key!r}")
        if self.name == SQLITE:
            return f"json_extract({column}, '$.{key}')"
        return f"(CAST({column} AS json) ->> '{key}')"

    @property
    def ordered_join(self) -> str:
        """A join the planner takes in the written order: SQLite's ``CROSS JOIN`` (a hint there);
        PostgreSQL plans joins by their cost and has no such hint, so a plain ``JOIN``."""
        return "CROSS JOIN" if self.name == SQLITE else "JOIN"
