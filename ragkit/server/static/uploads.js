// ragkit page: uploads. Each file's row (its upload progress, then "indexing", then its result) is
// kept in the tab's sessionStorage, so a reload shows the rows again and keeps following the
// files the server is still indexing. Loaded before app.js, whose helpers ($, el, api, state,
// refreshStores) these functions call. File names are only ever set as textContent.
"use strict";

const UPLOADS = "ragkit.uploads";
const RELOADED = "the page was reloaded before the upload finished; upload the file again";
const OFFLINE = "the server could not be reached; check that ragkit serve is running, then upload the file again";
const uploads = []; // newest first: { name, size, store, file_id, status, detail }

function saveUploads() {
  sessionStorage.setItem(UPLOADS, JSON.stringify(uploads.slice(0, 50)));
}

// After sign-in (also after a reload): the tab's rows, and the files still being indexed followed.
function loadUploads() {
  uploads.length = 0;
  $("uploads").replaceChildren();
  let saved = [];
  try { saved = JSON.parse(sessionStorage.getItem(UPLOADS) || "[]"); } catch (_) { saved = []; }
  for (const entry of saved.reverse()) {
    if (entry.status === "uploading") Object.assign(entry, { status: "failed", detail: RELOADED });
    const row = uploadRow(entry);
    if (entry.status === "in_progress") follow(entry, row);
  }
  saveUploads();
}

function forgetUploads() {
  uploads.length = 0;
  sessionStorage.removeItem(UPLOADS);
  $("uploads").replaceChildren();
}

function uploadAll(files) {
  const storeId = $("store").value;
  if (!storeId) return setStatus("Pick or create a collection first.", true);
  for (const file of files) uploadOne(file, storeId);
}

function uploadRow(entry) {
  const bar = el("progress", { max: "100", value: entry.status === "uploading" ? "0" : "100", "aria-label": "Upload of " + entry.name });
  const stateText = el("span", { class: "state" });
  const item = el("li", {}, el("div", { text: entry.name }), bar, stateText);
  uploads.unshift(entry);
  $("uploads").prepend(item);
  const row = {
    bar,
    show(status, detail = "") {
      Object.assign(entry, { status, detail });
      item.dataset.state = status;
      stateText.className = "state " + status;
      const label = status === "in_progress" ? "indexing" : status;
      stateText.textContent = detail ? label + ": " + detail : label;
      saveUploads();
    },
  };
  row.show(entry.status, entry.detail);
  return row;
}

function uploadOne(file, storeId) {
  const entry = { name: file.name, size: file.size, store: storeId, file_id: null, status: "uploading", detail: "" };
  const row = uploadRow(entry);
  const form = new FormData();
  form.append("purpose", "assistants");
  form.append("file", file);
  const xhr = new XMLHttpRequest();
  xhr.open("POST", "/v1/files");
  xhr.setRequestHeader("Authorization", "Bearer " + state.key);
  xhr.upload.onprogress = (e) => { if (e.lengthComputable) row.bar.value = Math.round((100 * e.loaded) / e.total); };
  xhr.onerror = () => row.show("failed", OFFLINE);
  xhr.onload = async () => {
    let body = {};
    try { body = JSON.parse(xhr.responseText); } catch (_) { /* reported below */ }
    if (xhr.status === 413) return row.show("failed", tooLarge(file, body));
    if (xhr.status !== 200) return row.show("failed", (body.error && body.error.message) || "the server answered HTTP " + xhr.status);
    row.bar.value = 100;
    entry.file_id = body.id;
    try {
      const attached = await api(`/v1/vector_stores/${storeId}/files`, { method: "POST", json: { file_id: body.id } });
      await follow(entry, row, attached);
    } catch (error) {
      row.show("failed", error.message);
    }
  };
  xhr.send(form);
}

// Poll the file until the server has indexed it; while the server cannot be reached, wait and
// ask again (the file may well finish: the server indexes it after a restart).
async function follow(entry, row, vsFile = null) {
  const path = `/v1/vector_stores/${entry.store}/files/${entry.file_id}`;
  for (;;) {
    try {
      if (vsFile === null) vsFile = await api(path);
    } catch (error) {
      if (error.status !== 0) return row.show("failed", error.message);
      row.show("in_progress", "waiting for the server to answer again");
      await new Promise((resolve) => setTimeout(resolve, 3000));
      continue;
    }
    if (vsFile.status !== "in_progress") break;
    if (entry.status !== "in_progress" || entry.detail) row.show("in_progress");
    await new Promise((resolve) => setTimeout(resolve, 300));
    vsFile = null;
  }
  row.show(vsFile.status, vsFile.last_error ? vsFile.last_error.message : "");
  refreshStores();
}

function tooLarge(file, body) {
  const said = /(\d+) bytes/.exec((body.error && body.error.message) || "");
  const limit = said ? "up to " + megabytes(Number(said[1])) : "smaller files";
  return `the file is ${megabytes(file.size)} and this server accepts ${limit}`;
}

function megabytes(bytes) {
  return (bytes / 1048576).toFixed(bytes < 10 * 1048576 ? 1 : 0) + " MB";
}
