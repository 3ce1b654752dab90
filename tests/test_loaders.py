"""Loaders on real files: generated PDFs/DOCX, text in several encodings, and hostile inputs."""

from __future__ import annotations

import pytest

from factories import make_docx, make_pdf
from ingest.loaders import LoadError, LoadOptions, load_file


def test_pdf_text_per_page_with_1_based_numbers(tmp_path):
    path = make_pdf(tmp_path / "a.pdf", ["Alpha page speaks of apples.", "Beta page speaks of bananas.", "Gamma cherries."])
    doc = load_file(path)
    assert doc.pages == 3
    assert [s.page for s in doc.sections] == [1, 2, 3]
    assert "bananas" in doc.sections[1].text and "apples" not in doc.sections[1].text
    assert doc.texts[2] == doc.sections[1].text


def test_pdf_word_hyphenated_across_a_line_break_is_joined(tmp_path):
    path = make_pdf(tmp_path / "h.pdf", ["Lorem ipsum dolor sit amet, consectetuer adip-\niscing elit, a well-known fact."])
    text = load_file(path).sections[0].text
    assert "consectetuer adipiscing elit" in text
    assert "well-known" in text


def test_pdf_pages_without_text_are_counted_and_reported(tmp_path):
    path = make_pdf(tmp_path / "scan.pdf", ["Real text here.", "", "More text."])
    doc = load_file(path)
    assert [s.page for s in doc.sections] == [1, 3]
    assert doc.warnings and "1 of 3 page(s) have no extractable text" in doc.warnings[0]
    assert "OCR found no text" in doc.warnings[0]  # a blank page: OCR ran and read nothing


def test_pdf_with_no_text_at_all_fails_with_reason(tmp_path):
    path = make_pdf(tmp_path / "images.pdf", ["", ""])
    with pytest.raises(LoadError) as info:
        load_file(path)
    assert info.value.kind == "no-text"
    assert "OCR found no text" in info.value.reason
    with pytest.raises(LoadError) as info:
        load_file(path, LoadOptions(ocr=False))
    assert "OCR is off" in info.value.reason


def test_encrypted_pdf_needs_password(tmp_path):
    path = make_pdf(tmp_path / "secret.pdf", ["Classified launch date: 12 May."], password="s3cret")
    with pytest.raises(LoadError) as info:
        load_file(path)
    assert info.value.kind == "encrypted"
    assert "password required" in info.value.reason
    with pytest.raises(LoadError, match="wrong"):
        load_file(path, LoadOptions(pdf_password="nope"))
    doc = load_file(path, LoadOptions(pdf_password="s3cret"))
    assert "12 May" in doc.sections[0].text


def test_encrypted_pdf_with_empty_user_password_opens(tmp_path):
    path = make_pdf(tmp_path / "owner-only.pdf", ["Readable by anyone."], password="")
    assert "Readable by anyone" in load_file(path).sections[0].text


def test_corrupt_pdf_fails_alone_with_reason(tmp_path):
    path = tmp_path / "broken.pdf"
    path.write_bytes(b"%PDF-1.7\n" + b"\x00garbage" * 100)
    with pytest.raises(LoadError) as info:
        load_file(path)
    assert info.value.kind in ("corrupt", "no-text")


def test_docx_paragraphs_tables_in_order_with_section_path(tmp_path):
    path = make_docx(tmp_path / "d.docx", [
        ("h1", "Policy"),
        ("p", "Intro paragraph."),
        ("h2", "Rates"),
        ("table", [["Country", "Rate"], ["Norway", "42 NOK"]]),
        ("p", "After the table."),
        ("h1", "Appendix"),
        ("p", "Last words."),
    ])
    doc = load_file(path)
    text = doc.texts[None]
    assert text.index("Intro paragraph") < text.index("Norway | 42 NOK") < text.index("After the table")
    by_section = {s.section: s.text for s in doc.sections}
    assert "Norway | 42 NOK" in by_section[("Policy", "Rates")]
    assert "Last words." in by_section[("Appendix",)]
    for section in doc.sections:
        assert text[section.offset : section.offset + len(section.text)] == section.text


def test_docx_that_is_not_a_zip_is_corrupt(tmp_path):
    path = tmp_path / "fake.docx"
    path.write_text("this is not a docx")
    with pytest.raises(LoadError) as info:
        load_file(path)
    assert info.value.kind == "corrupt"


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "utf-32", "cp1252", "shift_jis", "koi8-r"])
def test_text_encodings_are_detected(tmp_path, encoding):
    samples = {
        "shift_jis": "東京は日本の首都です。人口は約千四百万人です。天気はとても良いです。" * 3,
        "koi8-r": "Москва - столица России. Это крупнейший город страны и важный центр. " * 3,
    }
    text = samples.get(encoding, "Über die Brücke gehen wir zum Café. Die Straße ist schön, und wir trinken Kaffee mit Süßigkeiten. " * 3)
    path = tmp_path / f"sample-{encoding}.txt"
    path.write_bytes(text.encode(encoding))
    doc = load_file(path)
    assert doc.sections[0].text == text


def test_utf16_without_bom_is_decoded(tmp_path):
    path = tmp_path / "nobom.txt"
    path.write_bytes("Plain ASCII content in UTF-16 little endian.\n".encode("utf-16-le"))
    assert load_file(path).sections[0].text.startswith("Plain ASCII content")


def test_binary_content_is_refused_not_indexed(tmp_path):
    import random

    rng = random.Random(7)
    path = tmp_path / "blob.txt"
    path.write_bytes(bytes(rng.randrange(256) for _ in range(4096)))
    with pytest.raises(LoadError) as info:
        load_file(path)
    assert info.value.kind == "binary"


def test_markdown_headings_become_section_paths_but_not_inside_code(tmp_path):
    path = tmp_path / "n.md"
    path.write_text("# Guide\nIntro.\n## Setup\nRun it.\n```\n# not a heading\n```\n### Deep\nDetail.\n# Other\nEnd.\n")
    doc = load_file(path)
    sections = [(s.section, s.text.strip().splitlines()[0]) for s in doc.sections]
    assert sections == [
        (("Guide",), "# Guide"),
        (("Guide", "Setup"), "## Setup"),
        (("Guide", "Setup", "Deep"), "### Deep"),
        (("Other",), "# Other"),
    ]
    assert "# not a heading" in doc.sections[1].text


def test_html_visible_text_and_headings(tmp_path):
    path = tmp_path / "p.html"
    path.write_text("<html><head><title>x</title><script>var a=1;</script></head><body>"
                    "<h1>Main</h1><p>Visible text.</p><h2>Sub</h2><p>More &amp; more.</p></body></html>")
    doc = load_file(path)
    assert "var a" not in doc.texts[None]
    assert doc.sections[-1].section == ("Main", "Sub")
    assert "More & more." in doc.sections[-1].text


def test_unsupported_extension(tmp_path):
    path = tmp_path / "data.xyz"
    path.write_text("x")
    with pytest.raises(LoadError) as info:
        load_file(path)
    assert info.value.kind == "unsupported"
