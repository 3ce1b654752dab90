"""Parsing one file: the size and mtime kept are those of the bytes read, and a file written to
while it is read fails with a reason instead of storing a torn read; the next run reads it again."""

from __future__ import annotations

import os
import threading

from ingest.loaders import LoadOptions
from ingest.parse import ParseTask, parse
from ingest.split import SplitConfig

TEXT = "\n\n".join(f"Paragraph {i} is about the harbour crane number {i % 13} and its load." for i in range(20000))


def _task(path, size=0, mtime_ns=0, known=None) -> ParseTask:
    return ParseTask(str(path), path.name, "", size, mtime_ns, SplitConfig(), LoadOptions(), known_sha256=known)


def test_the_stat_kept_is_the_one_of_the_bytes_that_were_read(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("The crane lifts forty tonnes.")
    stat = path.stat()
    outcome = parse(_task(path, size=3, mtime_ns=1))  # stat taken long before, when the file was other
    assert outcome.error is None and outcome.chunks
    assert (outcome.task.size, outcome.task.mtime_ns) == (stat.st_size, stat.st_mtime_ns)
    unchanged = parse(_task(path, known=outcome.task.sha256))
    assert unchanged.unchanged and unchanged.task.mtime_ns == stat.st_mtime_ns


def test_a_file_written_to_while_it_is_read_fails_with_a_reason(tmp_path):
    path = tmp_path / "log.txt"
    path.write_text(TEXT)
    done = threading.Event()

    def keep_writing() -> None:  # another program saving the file again and again
        tick = path.stat().st_mtime_ns
        while not done.is_set():
            tick += 1_000_000
            os.utime(path, ns=(tick, tick))
            done.wait(0.001)

    writer = threading.Thread(target=keep_writing)
    writer.start()
    try:
        outcome = parse(_task(path))
    finally:
        done.set()
        writer.join()
    assert not outcome.chunks
    assert "changed while it was being read" in outcome.error and "ingest again" in outcome.error

