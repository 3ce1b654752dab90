"""OCR accuracy and speed: character error rate of the ingest OCR on clean text pages.

Pages of the shared text PDFs (pdf-py-pdf-samples and the MMLongBench-Doc dev documents) are
rendered to images, recognised with the same code the PDF loader uses (ingest.loaders.ocr),
and compared with their own text layer, which is the ground truth here.

Both sides are normalised the same way before comparing: Unicode NFKC (ligatures become
letters), typographic quotes and dashes folded to ASCII, words hyphenated across a line break
joined, runs of whitespace collapsed to one space. CER = Levenshtein distance / reference
length. CER is sensitive to reading order (a two-column page read line by line scores badly
even when every word is right), so word recall (share of reference words that OCR found,
order-free) is reported too, to tell recognition errors from ordering errors.

Run with:  .venv/bin/python bench/ocr_cer.py [--dpi 150] [--pages 40] [--per-file 2]
Writes bench/results/ocr.json (or ocr-<dpi>dpi.json for a dpi other than 150).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import time
import unicodedata
from collections import Counter
from pathlib import Path

import numpy as np

from common import SHARED, write_result

SOURCES = [
    SHARED / "documents" / "pdf-py-pdf-samples",
    SHARED / "pdf-qa" / "mmlongbench-doc-dev" / "docs",
]
#: A page is "clean text" when its text layer has at least this many characters ...
MIN_CHARS = 400
#: ... nearly all of them Latin letters, digits, punctuation or space (no leaked glyph codes,
#: no scripts the recognition model was not trained for).
MIN_LATIN_SHARE = 0.97

_FOLD = str.maketrans({"“": '"', "”": '"', "„": '"', "‘": "'", "’": "'", "–": "-", "—": "-", "−": "-",
                       "•": "", "·": ""})


def normalise(text: str) -> str:
    """The comparison form of a page text (see the module docstring)."""
    text = unicodedata.normalize("NFKC", text).translate(_FOLD)
    text = re.sub(r"(\w)-\s*\n\s*(\w)", r"\1\2", text)
    return " ".join(text.split())


def levenshtein(a: str, b: str) -> int:
    """Edit distance, one numpy row at a time: O(len(a)·len(b)) work, O(len(b)) memory.

    Within a row the insertion step depends on the cell to its left; that chain is resolved
    at once as a running minimum of (candidate - column) + column.
    """
    if not a or not b:
        return len(a) or len(b)
    codes_b = np.frombuffer(b.encode("utf-32-le"), dtype=np.uint32)
    columns = np.arange(len(b) + 1, dtype=np.int64)
    row = columns.copy()
    for i, char in enumerate(a, start=1):
        cost = (codes_b != ord(char)).astype(np.int64)
        candidate = np.empty_like(row)
        candidate[0] = i
        candidate[1:] = np.minimum(row[1:] + 1, row[:-1] + cost)
        row = np.minimum.accumulate(candidate - columns) + columns
    return int(row[-1])


def _slow_levenshtein(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, x in enumerate(a, start=1):
        current = [i]
        for j, y in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y)))
        previous = current
    return previous[-1]


def word_recall(reference: str, hypothesis: str) -> float:
    """Share of reference words (with multiplicity) that occur in the hypothesis."""
    ref, hyp = Counter(reference.lower().split()), Counter(hypothesis.lower().split())
    total = sum(ref.values())
    return sum(min(count, hyp[word]) for word, count in ref.items()) / total if total else 1.0


def is_clean(text: str) -> bool:
    if len(text) < MIN_CHARS:
        return False
    latin = sum(1 for ch in text if ch.isascii() or unicodedata.category(ch)[0] in "LPZN" and ord(ch) < 0x250)
    return latin / len(text) >= MIN_LATIN_SHARE


def sample_pages(per_file: int, limit: int) -> list[tuple[Path, int, str]]:
    """Up to ``per_file`` clean pages from each PDF, spread over the file, at most ``limit``.

    Files are taken round-robin from both sources so that neither dominates a small sample.
    """
    import pypdfium2 as pdfium

    from ingest.loaders.pdf import _clean

    per_source: list[list[tuple[Path, int, str]]] = []
    for source in SOURCES:
        picked: list[tuple[Path, int, str]] = []
        for path in sorted(source.rglob("*.pdf")):
            try:
                document = pdfium.PdfDocument(str(path))
            except pdfium.PdfiumError:
                continue
            try:
                texts = [_clean(document[i].get_textpage().get_text_bounded()) for i in range(len(document))]
            finally:
                document.close()
            clean = [i for i, text in enumerate(texts) if is_clean(text)]
            if not clean:
                continue
            step = max(1, len(clean) // per_file)
            for i in clean[::step][:per_file]:
                picked.append((path, i, texts[i]))
        per_source.append(picked)
    merged = [item for group in zip(*per_source) for item in group]
    longest = max(per_source, key=len)
    merged += longest[min(map(len, per_source)):]
    return merged[:limit]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dpi", type=int, default=150)
    parser.add_argument("--pages", type=int, default=40, help="at most this many pages")
    parser.add_argument("--per-file", type=int, default=2, help="at most this many pages per PDF")
    args = parser.parse_args()

    assert levenshtein("kitten", "sitting") == 3 == _slow_levenshtein("kitten", "sitting")
    assert levenshtein("flaw ", "lawn") == _slow_levenshtein("flaw ", "lawn")

    import pypdfium2 as pdfium

    from ingest.loaders import ocr

    pages = sample_pages(args.per_file, args.pages)
    ocr.recognise(np.full((64, 64, 3), 255, dtype=np.uint8))  # engine start-up is not page time
    rows, seconds, cpu_seconds = [], 0.0, 0.0
    for path, index, layer in pages:
        started, cpu_started = time.perf_counter(), time.process_time()
        document = pdfium.PdfDocument(str(path))
        try:
            image = ocr.render(document[index], args.dpi)
        finally:
            document.close()
        text = ocr.text_from_boxes(ocr.recognise(image))
        elapsed = time.perf_counter() - started
        seconds += elapsed
        cpu_seconds += time.process_time() - cpu_started
        reference, hypothesis = normalise(layer), normalise(text)
        cer = levenshtein(reference, hypothesis) / len(reference)
        recall = word_recall(reference, hypothesis)
        name = f"{path.parent.name}/{path.name}"
        rows.append({"file": name, "page": index + 1, "chars": len(reference), "cer": round(cer, 4),
                     "word_recall": round(recall, 4), "seconds": round(elapsed, 2)})
        print(f"{cer:7.2%}  recall {recall:6.1%}  {elapsed:5.1f}s  {name} p{index + 1}", flush=True)

    cers = [row["cer"] for row in rows]
    summary = {
        "dpi": args.dpi,
        "pages": len(rows),
        "median_cer": round(statistics.median(cers), 4),
        "mean_cer": round(statistics.fmean(cers), 4),
        "pages_under_3pct": sum(c <= 0.03 for c in cers),
        "median_word_recall": round(statistics.median(r["word_recall"] for r in rows), 4),
        "pages_per_second": round(len(rows) / seconds, 3),
        # CPU time is what a page costs on a core of its own (one OCR thread); wall time
        # also counts waiting for the CPU when other processes share the machine.
        "pages_per_cpu_second": round(len(rows) / cpu_seconds, 3),
        "load_average_1min": round(os.getloadavg()[0], 2),
        "ocr_threads": ocr.OCR_THREADS,
    }
    print("\n" + "  ".join(f"{k}={v}" for k, v in summary.items()))
    name = "ocr" if args.dpi == 150 else f"ocr-{args.dpi}dpi"
    print(write_result(name, {**summary, "per_page": rows}))


if __name__ == "__main__":
    main()
