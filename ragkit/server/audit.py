"""The audit log: one JSON line per request, so an answer can be traced back to its evidence.

Each line records who asked (the key's *name*, never the key), what (endpoint, vector stores,
question), what was retrieved (chunk ids and scores), what was answered (text, citations,
refusal), the tokens and the latency. Lines are appended with a single ``write`` on an
``O_APPEND`` descriptor, so several worker processes can share the file without interleaving
partial lines.

With ``redact_pii`` the free text (questions, answers, quotes) is scrubbed of e-mail addresses,
IBANs (mod-97 checked), card numbers (Luhn checked), US social security numbers and phone
numbers before it is written: the log is for tracing answers, not for keeping personal data.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]){11,30}\b")
CARD = re.compile(r"\b\d(?:[ -]?\d){12,18}\b")
SSN = re.compile(r"\b(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}\b")
PHONE = re.compile(r"(?<![\w])(?:\+\d{1,3}[ .-]?)?(?:\(\d{1,4}\)[ .-]?)?\d{2,4}(?:[ .-]?\d{2,4}){2,4}(?![\w])")


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _iban_ok(text: str) -> bool:
    compact = text.replace(" ", "")
    if not 15 <= len(compact) <= 34:
        return False
    moved = compact[4:] + compact[:4]
    number = "".join(str(int(ch, 36)) for ch in moved)
    return int(number) % 97 == 1


def redact(text: str) -> str:
    """Mask personal data in free text (checksums keep ordinary numbers like versions intact)."""
    if not text:
        return text
    text = EMAIL.sub("[EMAIL]", text)
    text = IBAN.sub(lambda m: "[IBAN]" if _iban_ok(m.group()) else m.group(), text)
    text = CARD.sub(lambda m: "[CARD]" if _luhn(re.sub(r"\D", "", m.group())) else m.group(), text)
    text = SSN.sub("[SSN]", text)

    def phone(m: re.Match) -> str:
        digits = re.sub(r"\D", "", m.group())
        return "[PHONE]" if 8 <= len(digits) <= 15 and not re.fullmatch(r"\d+\.\d+(\.\d+)*", m.group()) else m.group()

    return PHONE.sub(phone, text)


_FREE_TEXT = ("question", "answer", "instructions")


def scrub(record: dict[str, Any]) -> dict[str, Any]:
    out = dict(record)
    for key in _FREE_TEXT:
        if isinstance(out.get(key), str):
            out[key] = redact(out[key])
    if isinstance(out.get("citations"), list):
        out["citations"] = [dict(c, quote=redact(c.get("quote", ""))) if isinstance(c, dict) else c
                            for c in out["citations"]]
    if isinstance(out.get("error"), str):
        out["error"] = redact(out["error"])
    return out


class AuditLog:
    def __init__(self, path: Path, *, redact_pii: bool = False) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.redact_pii = redact_pii
        self._lock = threading.Lock()
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)

    def write(self, record: dict[str, Any]) -> None:
        record = {"time": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")} | record
        if self.redact_pii:
            record = scrub(record)
        line = (json.dumps(record, ensure_ascii=False, default=str) + "\n").encode("utf-8")
        with self._lock:
            os.write(self._fd, line)

    def close(self) -> None:
        try:
            os.close(self._fd)
        except OSError:
            pass


def matches(record: dict[str, Any], key: str | None, endpoint: str | None) -> bool:
    if key is not None and record.get("key") != key:
        return False
    return endpoint is None or endpoint in str(record.get("endpoint", ""))


def read(path: Path, *, key: str | None = None, endpoint: str | None = None,
         follow: bool = False, poll: float = 0.5) -> Iterator[dict[str, Any]]:
    """Records of the log, oldest first; with ``follow``, keep waiting for new ones."""
    while follow and not path.exists():
        time.sleep(poll)
    if not path.exists():
        return
    with open(path, "r", encoding="utf-8") as handle:
        buffer = ""
        while True:
            line = handle.readline()
            if not line:
                if not follow:
                    return
                time.sleep(poll)
                continue
            buffer += line
            if not buffer.endswith("\n"):
                continue  # a line still being written
            text, buffer = buffer, ""
            try:
                record = json.loads(text)
            except json.JSONDecodeError:
                continue
            if matches(record, key, endpoint):
                yield record
