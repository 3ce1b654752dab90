"""Incremental batch ingestion against a real Chroma store."""

from __future__ import annotations

import os
import time

import pytest

from factories import make_docx, make_pdf
from ragkit.errors import EmbedderMismatchError, UsageError


def _store_ids(kb) -> set[str]:
    return kb.store.all_ids()


def _manifest_ids(kb) -> set[str]:
    return {chunk_id for chunk_id, _, _ in kb.manifest.iter_chunks()}


def _assert_consistent(kb) -> None:
    """The store holds exactly the live chunks: no duplicates, no orphans."""
    assert _store_ids(kb) == _manifest_ids(kb)
    assert kb.store.count() == kb.manifest.count_chunks()


def _bump_mtime(path) -> None:
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))


def test_first_ingest_stores_every_chunk_with_metadata(kb_factory, corpus_copy):
    kb = kb_factory()
    report = kb.ingest([corpus_copy])
    assert report.ok
    assert report.count("added") == 8
    assert report.embedded == report.chunks_added == kb.manifest.count_chunks()
    _assert_consistent(kb)
    manual = [meta for _, _, meta in kb.manifest.iter_chunks() if meta["source"] == "ws200-user-manual.pdf"]
    assert sorted({m["page"] for m in manual}) == [1, 2, 3, 4]
    assert all(m["path"] == str(corpus_copy / "ws200-user-manual.pdf") for m in manual)


def test_unchanged_rerun_embeds_nothing_and_touch_is_not_a_change(kb_factory, corpus_copy):
    kb = kb_factory()
    first = kb.ingest([corpus_copy])
    ids = _manifest_ids(kb)
    again = kb.ingest([corpus_copy])
    assert again.count("unchanged") == 8 and again.embedded == 0 and again.chunks_added == 0
    _bump_mtime(corpus_copy / "support-faq.txt")  # same bytes, new mtime
    touched = kb.ingest([corpus_copy])
    assert touched.count("unchanged") == 8
    assert touched.embedded == 0 and touched.chunks_added == 0 and touched.chunks_removed == 0
    assert _manifest_ids(kb) == ids
    assert first.chunks_added == len(ids)


def test_editing_one_file_changes_only_its_chunks(kb_factory, corpus_copy):
    kb = kb_factory()
    kb.ingest([corpus_copy])
    faq = corpus_copy / "support-faq.txt"
    before = {i for i, _, m in kb.manifest.iter_chunks() if m["source"] != "support-faq.txt"}
    old_texts = {t for _, t, m in kb.manifest.iter_chunks() if m["source"] == "support-faq.txt"}
    text = faq.read_text()
    faq.write_text(text.replace("two working days", "one working day"))
    _bump_mtime(faq)
    report = kb.ingest([corpus_copy])
    statuses = {f.source: f.status for f in report.files if f.status != "skipped"}
    assert statuses.pop("support-faq.txt") == "updated"
    assert set(statuses.values()) == {"unchanged"}
    after = {i for i, _, m in kb.manifest.iter_chunks() if m["source"] != "support-faq.txt"}
    assert after == before
    # Only chunk texts that actually changed were embedded; unchanged ones were reused.
    new_texts = {t for _, t, m in kb.manifest.iter_chunks() if m["source"] == "support-faq.txt"}
    assert report.embedded == len(new_texts - old_texts) >= 1
    assert len(new_texts & old_texts) >= 1
    _assert_consistent(kb)
    hits = kb.search("How quickly do you answer e-mails?", k=3).hits
    assert any("one working day" in h.text for h in hits)
    assert not any("two working days" in h.text for h in hits)


def test_prune_removes_documents_whose_files_are_gone(kb_factory, corpus_copy):
    kb = kb_factory()
    kb.ingest([corpus_copy])
    (corpus_copy / "cloud-api-guide.md").unlink()
    kept = kb.ingest([corpus_copy])
    assert kept.count("removed") == 0
    assert any(m["source"] == "cloud-api-guide.md" for _, _, m in kb.manifest.iter_chunks())
    pruned = kb.ingest([corpus_copy], prune=True)
    assert pruned.count("removed") == 1 and pruned.chunks_removed > 0
    assert not any(m["source"] == "cloud-api-guide.md" for _, _, m in kb.manifest.iter_chunks())
    _assert_consistent(kb)
    assert all(h.source != "cloud-api-guide.md" for h in kb.search("API token rate limit", k=10).hits)


def test_remove_forgets_a_document_and_search_follows(kb_factory, corpus_copy):
    kb = kb_factory()
    kb.ingest([corpus_copy])
    removed = kb.remove([corpus_copy / "employee-handbook.docx"])
    assert removed and removed[0][1] > 0
    _assert_consistent(kb)
    assert all(h.source != "employee-handbook.docx" for h in kb.search("daily allowance Germany", k=10).hits)
    with pytest.raises(UsageError, match="not in collection"):
        kb.remove([corpus_copy / "employee-handbook.docx"])


def test_one_bad_file_never_aborts_the_batch(kb_factory, tmp_path):
    docs = tmp_path / "mixed"
    docs.mkdir()
    make_pdf(docs / "good.pdf", ["Solar flares are bursts of radiation."])
    make_pdf(docs / "locked.pdf", ["Hidden."], password="pw")
    (docs / "broken.docx").write_bytes(b"not a zip at all")
    (docs / "notes.txt").write_text("Tidal forces stretch moons.")
    (docs / "picture.png").write_bytes(b"\x89PNG\r\n")
    kb = kb_factory()
    report = kb.ingest([docs])
    by_name = {f.source: f for f in report.files}
    assert by_name["good.pdf"].status == "added"
    assert by_name["notes.txt"].status == "added"
    assert by_name["locked.pdf"].status == "failed" and "encrypted" in by_name["locked.pdf"].reason
    assert by_name["broken.docx"].status == "failed" and "corrupt" in by_name["broken.docx"].reason
    assert by_name["picture.png"].status == "skipped" and "unsupported" in by_name["picture.png"].reason
    assert not report.ok
    _assert_consistent(kb)
    # With the password the failed file is retried and succeeds; nothing else is redone.
    kb2 = kb_factory("kb", pdf_password="pw")
    retry = kb2.ingest([docs])
    statuses = {f.source: f.status for f in retry.files}
    assert statuses["locked.pdf"] == "added"
    assert statuses["good.pdf"] == "unchanged"


def test_a_file_over_max_file_tokens_fails_alone_and_is_added_once_the_limit_allows_it(kb_factory, tmp_path):
    docs = tmp_path / "d"
    docs.mkdir()
    (docs / "note.txt").write_text("Tidal forces stretch moons.")
    (docs / "log.txt").write_text(" ".join(f"event {i} logged at node {i % 13}." for i in range(2000)))
    report = kb_factory("kb", max_file_tokens=2000).ingest([docs])
    by_name = {f.source: f for f in report.files}
    assert by_name["note.txt"].status == "added"
    assert by_name["log.txt"].status == "failed" and "max_file_tokens" in by_name["log.txt"].reason
    retry = kb_factory("kb", max_file_tokens=0).ingest([docs])
    assert {f.source: f.status for f in retry.files} == {"log.txt": "added", "note.txt": "unchanged"}
    assert kb_factory("kb").search("event 1999 logged", k=1).hits[0].source == "log.txt"


def test_a_file_that_turns_corrupt_keeps_its_stored_chunks(kb_factory, tmp_path):
    docs = tmp_path / "d"
    docs.mkdir()
    path = make_docx(docs / "plan.docx", [("h1", "Plan"), ("p", "The rocket launches on Tuesday.")])
    kb = kb_factory()
    kb.ingest([docs])
    ids = _manifest_ids(kb)
    path.write_bytes(b"truncated garbage")
    report = kb.ingest([docs])
    assert report.files[0].status == "failed"
    assert _manifest_ids(kb) == ids  # nothing already stored is lost
    assert kb.search("When does the rocket launch?", k=1).hits[0].source == "plan.docx"
    _assert_consistent(kb)


def test_include_and_exclude_globs(kb_factory, corpus_copy):
    kb = kb_factory()
    report = kb.ingest([corpus_copy], include=["*.md", "*.pdf"], exclude=["safety-*"])
    assert sorted(f.source for f in report.files) == [
        "cloud-api-guide.md", "firmware-release-notes.md", "ws200-user-manual.pdf"]


def test_missing_path_is_a_usage_error(kb_factory, tmp_path):
    with pytest.raises(UsageError, match="path not found"):
        kb_factory().ingest([tmp_path / "nope"])


def test_a_missing_path_among_others_fails_alone_and_the_batch_goes_on(kb_factory, corpus_copy, tmp_path):
    report = kb_factory().ingest([corpus_copy / "support-faq.txt", tmp_path / "nope.txt"])
    by_status = {f.status: f for f in report.files}
    assert by_status["added"].source == "support-faq.txt"
    assert by_status["failed"].path == str(tmp_path / "nope.txt") and "path not found" in by_status["failed"].reason
    assert not report.ok


def test_collection_remembers_its_embedder(tmp_path, openai_server, corpus_copy, kb_factory):
    kb = kb_factory()
    kb.ingest([corpus_copy / "support-faq.txt"])
    from ragkit import KnowledgeBase

    other = KnowledgeBase(tmp_path / "kb", embedder="openai", base_url=openai_server.url)
    with pytest.raises(EmbedderMismatchError, match="built with embedder 'minilm-onnx"):
        other.status()


def test_openai_embedder_over_http(tmp_path, llm, corpus_copy):
    from ragkit import KnowledgeBase

    kb = KnowledgeBase(tmp_path / "oa", embedder="openai", base_url=llm.url, embedding_model="test-embed")
    report = kb.ingest([corpus_copy / "cloud-api-guide.md"])
    assert report.ok and report.embedded > 0
    calls = [r for r in llm.state.requests if r["path"] == "/v1/embeddings"]
    assert calls and all(c["body"]["model"] == "test-embed" for c in calls)
    assert kb.status().embedder == "openai:test-embed"
    assert kb.search("requests per minute token limit", k=1).hits[0].source == "cloud-api-guide.md"
    kb.close()


def test_status_reports_counts_and_last_ingest(kb_factory, corpus_copy):
    kb = kb_factory()
    started = time.time()
    kb.ingest([corpus_copy])
    status = kb.status()
    assert status.documents == 8 and status.failed_documents == 0
    assert status.chunks == status.store_chunks > 0
    assert status.embedder.startswith("minilm-onnx")
    assert status.last_ingest >= started - 1


def test_parallel_parsing_gives_the_same_store_as_inline(kb_factory, corpus_copy):
    inline = kb_factory("inline", parse_workers=0)
    inline.ingest([corpus_copy])
    parallel = kb_factory("parallel", parse_workers=2)
    parallel.ingest([corpus_copy])
    assert _manifest_ids(inline) == _manifest_ids(parallel)


def test_workers_hash_files_and_tell_touched_from_edited(kb_factory, corpus_copy):
    """With parse workers, hashing happens in the worker: a touched file comes back unchanged
    (its new stat remembered), an edited one is re-parsed, and the manifest records new hashes."""
    kb = kb_factory(parse_workers=2)
    kb.ingest([corpus_copy])
    hashes = {r.path: r.sha256 for r in kb.manifest.files()}
    for name in ("ws200-user-manual.pdf", "employee-handbook.docx", "cloud-api-guide.md"):
        _bump_mtime(corpus_copy / name)
    edited = corpus_copy / "firmware-release-notes.md"
    edited.write_text(edited.read_text() + "\nReturn your badge on the last day.\n")
    _bump_mtime(edited)
    report = kb.ingest([corpus_copy])
    statuses = {f.source: f.status for f in report.files}
    assert statuses.pop("firmware-release-notes.md") == "updated"
    assert set(statuses.values()) == {"unchanged"}
    assert {f.source: f.chunks for f in report.files if f.status == "unchanged"} == {
        r.source: r.n_chunks for r in kb.manifest.files() if r.source != "firmware-release-notes.md"}
    after = {r.path: r.sha256 for r in kb.manifest.files()}
    assert after[str(edited)] != hashes[str(edited)]
    assert {p: h for p, h in after.items() if p != str(edited)} == {p: h for p, h in hashes.items() if p != str(edited)}
    # The touched files' new stat was remembered: the next run does not even read them.
    assert kb.ingest([corpus_copy]).count("unchanged") == 8
    _assert_consistent(kb)


def test_parse_stream_says_when_it_would_wait_and_keeps_task_order(tmp_path):
    """The embedder must hear that the parser is behind (to embed what it holds), never get
    outcomes out of order, and lose none."""
    from ingest.parse import WAITING, LoadOptions, ParseTask, SplitConfig, parse_stream

    tasks = []
    for i in range(6):
        path = make_pdf(tmp_path / f"report-{i}.pdf", [f"Report {i} on glaciers and fjords. " * 40] * 6)
        tasks.append(ParseTask(str(path), path.name, "", path.stat().st_size, 0, SplitConfig(), LoadOptions()))
    stream = list(parse_stream(tasks, workers=1))
    outcomes = [o for o in stream if o is not WAITING]
    assert [o.task.source for o in outcomes] == [t.source for t in tasks]
    assert all(o.error is None and o.chunks and len(o.task.sha256) == 64 for o in outcomes)
    # A six-page PDF takes the worker milliseconds; the first outcome is asked for at once.
    assert stream[0] is WAITING
    inline = list(parse_stream(tasks, workers=0))
    assert WAITING not in inline and [o.chunks for o in inline] == [o.chunks for o in outcomes]


def test_parse_look_ahead_is_bounded_by_files_and_bytes():
    from ingest.parse import AHEAD_MAX_BYTES, AHEAD_MAX_FILES, LoadOptions, ParseTask, SplitConfig, _may_submit

    def task(size: int) -> ParseTask:
        return ParseTask("/x", "x", "", size, 0, SplitConfig(), LoadOptions())

    assert _may_submit(0, 0, task(10 * AHEAD_MAX_BYTES), workers=1)  # a huge file still gets parsed
    assert _may_submit(1, AHEAD_MAX_BYTES, task(1), workers=1)  # the workers are kept busy
    assert not _may_submit(2, AHEAD_MAX_BYTES - 10, task(11), workers=1)
    assert _may_submit(2, AHEAD_MAX_BYTES - 10, task(10), workers=1)
    assert not _may_submit(AHEAD_MAX_FILES, 0, task(1), workers=1)


def _worker_pids() -> list[int]:
    """Child processes of this test process that are multiprocessing workers."""
    me, found = os.getpid(), []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = open(f"/proc/{entry}/stat").read()
            cmdline = open(f"/proc/{entry}/cmdline", "rb").read()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == me and b"spawn_main" in cmdline:
            found.append(int(entry))
    return found


def test_a_parser_worker_that_dies_does_not_abort_the_batch(kb_factory, tmp_path):
    import signal
    import threading

    docs = tmp_path / "many"
    docs.mkdir()
    for i in range(40):
        make_pdf(docs / f"page-{i:02d}.pdf", [f"Report {i} about glaciers and fjords number {i}. " * 30] * 3)
    kb = kb_factory(parse_workers=1, ingest_window=16)
    killed: list[int] = []

    def kill_first_worker() -> None:
        deadline = time.time() + 60
        while time.time() < deadline and not killed:
            for pid in _worker_pids():
                os.kill(pid, signal.SIGKILL)  # what a segfaulting parser looks like from outside
                killed.append(pid)
                return
            time.sleep(0.01)

    killer = threading.Thread(target=kill_first_worker)
    killer.start()
    report = kb.ingest([docs])
    killer.join()
    assert killed, "no worker was seen"
    statuses = [f.status for f in report.files]
    assert len(statuses) == 40
    assert statuses.count("added") >= 39
    assert all(f.status == "added" or "parser" in (f.reason or "") for f in report.files)
    _assert_consistent(kb)


def test_status_reports_documents_with_identical_content(kb_factory, corpus_copy):
    import shutil

    shutil.copy(corpus_copy / "ws200-user-manual.pdf", corpus_copy / "manual-copy.pdf")
    kb = kb_factory()
    report = kb.ingest([corpus_copy])
    assert report.ok
    assert kb.status().duplicates == [["manual-copy.pdf", "ws200-user-manual.pdf"]]
    # With context lines the copy's chunks carry another file name, so they are embedded again;
    # without them identical texts come from the embedding cache and nothing is embedded twice.
    copy = next(f for f in report.files if f.source == "manual-copy.pdf")
    assert copy.embedded == copy.chunks
    plain = kb_factory("plain", chunk_context=False).ingest([corpus_copy])
    copy = next(f for f in plain.files if f.source == "manual-copy.pdf")
    assert plain.embedded == plain.chunks_added - copy.chunks  # each distinct text embedded once
    assert report.embedded == report.chunks_added


class _StopWhileParsing(BaseException):
    pass


class _StopAtHeartbeat:
    """A progress that stops the run the first time the pipeline waits for a parse."""

    def __init__(self) -> None:
        self.beats = 0

    def start(self, files: int) -> None: ...
    def file_done(self, result) -> None: ...
    def chunks_embedded(self, n: int) -> None: ...

    def chunks_planned(self, n: int) -> None:
        if n == 0:
            self.beats += 1
            raise _StopWhileParsing


def test_a_run_can_be_stopped_while_it_waits_for_a_parse_and_a_rerun_finishes_it(tmp_path, kb_factory):
    """The pipeline beats while parse workers run, so a server shutting down need not wait for a
    long parse (an OCR'd scan) to end; stopping there leaves nothing half-stored."""
    folder = tmp_path / "notes"
    folder.mkdir()
    for i in range(12):
        (folder / f"note-{i:02d}.txt").write_text(f"Note {i}. The pump at station {i} was serviced in spring.\n")
    kb = kb_factory(parse_workers=1)
    stopper = _StopAtHeartbeat()
    with pytest.raises(_StopWhileParsing):
        kb.ingest([folder], progress=stopper)
    assert stopper.beats == 1
    report = kb.ingest([folder])
    assert report.ok and kb.status().documents == 12
    assert kb.store.count() == kb.status().chunks  # no orphan or duplicate from the stopped run


def test_status_reports_the_same_text_saved_twice_with_different_bytes(kb_factory, tmp_path):
    """The same note in UTF-8 and in UTF-16 (as another editor saved it): different bytes, the
    same text, so the same chunks twice in every result."""
    folder = tmp_path / "notes"
    folder.mkdir()
    text = "Pump maintenance\n\nThe pump at station 4 is serviced every spring; the filter is replaced yearly.\n"
    (folder / "pump.txt").write_text(text, encoding="utf-8")
    (folder / "pump-saved-again.txt").write_text(text, encoding="utf-16")
    (folder / "other.txt").write_text("Fan maintenance\n\nThe fan is cleaned every autumn.\n", encoding="utf-8")
    kb = kb_factory()
    assert kb.ingest([folder]).ok
    assert kb.status().duplicates == [["pump-saved-again.txt", "pump.txt"]]
