"""The process-wide PDFium lock (ragkit/pdfium.py): the ingest loader and the server's page
renderer must wait on the same lock, or a page rendered during an ingest could run inside PDFium
at the same time as a loader (PDFium is not thread-safe)."""

from __future__ import annotations

import threading
from pathlib import Path

from factories import make_pdf
from ingest.loaders import LoadOptions, load_file
from ragkit.pdfium import PDFIUM_LOCK
from ragkit.pages import rendered_page

WAIT = 0.5  # seconds a blocked call is given to (wrongly) finish while the lock is held


def _runs_only_after_release(call) -> bool:
    """Start ``call`` in a thread while this thread holds the lock: it must not finish until
    the lock is released, and must finish after."""
    done = threading.Event()
    errors: list[BaseException] = []

    def target() -> None:
        try:
            call()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            done.set()

    with PDFIUM_LOCK:
        worker = threading.Thread(target=target, daemon=True)
        worker.start()
        finished_while_held = done.wait(WAIT)
    worker.join(timeout=30)
    assert not errors, errors
    return not finished_while_held and done.is_set()


def test_the_pdf_loader_waits_for_the_lock(tmp_path: Path):
    pdf = make_pdf(tmp_path / "a.pdf", ["The Aurora pump is serviced every 90 days."])
    assert _runs_only_after_release(lambda: load_file(pdf, LoadOptions(ocr=False)))


def test_the_page_renderer_waits_for_the_same_lock(tmp_path: Path):
    pdf = make_pdf(tmp_path / "a.pdf", ["The Aurora pump is serviced every 90 days."])
    assert _runs_only_after_release(lambda: rendered_page(pdf, "sha", 1, tmp_path / "cache"))
    assert (tmp_path / "cache" / "sha").is_dir()


def test_the_lock_is_free_when_no_one_holds_it():
    assert PDFIUM_LOCK.acquire(timeout=1)
    PDFIUM_LOCK.release()


def test_the_options_keep_their_old_import_paths():
    """Stage one's options moved to ragkit's foundation; the old names still work."""
    from ingest.loaders.base import LoadOptions as from_base
    from ingest.split import SplitConfig as from_split
    from ragkit.ingest_options import LoadOptions as foundation_load, SplitConfig as foundation_split

    assert LoadOptions is from_base is foundation_load
    assert from_split is foundation_split
    assert foundation_split().chunk_size == 200 and foundation_load().ocr is True
