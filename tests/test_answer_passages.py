"""Passages an answer reads: each once, however many copies of a file a collection holds."""

from __future__ import annotations

import shutil

from ragkit.answer.passages import distinct


def test_distinct_keeps_the_first_copy_of_each_passage_whitespace_aside():
    items = [("a.txt", "The pump is serviced\nevery 90 days."), ("b.txt", "Other text."),
             ("copy of a.txt", "The pump is serviced every 90 days.")]
    assert distinct(items, lambda item: item[1]) == items[:2]


def test_a_file_stored_twice_is_read_and_cited_once(kb_factory, tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "notes.txt").write_text("The Zephyr probe is calibrated every 30 days by the field team.\n\n"
                                    "The Aurora pump is serviced every 90 days by a certified technician.")
    shutil.copy(docs / "notes.txt", docs / "notes copy.txt")
    kb = kb_factory()
    kb.ingest([docs])
    answer = kb.ask("How often is the Zephyr probe calibrated?", k=4)
    assert not answer.refused and "30 days" in answer.text
    texts = [" ".join(hit.text.split()) for hit in answer.sources]
    assert len(texts) == len(set(texts)) == 1  # two chunks-worth of copies, one passage shown


def test_a_file_uploaded_twice_to_a_store_is_cited_once_by_the_server(tmp_path):
    from server_helpers import Server

    server = Server(tmp_path / "home", "--no-auth").start()
    try:
        client = server.client()
        vs = client.vector_stores.create(name="twice")
        note = tmp_path / "notes.txt"
        note.write_text("The Zephyr probe is calibrated every 30 days by the field team.")
        for _ in range(2):
            with open(note, "rb") as handle:
                file_id = client.files.create(file=handle, purpose="assistants").id
            attached = client.vector_stores.files.create_and_poll(vector_store_id=vs.id, file_id=file_id,
                                                                  poll_interval_ms=100)
            assert attached.status == "completed", attached.last_error
        response = client.responses.create(model="ragkit-extractive", input="How often is the Zephyr probe calibrated?",
                                           tools=[{"type": "file_search", "vector_store_ids": [vs.id]}],
                                           include=["file_search_call.results"])
        call = next(item for item in response.output if item.type == "file_search_call")
        assert len(call.results) == 1  # the second copy is the same passage
        assert "30 days" in response.output_text
    finally:
        server.stop()
