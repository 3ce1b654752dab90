// What the Node examples share (as examples/ragkit_env.py does for the Python ones): where ragkit
// serves, which chat model to use, the store to answer over, and how a citation is printed.
//
// Environment: RAGKIT_BASE_URL (default http://127.0.0.1:8080/v1, where ragkit serve listens),
// RAGKIT_API_KEY (any value with --no-auth), RAGKIT_VECTOR_STORE_ID (default: the store named
// `ragkit-examples`, created from corpora/halvard on first use), RAGKIT_CHAT_MODEL (default: the
// first chat model /v1/models lists).

import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const BASE_URL = process.env.RAGKIT_BASE_URL || 'http://127.0.0.1:8080/v1';
export const API_KEY = process.env.RAGKIT_API_KEY || 'none';
export const OFFLINE_MODEL = 'ragkit-extractive';
export const EMBEDDING_MODEL = 'ragkit-embedding';
export const STORE_NAME = 'ragkit-examples';
const CORPUS = fileURLToPath(new URL('../corpora/halvard/', import.meta.url));

// Stop with a message and exit status 1: the examples double as smoke tests.
export function check(condition, message) {
  if (!condition) {
    console.error(`error: ${message}`);
    process.exit(1);
  }
}

// One call to ragkit's API with fetch (a JSON string or a FormData body); its JSON, checked.
export async function api(method, route, body) {
  const response = await fetch(BASE_URL + route, {
    method, body, headers: { Authorization: `Bearer ${API_KEY}`,
      ...(typeof body === 'string' ? { 'Content-Type': 'application/json' } : {}) } });
  const json = await response.json();
  check(response.ok, `${method} ${route}: ${JSON.stringify(json.error ?? json)}`);
  return json;
}

// RAGKIT_CHAT_MODEL, or the first chat model ragkit lists; null when only the offline answerer is there.
export async function chatModel() {
  if (process.env.RAGKIT_CHAT_MODEL) return process.env.RAGKIT_CHAT_MODEL;
  const { data } = await api('GET', '/models');
  return data.map((m) => m.id).find((id) => id !== OFFLINE_MODEL && id !== EMBEDDING_MODEL) ?? null;
}

// RAGKIT_VECTOR_STORE_ID, or the `ragkit-examples` store, created from the sample corpus once.
export async function vectorStore() {
  if (process.env.RAGKIT_VECTOR_STORE_ID) return process.env.RAGKIT_VECTOR_STORE_ID;
  const { data } = await api('GET', '/vector_stores?limit=100');
  const found = data.find((s) => s.name === STORE_NAME && s.file_counts.completed);
  if (found) return found.id;
  const names = (await readdir(CORPUS)).sort();
  console.log(`Creating vector store '${STORE_NAME}' from ${names.length} files in ${CORPUS} ...`);
  const fileIds = [];
  for (const name of names) {
    const form = new FormData();
    form.append('purpose', 'assistants');
    form.append('file', new Blob([await readFile(join(CORPUS, name))]), name);
    fileIds.push((await api('POST', '/files', form)).id);
  }
  let store = await api('POST', '/vector_stores', JSON.stringify({ name: STORE_NAME, file_ids: fileIds }));
  while (store.file_counts.in_progress) {
    await new Promise((done) => setTimeout(done, 500));
    store = await api('GET', `/vector_stores/${store.id}`);
  }
  check(store.file_counts.completed === names.length, `only some files were ingested: ${JSON.stringify(store.file_counts)}`);
  return store.id;
}

// `[n] file p.page: quote` for one cited passage (ragkit's fields beside OpenAI's on a citation).
export function citationLine(c) {
  return `  [${c.n}] ${c.filename}${c.page ? ` p.${c.page}` : ''}: ${c.quote.split(/\s+/).join(' ')}`;
}

// The texts every example embeds, and the question they are ranked against: the one about
// resetting must come first, in the vectors ragkit searches with.
export const EMBED_TEXTS = ['Hold the SYNC button for 10 seconds to reset the sensor array.',
  'The warranty covers defects in materials and workmanship.'];
export const EMBED_QUERY = 'How do I reset the sensor array?';

// Print `texts` ranked by cosine similarity of their `vectors` to `query` (a vector) and check the order.
export function showRanking(texts, query, vectors) {
  const cosine = (a, b) => a.reduce((s, x, i) => s + x * b[i], 0) / Math.hypot(...a) / Math.hypot(...b);
  console.log(`\nembeddings: ${texts.length} texts, ${query.length} dimensions`);
  const ranked = texts.map((text, i) => [cosine(query, vectors[i]), text]).sort((a, b) => b[0] - a[0]);
  for (const [score, text] of ranked) console.log(`  ${score.toFixed(3)}  ${text}`);
  check(ranked[0][1].includes('SYNC'), 'the closest text is not the one about resetting');
}
