"""PDF: text per page, 1-based page numbers. PDFium first, pypdf where PDFium falls short.

PDFium (pypdfium2, the engine inside Chrome) extracts text about 16× faster than pypdf on the
shared sample PDFs (0.19 s vs 3.0 s for 24 files), and on a PDF folder parsing is otherwise the
second cost after embedding. pypdf stays as the fallback, per page or per file:

- a page whose PDFium text is more than 1% leaked glyph codes (control characters, U+FFFD: a
  font without a usable Unicode map, e.g. the Arabic sample) is re-read with pypdf, which reads
  more CMap variants; a few leaked codes (math symbols in a LaTeX paper) are just dropped;
- a file PDFium cannot open as a PDF (a broken cross-reference table pypdf can rebuild), or in
  which it finds no text at all, is read with pypdf as a whole.

Encrypted files open when the empty password (or the configured one) works; otherwise they fail
with kind ``encrypted``. Any parser exception fails this file alone, with the reason.

Pages without a text layer (scans, slides saved as images) are rendered with PDFium and read by
offline OCR (:mod:`ingest.loaders.ocr`), within a per-file budget of pages and seconds so one
500-page scan cannot stall a batch; pages beyond it are named in a warning. Lines repeated at
the top or bottom of most pages (running headers, footers, page numbers) are removed
(:mod:`ingest.loaders.furniture`); the page texts returned are the texts without them, so chunk
offsets and citations refer to what is actually indexed.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from ingest.loaders.base import LoadedDocument, LoadError, LoadOptions, Section
from ingest.loaders.furniture import remove_furniture
from ingest.loaders.pdf_cells import candidate_lines, line_cells, mark_cell_rows
from ingest.loaders.pdf_tables import separate_tables
from ragkit.pdfium import PDFIUM_LOCK as _PDFIUM_LOCK

#: C0 controls other than tab/newline/CR and PDFium's hyphenation mark (\x02), plus U+FFFD.
_LEAKED_GLYPHS = re.compile("[\x00\x01\x03-\x08\x0b\x0c\x0e-\x1f\ufffd]")
#: PDFium joins a word hyphenated across a line break and leaves \x02 (or U+FFFE) where the
#: hyphen was: dropping the mark gives the whole word back, which is what search wants. But
#: PDFium joins after any line-final hyphen (see :func:`resolve_hyphenation`).
_HYPHENATION_MARK = re.compile("[\x02\ufffe]")
_JOINED = re.compile("(\\w*)[\x02\ufffe](\\w*)")
_COMPOUND = re.compile(r"\b(\w+-\w+)\b")
#: Above this share of leaked glyph codes a page's PDFium text is not trusted.
_LEAK_TOLERANCE = 0.01


def load_pdf(path: Path, options: LoadOptions) -> LoadedDocument:
    extracted = _pdfium_pages(path, options)
    pages, title = extracted if extracted is not None else (None, None)
    if pages is None or not any(text.strip() for text in pages):
        try:
            fallback, fallback_title = _pypdf_pages(path, options)
        except LoadError as exc:
            if pages is None or exc.kind != "corrupt":
                raise
            fallback, fallback_title = [], None  # PDFium read the file: its pages go on to OCR
        if pages is None or any(text.strip() for text in fallback):
            pages = fallback
        title = title or fallback_title
    empty = [index for index, text in enumerate(pages) if not text.strip()]
    run = OcrRun()
    if empty and options.ocr:
        run = _ocr_pages(path, options, pages, empty) if extracted is not None else OcrRun(impossible=True)
    return _document(pages, run, options, document_title(title, path.stem))


@dataclass
class OcrRun:
    """What OCR did for one file: 0-based page indices by outcome, and why it stopped."""

    read: list[int] = field(default_factory=list)
    unread: list[int] = field(default_factory=list)
    seconds: float = 0.0
    limit: str = ""
    unavailable: str = ""
    impossible: bool = False


def _document(pages: list[str], run: OcrRun, options: LoadOptions, title: str | None) -> LoadedDocument:
    removed = 0
    if not options.keep_furniture:
        pages, removed = remove_furniture(pages)
    pages = [separate_tables(page) for page in pages]
    recognised = set(run.read)
    sections: list[Section] = []
    texts: dict[int | None, str] = {}
    empty: list[int] = []
    for number, text in enumerate(pages, start=1):
        if not text.strip():
            empty.append(number)
            continue
        texts[number] = text
        sections.append(Section(text=text, page=number, offset=0, ocr=number - 1 in recognised))
    total = len(pages)
    ocr_pages = sum(1 for section in sections if section.ocr)
    unread = {index + 1 for index in run.unread}
    looked_at = [number for number in empty if number not in unread]
    if not sections:
        reasons = ([_no_text_reason(run, options)] if looked_at else []) + ([_ocr_stopped(run)] if unread else [])
        raise LoadError("no-text", "; ".join([f"no extractable text on any of {total} page(s)", *reasons]))
    warnings = []
    if looked_at:
        shown = ", ".join(map(str, looked_at[:10])) + (" ..." if len(looked_at) > 10 else "")
        warnings.append(f"{len(looked_at)} of {total} page(s) have no extractable text (pages {shown}); "
                        f"{_no_text_reason(run, options)}")
    if run.unread:
        warnings.append(_ocr_stopped(run))
    return LoadedDocument(sections=sections, pages=total, warnings=warnings, texts=texts, title=title,
                          stats={"ocr_pages": ocr_pages, "furniture_lines": removed})


def _no_text_reason(run: OcrRun, options: LoadOptions) -> str:
    """Why pages stayed without text, for the warning or the failure."""
    if not options.ocr:  # turned off, not missing: say how to turn it on
        return "OCR is off (--no-ocr or ocr = false); turn it on to read scanned pages"
    if run.impossible:
        return "OCR not possible (PDFium cannot open this file)"
    if run.unavailable:
        return f"OCR unavailable ({run.unavailable})"
    return "OCR found no text"


def _ocr_stopped(run: OcrRun) -> str:
    return (f"OCR stopped after {len(run.read)} page(s) / {run.seconds:.0f} s ({run.limit}); "
            f"page{'s' if len(run.unread) > 1 else ''} {page_ranges(run.unread)} not read")


def page_ranges(indices: list[int]) -> str:
    """0-based page indices as 1-based ranges: [2, 3, 4, 8] -> "3-5, 9"."""
    parts: list[str] = []
    for index in sorted(indices):
        number = index + 1
        if parts and parts[-1][1] == number - 1:
            parts[-1] = (parts[-1][0], number)
        else:
            parts.append((number, number))
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in parts)


#: What Office's PDF export writes before the source file name: "Microsoft Word - report.docx".
_PRODUCER_PREFIX = re.compile(r"^microsoft\s+(?:office\s+)?(?:word|powerpoint|excel|publisher|visio)\s*-\s*", re.I)
_FILE_EXTENSION = re.compile(
    r"\.(?:docx?|dotx?|pptx?|xlsx?|pdf|rtf|odt|odp|ods|txt|tex|dvi|ps|eps|indd|qxd|pages|key|html?|md)$", re.I)
#: Placeholders authoring tools fill in when the author gave no title.
_PLACEHOLDER = re.compile(
    r"^(?:untitled|no title|title|document|doc|presentation|powerpoint presentation|slide|"
    r"microsoft word document|unknown|none|null)(?:[\s_-]*\d+)?$", re.I)


def document_title(raw: str | None, stem: str = "") -> str | None:
    """The PDF's metadata title when it names the document, else None.

    Authoring tools fill /Title with junk as often as with a title: nothing, "untitled", the
    source file's name ("Microsoft Word - Annual report 2020.docx", "paper.dvi") or the PDF's
    own file name. The Office prefix and a file extension are stripped; what then still looks
    like a file name (no space, or a path) or a placeholder is no title.
    """
    if not raw:
        return None
    title = " ".join(raw.replace("\x00", " ").split())
    title = _PRODUCER_PREFIX.sub("", title)
    named_file = _FILE_EXTENSION.search(title) is not None
    title = _FILE_EXTENSION.sub("", title).strip(" -_")
    if named_file and (" " not in title or "/" in title or "\\" in title):
        return None
    if re.search(r"^[a-z]:\\|^/|\\", title, re.I) or _PLACEHOLDER.match(title):
        return None
    if len(title) < 3 or not any(ch.isalpha() for ch in title):
        return None
    if _squash(title) == _squash(stem):
        return None
    return title


def _squash(text: str) -> str:
    return re.sub(r"[\W_]+", "", text).lower()


def _ocr_pages(path: Path, options: LoadOptions, pages: list[str], todo: list[int]) -> OcrRun:
    """OCR the pages at ``todo`` (0-based) in place, within the file's page and time budget.

    Only rendering holds the PDFium lock; recognition (seconds per page) does not. The budget is
    checked before each page, so a file overruns ``ocr_seconds`` by at most one page.
    """
    import pypdfium2 as pdfium

    from ingest.loaders import ocr

    run = OcrRun()
    started = time.monotonic()
    with _PDFIUM_LOCK:
        document = pdfium.PdfDocument(str(path), password=options.pdf_password or None)
    try:
        for position, index in enumerate(todo):
            run.seconds = time.monotonic() - started
            if len(run.read) >= options.ocr_max_pages or run.seconds >= options.ocr_seconds:
                run.limit = (f"limit {options.ocr_max_pages} page(s)" if len(run.read) >= options.ocr_max_pages
                             else f"limit {options.ocr_seconds:g} s")
                run.unread = todo[position:]
                break
            with _PDFIUM_LOCK:
                image = _render_unless_blank(pdfium, document, index, ocr.render)
            if image is None:
                continue
            try:
                pages[index] = ocr.text_from_boxes(ocr.recognise(image))
            except ImportError as exc:  # the OCR engine is not installed: extraction still works
                run.unavailable = str(exc)
                break
            run.read.append(index)
        run.seconds = time.monotonic() - started
    finally:
        with _PDFIUM_LOCK:
            document.close()
    return run


def _render_unless_blank(pdfium, document, index: int, render):
    """The page as an image, or None when it has nothing to read (no page objects at all)."""
    import pypdfium2.raw as pdfium_c

    try:
        page = document[index]
    except pdfium.PdfiumError:
        return None
    try:
        if pdfium_c.FPDFPage_CountObjects(page) == 0:
            return None
        return render(page)
    except pdfium.PdfiumError:
        return None
    finally:
        page.close()


def _pdfium_pages(path: Path, options: LoadOptions) -> tuple[list[str], str | None] | None:
    """Page texts and the metadata title via PDFium, or None when PDFium cannot open the file."""
    with _PDFIUM_LOCK:
        extracted = _pdfium_texts(path, options)
    if extracted is None:
        return None
    pages, title = extracted
    fallback = _PypdfPages(path, options)
    for index, text in enumerate(pages):
        leaked = len(_LEAKED_GLYPHS.findall(text))
        if leaked and leaked > _LEAK_TOLERANCE * len(text):
            pages[index] = fallback.page(index) or _LEAKED_GLYPHS.sub("", text)
        elif leaked:
            pages[index] = _LEAKED_GLYPHS.sub("", text)
    return pages, title


def _pdfium_texts(path: Path, options: LoadOptions) -> tuple[list[str], str | None] | None:
    import pypdfium2 as pdfium
    import pypdfium2.raw as pdfium_c

    try:
        document = pdfium.PdfDocument(str(path), password=options.pdf_password or None)
    except pdfium.PdfiumError as exc:
        if exc.err_code == pdfium_c.FPDF_ERR_PASSWORD:
            hint = "the given password is wrong" if options.pdf_password else "password required"
            raise LoadError("encrypted", f"encrypted: {hint} (use --pdf-password)") from None
        if exc.err_code == pdfium_c.FPDF_ERR_SECURITY:
            raise LoadError("encrypted", "encrypted: unsupported security handler, cannot decrypt") from None
        return None
    pages: list[str] = []
    try:
        for index in range(len(document)):
            pages.append(_pdfium_page_text(pdfium, document, index))
        compounds = hyphenated_words(pages)
        pages = [_clean(text, compounds) for text in pages]
        try:
            title = document.get_metadata_dict().get("Title")
        except (pdfium.PdfiumError, UnicodeDecodeError):
            title = None
    finally:
        document.close()
    return pages, title


def _pdfium_page_text(pdfium, document, index: int) -> str:
    unreadable = "\x00"  # counts as leaked glyphs: pypdf gets to try this page
    try:
        page = document[index]
    except pdfium.PdfiumError:
        return unreadable
    try:
        textpage = page.get_textpage()
        try:
            return mark_cell_rows(textpage.get_text_bounded(), _cell_rows(textpage))
        finally:
            textpage.close()
    except pdfium.PdfiumError:
        return unreadable
    finally:
        page.close()


def _cell_rows(textpage) -> list[list[str]]:
    """The texts of the cells of each line that PDFium's text rectangles show to be a table row
    (:mod:`ingest.loaders.pdf_cells`)."""
    rects = [textpage.get_rect(i) for i in range(textpage.count_rects())]
    rows = []
    for band in candidate_lines(rects):
        lengths = [len("".join(textpage.get_text_bounded(*rects[i]).split())) for i in band]
        cells = line_cells(band, rects, lengths)
        if cells is None:
            continue
        rows.append([textpage.get_text_bounded(min(rects[i][0] for i in cell), min(rects[i][1] for i in cell),
                                               max(rects[i][2] for i in cell), max(rects[i][3] for i in cell))
                     for cell in cells])
    return rows


def _clean(text: str, compounds: frozenset[str] = frozenset()) -> str:
    return resolve_hyphenation(text, compounds).replace("\r\n", "\n").replace("\r", "\n")


def hyphenated_words(pages: list[str]) -> frozenset[str]:
    """Lower-cased words the document itself spells with a hyphen inside a line ("fact-checking")."""
    return frozenset(word.lower() for text in pages for word in _COMPOUND.findall(text))


def resolve_hyphenation(text: str, compounds: frozenset[str] = frozenset()) -> str:
    """Undo PDFium's joins at line-final hyphens where the hyphen was not a word break.

    PDFium joins every line that ends in a hyphen to the next. Measured on the shared PDFs
    (3,026 joins), dropping the hyphen is right when a lower-case letter follows ("adip|iscing",
    1,978 of 2,160 decidable cases), wrong when the document spells the word with a hyphen
    elsewhere ("fact-checking": 182). Before a capital the hyphen is mostly part of a name
    ("LOGIC-LM", "Program-Guided": 32 vs 23 real breaks, plus ~50 names like "Jheng-Hong");
    before a digit it always was ("COVID-19", "GPT-4"), or the join glued unrelated text
    (a table cell, a page number, a footnote mark) to the line: the line break is restored.
    """
    def resolve(match: re.Match[str]) -> str:
        head, tail = match.group(1), match.group(2)
        if tail[:1].isdigit():
            return f"{head}-\n{tail}"
        if tail[:1].isupper() or f"{head}-{tail}".lower() in compounds:
            return f"{head}-{tail}"
        return head + tail

    return _JOINED.sub(resolve, text)


def _pypdf_reader(path: Path, options: LoadOptions):
    from pypdf import PdfReader
    from pypdf.errors import FileNotDecryptedError, PdfReadError

    logging.getLogger("pypdf").setLevel(logging.ERROR)  # pypdf warns loudly about harmless quirks
    try:
        reader = PdfReader(str(path), strict=False)
        if reader.is_encrypted:
            password = options.pdf_password or ""
            try:
                ok = reader.decrypt(password)
            except Exception as exc:  # noqa: BLE001 - unsupported crypto (NotImplementedError and others)
                raise LoadError("encrypted", f"encrypted: cannot decrypt ({exc})") from None
            if not ok:
                hint = "the given password is wrong" if options.pdf_password else "password required"
                raise LoadError("encrypted", f"encrypted: {hint} (use --pdf-password)")
        return reader
    except LoadError:
        raise
    except FileNotDecryptedError:
        raise LoadError("encrypted", "encrypted: password required (use --pdf-password)") from None
    except PdfReadError as exc:
        raise LoadError("corrupt", f"corrupt PDF: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - pypdf raises many types on hostile input
        raise LoadError("corrupt", f"corrupt PDF: {type(exc).__name__}: {exc}") from None


class _PypdfPages:
    """Single pages via pypdf, the file opened once and only if a page is asked for."""

    def __init__(self, path: Path, options: LoadOptions) -> None:
        self.path, self.options = path, options
        self._reader = None

    def page(self, index: int) -> str | None:
        """The page's text, or None if pypdf cannot read it cleanly either."""
        try:
            if self._reader is None:
                self._reader = _pypdf_reader(self.path, self.options)
            text = self._reader.pages[index].extract_text() or ""
        except Exception:  # noqa: BLE001 - the PDFium text, cleaned, is used instead
            return None
        text = text.replace("\x00", "")
        return None if _LEAKED_GLYPHS.search(text) else text


def _pypdf_pages(path: Path, options: LoadOptions) -> tuple[list[str], str | None]:
    reader = _pypdf_reader(path, options)
    pages: list[str] = []
    try:
        for number, page in enumerate(reader.pages, start=1):
            try:
                text = page.extract_text() or ""
            except Exception as exc:  # noqa: BLE001 - one broken page must not lose the others
                raise LoadError("corrupt", f"corrupt: page {number} cannot be read ({exc})") from None
            pages.append(text.replace("\x00", ""))
    except LoadError:
        raise
    except Exception as exc:  # noqa: BLE001 - pypdf raises many types on hostile input
        raise LoadError("corrupt", f"corrupt PDF: {type(exc).__name__}: {exc}") from None
    try:
        title = reader.metadata.title if reader.metadata else None
    except Exception:  # noqa: BLE001 - a broken info dictionary only costs the title
        title = None
    return pages, title if isinstance(title, str) else None
