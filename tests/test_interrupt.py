"""A killed ingest followed by a re-run converges to exactly what a clean run stores."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.slow

WORDS = ("orbit comet nebula quasar pulsar galaxy meteor aurora eclipse zenith horizon crater "
         "plasma photon neutron gravity vacuum spectrum telescope satellite").split()


#: enough files that the signal lands mid-run even when a loaded machine is slow to notice the
#: third commit (with 60, a busy CI machine once saw the run finish first)
FILES = 150


def _write_corpus(folder, files: int = FILES) -> None:
    folder.mkdir()
    for i in range(files):
        sentences = [
            f"Document {i} sentence {j}: the {WORDS[(i + j) % len(WORDS)]} was observed near the "
            f"{WORDS[(i * 3 + j) % len(WORDS)]} at station {i * 100 + j}."
            for j in range(30)
        ]
        (folder / f"note-{i:03d}.txt").write_text(" ".join(sentences))


def _committed_files(home) -> int:
    db = home / "ragkit.sqlite"
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db, timeout=1) as conn:
            return conn.execute("SELECT COUNT(*) FROM files WHERE status='ok'").fetchone()[0]
    except sqlite3.Error:
        return 0


def _start(folder, home):
    # Small windows, so the run commits several times and can be interrupted between commits.
    return subprocess.Popen(
        [sys.executable, "-m", "ragkit.cli", "ingest", str(folder), "--home", str(home), "--json"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env={**os.environ, "RAGKIT_INGEST_WINDOW": "48"},
        # a person's Ctrl-C: when the tests run as a background job, the shell starts them with
        # SIGINT ignored, which the child would inherit and the signal would then do nothing
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        start_new_session=True,  # its own process group, which a terminal's Ctrl-C signals as a whole
    )


def _interrupt_midway(folder, home, sig) -> subprocess.Popen:
    process = _start(folder, home)
    deadline = time.time() + 180
    while _committed_files(home) < 3:
        assert process.poll() is None, process.stderr.read().decode()
        assert time.time() < deadline, "ingest made no progress"
        time.sleep(0.05)
    # Ctrl-C reaches the parser processes too (the whole foreground group), kill -9 only the run
    os.killpg(process.pid, sig) if sig == signal.SIGINT else process.send_signal(sig)
    process.wait(timeout=60)
    return process


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT], ids=["kill-9", "ctrl-c"])
def test_interrupted_run_then_rerun_equals_clean_run(tmp_path, kb_factory, sig):
    folder = tmp_path / "corpus"
    _write_corpus(folder)
    home = tmp_path / "interrupted"
    process = _interrupt_midway(folder, home, sig)
    if sig == signal.SIGKILL:
        assert process.returncode == -signal.SIGKILL
    else:
        errors = process.stderr.read().decode()
        assert process.returncode == 130, errors
        assert "Traceback" not in errors and "KeyboardInterrupt" not in errors, errors
    committed = _committed_files(home)
    assert 3 <= committed < FILES, "the run was not interrupted midway"

    finish = subprocess.run(
        [sys.executable, "-m", "ragkit.cli", "ingest", str(folder), "--home", str(home), "--json"],
        capture_output=True, text=True, timeout=600,
    )
    assert finish.returncode == 0, finish.stderr

    resumed = kb_factory("interrupted")
    clean = kb_factory("clean")
    clean.ingest([folder])
    resumed_ids = {i for i, _, _ in resumed.manifest.iter_chunks()}
    clean_ids = {i for i, _, _ in clean.manifest.iter_chunks()}
    assert resumed_ids == clean_ids
    assert resumed.store.all_ids() == clean_ids  # no orphans, no duplicates
    assert resumed.store.count() == clean.store.count()
    assert resumed.status().documents == FILES
    # The BM25 index was rebuilt by the finishing run and matches the store exactly.
    from ragkit.stores.lexical import LexicalIndex

    assert LexicalIndex.saved_generation(resumed.bm25_dir) == resumed.manifest.generation()
    assert set(LexicalIndex.load(resumed.bm25_dir).ids) == clean_ids
