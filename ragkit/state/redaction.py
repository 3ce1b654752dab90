"""Masking personal data in the audit log's free text.

The log is for tracing answers back to their evidence, not for keeping personal data: with
``redact_pii`` the questions, answers, quotes and errors are scrubbed of e-mail addresses, IBANs
(mod-97 checked), card numbers (Luhn checked), US social security numbers and phone numbers before
they are stored. The checksums keep ordinary numbers (versions, amounts, ids) intact.
"""

from __future__ import annotations

import re
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
    """``record`` with its free-text fields redacted (the original is left as it was)."""
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
