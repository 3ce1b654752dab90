"""The web page as a person uses it who never opens a terminal: on a phone, from the keyboard,
across reloads and sign-outs, and when the server stops or refuses. Debian's headless Chromium
driven by Playwright against real ``ragkit serve`` processes (one answering extractively, one
with a chat model whose answers the test holds back, so "mid-answer" is a real moment).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from server_helpers import Server, chat_model_server, create_key, wait_until
from test_page import make_docx
from test_page_browser import ARGS, CHROMIUM, WAIT, browser  # noqa: F401 - the browser fixture
from test_pages import make_pdf

pytestmark = pytest.mark.timeout(900)
PLAIN = re.compile(r"[{}\[\]]|Traceback|TypeError|Failed to fetch|network error")  # what a person must not read


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """Extractive answers, uploads limited to 2 MB, a writer key and a key for another store."""
    root = tmp_path_factory.mktemp("use")
    home = root / "home"
    admin = create_key(home, "admin", "--scope", "admin")
    server = Server(home, "--max-upload-mb", "2").start()
    client = server.client(admin)
    store = client.vector_stores.create(name="aurora")
    other = client.vector_stores.create(name="other team")
    for path in (make_pdf(root / "aurora.pdf"), make_docx(root / "rules.docx")):
        with open(path, "rb") as handle:
            assert client.vector_stores.files.upload_and_poll(vector_store_id=store.id, file=handle).status == "completed"
    yield {"server": server, "root": root, "home": home,
           "key": create_key(home, "writer", "--scope", "write", "--vector-store", store.id),
           "other": create_key(home, "other", "--vector-store", other.id)}
    server.stop()


def open_page(browser, url: str, key: str, **options):  # noqa: F811
    context = browser.new_context(**({"viewport": {"width": 1360, "height": 900}} | options))
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    page.goto(url + "/")
    if key:
        page.get_by_label("API key").fill(key)
        page.get_by_label("API key").press("Enter")
        page.wait_for_selector("#app:not([hidden])")
    return page


def ask(page, question: str, new: bool = True, state: str = "done"):
    if new:
        page.get_by_role("button", name="New conversation").click()
    before = page.locator(".turn").count()
    page.get_by_label("Question").fill(question)
    page.get_by_label("Question").press("Enter")
    turn = page.locator(".turn").nth(before)
    turn.locator("xpath=self::*[@data-state='done' or @data-state='error']").wait_for(timeout=WAIT)
    assert turn.get_attribute("data-state") == state, turn.inner_text()
    return turn


def luminance(css: str) -> float:
    channels = [int(c) / 255 for c in re.findall(r"\d+", css)[:3]]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: str, b: str) -> float:
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_on_a_phone_nothing_is_wider_than_the_screen_and_a_source_opens_over_the_page(browser, site):  # noqa: F811
    page = open_page(browser, site["server"].url, "", viewport={"width": 375, "height": 740}, is_mobile=True,
                     has_touch=True)
    width = "document.documentElement.scrollWidth <= innerWidth"
    assert page.evaluate(width)
    assert page.get_by_role("button", name="Sign in").bounding_box()["x"] + 10 < 375  # it was cut off at the edge
    page.get_by_label("API key").fill(site["key"])
    page.get_by_role("button", name="Sign in").tap()
    page.wait_for_selector("#app:not([hidden])")
    assert page.evaluate(width)  # the three columns were 585 px wide
    turn = ask(page, "How often is the coolant filter of the Aurora pump replaced?")
    assert page.evaluate(width)
    turn.locator(".answer a.cite").first.tap(timeout=10_000)  # other elements lay over the link
    page.wait_for_selector("#viewer[data-state=shown][data-kind=pdf]")
    box = page.locator("#viewer").bounding_box()
    assert (box["x"], box["y"], box["width"], box["height"]) == (0, 0, 375, 740)
    page.screenshot(path=str(site["root"] / "phone-source.png"))
    page.get_by_role("button", name="Close the source").tap()
    assert page.locator("#viewer").is_hidden()
    assert page.evaluate("document.activeElement.textContent") == "[1]"
    assert page.errors == []
    page.context.close()


def test_the_keyboard_alone_signs_in_asks_opens_a_source_and_comes_back(browser, site):  # noqa: F811
    page = open_page(browser, site["server"].url, "")
    page.keyboard.press("Tab")
    page.keyboard.type(site["key"])
    page.keyboard.press("Enter")
    page.wait_for_selector("#app:not([hidden])")
    assert page.evaluate("document.activeElement.id") == "question"  # it was the body: Tab from the top again
    page.keyboard.type("Where must visitors to the Aurora station sign in?")
    page.keyboard.press("Enter")
    page.locator(".turn[data-state=done]").wait_for(timeout=WAIT)
    for _ in range(4):
        page.keyboard.press("Shift+Tab")  # Wrong, Good, the source's link, the [1] in the answer
    assert page.evaluate("document.activeElement.textContent") == "[1]"
    page.keyboard.press("Enter")
    page.wait_for_selector("#viewer[data-state=shown]")
    assert page.evaluate("document.activeElement.id") == "viewer-title"
    page.keyboard.press("Escape")  # closed nothing before
    assert page.locator("#viewer").is_hidden()
    assert page.evaluate("document.activeElement.textContent") == "[1]"  # back where the reader was
    ring = page.evaluate("getComputedStyle(document.activeElement).outlineColor")
    assert contrast(ring, "rgb(255, 255, 255)") >= 3 and contrast(ring, "rgb(246, 247, 249)") >= 3  # it was 2.1
    composing = page.evaluate("""() => { const q = document.getElementById('question'); q.value = 'にほ';
        q.dispatchEvent(new KeyboardEvent('keydown', {key: 'Enter', isComposing: true, bubbles: true}));
        return document.querySelectorAll('.turn').length; }""")
    assert composing == 1 and page.get_by_label("Question").input_value() == "にほ"  # Enter chose a word, sent nothing
    page.context.close()


def test_conversations_can_be_deleted_and_stay_deleted_after_a_reload(browser, site):  # noqa: F811
    page = open_page(browser, site["server"].url, site["key"])
    ask(page, "How often is the Aurora pump serviced?")
    ask(page, "What colour is the visitors' badge?")
    titles = page.locator("#threads .open")
    assert titles.all_inner_texts() == ["What colour is the visitors' badge?", "How often is the Aurora pump serviced?"]
    page.get_by_role("button", name="Delete conversation: What colour is the visitors' badge?").click()
    assert titles.all_inner_texts() == ["How often is the Aurora pump serviced?"]
    assert page.locator(".turn").count() == 0  # the open conversation was the deleted one
    assert page.evaluate("document.activeElement.className") == "open"  # the keyboard stays in the list
    page.reload()
    page.wait_for_selector("#app:not([hidden])")
    assert titles.all_inner_texts() == ["How often is the Aurora pump serviced?"]
    page.context.close()


def test_signing_out_forgets_the_conversations_before_the_next_key_signs_in(browser, site):  # noqa: F811
    page = open_page(browser, site["server"].url, site["key"])
    ask(page, "Where do visitors return their badges?")
    page.get_by_role("button", name="Sign out").click()
    assert page.evaluate("sessionStorage.length") == 0
    page.get_by_label("API key").fill(site["other"])
    page.get_by_label("API key").press("Enter")
    page.wait_for_selector("#app:not([hidden])")
    # the other key's person saw the first one's questions and quotes of a store it may not read
    assert page.locator("#threads li").count() == 0 and page.locator(".turn").count() == 0
    assert "Aurora" not in page.locator("main").inner_text()
    turn = ask(page, "What is in this collection?")  # an empty collection: say what to do
    assert "upload some first" in turn.locator(".refusal").inner_text()
    page.context.close()


@pytest.mark.slow  # waits for a large upload to be indexed: 36 s
def test_uploads_stay_listed_after_a_reload_and_the_page_follows_their_indexing(browser, site):  # noqa: F811
    page = open_page(browser, site["server"].url, site["key"])
    big = site["root"] / "log.txt"
    big.write_text("".join(f"Entry {i}: the Aurora pump pressure was {i % 97} bar at gate {i % 7}.\n"
                           for i in range(8_000)), encoding="utf-8")  # about 0.5 MB: indexing takes a while
    huge = site["root"] / "scan.txt"
    huge.write_bytes(b"x" * (3 * 1024 * 1024))
    page.set_input_files("#files", [str(huge)])
    rows = page.locator("#uploads li")
    rows.first.locator("xpath=self::*[@data-state='failed']").wait_for(timeout=WAIT)
    assert rows.first.locator(".state").inner_text() == (
        "failed: the file is 3.0 MB and this server accepts up to 2.0 MB")  # it said "2097152 bytes"
    page.set_input_files("#files", [str(big)])
    page.wait_for_selector("#uploads li[data-state=in_progress], #uploads li[data-state=completed]", timeout=WAIT)
    page.reload()  # the rows were gone, and nothing said when the file was ready
    page.wait_for_selector("#app:not([hidden])")
    assert [r.split("\n")[0] for r in rows.all_inner_texts()] == ["log.txt", "scan.txt"]
    # ~800 chunks: half a minute on an idle machine, minutes on a loaded CI runner
    rows.first.locator("xpath=self::*[@data-state='completed']").wait_for(timeout=5 * WAIT)
    assert rows.first.locator(".state").inner_text() == "completed"
    assert "(3 files)" in page.locator("#store option").first.inner_text()
    page.context.close()


def test_a_follow_up_to_a_very_long_question_is_answered(browser, site):  # noqa: F811
    page = open_page(browser, site["server"].url, site["key"])
    ask(page, "Describe the pump. " * 250)  # 4,750 characters
    follow = ask(page, "and how often is it serviced?", new=False)  # was a 400 about 'previous'
    assert "90 days" in follow.locator(".answer").inner_text()
    page.context.close()


def test_a_refused_sign_in_keeps_nothing_but_a_busy_server_keeps_the_key(browser, site):  # noqa: F811
    key = create_key(site["home"], "limited", "--rate-limit", "3")
    page = open_page(browser, site["server"].url, key)  # two requests: the stores, the models
    page.reload()  # the third: the stores (the models are refused; the page answers extractively)
    page.wait_for_selector("#app:not([hidden])")
    page.reload()  # the fourth is refused with 429: the key was dropped and had to be typed again
    page.wait_for_selector("#status.error")
    assert page.locator("#status").inner_text().startswith("Sign-in failed: ")
    assert page.evaluate("sessionStorage.getItem('ragkit.key')") == key
    page.context.close()


# -- a chat model that answers only when the test lets it -------------------------------------
@pytest.fixture(scope="module")
def held(tmp_path_factory, openai_server):
    """A ``ragkit serve`` whose chat model waits 60 s before each answer the test queues a delay for."""
    root = tmp_path_factory.mktemp("held")
    server = chat_model_server(root / "home", openai_server.url, "held-model")
    client = server.client()
    store = client.vector_stores.create(name="aurora")
    with open(make_pdf(root / "aurora.pdf"), "rb") as handle:
        assert client.vector_stores.files.upload_and_poll(vector_store_id=store.id, file=handle).status == "completed"
    openai_server.state.reset()
    yield {"server": server, "llm": openai_server, "root": root}
    openai_server.state.reset()
    server.stop()


def hold_next_answer(held) -> int:
    held["llm"].state.faults.append(("delay", 60))
    return len(held["llm"].chat_requests())


def waiting(held, before: int) -> None:
    """Until the chat model has the question: the answer's stream has started."""
    wait_until(lambda: len(held["llm"].chat_requests()) > before, timeout=60)


def test_a_reload_mid_answer_keeps_the_question_and_one_question_is_answered_at_a_time(browser, held):  # noqa: F811
    page = open_page(browser, held["server"].url, "anything")
    asked = hold_next_answer(held)
    page.get_by_label("Question").fill("How often is the Aurora pump serviced?")
    page.get_by_label("Question").press("Enter")
    waiting(held, asked)
    page.get_by_label("Question").fill("and who services it?")
    page.get_by_label("Question").press("Enter")  # sent at once, it was searched without the answer before it
    assert page.locator(".turn").count() == 1 and "Wait for the answer" in page.locator("#status").inner_text()
    assert page.get_by_label("Question").input_value() == "and who services it?"
    assert page.locator(".turn .rate").is_hidden()  # nothing to rate yet
    page.reload()  # the question was lost with its conversation
    page.wait_for_selector("#app:not([hidden])")
    turn = page.locator(".turn")
    assert turn.locator(".q").all_inner_texts() == ["How often is the Aurora pump serviced?"]
    assert turn.get_attribute("data-state") == "error" and "did not finish" in turn.locator(".answer").inner_text()
    assert page.get_by_label("Question").input_value() == "How often is the Aurora pump serviced?"
    assert turn.locator(".rate").is_hidden()
    page.context.close()


def test_the_server_stopping_mid_answer_says_what_to_do_in_plain_words(browser, held):  # noqa: F811
    page = open_page(browser, held["server"].url, "anything")
    answered = ask(page, "How often is the coolant filter of the Aurora pump replaced?")
    answered.locator(".answer a.cite").first.click()
    page.wait_for_selector("#viewer[data-state=shown][data-kind=pdf]")
    asked = hold_next_answer(held)
    page.get_by_role("button", name="New conversation").click()  # no follow-up: the held request is the answer's
    page.get_by_label("Question").fill("What must the certified technician do every 90 days?")
    page.get_by_label("Question").press("Enter")
    waiting(held, asked)
    held["server"].kill()
    turn = page.locator(".turn").first
    turn.locator("xpath=self::*[@data-state='error']").wait_for(timeout=WAIT)
    said = turn.locator(".answer").inner_text()
    assert said.startswith("The answer failed: The connection to the server was lost") and not PLAIN.search(said)
    assert turn.locator(".rate").is_hidden()  # "Good" on a failure was stored as a rating
    assert page.get_by_label("Question").input_value() == "What must the certified technician do every 90 days?"
    page.screenshot(path=str(held["root"] / "stopped-mid-answer.png"))
    again = ask(page, "Who services the pump?", new=False, state="error")
    said = again.locator(".answer").inner_text()
    assert "The server cannot be reached. Check that ragkit serve is still running" in said and not PLAIN.search(said)
    page.locator("#threads .open").last.click()  # the first conversation
    page.locator(".turn .answer a.cite").first.click()  # a source shown before must not stand in for this one
    page.wait_for_selector("#viewer[data-state=error]")
    assert page.locator("#viewer-title").inner_text() == "Source not shown"
    assert page.locator("#viewer-page").is_hidden() and page.locator("#viewer-text").is_hidden()
    assert not PLAIN.search(page.locator("#viewer-where").inner_text())
    page.set_input_files("#files", [str(held["root"] / "aurora.pdf")])
    page.locator("#uploads li[data-state=failed]").wait_for(timeout=WAIT)
    said = page.locator("#uploads .state").inner_text()
    assert "the server could not be reached" in said and not PLAIN.search(said)
    assert page.errors == []
    page.context.close()
