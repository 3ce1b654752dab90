"""The state database's session API (ragkit/state/database.py) on SQLite and on PostgreSQL.

What it promises, on both: a fresh database has every table and index at the head revision and a
database written by a newer ragkit is refused; reads and writes hand out connections of their
own, so no two threads share one; a write transaction is committed whole or, if it raises, not
at all; reads and writes nested in a write on the same thread join it; a write transaction is
not seen by other threads before its commit; and writers take turns, as SQLite's ``BEGIN
IMMEDIATE`` makes them, while readers never wait for them.
"""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import inspect
from state_backends import state, state_url  # noqa: F401 - fixtures
from test_state import INDEXES, TABLES

from ragkit.errors import ConfigError
from ragkit.state import head, open_database


def _journal(state) -> list[str]:
    return [r["id"] for r in state.all("SELECT id FROM journal WHERE collection='docs' ORDER BY id")]


def test_a_fresh_database_has_every_table_and_index_at_head(state):
    assert state.revision() == head()
    with state.read() as db:
        found = inspect(db.connection)
        tables = set(found.get_table_names())
        indexes = {i["name"] for table in tables for i in found.get_indexes(table)}
    assert tables == TABLES
    assert INDEXES <= indexes  # (PostgreSQL lists no implicit indexes here either: keys are constraints)


def test_a_database_from_a_newer_ragkit_is_refused(state, state_url):
    with state.write() as db:
        db.execute("UPDATE alembic_version SET version_num='9999'")
    with pytest.raises(ConfigError, match="newer version"):
        open_database(state_url)


def test_a_write_commits_whole_or_not_at_all(state):
    with state.write() as db:
        db.executemany("INSERT INTO journal(collection, id) VALUES('docs', ?)", [("a",), ("b",)])
    with pytest.raises(RuntimeError), state.write() as db:
        db.execute("INSERT INTO journal(collection, id) VALUES('docs', 'c')")
        raise RuntimeError("the caller changed its mind")
    assert _journal(state) == ["a", "b"]


def test_nested_reads_and_writes_join_the_threads_write_transaction(state):
    with pytest.raises(RuntimeError), state.write() as outer:
        outer.execute("INSERT INTO journal(collection, id) VALUES('docs', 'a')")
        with state.write() as inner:
            assert inner is outer
            inner.execute("INSERT INTO journal(collection, id) VALUES('docs', 'b')")
        assert _journal(state) == ["a", "b"]  # the read sees the transaction's own rows
        raise RuntimeError
    assert _journal(state) == []  # and the inner write was part of it


def test_an_uncommitted_write_is_its_threads_own_and_readers_do_not_wait(state):
    inside, finish = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            with state.write() as db:
                db.execute("INSERT INTO journal(collection, id) VALUES('docs', 'pending')")
                inside.set()
                assert finish.wait(30)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert inside.wait(30)
        assert _journal(state) == []  # another thread reads, while the write lock is held
    finally:
        finish.set()
        thread.join(30)
    assert not errors and _journal(state) == ["pending"]


def test_writers_take_turns(state):
    """A second writer starts only after the first committed, and sees its rows."""
    order: list[str] = []
    holding, second_started = threading.Event(), threading.Event()

    def first() -> None:
        with state.write() as db:
            db.execute("INSERT INTO journal(collection, id) VALUES('docs', 'first')")
            holding.set()
            assert second_started.wait(30)
            time.sleep(0.3)  # give the second writer every chance to overtake, were it able to
            order.append("first commits")

    def second() -> None:
        assert holding.wait(30)
        second_started.set()
        with state.write() as db:
            order.append("second begins")
            order.append(f"second sees {db.scalar('SELECT COUNT(*) FROM journal')}")

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert order == ["first commits", "second begins", "second sees 1"]


def test_threads_never_share_a_connection(state):
    seen: list[int] = []
    barrier = threading.Barrier(4)

    def use() -> None:
        with state.read() as db:
            barrier.wait(30)  # all four hold a connection at once
            seen.append(id(db.connection.connection.driver_connection))
            barrier.wait(30)

    threads = [threading.Thread(target=use) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(set(seen)) == 4
