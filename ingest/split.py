"""Token-aware splitting with exact character offsets.

langchain's ``RecursiveCharacterTextSplitter.from_tiktoken_encoder`` measures size in cl100k
tokens and prefers paragraph, then line, then word boundaries. Each section (a PDF page, a
Markdown/DOCX heading section) is split on its own, so a chunk never straddles two pages or two
sections and its page and section are exact. A table's rows are lines, so the splitter cuts
between rows, never inside one; a chunk that starts inside a table carries the table's header
row in its context. Offsets are recovered by locating each chunk in
its section in order, which is exact because the splitter returns substrings of its input.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache

from ingest.context import chunk_context, document_title, readable_name
from ingest.loaders.base import LoadedDocument, LoadError
from ragkit.ingest_options import SplitConfig
from ragkit.models import Chunk
from ragkit.text import header_above, table_spans
from ragkit.tiktoken_offline import ensure_tiktoken_offline, get_encoding

#: ``SplitConfig`` is defined in ragkit's foundation (surfaces build it); re-exported here
__all__ = ["ENCODING", "SplitConfig", "chunk_id", "split_document"]

ENCODING = "cl100k_base"


#: A section longer than this is split a block at a time, each block cut at a paragraph, line or
#: word boundary (a chunk never straddles two blocks). The splitter holds every word of its input
#: at once: a 50 MB one-line text took 1.3 GB to split whole, and a text at the loader's 200 MB
#: limit would have taken over 5 GB. Sections this long are rare (a huge log or dump), and a
#: boundary every 262,144 characters shortens one chunk in about 300.
SPLIT_BLOCK_CHARS = 1 << 18
_BLOCK_BOUNDARIES = ("\n\n", "\n", " ")

#: distinct pieces whose token count is remembered (a piece is often one word: ~4 MB at most)
TOKEN_COUNT_CACHE = 1 << 16


@lru_cache(maxsize=TOKEN_COUNT_CACHE)
def _token_count(text: str) -> int:
    """cl100k tokens in ``text``, as ``from_tiktoken_encoder`` counts them (special tokens
    disallowed). Remembered because the splitter measures every word of a long paragraph, and
    words repeat: without it a 1-chunk note cost ~290 encoder calls and splitting was 3/4 of a
    record ingest (bench_scale profile, 4,000 records); the chunks are identical."""
    return len(get_encoding(ENCODING).encode(text, allowed_special=set(), disallowed_special="all"))


@lru_cache(maxsize=8)
def _splitter(chunk_size: int, chunk_overlap: int):
    ensure_tiktoken_offline()
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    return RecursiveCharacterTextSplitter(chunk_size=chunk_size, chunk_overlap=chunk_overlap,
                                          length_function=_token_count)


def chunk_id(path: str, page: int | None, start: int, text: str) -> str:
    """Deterministic: the same file content always yields the same ids, in any run or process."""
    key = f"{path}\x00{page}\x00{start}\x00{text}".encode()
    return hashlib.sha256(key).hexdigest()[:32]


def split_document(
    document: LoadedDocument, *, source: str, path: str, file_sha256: str, config: SplitConfig,
    name: str | None = None,
) -> list[Chunk]:
    """Chunks of ``document``; ``name`` is the readable document name for the context line
    (default: made from ``source``'s file name; "" for none)."""
    splitter = _splitter(config.chunk_size, config.chunk_overlap)
    encoding = get_encoding(ENCODING)
    budget = _TokenBudget.for_document(document, config.max_file_tokens, source)
    chunks: list[Chunk] = []
    title = document_title(document)
    name = readable_name(source) if name is None else name
    for section in document.sections:
        context = chunk_context(name, title, section.section) if config.context else ""
        tables = table_spans(section.text)
        for local, piece in _pieces(splitter, section.text, source, budget):
            start = section.offset + local
            # A chunk cut from the middle of a table gets the table's header row in its context:
            # retrieval sees "Country | Daily allowance | Hotel cap" above "France | 30 | 160",
            # while the chunk's text (what is quoted) stays a span of the document.
            header = header_above(section.text, local, tables)
            chunks.append(
                Chunk(
                    id=chunk_id(path, section.page, start, piece),
                    text=piece,
                    source=source,
                    path=path,
                    file_sha256=file_sha256,
                    page=section.page,
                    section=" > ".join(section.section),
                    start=start,
                    end=start + len(piece),
                    index=len(chunks),
                    n_tokens=len(encoding.encode(piece, disallowed_special=())),
                    context=f"{context}\n{header}".strip() if header else context,
                    title=title,
                    ocr=section.ocr,
                )
            )
    return chunks


class _TokenBudget:
    """Counts a long document's tokens a block at a time, before its block is split, and stops
    the file once it passes ``max_file_tokens``: a 50 MB one-line dump made 158k chunks, hours
    of embedding, before anyone was told. A cl100k token is at least one UTF-8 byte, so a
    document of no more bytes than the limit cannot pass it and is never counted (nearly every
    file: the limit's 5 MB of text)."""

    def __init__(self, limit: int, source: str) -> None:
        self.limit, self.source, self.used, self.chars = limit, source, 0, 0

    @classmethod
    def for_document(cls, document: LoadedDocument, limit: int, source: str) -> _TokenBudget | None:
        chars = sum(len(section.text) for section in document.sections)
        if limit <= 0 or chars * 4 <= limit:  # a character is at most 4 UTF-8 bytes: no copy needed
            return None
        if sum(len(section.text.encode()) for section in document.sections) <= limit:
            return None
        return cls(limit, source)

    def take(self, block: str) -> None:
        self.used += len(get_encoding(ENCODING).encode(block, disallowed_special=()))
        self.chars += len(block)
        if self.used > self.limit:
            raise LoadError("too-large", (
                f"too large: more than {self.limit:,} tokens (max_file_tokens) in its first {self.chars:,} "
                f"characters; split the file, or raise max_file_tokens (0 for no limit) to embed it all"))


def _pieces(splitter, text: str, source: str, budget: _TokenBudget | None = None):
    """(start in ``text``, piece) for each piece the splitter cuts ``text`` into, in order."""
    for base, block in _blocks(text, SPLIT_BLOCK_CHARS):
        if budget is not None:
            budget.take(block)
        cursor = 0
        for piece in splitter.split_text(block):
            local = block.find(piece, cursor)
            if local < 0:  # pragma: no cover - the splitter only returns substrings
                raise AssertionError(f"splitter returned text not found in its section of {source}")
            cursor = local + 1
            yield base + local, piece


def _blocks(text: str, size: int):
    """(offset, block) covering ``text`` in order; each block ends at the last paragraph, line or
    word boundary in its second half, or is cut at ``size`` characters when it has none."""
    start = 0
    while len(text) - start > size:
        end = start + size
        for boundary in _BLOCK_BOUNDARIES:
            found = text.rfind(boundary, start + size // 2, end)
            if found >= 0:
                end = found + len(boundary)
                break
        yield start, text[start:end]
        start = end
    yield start, text[start:]
