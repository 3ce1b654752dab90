"""Token-aware splitting: exact offsets, page-exact chunks, deterministic ids, sizes in tokens."""

from __future__ import annotations

from conftest import CORPUS
from factories import make_docx, make_pdf
from ingest.loaders import load_file
from ingest.split import SplitConfig, split_document
from ragkit.tiktoken_offline import get_encoding

LONG = " ".join(f"Sentence number {i} talks about topic {i % 7} in some detail." for i in range(120))


def _split(path, config=SplitConfig(64, 16)):
    doc = load_file(path)
    return doc, split_document(doc, source=path.name, path=str(path), file_sha256="x" * 64, config=config)


def test_pdf_chunks_are_exact_spans_of_their_page(tmp_path):
    path = make_pdf(tmp_path / "long.pdf", [LONG, "Short second page about zebras."])
    doc, chunks = _split(path)
    assert len(chunks) > 3
    for chunk in chunks:
        assert chunk.text == doc.texts[chunk.page][chunk.start : chunk.end]
    assert {c.page for c in chunks} == set(range(1, doc.pages + 1))
    assert doc.pages >= 2
    assert "zebras" in [c for c in chunks if c.page == doc.pages][-1].text
    assert [c.index for c in chunks] == list(range(len(chunks)))


def test_chunk_sizes_are_measured_in_tokens(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text(LONG)
    _, chunks = _split(path, SplitConfig(50, 10))
    encoding = get_encoding("cl100k_base")
    for chunk in chunks:
        assert chunk.n_tokens == len(encoding.encode(chunk.text))
        assert chunk.n_tokens <= 50
    assert max(c.n_tokens for c in chunks) > 35  # chunks are filled, not tiny


def test_overlap_repeats_text_between_neighbours(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text(LONG)
    _, chunks = _split(path, SplitConfig(50, 20))
    overlapping = sum(1 for a, b in zip(chunks, chunks[1:]) if b.start < a.end)
    assert overlapping >= len(chunks) - 2


def test_docx_chunks_carry_section_and_document_offsets(tmp_path):
    path = make_docx(tmp_path / "d.docx", [("h1", "Top"), ("p", "First."), ("h2", "Inner"), ("p", LONG)])
    doc, chunks = _split(path)
    text = doc.texts[None]
    for chunk in chunks:
        assert chunk.page is None
        assert chunk.text == text[chunk.start : chunk.end]
    assert chunks[0].section == "Top"
    assert all(c.section == "Top > Inner" for c in chunks[1:])


def test_ids_are_deterministic_and_unique(tmp_path):
    path = tmp_path / "t.md"
    path.write_text("# A\n" + LONG + "\n# B\n" + LONG)
    _, first = _split(path)
    _, second = _split(path)
    assert [c.id for c in first] == [c.id for c in second]
    assert len({c.id for c in first}) == len(first)


def test_a_table_cut_across_chunks_repeats_its_header_in_the_later_chunks_context(tmp_path):
    """Rows stay whole (the splitter cuts between lines), every chunk that starts inside the table
    is retrieved with the header row above its rows, and the quoted text stays a span."""
    rows = [f"Country {i} | {20 + i} EUR | {100 + i} EUR" for i in range(60)]
    path = tmp_path / "allowances.md"
    path.write_text("# Travel\n\nDaily allowances by country.\n\nCountry | Daily allowance | Hotel cap per night\n"
                    + "\n".join(rows) + "\n\nClaims are due within 30 days.\n")
    doc, chunks = _split(path)
    text = doc.texts[None]
    table_chunks = [c for c in chunks if "Country 3" in c.text or "Country 5" in c.text]
    assert len(chunks) > 3 and table_chunks
    for chunk in chunks:
        assert chunk.text == text[chunk.start : chunk.end]
        for line in chunk.text.splitlines():
            assert line.count("|") in (0, 2)  # no row is cut in two
    inside = [c for c in chunks if c.text.startswith("Country ") and "Daily allowance" not in c.text]
    assert inside, "the table should span several chunks"
    for chunk in inside:
        assert chunk.context.endswith("Country | Daily allowance | Hotel cap per night")
        assert chunk.embed_text.index("Hotel cap per night") < chunk.embed_text.index(chunk.text)
    first = next(c for c in chunks if "Daily allowance |" in c.text)
    assert "Hotel cap" not in first.context  # the header is in its own text already
    assert not any("Hotel cap" in c.context for c in chunks if "Claims are due" in c.text and "|" not in c.text)


def test_remembered_token_counts_give_exactly_langchains_tiktoken_chunks():
    """The splitter measures with a remembered cl100k count; its chunks must equal those of
    langchain's own ``from_tiktoken_encoder`` splitter on the same text."""
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    from ingest.split import _splitter

    reference = RecursiveCharacterTextSplitter.from_tiktoken_encoder(encoding_name="cl100k_base",
                                                                     chunk_size=60, chunk_overlap=12)
    words = "anemometer calibration brass cup tower wind reading the of and a quarterly".split()
    texts = [" ".join(words[(i * 7 + j) % len(words)] for j in range(n)) for i, n in enumerate((5, 80, 200, 450))]
    texts.append("Line one.\n\nLine two is longer " * 30 + "\nlast line")
    for path in sorted((CORPUS).glob("*.md")):
        texts.append(path.read_text(errors="replace"))
    for text in texts:
        assert _splitter(60, 12).split_text(text) == reference.split_text(text)


def test_a_huge_section_is_split_a_block_at_a_time_with_exact_offsets():
    """The splitter holds every word of its input at once (22 bytes per character of text: a
    50 MB one-line text took 1.3 GB to split); long sections go through it a block at a time."""
    import random
    import tracemalloc

    from ingest.loaders.base import LoadedDocument, Section
    from ingest.split import SPLIT_BLOCK_CHARS

    rng = random.Random(3)
    words = ["".join(rng.choice("abcdefghij") for _ in range(rng.randint(2, 8))) for _ in range(3000)]
    text = " ".join(rng.choice(words) for _ in range(200_000))  # one line, no paragraph to cut at
    assert len(text) > 4 * SPLIT_BLOCK_CHARS
    document = LoadedDocument(sections=[Section(text)], texts={None: text})
    split_document(LoadedDocument(sections=[Section("warm")], texts={None: "warm"}), source="w.txt", path="/w",
                   file_sha256="x", config=SplitConfig())
    tracemalloc.start()
    try:
        chunks = split_document(document, source="dump.txt", path="/dump.txt", file_sha256="x", config=SplitConfig())
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 15 * len(text), peak / len(text)
    assert all(text[c.start:c.end] == c.text for c in chunks)
    covered = sorted((c.start, c.end) for c in chunks)
    assert covered[0][0] == 0 and covered[-1][1] == len(text)
    assert all(later[0] <= earlier[1] + 1 for earlier, later in zip(covered, covered[1:]))  # no text left out


def test_a_file_over_max_file_tokens_stops_at_the_block_that_passes_it():
    """The limit is met before the rest is split or embedded: a dump of millions of tokens fails
    in seconds with a reason that names the setting, instead of taking hours."""
    import pytest

    from ingest.loaders.base import LoadedDocument, LoadError, Section
    from ingest.split import SPLIT_BLOCK_CHARS

    text = " ".join(f"w{i}" for i in range(400_000))  # one line, ~1M tokens, 11 blocks
    document = LoadedDocument(sections=[Section(text)], texts={None: text})
    tokens = len(get_encoding("cl100k_base").encode(text))
    with pytest.raises(LoadError) as info:
        split_document(document, source="dump.txt", path="/dump.txt", file_sha256="x",
                       config=SplitConfig(max_file_tokens=tokens // 4))
    assert info.value.kind == "too-large"
    assert "max_file_tokens" in info.value.reason and f"{tokens // 4:,}" in info.value.reason
    stopped_after = int(info.value.reason.split("first ")[1].split(" characters")[0].replace(",", ""))
    assert stopped_after <= len(text) // 4 + 2 * SPLIT_BLOCK_CHARS  # stopped early, not after splitting it all
    # under the limit (blocks count a few tokens more than the whole text), and with no limit, all of it is split
    assert split_document(document, source="dump.txt", path="/dump.txt", file_sha256="x",
                          config=SplitConfig(max_file_tokens=tokens * 101 // 100))[-1].end == len(text)
    assert split_document(document, source="dump.txt", path="/dump.txt", file_sha256="x",
                          config=SplitConfig(max_file_tokens=0))[-1].end == len(text)
