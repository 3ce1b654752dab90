"""What a chunk is part of: the document's name and title and the chunk's section path.

A table page deep inside an annual report does not say whose report it is; a BEIR document's
third chunk does not repeat its title. Retrieval needs both, so each chunk carries a short
context line ("acme annual report 2019 | Annual Report 2019 > Cash flows") that is embedded and
indexed with its text but never quoted. Pure functions, so each part can be measured on its own.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath

from ingest.loaders.base import LoadedDocument

#: the context line is cut to this many words: it must not crowd the chunk out of the
#: embedder's window (all-MiniLM-L6-v2 reads 256 word pieces)
MAX_CONTEXT_WORDS = 24
_SEPARATORS = re.compile(r"[_\-.+\s]+")
_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])")
_HEXISH = re.compile(r"^[0-9a-f]{12,}$", re.IGNORECASE)
_WORD_PROCESSOR_PREFIX = re.compile(r"^(microsoft (word|powerpoint|excel) - )", re.IGNORECASE)


def readable_name(source: str) -> str:
    """A file name as words ("acme_AnnualReport-2019.pdf" -> "acme Annual Report 2019"), or ""
    when the name carries no words (a hash, a number, a random id)."""
    stem = PurePosixPath(source).stem
    words = [w for w in _SEPARATORS.split(_CAMEL.sub(" ", stem)) if w]
    meaningful = [w for w in words if not _HEXISH.match(w) and any(ch.isalpha() for ch in w)]
    if not meaningful or sum(len(w) for w in meaningful) < 3:
        return ""
    return " ".join(w for w in words if not _HEXISH.match(w))


def clean_title(title: str | None) -> str:
    """A metadata title worth showing: not empty, not a placeholder, not just a file name."""
    if not title:
        return ""
    title = " ".join(_WORD_PROCESSOR_PREFIX.sub("", title.strip()).split())
    if title.lower() in {"untitled", "title", "document", "presentation", "slide 1", "none"}:
        return ""
    if re.search(r"\.(docx?|pdf|pptx?|xlsx?|txt|md|html?)$", title, re.IGNORECASE):
        return readable_name(title)
    return title if any(ch.isalpha() for ch in title) else ""


def first_line_title(document: LoadedDocument) -> str:
    """For a PDF without a metadata title: the first line of the first page when it reads like
    a title (2-14 words, mostly letters). Reports and papers put their title there."""
    if not document.sections or document.sections[0].page is None:
        return ""
    for line in document.sections[0].text.splitlines()[:3]:
        words = line.split()
        letters = sum(ch.isalpha() for ch in line)
        if 2 <= len(words) <= 14 and letters >= 0.6 * len(line.replace(" ", "")):
            return " ".join(words)
    return ""


def document_title(document: LoadedDocument) -> str:
    """The document's own title: its metadata, else its first top-level heading, else (PDF) the
    first line of its first page."""
    title = clean_title(document.title)
    if title:
        return title
    for section in document.sections:
        if section.section:
            return section.section[0]
    return first_line_title(document)


def chunk_context(name: str, title: str, section: tuple[str, ...]) -> str:
    """"name | title > section > subsection", without repeating what another part already says."""
    head: list[str] = []
    for part in (name, title):
        if part and not any(part.lower() in other.lower() for other in head):
            head = [h for h in head if h.lower() not in part.lower()] + [part]
    path = [s for s in section if not any(s.lower() == h.lower() for h in head)]
    line = " > ".join(filter(None, [" | ".join(head), *path]))
    words = line.split()
    return " ".join(words[:MAX_CONTEXT_WORDS])
