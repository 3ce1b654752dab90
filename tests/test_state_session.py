"""Statements and rows (ragkit/state/session.py): ``?`` and ``:name`` parameters, dict rows,
row counts, RETURNING, and values stored the same on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from state_backends import state, state_url  # noqa: F401 - fixtures

from ragkit.state.session import statement


def test_question_marks_become_named_parameters_outside_quotes_only():
    compiled = statement("SELECT 'a?b:c', \"x?\" FROM t WHERE a=? AND b IN (?, ?) AND c='it''s ?'", True)
    assert str(compiled) == "SELECT 'a?b:c', \"x?\" FROM t WHERE a=:p0 AND b IN (:p1, :p2) AND c='it''s ?'"
    assert list(compiled._bindparams) == ["p0", "p1", "p2"]
    assert list(statement("SELECT * FROM t WHERE a=:a", False)._bindparams) == ["a"]


def test_rows_are_dicts_by_column_name(state):
    with state.write() as db:
        db.execute("INSERT INTO api_keys(id, name, hash, prefix, scope, created_at) "
                   "VALUES(:id, :name, :hash, :prefix, :scope, :created_at)",
                   {"id": "k1", "name": "ci", "hash": "h1", "prefix": "p", "scope": "admin", "created_at": 5})
    row = state.one("SELECT id, name, created_at, revoked_at FROM api_keys WHERE id=?", ("k1",))
    assert row == {"id": "k1", "name": "ci", "created_at": 5, "revoked_at": None}
    assert state.one("SELECT id FROM api_keys WHERE id=?", ("nope",)) is None
    assert state.all("SELECT id FROM api_keys WHERE id IN (?, ?)", ("k1", "k2")) == [{"id": "k1"}]


def test_rowcount_returning_and_executemany(state):
    with state.write() as db:
        seq = db.scalar("INSERT INTO audit(time, key, record) VALUES(?, ?, ?) RETURNING seq", ("t", "a", "{}"))
        assert db.executemany("INSERT INTO audit(time, key, record) VALUES(?, ?, ?)",
                              [("t", "b", "{}"), ("t", "b", "{}")]) == 2
        assert db.executemany("DELETE FROM audit WHERE key=?", []) == 0
        assert db.execute("UPDATE audit SET status=200 WHERE key=?", ("b",)).rowcount == 2
    assert isinstance(seq, int) and state.one("SELECT key FROM audit WHERE seq=?", (seq,)) == {"key": "a"}


def test_values_come_back_as_they_would_from_sqlite(state):
    """Flags given as bools are stored as 0/1, sums are ints, floats keep their precision, and a
    64-bit nanosecond time fits an INTEGER column."""
    with state.write() as db:
        db.execute("INSERT INTO files(collection, path, source, size, mtime_ns, status, ingested_at) "
                   "VALUES('c', ?, 's', ?, ?, 'ok', ?)", ("/a", 3_000_000_000, 1_767_225_600_123_456_789, 1767225600.25))
        db.execute("INSERT INTO files(collection, path, source, size, status) VALUES('c', '/b', 's', 1, 'ok')")
        db.execute("INSERT INTO feedback(id, created_at, question, answer, refused, rating, citations) "
                   "VALUES(?, 1, 'q', 'a', ?, 'up', '[]')", ("fb_1", True))
    row = state.one("SELECT mtime_ns, ingested_at FROM files WHERE path='/a'")
    assert row == {"mtime_ns": 1_767_225_600_123_456_789, "ingested_at": 1767225600.25}
    total = state.one("SELECT SUM(size) AS n FROM files WHERE collection='c'")["n"]
    assert total == 3_000_000_001 and type(total) is int
    assert state.one("SELECT refused FROM feedback")["refused"] == 1


@pytest.mark.parametrize("needle", ["2019", "50%", "a_b", "Hotels"])
def test_dialect_substring_and_json_fields_are_exact(state, needle):
    with state.write() as db:
        db.execute("INSERT INTO chunks(collection, id, path, text, meta) VALUES('c', 'x', '/p', ?, ?)",
                   ("report 2019: 50% up; a_b", '{"context": "Travel > Hotels"}'))
    sql = state.dialect
    found = state.one(f"SELECT 1 AS x FROM chunks WHERE {sql.contains('text')} "
                      f"OR {sql.contains(sql.json_text('meta', 'context'))}", (needle, needle))
    missing = state.one(f"SELECT 1 AS x FROM chunks WHERE {sql.contains('text')}", (needle.upper() + "Z",))
    assert found is not None and missing is None
