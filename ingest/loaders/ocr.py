"""Offline OCR for PDF pages without a text layer (scans, slide decks saved as images).

RapidOCR (PP-OCRv4 detection and recognition as ONNX models shipped inside the wheel) reads a
rendered page image; nothing is downloaded at run time. The engine costs ~0.3 s and ~100 MB to
create, so it is built once per process, on first use, and never for files that do not need it.
It runs on one thread because parse workers share the machine with the embedder.

Two measured fixes over calling the engine as is (CER against the text layer as in
bench/ocr_cer.py, 8 single-column pages rendered at 150 dpi: median 5.2% -> 0.3%):

- a text line is upscaled to the recogniser's 48 px height with bicubic instead of bilinear
  interpolation (a 10 pt line at 150 dpi is ~27 px high; blurred, the gaps between words vanish);
- a long line is cut at its widest inter-word gaps into pieces of at most 6× its height and the
  pieces are recognised separately: the recogniser, trained on short crops, drops spaces and
  sometimes whole words on page-wide lines, and a cut in a gap is a space for certain. (10×
  reads clean pages as well; 6× also restores most spaces on low-resolution slide images, for
  ~30% more recognition time; 4× starts cutting inside words.)

Boxes are then put in reading order (:func:`reading_order`): columns separated by a gutter are
read one after the other, lines within them top to bottom, boxes on a line left to right, so the
page text reads like the text layer PDFium would have given and chunks do not mix columns.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

#: Page render resolution. On 40 text pages (bench/ocr_cer.py) 150 and 200 dpi read equally
#: well (median CER 1.2% vs 1.6%, word recall 98.3% both; each better on ~10 pages); 200 dpi
#: costs 18% more CPU on dense pages and 43% more on slides, and only pays on two-column pages
#: with LaTeX's narrow 10 pt gutter, which detection merges at 150 dpi.
OCR_DPI = 150
#: A page larger than this many pixels on its long side (a poster, a drawing) is rendered at a
#: lower resolution: detection time grows with the pixel count.
MAX_SIDE = 4000
#: Intra-op threads per ONNX session: parse workers run beside the embedder on few cores, so
#: OCR must not claim them all (onnxruntime's default is one thread per core).
OCR_THREADS = 1
#: Recognised text below this confidence is noise (specks, logos, rules).
MIN_SCORE = 0.5
#: The recogniser's input height in pixels.
REC_HEIGHT = 48
#: A line crop wider than this many times its height is cut into pieces at word gaps (the
#: recogniser was trained on 320×48 crops, and pads narrower ones to that) ...
MAX_PIECE_RATIO = 6
#: ... a gap being a run of ink-free columns at least this share of the line height wide.
MIN_GAP_SHARE = 0.15

_ENGINE: Any = None
_ENGINE_LOCK = threading.Lock()


@dataclass(frozen=True)
class Box:
    """One recognised run of text and its axis-aligned bounds in image pixels."""

    left: float
    top: float
    right: float
    bottom: float
    text: str
    score: float = 1.0

    @property
    def height(self) -> float:
        return self.bottom - self.top

    @property
    def middle(self) -> float:
        return (self.top + self.bottom) / 2


def render(page: Any, dpi: int = OCR_DPI) -> np.ndarray:
    """A pypdfium2 page as a BGR uint8 array at ``dpi`` (less for huge pages).

    Call it under the PDFium lock: PDFium is not thread-safe.
    """
    width, height = page.get_size()  # in points, 1/72 inch
    scale = min(dpi / 72, MAX_SIDE / max(width, height, 1.0))
    bitmap = page.render(scale=scale)
    try:
        return bitmap.to_numpy().copy()  # the array is a view on memory freed with the bitmap
    finally:
        bitmap.close()


def _engine() -> Any:
    """The process's RapidOCR engine, created on first use (model load is the slow part)."""
    global _ENGINE
    if _ENGINE is None:
        from rapidocr_onnxruntime import RapidOCR

        _ENGINE = RapidOCR(intra_op_num_threads=OCR_THREADS, inter_op_num_threads=1)
    return _ENGINE


def recognise(image: np.ndarray) -> list[Box]:
    """Text boxes found in ``image`` (a BGR uint8 page image), noise dropped.

    Runs detection, then recognition on line pieces (see the module docstring). Uses the
    engine's detector, classifier and recogniser directly: its one-call API offers neither
    the interpolation nor the cutting. Calls are serialised (the engine is not re-entrant).
    """
    with _ENGINE_LOCK:
        engine = _engine()
        quads, _elapsed = engine.text_det(image)
        if quads is None or len(quads) == 0:
            return []
        crops = engine.get_crop_img_list(image, list(quads))
        rects = [Box(float(q[:, 0].min()), float(q[:, 1].min()), float(q[:, 0].max()), float(q[:, 1].max()), "")
                 for q in quads]
        gutter = find_gutter(rects)
        lines: list[tuple[np.ndarray, Box]] = []
        for crop, rect in zip(crops, rects):
            lines.extend(split_at_gutter(_to_rec_height(crop), rect, gutter))
        pieces: list[np.ndarray] = []
        owners: list[int] = []
        for index, (line, _rect) in enumerate(lines):
            edges = [0, *gap_cuts(ink_free_columns(line), line.shape[0]), line.shape[1]]
            for start, end in zip(edges, edges[1:]):
                pieces.append(line[:, start:end])
                owners.append(index)
        pieces, _cls, _elapsed = engine.text_cls(pieces)
        recognised, _elapsed = engine.text_rec(pieces)
    texts: list[list[str]] = [[] for _ in lines]
    scores: list[list[float]] = [[] for _ in lines]
    for owner, (text, score) in zip(owners, recognised):
        if text.strip() and float(score) >= MIN_SCORE:
            texts[owner].append(text.strip())
            scores[owner].append(float(score))
    return [Box(rect.left, rect.top, rect.right, rect.bottom, " ".join(parts), sum(part_scores) / len(part_scores))
            for (_line, rect), parts, part_scores in zip(lines, texts, scores) if parts]


def split_at_gutter(line: np.ndarray, rect: Box, gutter: float | None) -> list[tuple[np.ndarray, Box]]:
    """A detected line that runs across the column gutter, cut in two at the gutter.

    With a narrow gutter (LaTeX's 10 pt) detection merges lines of both columns that happen
    to sit at the same height into one box; read whole, it would interleave the columns. It
    is cut when it is blank at the gutter over at least half a line height: wider than a
    word gap, so a title across both columns stays whole.
    """
    if gutter is None or not rect.left < gutter < rect.right:
        return [(line, rect)]
    scale = line.shape[1] / max(rect.right - rect.left, 1.0)
    at = int((gutter - rect.left) * scale)
    free = ink_free_columns(line)
    if not 0 < at < len(free) - 1 or not free[at]:
        return [(line, rect)]
    start, end = at, at
    while start > 0 and free[start - 1]:
        start -= 1
    while end < len(free) - 1 and free[end + 1]:
        end += 1
    if end - start + 1 < 0.5 * line.shape[0] or start == 0 or end == len(free) - 1:
        return [(line, rect)]
    cut = (start + end + 1) // 2
    x = rect.left + cut / scale
    return [(line[:, :cut], Box(rect.left, rect.top, x, rect.bottom, "")),
            (line[:, cut:], Box(x, rect.top, rect.right, rect.bottom, ""))]


def _to_rec_height(crop: np.ndarray) -> np.ndarray:
    """The crop scaled to the recogniser's height, bicubic when enlarging (sharper gaps)."""
    import cv2

    height, width = crop.shape[:2]
    if height == REC_HEIGHT or height == 0:
        return crop
    scale = REC_HEIGHT / height
    interpolation = cv2.INTER_CUBIC if scale > 1 else cv2.INTER_AREA
    return cv2.resize(crop, (max(1, round(width * scale)), REC_HEIGHT), interpolation=interpolation)


def ink_free_columns(line: np.ndarray) -> np.ndarray:
    """For each pixel column of a line image: True when it holds no ink.

    Ink is the minority side of an Otsu threshold, so light text on a dark band works too.
    """
    import cv2

    gray = cv2.cvtColor(line, cv2.COLOR_BGR2GRAY) if line.ndim == 3 else line
    _threshold, binary = cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    ink = binary == 0
    if ink.mean() > 0.5:
        ink = ~ink
    return ~ink.any(axis=0)


def gap_cuts(free: Sequence[bool], height: int, max_ratio: float = MAX_PIECE_RATIO,
             min_gap: float = MIN_GAP_SHARE) -> list[int]:
    """Columns at which to cut a line so no piece is wider than ``max_ratio`` × ``height``.

    Cuts go in the middle of ink-free runs at least ``min_gap`` × ``height`` and twice the
    line's typical gap wide (word gaps, not letter gaps, even in letter-spaced headings). Within
    the allowed span the widest gap wins, so a cut falls between words, or between sentences,
    rather than inside a word. A line with no usable gap stays whole.
    """
    width = len(free)
    max_width = max_ratio * height
    if width <= max_width:
        return []
    gaps: list[tuple[int, int]] = []
    column = 0
    while column < width:
        if not free[column]:
            column += 1
            continue
        start = column
        while column < width and free[column]:
            column += 1
        if start > 0 and column < width:
            gaps.append((start, column))
    # Word gaps are wider than letter gaps: at least ``min_gap`` of the height, and at least
    # twice the typical gap of this line (letter-spaced headings have wide letter gaps).
    if gaps:
        typical = float(np.median([b - a for a, b in gaps]))
        gaps = [(a, b) for a, b in gaps if b - a >= max(min_gap * height, 2 * typical)]
    cuts: list[int] = []
    origin = 0
    while width - origin > max_width:
        middles = [((a + b) // 2, b - a) for a, b in gaps]
        allowed = [m for m in middles if origin + 0.3 * max_width < m[0] <= origin + max_width]
        if not allowed:
            allowed = [m for m in middles if m[0] > origin + max_width][:1]
            if not allowed:
                break
        cut = max(allowed, key=lambda m: (m[1], m[0]))[0]
        cuts.append(cut)
        origin = cut
    return cuts


def group_lines(boxes: Sequence[Box], overlap: float = 0.5) -> list[list[Box]]:
    """Boxes grouped into lines, top to bottom, each line left to right.

    A box joins the line it overlaps most vertically (at least ``overlap`` of the smaller
    height), so words detected as separate boxes, slightly skewed or of mixed sizes, still
    read as one line.
    """
    lines: list[list[Box]] = []
    spans: list[tuple[float, float]] = []
    for box in sorted(boxes, key=lambda b: b.middle):
        best, best_share = -1, 0.0
        for index, (top, bottom) in enumerate(spans):
            smaller = min(bottom - top, box.height) or 1.0
            share = (min(bottom, box.bottom) - max(top, box.top)) / smaller
            if share >= overlap and share > best_share:
                best, best_share = index, share
        if best < 0:
            lines.append([box])
            spans.append((box.top, box.bottom))
        else:
            lines[best].append(box)
            spans[best] = (min(spans[best][0], box.top), max(spans[best][1], box.bottom))
    order = sorted(range(len(lines)), key=lambda i: (spans[i][0] + spans[i][1]) / 2)
    return [sorted(lines[i], key=lambda b: b.left) for i in order]


def find_gutter(boxes: Sequence[Box], min_side: float = 0.25, max_crossing: float = 0.15) -> float | None:
    """The x of a column gutter through ``boxes``, or None for a single column.

    A gutter is a run of x at least half a line height wide (LaTeX's 10 pt column gap is ~0.7
    line heights) that at most ``max_crossing`` of the boxes cross (a title, a wide caption,
    lines detection merged across a narrow gutter), with at least ``min_side`` of the text
    width and of the boxes on either side. Boxes are narrowed by a quarter line height first:
    detection pads them, which closes narrow gutters. The run crossed by the fewest boxes
    wins, then the widest.
    """
    if len(boxes) < 6:
        return None
    line_height = float(np.median([b.height for b in boxes]))
    pad = 0.25 * line_height
    origin = min(b.left for b in boxes)
    width = int(max(b.right for b in boxes) - origin) + 1
    coverage = np.zeros(width, dtype=np.int32)
    for box in boxes:
        coverage[int(box.left - origin + pad):max(int(box.right - origin - pad), 0)] += 1
    lo, hi = int(min_side * width), int((1 - min_side) * width)
    open_x = coverage[lo:hi] <= max_crossing * len(boxes)
    best: tuple[int, int, float] | None = None  # (crossing, -run width, middle)
    x = 0
    while x < len(open_x):
        if not open_x[x]:
            x += 1
            continue
        start = x
        while x < len(open_x) and open_x[x]:
            x += 1
        low_start, low_end = _lowest_stretch(coverage[lo + start:lo + x], slack=max(2, len(boxes) // 30))
        if low_end - low_start < 0.5 * line_height:
            continue
        middle = origin + lo + start + (low_start + low_end) / 2
        on_left = sum(b.right - pad <= middle for b in boxes)
        on_right = sum(b.left + pad >= middle for b in boxes)
        if min(on_left, on_right) < min_side * len(boxes):
            continue
        candidate = (len(boxes) - on_left - on_right, low_start - low_end, middle)
        if best is None or candidate < best:
            best = candidate
    return None if best is None else best[2]


def _lowest_stretch(values: np.ndarray, slack: int = 0) -> tuple[int, int]:
    """Start and end (exclusive) of the longest run of ``values`` within ``slack`` of their minimum.

    The slack lets a gutter through a page header stay whole where one ragged line end dips in.
    """
    at_min = np.concatenate(([False], values <= values.min() + slack, [False]))
    changes = np.flatnonzero(at_min[1:] != at_min[:-1])
    starts, ends = changes[::2], changes[1::2]
    longest = int(np.argmax(ends - starts))
    return int(starts[longest]), int(ends[longest])


def reading_order(boxes: Sequence[Box], depth: int = 2) -> list[list[Box]]:
    """Lines of boxes in reading order, columns one after the other.

    Boxes crossing the gutter (a title, a full-width figure) cut the page into bands; within
    each band the left column is read before the right one. Columns are split again up to
    ``depth`` times (three-column layouts).
    """
    gutter = find_gutter(boxes) if depth > 0 else None
    if gutter is None:
        return group_lines(boxes)
    column = min(gutter - min(b.left for b in boxes), max(b.right for b in boxes) - gutter)
    spanning = sorted((b for b in boxes if _spans(b, gutter, column)), key=lambda b: b.top)
    rest = [b for b in boxes if not _spans(b, gutter, column)]
    lines: list[list[Box]] = []
    band_top = float("-inf")
    for cut in [*spanning, None]:
        band_bottom = cut.middle if cut is not None else float("inf")
        band = [b for b in rest if band_top <= b.middle < band_bottom]
        centres = [(b.left + b.right) / 2 for b in band]
        for side in ([b for b, c in zip(band, centres) if c < gutter], [b for b, c in zip(band, centres) if c >= gutter]):
            if side:
                lines.extend(reading_order(side, depth - 1))
        if cut is not None:
            lines.append([cut])
        band_top = band_bottom
    return lines


def _spans(box: Box, gutter: float, column: float) -> bool:
    """Whether ``box`` belongs to both columns (a title, a wide caption), not to one of them.

    A short box straddling the gutter (a label inside a figure) goes with the column holding
    its centre rather than cutting the page into bands.
    """
    return box.left < gutter < box.right and box.right - box.left >= 0.5 * column


def text_from_boxes(boxes: Sequence[Box]) -> str:
    """Page text from recognised boxes: one line per text line, boxes joined by a space."""
    return "\n".join(" ".join(box.text for box in line) for line in reading_order(boxes))

