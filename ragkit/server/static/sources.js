// ragkit page: the cited source (a PDF page with the quote's lines highlighted, or the chunk's
// text with the quote marked) and the ratings of answers. Loaded before app.js, whose helpers
// ($, el, api, setStatus) these functions call. Document text is only ever set as textContent.
"use strict";

// -- the cited source -------------------------------------------------------------------------
let shownImage = null;
let opener = null; // the link that opened the source: Close and Escape give it the focus back

async function openCitation(c) {
  const query = new URLSearchParams({ vector_store_id: c.vector_store_id, file_id: c.file_id, chunk_id: c.chunk_id,
                                      quote_start: c.quote_start, quote_end: c.quote_end });
  const viewer = $("viewer");
  opener = document.activeElement;
  viewer.dataset.state = "loading";
  // nothing of the source shown before stays while this one loads (or fails to)
  $("viewer-title").textContent = "Source";
  $("viewer-where").textContent = "Opening the source…";
  $("viewer-where").classList.remove("error");
  for (const part of ["viewer-page", "viewer-nomatch", "viewer-text"]) $(part).hidden = true;
  viewer.hidden = false;
  try {
    const shown = await api("/page/citation?" + query);
    $("viewer-title").textContent = shown.filename;
    $("viewer-where").textContent = [shown.page ? "Page " + shown.page : "", shown.section].filter(Boolean).join(" · ");
    const passage = $("viewer-text");
    passage.replaceChildren(document.createTextNode(shown.text.slice(0, shown.quote_start)),
      el("mark", { text: shown.quote }), document.createTextNode(shown.text.slice(shown.quote_end)));
    const isPdf = shown.kind === "pdf";
    if (isPdf) await showPage(shown);
    $("viewer-page").hidden = !isPdf;
    $("viewer-nomatch").hidden = !isPdf || shown.matched;
    passage.hidden = isPdf && shown.matched;
    viewer.dataset.state = "shown";
    viewer.dataset.kind = shown.kind;
  } catch (error) {
    viewer.dataset.state = "error";
    $("viewer-title").textContent = "Source not shown";
    $("viewer-where").textContent = "Could not open the source: " + error.message;
    $("viewer-where").classList.add("error");
    setStatus("Could not open the source: " + error.message, true);
  }
  $("viewer-title").focus();
}

function closeViewer(giveFocusBack) {
  $("viewer").hidden = true;
  if (!giveFocusBack) return;
  (opener && opener.isConnected ? opener : $("question")).focus();
}

async function showPage(shown) {
  const box = $("viewer-page");
  box.querySelectorAll(".hl").forEach((n) => n.remove());
  const blob = await (await api(shown.image, { raw: true })).blob();
  if (shownImage) URL.revokeObjectURL(shownImage);
  shownImage = URL.createObjectURL(blob);
  const image = $("viewer-image");
  image.alt = "Page " + shown.page + " of " + shown.filename + ", the quote highlighted";
  await new Promise((resolve) => { image.onload = resolve; image.onerror = resolve; image.src = shownImage; });
  for (const r of shown.rects) {
    const mark = el("div", { class: "hl" });
    Object.assign(mark.style, { left: 100 * r.x + "%", top: 100 * r.y + "%", width: 100 * r.w + "%", height: 100 * r.h + "%" });
    box.append(mark);
  }
}

// -- feedback ---------------------------------------------------------------------------------
function wireRating(root, turn) {
  const up = root.querySelector(".up");
  const down = root.querySelector(".down");
  const form = root.querySelector(".correct");
  const said = root.querySelector(".rated");
  const send = async (rating, extra = {}) => {
    const body = { vector_store_id: turn.store, question: turn.question, answer: turn.text, refused: turn.refused, rating,
                   citations: turn.citations.map((c) => ({ filename: c.filename, page: c.page })), ...extra };
    try {
      await api("/page/feedback", { method: "POST", json: body });
      said.textContent = "Thanks, feedback saved.";
      root.dataset.rated = rating;
    } catch (error) {
      said.textContent = "Feedback not saved: " + error.message;
    }
  };
  up.addEventListener("click", () => {
    up.setAttribute("aria-pressed", "true");
    down.setAttribute("aria-pressed", "false");
    form.hidden = true;
    send("up");
  });
  down.addEventListener("click", () => {
    down.setAttribute("aria-pressed", "true");
    up.setAttribute("aria-pressed", "false");
    form.hidden = false;
    form.querySelector("textarea").focus();
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const page = Number(data.get("source_page"));
    send("down", { correction: data.get("correction") || null, source_file: data.get("source_file") || null,
                   source_page: page > 0 ? page : null, not_answerable: data.get("not_answerable") === "on" });
    form.hidden = true;
  });
}
