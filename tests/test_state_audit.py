"""The audit table (on SQLite and PostgreSQL): redacted records, filtered and followed reads, and the one-time import of the
previous layout's ``audit.jsonl``."""

from __future__ import annotations

import json
import threading
import time

import pytest
from state_backends import state, state_url  # noqa: F401 - fixtures

from ragkit.state.audit import AuditLog, import_jsonl, read
from ragkit.state.server import ServerState


@pytest.fixture
def db(state) -> ServerState:
    return ServerState(state)


def test_with_redaction_personal_data_never_reaches_the_table(db):
    log = AuditLog(db, redact_pii=True)
    log.write({"key": "ci", "endpoint": "/v1/responses", "status": 200, "question": "mail jane.doe@example.com",
               "answer": "call +44 20 7946 0958", "citations": [{"quote": "IBAN GB82 WEST 1234 5698 7654 32"}],
               "error": "card 4111 1111 1111 1111", "retrieved": [{"chunk_id": "c1", "score": 0.5}]})
    [record] = read(db)
    assert record["question"] == "mail [EMAIL]" and "[PHONE]" in record["answer"]
    assert "[IBAN]" in record["citations"][0]["quote"] and "[CARD]" in record["error"]
    assert record["retrieved"] == [{"chunk_id": "c1", "score": 0.5}] and record["time"]
    AuditLog(db).write({"key": "ci", "question": "jane.doe@example.com"})
    assert list(read(db))[-1]["question"] == "jane.doe@example.com"  # redaction is opt-in


def test_reads_filter_by_key_and_endpoint_and_follow_new_records(db):
    log = AuditLog(db)
    log.write({"key": "a", "endpoint": "/v1/models", "status": 200})

    def later():
        time.sleep(0.3)
        log.write({"key": "b", "endpoint": "/v1/responses", "status": 200})
        log.write({"key": "a", "endpoint": "/v1/responses", "status": 400})

    threading.Thread(target=later, daemon=True).start()
    seen = []
    for record in read(db, key="a", follow=True, poll=0.05):
        seen.append((record["endpoint"], record["status"]))
        if len(seen) == 2:
            break
    assert seen == [("/v1/models", 200), ("/v1/responses", 400)]
    assert [r["key"] for r in read(db, endpoint="responses")] == ["b", "a"]


def test_an_old_jsonl_log_is_imported_once_and_kept_as_migrated(db, tmp_path):
    old = tmp_path / "server" / "audit.jsonl"
    old.parent.mkdir()
    records = [{"time": "2026-01-01T00:00:00.000+00:00", "key": "ci", "method": "POST", "endpoint": "/v1/responses",
                "status": 200, "latency_ms": 12.5, "question": "q"},
               {"time": "2026-01-01T00:00:01.000+00:00", "key": None, "endpoint": "/v1/models", "status": 401}]
    old.write_text("".join(json.dumps(r) + "\n" for r in records) + '{"cut short', encoding="utf-8")
    AuditLog(db, legacy_file=old)
    assert not old.exists() and old.with_name("audit.jsonl.migrated").is_file()
    assert list(read(db)) == records
    assert import_jsonl(db, old) == 0 and len(list(read(db))) == 2
