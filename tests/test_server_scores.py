"""Search scores that mean the same across queries, through the stock openai SDK against a real
``ragkit serve``: an unrelated question scores well below a relevant one, so OpenAI's
``ranking_options.score_threshold`` keeps relevant hits and drops every hit of an unrelated query."""

from __future__ import annotations

import pytest
from conftest import CORPUS
from server_helpers import Server, upload_batch

pytestmark = pytest.mark.timeout(600)

RELEVANT = "What does error code E42 mean?"
UNRELATED = "purple elephant ballet rehearsal in Tokyo"
#: bench/results/score_calibration.json: on held-out dev questions a top score of 0.4 or more is
#: reached by 66% of answerable questions and 3% of unanswerable ones
THRESHOLD = 0.4


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    running = Server(tmp_path_factory.mktemp("scores") / "home", "--no-auth").start()
    yield running.client()
    running.stop()


@pytest.fixture(scope="module")
def stores(client):
    """Two stores over different parts of the sample corpus."""
    ids = []
    for name, files in (("manuals", ["ws200-user-manual.pdf", "support-faq.txt"]),
                        ("people", ["employee-handbook.docx", "onboarding-checklist.txt"])):
        vs = client.vector_stores.create(name=name)
        batch = upload_batch(client, vs.id, [CORPUS / f for f in files])
        assert batch.file_counts.completed == len(files)
        ids.append(vs.id)
    return ids


def test_unrelated_query_scores_well_below_a_relevant_one(client, stores):
    relevant = client.vector_stores.search(vector_store_id=stores[0], query=RELEVANT, max_num_results=5).data
    unrelated = client.vector_stores.search(vector_store_id=stores[0], query=UNRELATED, max_num_results=5).data
    assert relevant and unrelated  # without a threshold, something is always returned
    assert "E42" in relevant[0].content[0].text
    assert relevant[0].score >= THRESHOLD
    assert unrelated[0].score < 0.1
    assert relevant[0].score - unrelated[0].score > 0.3
    for page in (relevant, unrelated):  # the ranking decides the order; scores never rise down it
        scores = [r.score for r in page]
        assert scores == sorted(scores, reverse=True) and all(0 <= s <= 1 for s in scores)


def test_score_threshold_keeps_relevant_hits_and_drops_unrelated_ones(client, stores):
    options = {"score_threshold": THRESHOLD}
    kept = client.vector_stores.search(vector_store_id=stores[0], query=RELEVANT, max_num_results=5,
                                       ranking_options=options).data
    assert kept and "E42" in kept[0].content[0].text and all(r.score >= THRESHOLD for r in kept)
    dropped = client.vector_stores.search(vector_store_id=stores[0], query=UNRELATED, max_num_results=5,
                                          ranking_options=options).data
    assert dropped == []


def test_file_search_over_two_stores_merges_by_the_comparable_score(client, stores):
    """Hits of both stores come back in one list ordered by score, led by the manual that answers;
    for an unrelated question no hit of either store reaches the relevant one's score."""
    def results(question: str):
        response = client.responses.create(
            model="ragkit-extractive", input=question, include=["file_search_call.results"],
            tools=[{"type": "file_search", "vector_store_ids": stores, "max_num_results": 8}])
        return next(item for item in response.output if item.type == "file_search_call").results

    relevant = results(RELEVANT)
    scores = [r.score for r in relevant]
    assert scores == sorted(scores, reverse=True)
    assert relevant[0].filename == "ws200-user-manual.pdf" and relevant[0].score >= THRESHOLD
    assert all(r.score < THRESHOLD for r in results(UNRELATED) or [])
