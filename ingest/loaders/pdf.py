"""PDF via pypdf: text per page, 1-based page numbers.

Encrypted files open when the empty password (or the configured one) works; otherwise they fail
with kind ``encrypted``. Pages without a text layer (scans) are counted and reported, since OCR
is not supported. Any parser exception fails this file alone, with the reason.
"""

from __future__ import annotations

import logging
from pathlib import Path

from ingest.loaders.base import LoadedDocument, LoadError, LoadOptions, Section


def load_pdf(path: Path, options: LoadOptions) -> LoadedDocument:
    from pypdf import PdfReader
    from pypdf.errors import FileNotDecryptedError, PdfReadError

    logging.getLogger("pypdf").setLevel(logging.ERROR)  # pypdf warns loudly about harmless quirks
    try:
        reader = PdfReader(str(path), strict=False)
        if reader.is_encrypted:
            password = options.pdf_password or ""
            try:
                ok = reader.decrypt(password)
            except (NotImplementedError, Exception) as exc:  # noqa: BLE001 - unsupported crypto
                raise LoadError("encrypted", f"encrypted: cannot decrypt ({exc})") from None
            if not ok:
                hint = "the given password is wrong" if options.pdf_password else "password required"
                raise LoadError("encrypted", f"encrypted: {hint} (use --pdf-password)")
        pages = reader.pages
        sections: list[Section] = []
        texts: dict[int | None, str] = {}
        empty: list[int] = []
        for number, page in enumerate(pages, start=1):
            try:
                text = page.extract_text() or ""
            except Exception as exc:  # noqa: BLE001 - one broken page must not lose the others
                raise LoadError("corrupt", f"corrupt: page {number} cannot be read ({exc})") from None
            text = text.replace("\x00", "")
            if not text.strip():
                empty.append(number)
                continue
            texts[number] = text
            sections.append(Section(text=text, page=number, offset=0))
    except LoadError:
        raise
    except FileNotDecryptedError:
        raise LoadError("encrypted", "encrypted: password required (use --pdf-password)") from None
    except PdfReadError as exc:
        raise LoadError("corrupt", f"corrupt PDF: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - pypdf raises many types on hostile input
        raise LoadError("corrupt", f"corrupt PDF: {type(exc).__name__}: {exc}") from None

    total = len(pages)
    if not sections:
        raise LoadError("no-text", f"no extractable text on any of {total} page(s); OCR not supported")
    warnings = []
    if empty:
        shown = ", ".join(map(str, empty[:10])) + (" ..." if len(empty) > 10 else "")
        warnings.append(f"{len(empty)} of {total} page(s) have no extractable text (pages {shown}); OCR not supported")
    return LoadedDocument(sections=sections, pages=total, warnings=warnings, texts=texts)
