"""The audit log: one row per request, so an answer can be traced back to its evidence.

Each record says who asked (the key's *name*, never the key), what (endpoint, vector stores,
question), what was retrieved (chunk ids and scores), what was answered (text, citations,
refusal), the tokens and the latency. It lives in the ``audit`` table of the home's state
database (revision 0002): several worker processes append to it as they do to every other table,
and ``ragkit logs`` filters on the key and endpoint columns instead of parsing a file.

With ``redact_pii`` the free text is masked before it is stored (:mod:`ragkit.state.redaction`).
A home whose log is still the previous layout's ``<home>/server/audit.jsonl`` has it imported once,
in one write transaction, and renamed ``audit.jsonl.migrated``.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from ragkit.state.legacy import SUFFIX
from ragkit.state.redaction import scrub
from ragkit.state.tables import Tables

log = logging.getLogger("ragkit.state")
_COLUMNS = ("time", "key", "method", "endpoint", "status", "latency_ms")
_INSERT = f"INSERT INTO audit({', '.join(_COLUMNS)}, record) VALUES({', '.join('?' * (len(_COLUMNS) + 1))})"


def _values(record: dict[str, Any]) -> tuple[Any, ...]:
    return (*(record.get(c) for c in _COLUMNS), json.dumps(record, ensure_ascii=False, default=str))


def import_jsonl(tables: Tables, path: Path) -> int:
    """Copy an old ``audit.jsonl`` into the table and rename it ``.migrated``; returns the records
    copied (0 when there is no such file). The rename happens inside the transaction, so of two
    processes opening the log at once only the first finds the file."""
    if not path.is_file():
        return 0
    with tables.write() as conn:
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:  # another process imported it meanwhile
            return 0
        records = []
        for line in text.splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut short by a crash
            if isinstance(record, dict):
                records.append(_values(record | {"time": record.get("time") or ""}))
        conn.executemany(_INSERT, records)
        path.rename(path.with_name(path.name + SUFFIX))
    log.info("imported %d audit records from %s", len(records), path)
    return len(records)


class AuditLog:
    """Where the server writes its audit records."""

    def __init__(self, tables: Tables, *, redact_pii: bool = False, legacy_file: Path | None = None) -> None:
        self.tables = tables
        self.redact_pii = redact_pii
        if legacy_file is not None:
            import_jsonl(tables, legacy_file)

    def write(self, record: dict[str, Any]) -> None:
        """Store one record, stamped with the time (UTC, milliseconds) and redacted if asked.
        A failure is logged, never raised: a request must not fail for its audit record."""
        record = {"time": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")} | record
        if self.redact_pii:
            record = scrub(record)
        try:
            with self.tables.write() as conn:
                conn.execute(_INSERT, _values(record))
        except SQLAlchemyError:
            log.exception("could not write the audit log")

    def close(self) -> None:
        """Nothing to release: the records share the state database's connections."""


def read(tables: Tables, *, key: str | None = None, endpoint: str | None = None,
         follow: bool = False, poll: float = 0.5) -> Iterator[dict[str, Any]]:
    """Records of the log, oldest first (of one key name, of endpoints containing ``endpoint``);
    with ``follow``, keep waiting for new ones."""
    clauses, args = ["seq > ?"], []
    if key is not None:
        clauses.append("key = ?")
        args.append(key)
    if endpoint is not None:
        clauses.append(tables.state.dialect.contains("COALESCE(endpoint, '')"))
        args.append(endpoint)
    sql = f"SELECT seq, record FROM audit WHERE {' AND '.join(clauses)} ORDER BY seq LIMIT 500"
    last = 0
    while True:
        rows = tables.all(sql, (last, *args))
        for row in rows:
            last = row["seq"]
            yield json.loads(row["record"])
        if len(rows) == 500:
            continue
        if not follow:
            return
        time.sleep(poll)
