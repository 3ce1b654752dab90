"""Office formats on generated files: DOCX side text and Strict OOXML, PPTX slides, and hostile packages (encrypted, legacy OLE, broken zip, empty).

Files are made with python-docx / python-pptx / openpyxl (XLSX and CSV: tests/test_loaders_tabular.py); what those cannot write (text boxes,
footnotes, tracked changes, Strict namespaces, cached formula values, OLE containers) is written
as raw zip + XML on top of a library-made package, so the rest of the package stays realistic.
"""

from __future__ import annotations

import re
import struct
import zipfile
from pathlib import Path

import pytest

from ingest.loaders import LoadError, LoadOptions, is_supported, load_file
from loader_checks import assert_chunks_exact, assert_offsets_exact, rewrite_zip

W_NS = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"


# --- helpers -------------------------------------------------------------------------------


def raw_docx(path: Path, body: str, parts: dict[str, tuple[str, str, str]] | None = None, *, title: str = "") -> Path:
    """A python-docx package whose body is ``body`` (raw WordprocessingML, w/mc/v/wp/wps/r
    prefixes declared by the template) plus extra parts ``name -> (xml, rel type, content type)``."""
    import docx

    document = docx.Document()
    document.core_properties.title = title
    document.save(str(path))
    with zipfile.ZipFile(path) as package:
        xml = package.read("word/document.xml").decode()
        rels = package.read("word/_rels/document.xml.rels").decode()
        types = package.read("[Content_Types].xml").decode()
    xml = re.sub(r"<w:body>.*?(<w:sectPr)", lambda m: "<w:body>" + body + m.group(1), xml, flags=re.DOTALL)
    replace = {"word/document.xml": xml.encode()}
    for number, (name, (part_xml, rel_type, content_type)) in enumerate((parts or {}).items()):
        rels = rels.replace("</Relationships>", f'<Relationship Id="rIdX{number}" Type="{REL}/{rel_type}" '
                                                f'Target="{name.removeprefix("word/")}"/></Relationships>')
        types = types.replace("</Types>", f'<Override PartName="/{name}" ContentType="{content_type}"/></Types>')
        replace[name] = part_xml.encode()
    replace["word/_rels/document.xml.rels"] = rels.encode()
    replace["[Content_Types].xml"] = types.encode()
    return rewrite_zip(path, replace)


def p(text: str, style: str | None = None) -> str:
    props = f'<w:pPr><w:pStyle w:val="{style}"/></w:pPr>' if style else ""
    return f"<w:p>{props}<w:r><w:t xml:space=\"preserve\">{text}</w:t></w:r></w:p>"


def notes_xml(kind: str, notes: dict[int, str]) -> str:
    """footnotes.xml/endnotes.xml with Word's two separator notes first."""
    body = "".join(f'<w:{kind} w:id="{note_id}">{p(text)}</w:{kind}>' for note_id, text in notes.items())
    separators = (f'<w:{kind} w:type="separator" w:id="-1"><w:p><w:r><w:separator/></w:r></w:p></w:{kind}>'
                  f'<w:{kind} w:type="continuationSeparator" w:id="0"><w:p><w:r><w:continuationSeparator/>'
                  f"</w:r></w:p></w:{kind}>")
    return f'<w:{kind}s xmlns:w="{W_NS}">{separators}{body}</w:{kind}s>'


def ole_file(path: Path, stream_name: str) -> Path:
    """A minimal valid OLE compound file (v3) holding one 4 KiB stream named ``stream_name``:
    how Office stores a password-protected OOXML file (stream "EncryptedPackage") and how a
    legacy binary document looks (e.g. "WordDocument")."""
    end, free, fat_sector = 0xFFFFFFFE, 0xFFFFFFFF, 0xFFFFFFFD
    header = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(16)
    header += struct.pack("<HHHHH6sIIIIIIIII", 0x3E, 3, 0xFFFE, 9, 6, bytes(6), 0, 1, 1, 0, 4096, end, 0, end, 0)
    header += struct.pack("<I", 0) + struct.pack("<I", free) * 108
    fat = [fat_sector, end] + [3, 4, 5, 6, 7, 8, 9, end]
    fat_bytes = struct.pack(f"<{len(fat)}I", *fat) + struct.pack("<I", free) * (128 - len(fat))

    def entry(name: str, kind: int, child: int, start: int, size: int) -> bytes:
        encoded = (name + "\x00").encode("utf-16-le") if name else b""
        return (encoded.ljust(64, b"\x00") + struct.pack("<HBB", len(encoded), kind, 1)
                + struct.pack("<III", free, free, child) + bytes(16) + struct.pack("<I", 0) + bytes(16)
                + struct.pack("<IQ", start, size))

    directory = (entry("Root Entry", 5, 1, end, 0) + entry(stream_name, 2, free, 2, 4096)
                 + entry("", 0, free, 0, 0) * 2)
    payload = bytes((i * 37 + 11) % 256 for i in range(4096))
    path.write_bytes(header + fat_bytes + directory + payload)
    return path


# --- DOCX ----------------------------------------------------------------------------------

TEXT_BOX = """<w:p><w:r><w:t>Anchor paragraph.</w:t></w:r><w:r><mc:AlternateContent>
<mc:Choice Requires="wps"><w:drawing><wp:anchor distT="0" distB="0" distL="0" distR="0" simplePos="0"
 relativeHeight="1" behindDoc="0" locked="0" layoutInCell="1" allowOverlap="1"><wp:simplePos x="0" y="0"/>
<wp:positionH relativeFrom="column"><wp:posOffset>0</wp:posOffset></wp:positionH>
<wp:positionV relativeFrom="paragraph"><wp:posOffset>0</wp:posOffset></wp:positionV>
<wp:extent cx="914400" cy="914400"/><wp:wrapSquare wrapText="bothSides"/><wp:docPr id="1" name="Text Box 1"/>
<a:graphic xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main">
<a:graphicData uri="http://schemas.microsoft.com/office/word/2010/wordprocessingShape"><wps:wsp><wps:cNvSpPr txBox="1"/>
<wps:spPr/><wps:txbx><w:txbxContent><w:p><w:r><w:t>Boxed fact: the pump runs at 40 bar.</w:t></w:r></w:p>
</w:txbxContent></wps:txbx><wps:bodyPr/></wps:wsp></a:graphicData></a:graphic></wp:anchor></w:drawing></mc:Choice>
<mc:Fallback><w:pict><v:shape id="Text Box 1" style="width:72pt;height:72pt"><v:textbox><w:txbxContent><w:p><w:r>
<w:t>Boxed fact: the pump runs at 40 bar.</w:t></w:r></w:p></w:txbxContent></v:textbox></v:shape></w:pict></mc:Fallback>
</mc:AlternateContent></w:r><w:r><w:t xml:space="preserve"> Anchor ends.</w:t></w:r></w:p>"""

VML_BOX = """<w:p><w:r><w:pict><v:shape id="old" style="width:72pt;height:72pt"><v:textbox><w:txbxContent>
<w:p><w:r><w:t>Legacy VML box text.</w:t></w:r></w:p></w:txbxContent></v:textbox></v:shape></w:pict></w:r></w:p>"""


def test_docx_text_box_is_read_once_from_the_choice_not_the_vml_fallback(tmp_path):
    path = raw_docx(tmp_path / "box.docx", p("Before.") + TEXT_BOX + VML_BOX + p("After."))
    doc = load_file(path)
    assert doc.texts[None] == ("Before.\nAnchor paragraph. Anchor ends.\nBoxed fact: the pump runs at 40 bar.\n"
                               "Legacy VML box text.\nAfter.")
    assert_offsets_exact(doc)


def test_docx_footnotes_and_endnotes_follow_the_body_numbered_by_reference(tmp_path):
    body = (p("Policy", "Heading1")
            + '<w:p><w:r><w:t>Rates rose</w:t></w:r><w:r><w:footnoteReference w:id="2"/></w:r>'
            '<w:r><w:t xml:space="preserve"> and fell</w:t></w:r><w:r><w:footnoteReference w:id="1"/></w:r>'
            '<w:r><w:t>.</w:t></w:r><w:r><w:endnoteReference w:id="1"/></w:r></w:p>')
    parts = {
        "word/footnotes.xml": (notes_xml("footnote", {1: "Source: 2023 report.", 2: "Per the board minutes."}),
                               "footnotes", "application/vnd.openxmlformats-officedocument.wordprocessingml.footnotes+xml"),
        "word/endnotes.xml": (notes_xml("endnote", {1: "All figures in NOK."}),
                              "endnotes", "application/vnd.openxmlformats-officedocument.wordprocessingml.endnotes+xml"),
    }
    doc = load_file(raw_docx(tmp_path / "notes.docx", body, parts))
    assert doc.texts[None] == ("Policy\nRates rose[1] and fell[2].[e1]\n"
                               "Footnotes\n[1] Per the board minutes.\n[2] Source: 2023 report.\n"
                               "Endnotes\n[e1] All figures in NOK.")
    assert [s.section for s in doc.sections] == [("Policy",), ("Footnotes",), ("Endnotes",)]
    assert doc.sections[1].text == "Footnotes\n[1] Per the board minutes.\n[2] Source: 2023 report.\n"
    assert doc.title == "Policy"
    assert_offsets_exact(doc)
    assert_chunks_exact(doc, 16)


def test_docx_comments_on_by_default_and_headers_footers_only_on_request(tmp_path):
    import docx

    document = docx.Document()
    paragraph = document.add_paragraph("The budget is final.")
    document.add_comment(paragraph.runs, text="Not until the board signs.", author="Ada Lovelace", initials="AL")
    document.add_paragraph("Second paragraph.")
    section = document.sections[0]
    section.header.paragraphs[0].text = "CONFIDENTIAL"
    section.footer.paragraphs[0].text = "Owner: finance"
    path = tmp_path / "reviewed.docx"
    document.save(str(path))

    doc = load_file(path)
    assert doc.texts[None] == ('The budget is final.\nSecond paragraph.\nComments\n'
                               'Ada Lovelace on "The budget is final.": Not until the board signs.')
    assert doc.sections[-1].section == ("Comments",)
    assert_offsets_exact(doc)

    quiet = load_file(path, LoadOptions(docx_comments=False))
    assert quiet.texts[None] == "The budget is final.\nSecond paragraph."

    full = load_file(path, LoadOptions(docx_comments=False, docx_headers_footers=True))
    assert full.texts[None] == "The budget is final.\nSecond paragraph.\nHeaders and footers\nCONFIDENTIAL\nOwner: finance"
    assert full.sections[-1].section == ("Headers and footers",)
    assert_offsets_exact(full)


def to_strict(path: Path) -> Path:
    """Rewrite a transitional package the way Word's "Strict Open XML Document" names things."""
    mapping = {
        b"http://schemas.openxmlformats.org/wordprocessingml/2006/main": b"http://purl.oclc.org/ooxml/wordprocessingml/main",
        REL.encode(): b"http://purl.oclc.org/ooxml/officeDocument/relationships",
        b"http://schemas.openxmlformats.org/drawingml/2006/main": b"http://purl.oclc.org/ooxml/drawingml/main",
        b"http://schemas.openxmlformats.org/drawingml/2006/wordprocessingDrawing":
            b"http://purl.oclc.org/ooxml/drawingml/wordprocessingDrawing",
    }
    with zipfile.ZipFile(path) as package:
        parts = {name: package.read(name) for name in package.namelist()}
    for name, data in parts.items():
        if name.endswith((".xml", ".rels")):
            for transitional, strict in mapping.items():
                data = data.replace(transitional, strict)
            parts[name] = data
    return rewrite_zip(path, parts)


def test_docx_strict_ooxml_yields_paragraphs_tables_and_headings(tmp_path):
    import docx
    from factories import make_docx

    path = make_docx(tmp_path / "strict.docx", [
        ("h1", "Strict policy"), ("p", "Body text survives."),
        ("table", [["Country", "Rate"], ["Norway", "42 NOK"]]), ("h2", "Details"), ("p", "More."),
    ])
    to_strict(path)
    assert b"purl.oclc.org/ooxml/officeDocument/relationships/officeDocument" in zipfile.ZipFile(path).read("_rels/.rels")
    with pytest.raises(KeyError, match="no relationship of type"):
        docx.Document(str(path))  # the library alone cannot read it
    doc = load_file(path)
    assert doc.texts[None] == "Strict policy\nBody text survives.\nCountry | Rate\nNorway | 42 NOK\nDetails\nMore."
    assert [s.section for s in doc.sections] == [("Strict policy",), ("Strict policy", "Details")]
    assert doc.title == "Strict policy"
    assert_offsets_exact(doc)


def test_docx_title_from_core_properties_before_first_heading(tmp_path):
    path = raw_docx(tmp_path / "t.docx", p("Overview", "Heading1") + p("Text."), title="  Pump   Manual ")
    assert load_file(path).title == "Pump Manual"
    untitled = raw_docx(tmp_path / "u.docx", p("Just text.") + p("Overview", "Heading1"))
    assert load_file(untitled).title == "Overview"
    assert load_file(raw_docx(tmp_path / "n.docx", p("No heading."))).title is None


def test_docx_tracked_changes_content_controls_merged_and_nested_cells(tmp_path):
    def cell(inner: str, props: str = "") -> str:
        return f"<w:tc><w:tcPr>{props}</w:tcPr>{inner}</w:tc>"

    restart, below, span2 = '<w:vMerge w:val="restart"/>', "<w:vMerge/>", '<w:gridSpan w:val="2"/>'
    nested = p("inner") + "<w:tbl><w:tr>" + cell(p("deep a")) + cell(p("deep b")) + "</w:tr></w:tbl>" + p("")
    table = ("<w:tbl><w:tblGrid><w:gridCol/><w:gridCol/><w:gridCol/></w:tblGrid>"
             f"<w:tr>{cell(p('Region'))}{cell(p('Site'))}{cell(p('Note'))}</w:tr>"
             f"<w:tr>{cell(p('North'), restart)}{cell(p('Oslo'))}{cell(nested)}</w:tr>"
             f"<w:tr>{cell(p(''), below)}{cell(p('Tromsø wide'), span2)}</w:tr>"
             "</w:tbl>")
    body = ('<w:p><w:r><w:t xml:space="preserve">Kept </w:t></w:r><w:del w:id="1" w:author="x"><w:r>'
            '<w:delText>deleted </w:delText></w:r></w:del><w:ins w:id="2" w:author="x"><w:r><w:t>inserted</w:t>'
            '</w:r></w:ins></w:p>'
            f"<w:sdt><w:sdtPr/><w:sdtContent>{p('Inside a content control.')}</w:sdtContent></w:sdt>" + table)
    doc = load_file(raw_docx(tmp_path / "c.docx", body))
    assert doc.texts[None] == ("Kept inserted\nInside a content control.\nRegion | Site | Note\n"
                               "North | Oslo | inner deep a deep b\nNorth | Tromsø wide")


def test_docx_with_only_empty_paragraphs_has_no_text(tmp_path):
    with pytest.raises(LoadError) as info:
        load_file(raw_docx(tmp_path / "e.docx", p("") + p("   ")))
    assert info.value.kind == "no-text"


# --- PPTX ----------------------------------------------------------------------------------


def make_pptx(path: Path, *, core_title: str = "") -> Path:
    from pptx import Presentation
    from pptx.util import Inches

    deck = Presentation()
    deck.core_properties.title = core_title
    slide = deck.slides.add_slide(deck.slide_layouts[0])
    slide.shapes.title.text = "Quarterly review"
    slide.placeholders[1].text = "Finance team\nMarch 2024"
    slide = deck.slides.add_slide(deck.slide_layouts[5])
    slide.shapes.title.text = "Numbers"
    table = slide.shapes.add_table(3, 2, Inches(1), Inches(2), Inches(4), Inches(1)).table
    for row, values in enumerate([("Region", "Revenue"), ("North", "12 MEUR"), ("South", "9 MEUR")]):
        for column, value in enumerate(values):
            table.cell(row, column).text = value
    group = slide.shapes.add_group_shape()
    group.shapes.add_textbox(Inches(1), Inches(4), Inches(2), Inches(1)).text_frame.text = "Grouped remark"
    inner = group.shapes.add_group_shape()
    inner.shapes.add_textbox(Inches(4), Inches(4), Inches(2), Inches(1)).text_frame.text = "Nested group"
    slide.notes_slide.notes_text_frame.text = "Mention the north first.\nThen the south."
    deck.slides.add_slide(deck.slide_layouts[6])  # blank: no text at all
    slide = deck.slides.add_slide(deck.slide_layouts[1])
    slide.shapes.title.text = "Next steps"
    slide.placeholders[1].text = "Hire two engineers"
    deck.save(str(path))
    return path


def test_pptx_one_page_per_slide_with_title_tables_groups_and_notes(tmp_path):
    doc = load_file(make_pptx(tmp_path / "deck.pptx"))
    assert doc.pages == 4
    assert doc.texts == {
        1: "Quarterly review\nFinance team\nMarch 2024",
        2: ("Numbers\nRegion | Revenue\nNorth | 12 MEUR\nSouth | 9 MEUR\nGrouped remark\nNested group\n"
            "Speaker notes:\nMention the north first.\nThen the south."),
        4: "Next steps\nHire two engineers",
    }
    assert [(s.page, s.section, s.offset) for s in doc.sections] == [
        (1, ("Quarterly review",), 0), (2, ("Numbers",), 0), (4, ("Next steps",), 0)]
    assert doc.warnings == ["1 of 4 slide(s) have no text (pictures or blank slides)"]
    assert doc.title == "Quarterly review"
    assert_offsets_exact(doc)
    assert {c.page for c in assert_chunks_exact(doc, 16)} == {1, 2, 4}


def test_pptx_title_prefers_core_properties(tmp_path):
    assert load_file(make_pptx(tmp_path / "t.pptx", core_title="Board deck Q1")).title == "Board deck Q1"


def test_pptx_without_text_fails_with_reason(tmp_path):
    from pptx import Presentation

    deck = Presentation()
    deck.slides.add_slide(deck.slide_layouts[6])
    deck.save(str(tmp_path / "blank.pptx"))
    Presentation().save(str(tmp_path / "none.pptx"))
    for name, reason in (("blank.pptx", "no text on any of the 1 slide(s)"), ("none.pptx", "no text on any of the 0 slide(s)")):
        with pytest.raises(LoadError) as info:
            load_file(tmp_path / name)
        assert (info.value.kind, info.value.reason) == ("no-text", reason)


# --- hostile packages and the registry -----------------------------------------------------


@pytest.mark.parametrize("suffix", [".docx", ".pptx", ".xlsx"])
def test_password_protected_office_file_is_reported_as_encrypted(tmp_path, suffix):
    with pytest.raises(LoadError) as info:
        load_file(ole_file(tmp_path / f"locked{suffix}", "EncryptedPackage"))
    assert (info.value.kind, info.value.reason) == ("encrypted", "encrypted: password-protected Office file")


@pytest.mark.parametrize("suffix", [".docx", ".pptx", ".xlsx"])
def test_legacy_binary_office_file_is_unsupported(tmp_path, suffix):
    with pytest.raises(LoadError) as info:
        load_file(ole_file(tmp_path / f"old{suffix}", "WordDocument"))
    assert info.value.kind == "unsupported"
    assert info.value.reason.startswith("unsupported: legacy binary Office file (OLE)")


@pytest.mark.parametrize("suffix", [".docx", ".pptx", ".xlsx"])
def test_corrupt_zip_fails_with_reason(tmp_path, suffix):
    import openpyxl

    source = tmp_path / "good.xlsx"
    openpyxl.Workbook().save(str(source))
    truncated = tmp_path / f"truncated{suffix}"
    truncated.write_bytes(source.read_bytes()[:300])
    not_zip = tmp_path / f"text{suffix}"
    not_zip.write_text("hello")
    for path in (truncated, not_zip):
        with pytest.raises(LoadError) as info:
            load_file(path)
        assert info.value.kind == "corrupt"
        assert info.value.reason.startswith(f"corrupt {suffix[1:].upper()}: not a zip archive")


def test_docx_with_malformed_body_xml_is_corrupt(tmp_path):
    path = raw_docx(tmp_path / "bad.docx", p("fine"))
    rewrite_zip(path, {"word/document.xml": b"<w:document xmlns:w='x'><w:body><w:p>"})
    with pytest.raises(LoadError) as info:
        load_file(path)
    assert info.value.kind == "corrupt" and "malformed XML in word/document.xml" in info.value.reason


@pytest.mark.parametrize("suffix", [".docx", ".pptx", ".xlsx"])
def test_zip_bomb_is_refused_before_anything_is_unpacked(tmp_path, suffix):
    """650 KB that expand to 200 MB of paragraphs took 3.7 GB of memory before this check."""
    import openpyxl
    from pptx import Presentation

    path = tmp_path / f"bomb{suffix}"
    if suffix == ".docx":
        raw_docx(path, p("A short note."))
    elif suffix == ".pptx":
        Presentation().save(str(path))
    else:
        openpyxl.Workbook().save(str(path))
    padding = b"<x>" + b" " * (40 << 20) + b"</x>"  # 40 MB that deflate to ~40 KB
    rewrite_zip(path, {"customXml/item1.xml": padding})
    assert path.stat().st_size < 1 << 20
    with pytest.raises(LoadError) as info:
        load_file(path)
    assert info.value.kind == "too-large"
    assert "customXml/item1.xml would expand" in info.value.reason and "zip bomb" in info.value.reason


def test_office_and_table_formats_are_registered():
    for name in ("a.pptx", "b.XLSX", "c.csv", "d.tsv", "e.docx"):
        assert is_supported(Path(name))
