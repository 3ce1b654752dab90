// ragkit page: plain JavaScript, no build step. Every text from a document or an answer is set
// with textContent (never parsed as HTML), so a document that contains markup is shown as text.
"use strict";

const $ = (id) => document.getElementById(id);
const KEY = "ragkit.key";
const THREADS = "ragkit.threads";
const EXTRACTIVE = "ragkit-extractive";
const state = { key: null, stores: [], threads: [], thread: null, model: EXTRACTIVE };

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
  const response = await fetch(path, { ...options, headers });
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
    sessionStorage.removeItem(KEY);
    setStatus(error.status === 401 ? "Sign-in refused: " + error.message : "Sign-in failed: " + error.message, true);
    return;
  }
  sessionStorage.setItem(KEY, key);
  await chooseModel();
  $("key").value = "";
  $("signin").hidden = true;
  $("signed-in").hidden = false;
  $("who").textContent = "Signed in (" + key.slice(0, 6) + "…)";
  $("app").hidden = false;
  fillStores();
  loadThreads();
  setStatus(state.stores.length ? "Signed in." : "Signed in. Create a collection to start.");
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

function signOut() {
  sessionStorage.removeItem(KEY);
  state.key = null;
  $("app").hidden = true;
  $("signin").hidden = false;
  $("signed-in").hidden = true;
  $("turns").replaceChildren();
  setStatus("Signed out.");
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

// -- uploads ----------------------------------------------------------------------------------
function uploadAll(files) {
  const storeId = $("store").value;
  if (!storeId) return setStatus("Pick or create a collection first.", true);
  for (const file of files) uploadOne(file, storeId);
}

function uploadOne(file, storeId) {
  const bar = el("progress", { max: "100", value: "0", "aria-label": "Upload of " + file.name });
  const stateText = el("span", { class: "state", text: "uploading" });
  const item = el("li", { "data-state": "uploading" }, el("div", { text: file.name }), bar, stateText);
  $("uploads").prepend(item);
  const show = (status, detail) => {
    item.dataset.state = status;
    stateText.className = "state " + status;
    stateText.textContent = detail ? status + ": " + detail : status;
  };
  const form = new FormData();
  form.append("purpose", "assistants");
  form.append("file", file);
  const xhr = new XMLHttpRequest();
  xhr.open("POST", "/v1/files");
  xhr.setRequestHeader("Authorization", "Bearer " + state.key);
  xhr.upload.onprogress = (e) => { if (e.lengthComputable) bar.value = Math.round((100 * e.loaded) / e.total); };
  xhr.onerror = () => show("failed", "the upload was interrupted");
  xhr.onload = async () => {
    let body = {};
    try { body = JSON.parse(xhr.responseText); } catch (_) { /* reported below */ }
    if (xhr.status !== 200) return show("failed", (body.error && body.error.message) || "HTTP " + xhr.status);
    bar.value = 100;
    show("in_progress", "indexing");
    try {
      let vsFile = await api(`/v1/vector_stores/${storeId}/files`, { method: "POST", json: { file_id: body.id } });
      while (vsFile.status === "in_progress") {
        await new Promise((resolve) => setTimeout(resolve, 300));
        vsFile = await api(`/v1/vector_stores/${storeId}/files/${body.id}`);
      }
      show(vsFile.status, vsFile.last_error ? vsFile.last_error.message : "");
      refreshStores();
    } catch (error) {
      show("failed", error.message);
    }
  };
  xhr.send(form);
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
  const thread = currentThread(question, storeId);
  const turn = { question, query: question, store: storeId, text: "", refused: false, citations: [], results: [] };
  const view = turnView(turn);
  $("turns").append(view.root);
  view.root.scrollIntoView({ block: "nearest" });
  $("question").value = "";
  view.root.dataset.state = "streaming";
  try {
    turn.query = await standalone(question, thread.turns[thread.turns.length - 1]);
    showSearched(turn, view);
    const response = await api("/v1/responses", {
      method: "POST", raw: true,
      json: { model: state.model, stream: true, include: ["file_search_call.results"], input: turn.query,
              tools: [{ type: "file_search", vector_store_ids: [storeId] }] },
    });
    await readEvents(response, (event) => onEvent(event, turn, view));
  } catch (error) {
    view.answer.textContent = "The answer failed: " + error.message;
    view.root.dataset.state = "error";
    return;
  }
  if (view.root.dataset.state === "streaming") view.root.dataset.state = "error";
  thread.turns.push(turn);
  saveThreads();
}

// A follow-up ("and how often is it serviced?") is searched as a standalone question made from
// the previous turn; the page shows what was searched.
async function standalone(question, previous) {
  if (!previous) return question;
  const passages = [previous.text, ...previous.citations.map((c) => c.quote)].slice(0, 20);
  const made = await api("/page/standalone", { method: "POST", json: { question, previous: previous.query || previous.question, passages } });
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
    const { value, done } = await reader.read();
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
  } else if (event.type === "response.completed") {
    const meta = event.response.ragkit || {};
    const message = event.response.output.find((item) => item.type === "message");
    turn.text = message ? message.content[0].text : "";
    turn.refused = Boolean(meta.refused);
    turn.citations = meta.citations || [];
    turn.model = event.response.model;
    turn.generator = meta.generator || "";
    turn.warnings = meta.warnings || [];
    renderFinal(turn, view);
    view.root.dataset.state = "done";
  } else if (event.type === "error" || event.type === "response.failed") {
    view.answer.textContent = "The answer failed: " + (event.message || "server error");
    view.root.dataset.state = "error";
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
    view.root.querySelector(".refusal").hidden = false;
    for (const r of turn.results.slice(0, 5)) {
      const passage = { vector_store_id: r.vector_store_id, file_id: r.file_id, chunk_id: r.chunk_id, quote_start: 0, quote_end: r.text.length };
      items.push(el("li", {}, citeLink(r.filename + (r.page ? ", p. " + r.page : ""), () => openCitation(passage)),
        document.createTextNode(": " + (r.text.length > 240 ? r.text.slice(0, 240) + "…" : r.text))));
    }
  }
  view.sources.replaceChildren(...items);
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

// -- conversations ----------------------------------------------------------------------------
function loadThreads() {
  try { state.threads = JSON.parse(sessionStorage.getItem(THREADS) || "[]"); } catch (_) { state.threads = []; }
  state.thread = state.threads[0] || null;
  showThread();
}

function saveThreads() {
  sessionStorage.setItem(THREADS, JSON.stringify(state.threads.slice(0, 30)));
  listThreads();
}

function currentThread(question, storeId) {
  if (!state.thread || state.thread.store !== storeId) {
    state.thread = { id: String(Date.now()), title: question.slice(0, 60), store: storeId, turns: [] };
    state.threads.unshift(state.thread);
    listThreads();
  }
  return state.thread;
}

function listThreads() {
  $("threads").replaceChildren(...state.threads.map((t) => {
    const button = el("button", { type: "button", text: t.title, "aria-current": String(t === state.thread) });
    button.addEventListener("click", () => { state.thread = t; showThread(); });
    return el("li", {}, button);
  }));
}

function showThread() {
  listThreads();
  $("viewer").hidden = true;
  $("turns").replaceChildren();
  if (!state.thread) return;
  if ([...$("store").options].some((o) => o.value === state.thread.store)) $("store").value = state.thread.store;
  for (const turn of state.thread.turns) {
    const view = turnView(turn);
    showSearched(turn, view);
    renderFinal(turn, view);
    view.root.dataset.state = "done";
    $("turns").append(view.root);
  }
}

// -- wiring -----------------------------------------------------------------------------------
document.addEventListener("DOMContentLoaded", () => {
  $("signin").addEventListener("submit", (event) => { event.preventDefault(); signIn($("key").value.trim()); });
  $("signout").addEventListener("click", signOut);
  $("new-store").addEventListener("submit", createStore);
  $("ask").addEventListener("submit", ask);
  $("question").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey) { event.preventDefault(); $("ask").requestSubmit(); }
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
  $("viewer-close").addEventListener("click", () => { $("viewer").hidden = true; $("question").focus(); });
  const saved = sessionStorage.getItem(KEY);
  if (saved) signIn(saved);
});
