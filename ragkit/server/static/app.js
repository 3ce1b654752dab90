// ragkit page: plain JavaScript, no build step. Every text from a document or an answer is set
// with textContent (never parsed as HTML), so a document that contains markup is shown as text.
"use strict";

const $ = (id) => document.getElementById(id);
const KEY = "ragkit.key";
const THREADS = "ragkit.threads";
const EXTRACTIVE = "ragkit-extractive";
const UNREACHABLE = "The server cannot be reached. Check that ragkit serve is still running, then try again.";
const CUT = "The connection to the server was lost before the answer finished. Check that ragkit serve is still " +
            "running, then ask again.";
const INTERRUPTED = "This answer did not finish: the page was reloaded or closed while it was being written. " +
                    "Ask the question again.";
// live: the turn being answered now (one at a time, so a follow-up sees the answer before it)
const state = { key: null, stores: [], threads: [], thread: null, model: EXTRACTIVE, live: null };

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (name === "text") node.textContent = value;
    else if (name === "class") node.className = value;
    else node.setAttribute(name, value);
  }
  for (const child of children) node.append(child);
  return node;
}

function setStatus(message, isError = false) {
  $("status").textContent = message;
  $("status").classList.toggle("error", isError);
}

class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

async function api(path, options = {}) {
  const headers = { Authorization: "Bearer " + state.key, ...(options.headers || {}) };
  if (options.json !== undefined) {
    headers["Content-Type"] = "application/json";
    options = { ...options, body: JSON.stringify(options.json) };
  }
  let response;
  try {
    response = await fetch(path, { ...options, headers });
  } catch (_) {
    throw new ApiError(0, UNREACHABLE); // no answer at all: the server is down or the network is
  }
  if (!response.ok) throw new ApiError(response.status, await errorText(response));
  return options.raw ? response : response.json();
}

async function errorText(response) {
  try {
    const body = await response.json();
    return (body.error && body.error.message) || response.statusText;
  } catch (_) {
    return response.status + " " + response.statusText;
  }
}

// -- sign in ----------------------------------------------------------------------------------
async function signIn(key) {
  state.key = key;
  try {
    const listed = await api("/v1/vector_stores?limit=100");
    state.stores = listed.data;
  } catch (error) {
    state.key = null;
    if (error.status === 401) sessionStorage.removeItem(KEY); // a server that is down keeps the key for a reload
    setStatus(error.status === 401 ? "Sign-in refused: " + error.message : "Sign-in failed: " + error.message, true);
    return;
  }
  sessionStorage.setItem(KEY, key);
  await chooseModel();
  $("key").value = "";
  $("signin").hidden = true;
  $("signed-in").hidden = false;
  $("who").textContent = "Signed in (" + key.slice(0, 6) + "…)";
  $("intro").hidden = true;
  $("app").hidden = false;
  fillStores();
  loadThreads();
  loadUploads();
  setStatus(state.stores.length ? "Signed in." : "Signed in. Create a collection to start.");
  (state.stores.length ? $("question") : $("store-name")).focus();
}

// The configured chat model answers when the server has one (the models ragkit does not own);
// otherwise the extractive answerer, which quotes the documents.
async function chooseModel() {
  try {
    const models = (await api("/v1/models")).data;
    const chat = models.find((m) => m.owned_by === "upstream");
    state.model = chat ? chat.id : EXTRACTIVE;
  } catch (_) {
    state.model = EXTRACTIVE;
  }
  $("answerer").textContent = state.model === EXTRACTIVE
    ? "Answers quote the documents (" + EXTRACTIVE + ")" : "Answers by the chat model " + state.model;
}

// Signing out forgets the tab's conversations and uploads too: the next person to sign in here,
// maybe with a key for other collections, must not see them.
function signOut() {
  sessionStorage.removeItem(KEY);
  sessionStorage.removeItem(THREADS);
  state.key = null;
  state.threads = [];
  state.thread = null;
  showThread();
  forgetUploads();
  $("app").hidden = true;
  $("signin").hidden = false;
  $("signed-in").hidden = true;
  $("intro").hidden = false;
  setStatus("Signed out. This tab's conversations and uploads were cleared.");
  $("key").focus();
}

function fillStores(selected) {
  const select = $("store");
  select.replaceChildren(...state.stores.map((s) => el("option", { value: s.id, text: (s.name || s.id) + " (" + s.file_counts.completed + " files)" })));
  if (selected) select.value = selected;
}

async function createStore(event) {
  event.preventDefault();
  const name = $("store-name").value.trim();
  if (!name) return setStatus("Give the new collection a name.", true);
  try {
    const store = await api("/v1/vector_stores", { method: "POST", json: { name } });
    state.stores.unshift(store);
    fillStores(store.id);
    $("store-name").value = "";
    setStatus("Created collection " + name + ".");
  } catch (error) {
    setStatus("Could not create the collection: " + error.message, true);
  }
}

async function refreshStores() {
  try {
    state.stores = (await api("/v1/vector_stores?limit=100")).data;
    fillStores($("store").value);
  } catch (_) { /* the list stays as it was */ }
}

// -- asking -----------------------------------------------------------------------------------
async function ask(event) {
  event.preventDefault();
  const question = $("question").value.trim();
  const storeId = $("store").value;
  if (!question) return;
  if (!storeId) return setStatus("Pick or create a collection first.", true);
  if (state.live) return setStatus("Wait for the answer being written to finish, then ask this question.", true);
  const thread = currentThread(question, storeId);
  const previous = [...thread.turns].reverse().find(answered);
  // kept before it is answered: a reload meanwhile shows the question as interrupted, not lost
  const turn = { question, query: question, store: storeId, text: "", refused: false, citations: [], results: [],
                 state: "pending" };
  thread.turns.push(turn);
  state.live = turn;
  saveThreads();
  const view = turnView(turn);
  $("turns").append(view.root);
  view.root.scrollIntoView({ block: "nearest" });
  $("question").value = "";
  view.root.dataset.state = "streaming";
  view.root.querySelector(".rate").hidden = true; // rated once it is written
  try {
    turn.query = await standalone(question, previous);
    showSearched(turn, view);
    const response = await api("/v1/responses", {
      method: "POST", raw: true,
      json: { model: state.model, stream: true, include: ["file_search_call.results"], input: turn.query,
              tools: [{ type: "file_search", vector_store_ids: [storeId] }] },
    });
    await readEvents(response, (event) => onEvent(event, turn, view));
    if (turn.state === "pending") throw new ApiError(0, CUT); // the stream ended without the answer
  } catch (error) {
    failTurn(turn, view, "The answer failed: " + error.message);
    if (!$("question").value) $("question").value = question; // Enter asks it again
  } finally {
    state.live = null;
    saveThreads();
    if (!view.root.isConnected && state.thread === thread) showThread(); // its conversation was reopened meanwhile
  }
}

const answered = (turn) => (turn.state || "done") === "done";

function failTurn(turn, view, message) {
  if (turn.state === "failed") return; // the first reason stands (an error event, then response.failed)
  Object.assign(turn, { state: "failed", error: message });
  view.answer.textContent = message;
  view.root.dataset.state = "error";
  view.root.querySelector(".rate").hidden = true; // nothing to rate
}

const LONGEST = 4000; // what /page/standalone takes of a question

// A follow-up ("and how often is it serviced?") is searched as a standalone question made from
// the previous turn; the page shows what was searched.
async function standalone(question, previous) {
  if (!previous || question.length > LONGEST) return question; // a question that long stands alone
  const passages = [previous.text, ...previous.citations.map((c) => c.quote)].filter(Boolean).slice(0, 20);
  const before = (previous.query || previous.question).slice(0, LONGEST);
  const made = await api("/page/standalone", { method: "POST", json: { question, previous: before, passages } });
  return made.query;
}

function showSearched(turn, view) {
  const note = view.root.querySelector(".searched");
  const query = turn.query || turn.question;
  note.hidden = query === turn.question;
  note.textContent = "Searched as: " + query;
}

async function readEvents(response, handle) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    let value, done;
    try {
      ({ value, done } = await reader.read());
    } catch (_) {
      throw new ApiError(0, CUT);
    }
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      const data = block.split("\n").filter((l) => l.startsWith("data: ")).map((l) => l.slice(6)).join("\n");
      if (data) handle(JSON.parse(data));
    }
  }
}

function onEvent(event, turn, view) {
  if (event.type === "response.output_text.delta") {
    view.answer.append(document.createTextNode(event.delta));
    view.answer.dataset.deltas = String(Number(view.answer.dataset.deltas || 0) + 1);
  } else if (event.type === "response.output_item.done" && event.item.type === "file_search_call") {
    turn.results = event.item.results || [];
  } else if (event.type === "response.completed" || event.type === "response.incomplete") {
    const meta = event.response.ragkit || {};
    const message = event.response.output.find((item) => item.type === "message");
    turn.text = message ? message.content[0].text : "";
    turn.refused = Boolean(meta.refused);
    turn.citations = meta.citations || [];
    turn.model = event.response.model;
    turn.generator = meta.generator || "";
    turn.warnings = meta.warnings || [];
    turn.state = "done";
    renderFinal(turn, view);
    view.root.dataset.state = "done";
  } else if (event.type === "error" || event.type === "response.failed") {
    const said = event.message || (event.response && event.response.error && event.response.error.message);
    failTurn(turn, view, "The answer failed: " + (said || "the server could not answer. Ask again."));
  }
}

function turnView(turn) {
  const root = $("turn-template").content.firstElementChild.cloneNode(true);
  const view = { root, answer: root.querySelector(".answer"), sources: root.querySelector(".sources") };
  root.querySelector(".q").textContent = turn.question;
  wireRating(root, turn);
  return view;
}

function citeLink(label, open) {
  const link = el("a", { href: "#viewer", class: "cite", text: label });
  link.addEventListener("click", (e) => { e.preventDefault(); open(); });
  return link;
}

function renderFinal(turn, view) {
  const byNumber = new Map(turn.citations.map((c) => [c.n, c]));
  const parts = [];
  let last = 0;
  for (const match of turn.text.matchAll(/\[(\d+(?:\s*[,;]\s*\d+)*)\]/g)) {
    parts.push(document.createTextNode(turn.text.slice(last, match.index)));
    for (const n of match[1].split(/\s*[,;]\s*/).map(Number)) {
      const cited = byNumber.get(n);
      parts.push(cited ? citeLink("[" + n + "]", () => openCitation(cited)) : document.createTextNode("[" + n + "]"));
    }
    last = match.index + match[0].length;
  }
  parts.push(document.createTextNode(turn.text.slice(last)));
  view.answer.replaceChildren(...parts);
  const items = turn.citations.map((c) => el("li", {},
    citeLink("[" + c.n + "] " + c.filename + (c.page ? ", p. " + c.page : ""), () => openCitation(c)),
    document.createTextNode(": “" + c.quote + "”")));
  if (turn.refused) {
    const refusal = view.root.querySelector(".refusal");
    refusal.hidden = false;
    if (!turn.results.length) refusal.textContent = "No passage answers this question. If the collection has no " +
      "documents yet, upload some first.";
    for (const r of turn.results.slice(0, 5)) {
      const passage = { vector_store_id: r.vector_store_id, file_id: r.file_id, chunk_id: r.chunk_id, quote_start: 0, quote_end: r.text.length };
      items.push(el("li", {}, citeLink(r.filename + (r.page ? ", p. " + r.page : ""), () => openCitation(passage)),
        document.createTextNode(": " + (r.text.length > 240 ? r.text.slice(0, 240) + "…" : r.text))));
    }
  }
  view.sources.replaceChildren(...items);
  view.root.querySelector(".rate").hidden = false;
  showAnswerer(turn, view);
}

// Which answerer wrote the answer: the chat model, or the extractive answerer (also when the
// chat model was unreachable and the answer fell back to quoting, which the warning says).
function showAnswerer(turn, view) {
  const note = view.root.querySelector(".answered-by");
  if (!turn.generator) return;
  const extractive = turn.generator === "extractive";
  note.dataset.generator = turn.generator;
  note.textContent = extractive
    ? "Answered by " + EXTRACTIVE + " (quotes from the documents)"
    : "Answered by the chat model " + turn.model;
  if (extractive && turn.model !== EXTRACTIVE && turn.warnings.length) note.textContent += ": " + turn.warnings[0];
  note.hidden = false;
}

// -- wiring -----------------------------------------------------------------------------------
document.addEventListener("DOMContentLoaded", () => {
  $("signin").addEventListener("submit", (event) => { event.preventDefault(); signIn($("key").value.trim()); });
  $("signout").addEventListener("click", signOut);
  $("new-store").addEventListener("submit", createStore);
  $("ask").addEventListener("submit", ask);
  $("question").addEventListener("keydown", (event) => {
    // Enter that confirms an input method's composition (Chinese, Japanese, …) does not send
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) { event.preventDefault(); $("ask").requestSubmit(); }
  });
  $("choose").addEventListener("click", () => $("files").click());
  $("files").addEventListener("change", (event) => { uploadAll([...event.target.files]); event.target.value = ""; });
  const drop = $("drop");
  for (const name of ["dragenter", "dragover"]) drop.addEventListener(name, (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => { e.preventDefault(); drop.classList.remove("over"); uploadAll([...e.dataTransfer.files]); });
  window.addEventListener("dragover", (e) => e.preventDefault());
  window.addEventListener("drop", (e) => e.preventDefault());
  $("new-thread").addEventListener("click", () => { state.thread = null; showThread(); $("question").focus(); });
  $("viewer-close").addEventListener("click", () => closeViewer(true));
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && !$("viewer").hidden) closeViewer(true);
  });
  const saved = sessionStorage.getItem(KEY);
  if (saved) signIn(saved);
});
