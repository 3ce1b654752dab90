"""One KnowledgeBase shared by threads: many ask while one ingests and removes files.

This is how a server uses it. Every answer must be well-formed (citations that quote their own
source), no thread may raise, and the final collection must equal what a clean run makes.
"""

from __future__ import annotations

import shutil
import threading

from conftest import CORPUS

QUESTIONS = [
    "How long is the warranty on the WS-200 sensor array?",
    "What does error code E42 mean?",
    "What is the MQTT port?",
    "How do I dispose of the battery?",
    "How many vacation days do employees get?",
    "What changed in firmware 2.1?",
]


def _ids(kb) -> set[str]:
    return {chunk_id for chunk_id, _, _ in kb.manifest.iter_chunks()}


def test_many_readers_while_one_thread_ingests_and_removes(tmp_path, kb_factory):
    docs = tmp_path / "docs"
    docs.mkdir()
    files = sorted(CORPUS.iterdir())
    first, later = files[:4], files[4:]
    for path in first:
        shutil.copy(path, docs / path.name)
    kb = kb_factory("shared")
    assert kb.ingest([docs]).ok

    errors: list[BaseException] = []
    answers = []
    lock = threading.Lock()
    stop = threading.Event()

    def reader(offset: int) -> None:
        try:
            turn = 0
            while not stop.is_set() or turn < 3:
                answer = kb.ask(QUESTIONS[(offset + turn) % len(QUESTIONS)])
                with lock:
                    answers.append(answer)
                turn += 1
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    def writer() -> None:
        try:
            for path in later:  # add the rest one file at a time: many generations
                shutil.copy(path, docs / path.name)
                assert kb.ingest([docs]).ok
            kb.remove([docs / first[1].name])
            (docs / first[1].name).unlink()
            (docs / first[0].name).unlink()
            assert kb.ingest([docs], prune=True).ok
            shutil.copy(first[0], docs / first[0].name)
            assert kb.ingest([docs]).ok
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            stop.set()

    threads = [threading.Thread(target=reader, args=(i,)) for i in range(8)]
    threads.append(threading.Thread(target=writer))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=240)
    assert not any(t.is_alive() for t in threads), "a thread hung"
    assert not errors, errors

    assert len(answers) >= 8 * 3
    for answer in answers:
        for citation in answer.citations:
            source = answer.sources[citation.n - 1]
            assert citation.chunk_id == source.chunk_id
            assert source.text[citation.quote_start:citation.quote_end] == citation.quote != ""

    # The final state equals a clean run over the same folder: same chunks, store == manifest.
    clean = kb_factory("clean")
    assert clean.ingest([docs]).ok
    assert _ids(kb) == _ids(clean)
    assert kb.store.all_ids() == _ids(kb)
    assert kb.lexical_index().generation == kb.manifest.generation()
    assert sorted(kb.lexical_index().ids) == sorted(_ids(kb))
    # first[1] was removed (and deleted); first[0] was pruned and re-added.
    sources = {h.source for h in kb.search("warranty battery firmware error", k=50).hits}
    assert first[1].name not in sources
