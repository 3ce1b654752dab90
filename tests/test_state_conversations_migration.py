"""Revision 0003 on a real SQLite file: a database at 0002 with rows in every conversation table of
the earlier layout is upgraded, every row arrives in the one model (ids, order, timestamps, the
standalone queries, sources, citations and tool calls), and a downgrade gives the same rows back."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command

from ragkit.conversations.store import ThreadStore
from ragkit.state import assistants as adb
from ragkit.state import conversations
from ragkit.state import responses
from ragkit.state.database import StateDB
from ragkit.state.migrate import alembic_config
from ragkit.state.server import ServerState
from ragkit.state.urls import file_url

CITED = {"n": 1, "file_id": "file-1", "filename": "faq.txt", "page": 2, "quote": "three years", "quote_start": 4,
         "quote_end": 15, "chunk_id": "c1", "vector_store_id": "vs_1"}
THREAD = {"id": "thread_1", "object": "thread", "created_at": 100, "metadata": {"team": "support"},
          "tool_resources": {}}
ASKED = {"id": "msg_a1", "object": "thread.message", "created_at": 101, "thread_id": "thread_1", "role": "user",
         "status": "completed", "run_id": None, "content": [{"type": "text", "text": {"value": "How long?",
                                                                                      "annotations": []}}]}
ANSWERED = {"id": "msg_a2", "object": "thread.message", "created_at": 102, "thread_id": "thread_1",
            "role": "assistant", "status": "completed", "run_id": "run_1", "content": [{"type": "text", "text": {
                "value": "Three years [1].", "annotations": [{"type": "file_citation", "text": "[1]", "start_index": 12,
                                                              "end_index": 15, "n": 1, "file_citation": {
                                                                  k: v for k, v in CITED.items() if k != "n"}}]}}]}
CONVERSATION = {"id": "conv_1", "object": "conversation", "created_at": 200, "metadata": {}}
QUESTION = {"id": "msg_c1", "type": "message", "role": "user", "status": "completed",
            "content": [{"type": "input_text", "text": "How long is the warranty?"}]}
SEARCH = {"id": "fs_1", "type": "file_search_call", "status": "completed", "queries": ["warranty length"],
          "results": None}
ANSWER = {"id": "msg_c2", "type": "message", "role": "assistant", "status": "completed",
          "content": [{"type": "output_text", "text": "Three years [1].", "logprobs": [], "annotations": [
              {"type": "file_citation", "index": 12, **CITED}]}]}
OLD_TABLES = ("threads", "messages", "asst_threads", "asst_messages", "conv_conversations", "conv_items")
JSON_COLUMNS = ("body", "citations", "sources")
ASST_MESSAGE = ("INSERT INTO asst_messages(seq, id, thread_id, run_id, role, body, standalone, sources) "
                "VALUES(?,?,?,?,?,?,?,?)")


def _migrate(state: StateDB | sa.Engine, target: str, down: bool = False) -> None:
    engine = state.engine if isinstance(state, StateDB) else state
    with engine.begin() as connection:
        (command.downgrade if down else command.upgrade)(alembic_config(connection), target)


def _old_rows() -> list[tuple[str, tuple]]:
    """Rows in every conversation table of revision 0002, as the previous code wrote them."""
    return [
        ("INSERT INTO threads VALUES(?,?,?,?,?,?)", ("t2", "later", "docs", "ci", 5.0, 6.0)),
        ("INSERT INTO threads VALUES(?,?,?,?,?,?)", ("t1", "warranty", "docs", None, 1.0, 2.0)),
        ("INSERT INTO messages(id, thread_id, role, content, created_at, citations, sources, standalone) "
         "VALUES(?,?,?,?,?,?,?,?)", (3, "t1", "user", "how long?", 1.5, "[]", "[]", "how long is the warranty?")),
        ("INSERT INTO messages(id, thread_id, role, content, created_at, citations, sources, standalone) "
         "VALUES(?,?,?,?,?,?,?,?)", (7, "t1", "assistant", "Three years [1].", 1.6,
                                     json.dumps([{"n": 1, "source": "faq.txt"}]), json.dumps([{"text": "3 years"}]),
                                     "how long is the warranty?")),
        ("INSERT INTO messages(id, thread_id, role, content, created_at) VALUES(?,?,?,?,?)",
         (9, "t2", "user", "and later?", 5.5)),
        ("INSERT INTO asst_threads(seq, id, owner, body) VALUES(?,?,?,?)",
         (4, "thread_1", "key_1", json.dumps(THREAD))),
        (ASST_MESSAGE, (2, "msg_a1", "thread_1", None, "user", json.dumps(ASKED), "how long is the warranty?", None)),
        (ASST_MESSAGE, (5, "msg_a2", "thread_1", "run_1", "assistant", json.dumps(ANSWERED), None,
                        json.dumps([{"text": "3 y"}]))),
        ("INSERT INTO conv_conversations(seq, id, owner, body) VALUES(?,?,?,?)",
         (1, "conv_1", "key_1", json.dumps(CONVERSATION))),
        ("INSERT INTO conv_items(seq, id, conversation_id, body, standalone, sources) VALUES(?,?,?,?,?,?)",
         (1, "msg_c1", "conv_1", json.dumps(QUESTION), "warranty length", None)),
        ("INSERT INTO conv_items(seq, id, conversation_id, body, standalone, sources) VALUES(?,?,?,?,?,?)",
         (2, "fs_1", "conv_1", json.dumps(SEARCH), None, None)),
        ("INSERT INTO conv_items(seq, id, conversation_id, body, standalone, sources) VALUES(?,?,?,?,?,?)",
         (3, "msg_c2", "conv_1", json.dumps(ANSWER), None, json.dumps([{"text": "3 years"}]))),
    ]


def _fill(path: Path) -> None:
    with sqlite3.connect(path) as db:
        for sql, args in _old_rows():
            db.execute(sql, args)


def _dump(path: Path) -> dict[str, list[dict]]:
    """Every row of the old tables in order, JSON columns parsed (a missing list and an empty one
    alike). ``seq`` only orders rows: the model numbers all items in one sequence, so a
    downgrade keeps the order, not the numbers (a chat message's id is kept)."""
    out = {}
    with sqlite3.connect(path) as db:
        db.row_factory = sqlite3.Row
        for table in OLD_TABLES:
            order = "id" if table in ("threads", "messages") else "seq"
            rows = [dict(r) for r in db.execute(f"SELECT * FROM {table} ORDER BY {order}")]
            for row in rows:
                row.pop("seq", None)
                for column in JSON_COLUMNS:
                    if column in row:
                        row[column] = json.loads(row[column]) if row[column] else []
            out[table] = rows
    return out


def _tables(path: Path) -> set[str]:
    with sqlite3.connect(path) as db:
        return {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}


@pytest.fixture
def old_database(tmp_path) -> tuple[StateDB, dict[str, list[dict]]]:
    state = StateDB(file_url(tmp_path / "state.sqlite"))
    _migrate(state, "0002")
    _fill(state.path)
    return state, _dump(state.path)


def test_every_row_of_the_old_tables_arrives_in_the_model(old_database):
    state, _ = old_database
    _migrate(state, "0003")
    assert not _tables(state.path) & set(OLD_TABLES)
    assert {"conversations", "conversation_items"} <= _tables(state.path)

    chats = ThreadStore(state)
    assert [(t.id, t.title, t.owner, t.created_at, t.updated_at, t.messages) for t in chats.list_threads("docs")] == [
        ("t2", "later", "ci", 5.0, 6.0, 1), ("t1", "warranty", None, 1.0, 2.0, 2)]
    asked, answered = chats.messages("t1")
    assert (asked.id, asked.content, asked.created_at, asked.standalone) == (3, "how long?", 1.5,
                                                                             "how long is the warranty?")
    assert (answered.id, answered.citations, answered.sources) == (7, [{"n": 1, "source": "faq.txt"}],
                                                                   [{"text": "3 years"}])
    assert [m.id for m in chats.messages("t2")] == [9]

    db = ServerState(state)
    assert adb.owned(db, adb.THREADS, "thread_1", "key_1") == THREAD
    assert adb.owned(db, adb.CONVERSATIONS, "thread_1", "key_1") is None  # kinds stay apart
    assert adb.message(db, "thread_1", "msg_a2") == ANSWERED
    thread = adb.thread_messages(db, "thread_1")
    assert [(m.id, m.role, m.content, m.created_at, m.standalone, m.sources, m.run_id) for m in thread] == [
        ("msg_a1", "user", "How long?", 101.0, "how long is the warranty?", [], None),
        ("msg_a2", "assistant", "Three years [1].", 102.0, None, [{"text": "3 y"}], "run_1")]
    assert thread[1].citations == [CITED] and thread[0].seq < thread[1].seq

    assert adb.owned(db, adb.CONVERSATIONS, "conv_1", "key_1") == CONVERSATION
    items = responses.items(db, "conv_1")
    assert [(i.id, i.kind, i.created_at) for i in items] == [("msg_c1", "message", 200.0),
                                                             ("fs_1", "file_search_call", 200.0),
                                                             ("msg_c2", "message", 200.0)]
    assert (items[0].standalone, items[0].content) == ("warranty length", "How long is the warranty?")
    assert (items[1].tool.name, items[1].tool.call_id, json.loads(items[1].tool.arguments)) == (
        "file_search", "fs_1", ["warranty length"])
    assert items[2].citations == [CITED] and items[2].sources == [{"text": "3 years"}]
    assert [responses.item(db, "conv_1", i.id) for i in items] == [QUESTION, SEARCH, ANSWER]

    later = chats.append_message("t1", "user", "and after that?")
    assert later.id > max(i.seq for i in conversations.items(db, "conv_1"))  # seq goes on after the copied rows


def test_a_downgrade_gives_the_old_tables_their_rows_back(old_database):
    state, before = old_database
    _migrate(state, "0003")
    _migrate(state, "0002", down=True)
    assert "conversations" not in _tables(state.path) and set(OLD_TABLES) <= _tables(state.path)
    assert _dump(state.path) == before
    with sqlite3.connect(state.path) as db:  # keys go on after the restored rows
        db.execute("INSERT INTO asst_messages(id, thread_id, role, body) VALUES('msg_new', 'thread_1', 'user', '{}')")
        seqs = dict(db.execute("SELECT id, seq FROM asst_messages"))
        assert seqs["msg_new"] > max(seq for key, seq in seqs.items() if key != "msg_new")
    _migrate(state, "0003")  # and up again
    assert [m.id for m in ThreadStore(state).messages("t1")] == [3, 7]


def test_an_item_whose_conversation_is_gone_is_left_out(tmp_path, caplog):
    state = StateDB(file_url(tmp_path / "state.sqlite"))
    _migrate(state, "0002")
    with sqlite3.connect(state.path) as db:
        db.execute("INSERT INTO conv_items(id, conversation_id, body) VALUES('msg_x', 'conv_gone', ?)",
                   (json.dumps(QUESTION),))
    _migrate(state, "0003")
    assert conversations.item(ServerState(state), "msg_x") is None
    assert any("belongs to no conversation 'conv_gone'" in r.getMessage() for r in caplog.records)


def test_the_revision_runs_on_postgresql_both_ways(request):
    """The same rows through 0003 and back on a real PostgreSQL server, when the suite has one
    (the ``postgres_url`` fixture): the copy and the sequences past the copied keys."""
    try:
        url = request.getfixturevalue("postgres_url")
    except pytest.FixtureLookupError:
        pytest.skip("this checkout's tests have no PostgreSQL server")
    engine = sa.create_engine(url)
    try:
        _migrate(engine, "0002")
        with engine.begin() as db:
            for sql, args in _old_rows():
                db.exec_driver_sql(sql.replace("?", "%s"), args)
        _migrate(engine, "0003")
        with engine.begin() as db:
            kinds = db.exec_driver_sql("SELECT c.kind, COUNT(*) FROM conversation_items i JOIN conversations c "
                                       "ON c.id = i.conversation_id GROUP BY c.kind ORDER BY c.kind").fetchall()
            assert [tuple(k) for k in kinds] == [("assistants_thread", 2), ("chat", 3), ("responses_conversation", 3)]
            assert db.exec_driver_sql("SELECT seq FROM conversation_items WHERE id=%s",
                                      ("msg_000000000000000000000007",)).scalar() == 7  # a chat message's id
            added = db.exec_driver_sql("INSERT INTO conversation_items(id, conversation_id, kind, role, created_at) "
                                       "VALUES('m_new', 't1', 'message', 'user', 9) RETURNING seq").scalar()
            assert added > db.exec_driver_sql("SELECT MAX(seq) FROM conversation_items WHERE id <> 'm_new'").scalar()
        _migrate(engine, "0002", down=True)
        with engine.begin() as db:
            counts = [db.exec_driver_sql(f"SELECT COUNT(*) FROM {t}").scalar() for t in OLD_TABLES]
            assert counts == [2, 4, 1, 2, 1, 3]  # the item added at 0003 too
            db.exec_driver_sql("INSERT INTO conv_items(id, conversation_id, body) VALUES('x', 'conv_1', '{}')")
    finally:
        engine.dispose()
