"""The web page in a real browser: Debian's headless Chromium driven by Playwright, against a real
``ragkit serve`` with documents the test generates and uploads through the page.

One server and one signed-in page are shared by the module; each test drives one part of the
page as a person would (labels and roles, keyboard where it matters). Screenshots of the main
states are written to the module's tmp dir.
"""

from __future__ import annotations

import json
import os
import shutil
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from server_helpers import create_key, ragkit
from test_page import make_docx, start_server
from test_pages import letters, make_pdf, text_inside

pytestmark = pytest.mark.timeout(900)

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SCRIPT_NOTE = ("The Zephyr probe label reads <script>window.pwned = 1</script> in red letters. "
               "Calibrate the Zephyr probe every 30 days.")
WAIT = 120_000  # ms: an upper bound for ingestion on a busy machine, not a timing assertion


@pytest.fixture(scope="module")
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs it (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    root = tmp_path_factory.mktemp("browser")
    home, server, admin = start_server(root)
    client = server.client(admin)
    mine = client.vector_stores.create(name="aurora")
    hidden = client.vector_stores.create(name="not for this key")
    key = create_key(home, "reader-writer", "--scope", "write", "--vector-store", mine.id)
    docs = root / "docs"
    docs.mkdir()
    yield {"server": server, "client": client, "key": key, "store": mine.id, "hidden": hidden.id, "root": root,
           "home": home, "pdf": make_pdf(docs / "aurora.pdf"), "docx": make_docx(docs / "rules.docx"), "docs": docs}
    server.stop()


@pytest.fixture(scope="module")
def page(browser, site):
    context = browser.new_context(viewport={"width": 1360, "height": 900})
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda exc: errors.append(str(exc)))
    opened.goto(site["server"].url + "/")
    opened.get_by_label("API key").fill(site["key"])
    opened.get_by_role("button", name="Sign in").click()
    opened.wait_for_selector("#app:not([hidden])")
    opened.errors = errors  # type: ignore[attr-defined]
    yield opened
    context.close()


def shot(page, site, name: str) -> Path:
    path = site["root"] / f"{name}.png"
    page.screenshot(path=str(path))
    return path


def ask(page, question: str, new: bool = True):
    """Type a question (in a new conversation unless ``new`` is false), send it with Enter, wait
    for the finished answer; the turn's locator."""
    if new:
        page.get_by_role("button", name="New conversation").click()
    before = page.locator(".turn").count()
    page.get_by_label("Question").fill(question)
    page.get_by_label("Question").press("Enter")
    turn = page.locator(".turn").nth(before)
    turn.locator("xpath=self::*[@data-state='done' or @data-state='error']").wait_for(timeout=WAIT)
    assert turn.get_attribute("data-state") == "done", turn.inner_text()
    return turn


def citation_of(site, question: str) -> dict:
    """The same question through the SDK (answers are cached: the same citations the page got)."""
    response = site["client"].responses.create(
        model="ragkit-extractive", input=question, tools=[{"type": "file_search", "vector_store_ids": [site["store"]]}])
    return response.model_extra["ragkit"]["citations"][0]


def test_a_wrong_key_is_refused_and_nothing_is_shown(browser, site):
    context = browser.new_context()
    page = context.new_page()
    page.goto(site["server"].url + "/")
    page.get_by_label("API key").fill("rk-not-a-real-key")
    page.get_by_label("API key").press("Enter")
    page.wait_for_selector("#status.error")
    assert "Sign-in refused" in page.locator("#status").inner_text()
    assert page.locator("#app").is_hidden()
    assert page.evaluate("sessionStorage.getItem('ragkit.key')") is None
    assert "rk-not-a-real-key" not in page.url
    shot(page, site, "01-wrong-key")
    context.close()


def test_the_page_lists_only_the_stores_the_key_may_see(page, site):
    options = page.locator("#store option")
    assert [options.nth(i).get_attribute("value") for i in range(options.count())] == [site["store"]]
    assert page.evaluate("sessionStorage.getItem('ragkit.key')") == site["key"]
    assert site["key"] not in page.url


def test_several_files_upload_at_once_and_by_drag_and_drop(page, site):
    page.set_input_files("#files", [str(site["pdf"]), str(site["docx"])])
    drop = page.evaluate_handle("""(text) => {
        const transfer = new DataTransfer();
        transfer.items.add(new File([text], "zephyr-notes.txt", {type: "text/plain"}));
        return transfer;
    }""", SCRIPT_NOTE)
    page.dispatch_event("#drop", "drop", {"dataTransfer": drop})
    (site["docs"] / "zephyr-notes.txt").write_text(SCRIPT_NOTE, encoding="utf-8")
    broken = site["root"] / "broken.pdf"
    broken.write_bytes(b"%PDF-1.4 this is not really a pdf")
    page.set_input_files("#files", [str(broken)])
    items = page.locator("#uploads li")
    for i in range(4):
        items.nth(i).locator("xpath=self::*[@data-state='completed' or @data-state='failed']").wait_for(timeout=WAIT)
    states = {items.nth(i).locator("div").inner_text(): items.nth(i).locator(".state").inner_text() for i in range(4)}
    assert states["aurora.pdf"] == states["rules.docx"] == states["zephyr-notes.txt"] == "completed"
    assert states["broken.pdf"].startswith("failed: ")
    assert all(items.nth(i).locator("progress").get_attribute("value") == "100" for i in range(4))
    shot(page, site, "02-uploads")


def test_a_pdf_answer_streams_and_its_citation_shows_the_highlighted_page(page, site):
    question = "How often is the coolant filter of the Aurora pump replaced?"
    turn = ask(page, question)
    assert int(turn.locator(".answer").get_attribute("data-deltas")) >= 1  # text arrived as stream deltas
    assert "180 days" in turn.locator(".answer").inner_text()
    turn.locator(".answer a.cite").first.focus()
    page.keyboard.press("Enter")  # links are keyboard-usable
    page.wait_for_selector("#viewer[data-state=shown][data-kind=pdf]")
    assert page.locator("#viewer-image").evaluate("img => img.naturalWidth") > 0
    boxes = page.locator("#viewer-page .hl")
    cited = citation_of(site, question)
    query = urllib.parse.urlencode({k: cited[k] for k in ("vector_store_id", "file_id", "chunk_id", "quote_start",
                                                          "quote_end")})
    request = urllib.request.Request(f"{site['server'].url}/page/citation?{query}",
                                     headers={"Authorization": f"Bearer {site['key']}"})
    with urllib.request.urlopen(request, timeout=60) as response:
        shown = json.load(response)
    assert shown["matched"] and boxes.count() == len(shown["rects"]) >= 1
    assert letters(text_inside(site["pdf"], shown["page"], shown["rects"])) == letters(cited["quote"])
    first = shown["rects"][0]
    assert boxes.first.evaluate("b => b.style.left") == f"{100 * first['x']}%"
    assert page.evaluate("document.activeElement.id") == "viewer-title"
    shutil.copy(shot(page, site, "03-pdf-citation"), site["root"] / "page-answer.png")


def test_a_docx_citation_marks_the_quote_in_its_section(page, site):
    question = "Where must visitors to the Aurora station sign in?"
    turn = ask(page, question)
    turn.locator(".answer a.cite").first.click()
    page.wait_for_selector("#viewer[data-state=shown][data-kind=text]")
    assert page.locator("#viewer-text mark").inner_text() == citation_of(site, question)["quote"]
    assert "north gate" in page.locator("#viewer-text mark").inner_text()
    assert page.locator("#viewer-page").is_hidden()
    shot(page, site, "04-docx-citation")


def test_markup_in_a_document_is_shown_as_text_and_never_run(page, site):
    turn = ask(page, "What does the Zephyr probe label read?")
    turn.locator(".answer a.cite").first.click()
    page.wait_for_selector("#viewer[data-state=shown][data-kind=text]")
    assert "<script>window.pwned = 1</script>" in page.locator("#viewer-text").inner_text()
    assert "<script>" in turn.inner_text()
    assert page.evaluate("typeof window.pwned") == "undefined"
    assert page.locator("#viewer-text script, .turn script").count() == 0
    assert page.errors == []  # type: ignore[attr-defined]
    shot(page, site, "05-markup-as-text")


def test_a_refused_answer_says_so_and_shows_the_nearest_passages(page, site):
    turn = ask(page, "What is the price of the WS-900 in France?")
    assert turn.locator(".refusal").is_visible()
    assert "Not found in the documents" in turn.locator(".answer").inner_text()
    assert turn.locator(".sources li").count() >= 1
    turn.locator(".sources a").first.click()
    page.wait_for_selector("#viewer[data-state=shown]")
    shot(page, site, "06-refusal")


def test_a_follow_up_keeps_the_subject_and_conversations_can_be_reopened(page, site):
    first = ask(page, "How often is the coolant filter of the Aurora pump replaced?")
    assert first.locator(".searched").is_hidden()
    follow = ask(page, "and how often is it serviced?", new=False)
    assert follow.locator(".searched").inner_text() == "Searched as: how often is the Aurora pump serviced?"
    assert "90 days" in follow.locator(".answer").inner_text()
    shot(page, site, "08-follow-up")
    threads = page.locator("#threads button")
    assert threads.first.inner_text().startswith("How often is the coolant filter")
    page.get_by_role("button", name="New conversation").click()
    assert page.locator(".turn").count() == 0
    threads.first.click()
    assert [t.inner_text() for t in page.locator(".turn .q").all()] == [
        "How often is the coolant filter of the Aurora pump replaced?", "and how often is it serviced?"]
    assert threads.first.get_attribute("aria-current") == "true"


def test_thumbs_down_with_a_correction_is_exported_as_gold_that_eval_runs(page, site):
    question = "Where must visitors to the Aurora station sign in?"
    turn = ask(page, question)
    turn.get_by_role("button", name="Wrong answer").click()
    turn.get_by_label("Correct answer").fill("At the north gate")
    turn.get_by_label("Right source (file name)").fill("rules.docx")
    turn.get_by_role("button", name="Send feedback").click()
    turn.locator("xpath=self::*[@data-rated='down']").wait_for(timeout=WAIT)
    assert "feedback saved" in turn.locator(".rated").inner_text()
    shot(page, site, "07-feedback")
    gold = site["root"] / "gold.jsonl"
    ragkit("feedback", "export", "--out", str(gold), home=site["home"])
    items = [json.loads(line) for line in gold.read_text(encoding="utf-8").splitlines()]
    assert [(i["question"], i["answers"], i["sources"]) for i in items] == [
        (question, ["At the north gate"], [{"file": "rules.docx", "page": None, "grade": 1.0}])]
    run = site["root"] / "run"
    ragkit("eval", str(gold), "--ingest", str(site["docs"]), "--out", str(run), home=site["root"] / "eval")
    summary = json.loads((run / "summary.json").read_text())["summary"]
    assert summary["questions"] == 1 and summary["retrieval"]["hit@5"] == 1.0
