// ragkit page: the conversations kept in the tab (sessionStorage): list, reopen, delete, and a
// question that was still being answered when the page was reloaded. Loaded before app.js, whose
// helpers ($, el, state, turnView, renderFinal, …) these functions call.
"use strict";

// A question still being answered when the page was reloaded is kept, as interrupted, and put
// back in the question box of its conversation.
function loadThreads() {
  try { state.threads = JSON.parse(sessionStorage.getItem(THREADS) || "[]"); } catch (_) { state.threads = []; }
  let interrupted = null;
  for (const turn of state.threads.flatMap((t) => t.turns)) {
    if (turn.state === "pending") interrupted = Object.assign(turn, { state: "failed", error: INTERRUPTED });
  }
  state.thread = state.threads[0] || null;
  saveThreads();
  showThread();
  const last = state.thread && state.thread.turns[state.thread.turns.length - 1];
  if (last && last === interrupted) $("question").value = last.question;
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
    const open = el("button", { type: "button", class: "open", text: t.title, "aria-current": String(t === state.thread) });
    open.addEventListener("click", () => { state.thread = t; showThread(); });
    const remove = el("button", { type: "button", class: "delete", text: "Delete", "aria-label": "Delete conversation: " + t.title });
    remove.addEventListener("click", () => deleteThread(t));
    return el("li", {}, open, remove);
  }));
}

function deleteThread(thread) {
  const at = state.threads.indexOf(thread);
  state.threads.splice(at, 1);
  if (state.thread === thread) {
    state.thread = null;
    showThread();
  }
  saveThreads();
  setStatus("Deleted the conversation “" + thread.title + "”.");
  const next = $("threads").querySelectorAll(".open")[Math.min(at, state.threads.length - 1)];
  (next || $("new-thread")).focus(); // the keyboard stays in the list
}

function showThread() {
  listThreads();
  closeViewer(false);
  $("turns").replaceChildren();
  if (!state.thread) return;
  if ([...$("store").options].some((o) => o.value === state.thread.store)) $("store").value = state.thread.store;
  for (const turn of state.thread.turns) {
    const view = turnView(turn);
    if (answered(turn)) {
      showSearched(turn, view);
      renderFinal(turn, view);
      view.root.dataset.state = "done";
    } else if (turn === state.live) {
      view.answer.textContent = "Still being answered: open this conversation again in a moment.";
      view.root.dataset.state = "streaming";
      view.root.querySelector(".rate").hidden = true;
    } else {
      view.answer.textContent = turn.error || INTERRUPTED;
      view.root.dataset.state = "error";
      view.root.querySelector(".rate").hidden = true;
    }
    $("turns").append(view.root);
  }
}
