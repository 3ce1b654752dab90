"""The web page's server side over HTTP: the page and its assets, ``/page/citation``,
``/page/render`` and ``/page/feedback`` on a real ``ragkit serve`` with real uploads.
"""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from server_helpers import Server, create_key
from test_pages import WRAPPED, letters, make_pdf, text_inside

from ragkit.feedback import FeedbackStore
from ragkit.server.config import ServerConfig

pytestmark = pytest.mark.timeout(600)
VISITORS = "Visitors to the Aurora station must sign in at the north gate and wear an orange badge."


def make_docx(path: Path) -> Path:
    from docx import Document

    document = Document()
    document.add_heading("Site rules", level=1)
    document.add_heading("Visitors", level=2)
    document.add_paragraph(VISITORS + " Badges are returned at the gate when leaving.")
    document.save(str(path))
    return path


def start_server(root: Path) -> tuple[Path, Server, str]:
    """A running ``ragkit serve`` with its own home under ``root`` and an admin key."""
    home = root / "home"
    home.mkdir()
    admin = create_key(home, "admin", "--scope", "admin")
    return home, Server(home).start(), admin


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    root = tmp_path_factory.mktemp("page")
    home, server, admin = start_server(root)
    client = server.client(admin)
    docs = {"pdf": make_pdf(root / "aurora.pdf"), "docx": make_docx(root / "rules.docx")}
    store = client.vector_stores.create(name="aurora")
    ids = {}
    for kind, path in docs.items():
        with open(path, "rb") as handle:
            done = client.vector_stores.files.upload_and_poll(vector_store_id=store.id, file=handle)
        assert done.status == "completed", done.last_error
        ids[kind] = done.id
    other = client.vector_stores.create(name="other")
    outsider = create_key(home, "outsider", "--vector-store", other.id)
    yield {"server": server, "client": client, "admin": admin, "store": store.id, "ids": ids, "docs": docs,
           "outsider": outsider, "home": home}
    server.stop()


def call(served, path: str, key: str | None = None, body: dict | None = None) -> tuple[int, dict, bytes]:
    headers = {"Authorization": f"Bearer {key or served['admin']}"}
    data = None
    if body is not None:
        data, headers["Content-Type"] = json.dumps(body).encode(), "application/json"
    request = urllib.request.Request(served["server"].url + path, data=data, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def cited(served, question: str) -> dict:
    response = served["client"].responses.create(
        model="ragkit-extractive", input=question, tools=[{"type": "file_search", "vector_store_ids": [served["store"]]}])
    citations = response.model_extra["ragkit"]["citations"]
    assert citations, response.output_text
    return citations[0]


def citation_path(c: dict, **change) -> str:
    keys = ("vector_store_id", "file_id", "chunk_id", "quote_start", "quote_end")
    return "/page/citation?" + urllib.parse.urlencode({k: c[k] for k in keys} | change)


def test_the_page_and_its_assets_carry_a_strict_policy(served):
    with urllib.request.urlopen(served["server"].url + "/", timeout=30) as response:
        page = response.read().decode()
        policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "default-src 'none'" in policy and "unsafe-inline" not in policy
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert '<script src="/static/app.js" defer></script>' in page and "<script>" not in page
    scripts = sorted(p.name for p in (Path(__file__).parent.parent / "ragkit/server/static").glob("*.js"))
    assert all(f'<script src="/static/{name}" defer></script>' in page for name in scripts)
    for name, kind in [(name, "text/javascript") for name in scripts] + [("app.css", "text/css")]:
        with urllib.request.urlopen(f"{served['server'].url}/static/{name}", timeout=30) as response:
            assert response.headers["Content-Type"].startswith(kind)
            assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    static = Path(__file__).parent.parent / "ragkit/server/static"
    script = "".join(path.read_text() for path in static.glob("*.js"))
    assert not [sink for sink in (".innerHTML", ".outerHTML", "insertAdjacentHTML", "document.write", "eval(")
                if sink in script]
    status, _, body = call(served, "/static/page.py")
    assert status == 404 and json.loads(body)["error"]["param"] == "name"
    status, _, body = call(served, "/static/..%2Fpage.py")
    assert status == 404 and b"import" not in body


def test_a_pdf_citation_has_the_quote_rectangles_on_the_rendered_page(served):
    c = cited(served, "How often is the coolant filter of the Aurora pump replaced?")
    assert c["file_id"] == served["ids"]["pdf"] and c["page"] == 2
    status, _, body = call(served, citation_path(c))
    shown = json.loads(body)
    assert status == 200 and shown["kind"] == "pdf" and shown["matched"] and shown["quote"] == c["quote"]
    assert letters(shown["quote"]) in letters(WRAPPED) or letters(WRAPPED) in letters(shown["quote"])
    assert letters(text_inside(served["docs"]["pdf"], 2, shown["rects"])) == letters(shown["quote"])
    status, headers, png = call(served, shown["image"])
    assert status == 200 and headers["content-type"] == "image/png" and png.startswith(b"\x89PNG")
    cached = list((served["home"] / "page-cache").rglob("p2-*.png"))
    assert len(cached) == 1 and cached[0].read_bytes() == png


def test_a_docx_citation_is_the_chunk_text_with_the_quote_span(served):
    c = cited(served, "Where must visitors to the Aurora station sign in?")
    assert c["file_id"] == served["ids"]["docx"]
    status, _, body = call(served, citation_path(c))
    shown = json.loads(body)
    assert status == 200 and shown["kind"] == "text" and "image" not in shown
    assert shown["text"][shown["quote_start"]:shown["quote_end"]] == shown["quote"] == c["quote"]
    assert "north gate" in shown["quote"] and shown["section"].endswith("Visitors")
    status, _, body = call(served, f"/page/render?vector_store_id={c['vector_store_id']}&file_id={c['file_id']}&page=1")
    assert status == 400 and json.loads(body)["error"]["param"] == "file_id"


def test_bad_citation_requests_name_the_field(served):
    c = cited(served, "Where must visitors to the Aurora station sign in?")
    for change, param, status in (({"quote_end": 10_000}, "quote_end", 400),
                                  ({"quote_start": -1}, "quote_start", 400),
                                  ({"chunk_id": "nope"}, "chunk_id", 404),
                                  ({"file_id": served["ids"]["pdf"]}, "chunk_id", 404),  # chunk of another file
                                  ({"file_id": "file-nope"}, "file_id", 404),
                                  ({"vector_store_id": "vs_nope"}, "vector_store_id", 404)):
        got, _, body = call(served, citation_path(c, **change))
        error = json.loads(body)["error"]
        assert (got, error["param"]) == (status, param), (change, error)
        assert "Traceback" not in error["message"]
    pdf = f"/page/render?vector_store_id={served['store']}&file_id={served['ids']['pdf']}"
    got, _, body = call(served, pdf + "&page=9")
    assert got == 400 and json.loads(body)["error"]["param"] == "page" and "2 page(s)" in json.loads(body)["error"]["message"]


def test_keys_see_only_their_stores_and_wrong_keys_are_refused(served):
    c = cited(served, "Where must visitors to the Aurora station sign in?")
    got, _, body = call(served, citation_path(c), key=served["outsider"])
    assert got == 404 and json.loads(body)["error"]["param"] == "vector_store_id"
    got, _, _ = call(served, "/page/render?" + urllib.parse.urlencode(
        {"vector_store_id": served["store"], "file_id": served["ids"]["pdf"], "page": 1}), key=served["outsider"])
    assert got == 404
    got, _, body = call(served, citation_path(c), key="rk-wrong")
    assert got == 401 and json.loads(body)["error"]["code"] == "invalid_api_key"


def test_feedback_is_stored_with_the_key_that_gave_it(served):
    body = {"vector_store_id": served["store"], "question": "Where do visitors sign in?", "answer": "At the gate [1].",
            "rating": "down", "correction": "At the north gate", "citations": [{"filename": "rules.docx"}]}
    got, _, reply = call(served, "/page/feedback", body=body)
    assert got == 200 and json.loads(reply)["rating"] == "down"
    rows = FeedbackStore(ServerConfig(home=served["home"]).server_dir).rows()
    assert [(r["question"], r["correction"], r["key_name"]) for r in rows] == [
        ("Where do visitors sign in?", "At the north gate", "admin")]
    got, _, reply = call(served, "/page/feedback", body=body | {"rating": "sideways"})
    assert got == 400 and json.loads(reply)["error"]["param"] == "rating"
    got, _, reply = call(served, "/page/feedback", key=served["outsider"], body=body)
    assert got == 404 and json.loads(reply)["error"]["param"] == "vector_store_id"


def test_a_follow_up_is_made_standalone_from_the_previous_turn(served):
    body = {"question": "and how often is it serviced?",
            "previous": "How often is the coolant filter of the Aurora pump replaced?", "passages": []}
    got, _, reply = call(served, "/page/standalone", body=body)
    made = json.loads(reply)
    assert got == 200 and made["changed"] and made["query"] == "how often is the Aurora pump serviced?"
    got, _, reply = call(served, "/page/standalone", body=body | {"question": "Where must visitors to the Aurora station sign in?"})
    assert json.loads(reply)["query"] == "Where must visitors to the Aurora station sign in?" and not json.loads(reply)["changed"]
    got, _, reply = call(served, "/page/standalone", body=body | {"previous": ""})
    assert got == 400 and json.loads(reply)["error"]["param"] == "previous"
    got, _, _ = call(served, "/page/standalone", key="rk-wrong", body=body)
    assert got == 401


def test_a_file_deleted_while_its_bytes_are_read_is_a_404_not_a_500(served, tmp_path):
    """Reads of a file's bytes (its content, its rendered pages) racing its deletion: each read
    either gets the whole file or the 404 of a file that is gone. The bytes used to vanish
    between finding the file and reading it: a 500, or a download cut short after its headers."""
    client = served["client"]
    for round_ in range(4):
        pdf = make_pdf(tmp_path / f"deleted-{round_}.pdf")
        pdf.write_bytes(pdf.read_bytes() + f"\n% round {round_}\n".encode())  # not a page already rendered
        with open(pdf, "rb") as handle:
            done = client.vector_stores.files.upload_and_poll(vector_store_id=served["store"], file=handle)
        where = {"vector_store_id": served["store"], "file_id": done.id}
        content = f"/v1/files/{done.id}/content"
        pages = [f"/page/render?{urllib.parse.urlencode(where | {'page': page})}" for page in (1, 2)]
        for path, status, body in asyncio.run(_reads_racing_a_delete(served, done.id, [content, *pages])):
            assert status in (200, 404), (path, status, body[:300])
            if status == 404:
                assert json.loads(body)["error"]["param"] == "file_id"
            else:  # all of it
                assert body == pdf.read_bytes() if path == content else body.startswith(b"\x89PNG")


async def _reads_racing_a_delete(served, file_id: str, paths: list[str]) -> list[tuple[str, int, bytes]]:
    """Nine reads of ``paths`` (in turn) and the file's deletion, a few milliseconds apart."""
    import httpx

    headers = {"Authorization": f"Bearer {served['admin']}"}
    async with httpx.AsyncClient(base_url=served["server"].url, headers=headers, timeout=60) as http:
        async def read(n: int) -> tuple[str, int, bytes]:
            await asyncio.sleep(0.002 * n)
            got = await http.get(paths[n % len(paths)])
            return paths[n % len(paths)], got.status_code, got.content

        async def delete() -> None:
            await asyncio.sleep(0.005)
            assert (await http.delete(f"/v1/files/{file_id}")).status_code == 200

        *reads, _ = await asyncio.gather(*[read(n) for n in range(9)], delete())
    return reads
