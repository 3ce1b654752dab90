// The official JavaScript/TypeScript SDK `openai` (openai-node) against `ragkit serve`, as OpenAI's
// JS docs write it with a changed baseURL: files, a vector store with attributes, search, the
// Responses API with file_search (created, streamed, and a follow-up with previous_response_id),
// chat completions streamed over the store, an Assistants run streamed, embeddings, and a 404 as
// openai.NotFoundError. With a chat model behind ragkit, also a function tool round trip, streamed.
//
// Run (Node 20+, from the ragkit checkout):
//
//   npm ci --prefix examples        (openai@7.60.0, pinned by examples/package.json)
//   ragkit serve --no-auth &
//   node examples/openai_node.mjs [--keep]
//
// Environment: RAGKIT_BASE_URL (default http://127.0.0.1:8080/v1, where ragkit serve listens),
// RAGKIT_API_KEY (any value with --no-auth), RAGKIT_CHAT_MODEL (default: the first chat model
// /v1/models lists). Answers are printed with their citations as `[n] file p.page: quote`; anything
// missing exits non-zero. The store and files it creates are deleted at the end unless --keep.
import OpenAI, { toFile } from 'openai';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const OFFLINE_MODEL = 'ragkit-extractive';
const EMBEDDING_MODEL = 'ragkit-embedding';
const QUESTION = 'How long is the warranty on the WS-200 sensor array?';
const FOLLOW_UP = 'Can I extend it?';
const STATION_QUESTION = 'Station OSL-7 reports a fault. Look up its status and tell me what its error code means.';
const STATION_STATUS = {
  type: 'function', name: 'station_status',
  description: 'The live status of a weather station: its last error code and battery level.',
  parameters: { type: 'object', properties: { station_id: { type: 'string' } }, required: ['station_id'],
                additionalProperties: false },
  strict: true,
};

function fail(message, code = 1) {
  console.error(`error: ${message}`);
  process.exit(code);
}

function check(condition, message) {
  if (!condition) fail(message);
}

function corpus() {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const found = [path.join(here, '..', 'corpora', 'halvard'), path.resolve('corpora', 'halvard')]
    .find((dir) => fs.existsSync(path.join(dir, 'ws200-user-manual.pdf')));
  if (!found) fail('corpora/halvard not found: run the script from the ragkit checkout');
  return found;
}

// `[n] file p.page: quote` for each file_citation of a Responses message or Assistants text
function citationLines(annotations) {
  return annotations.filter((a) => a.type === 'file_citation').map((a) => {
    const file = a.filename ?? a.file_citation?.filename ?? a.file_citation?.file_id;
    const page = a.page ?? a.file_citation?.page;
    const quote = String(a.quote ?? a.file_citation?.quote ?? '').split(/\s+/).join(' ');
    return `[${a.n ?? a.file_citation?.n ?? '?'}] ${page ? `${file} p.${page}` : file}: ${quote}`;
  }).filter((line, i, lines) => lines.indexOf(line) === i);  // a passage cited twice is listed once
}

function showResponse(response) {
  console.log(response.output_text);
  const notes = response.output.filter((item) => item.type === 'message')
    .flatMap((item) => item.content.flatMap((part) => part.annotations ?? []));
  const lines = citationLines(notes);
  for (const line of lines) console.log(`  ${line}`);
  return lines;
}

async function chatModel(client) {
  if (process.env.RAGKIT_CHAT_MODEL) return process.env.RAGKIT_CHAT_MODEL;
  for await (const model of client.models.list()) {
    if (model.id !== OFFLINE_MODEL && model.id !== EMBEDDING_MODEL) return model.id;
  }
  return null;
}

async function buildStore(client, dir) {
  const store = await client.vectorStores.create({ name: 'openai-node-example' });
  console.log(`vector store ${store.id}`);
  // a file from disk, attached with attributes and polled until it is indexed
  const manual = await client.files.create({ file: fs.createReadStream(path.join(dir, 'ws200-user-manual.pdf')),
                                             purpose: 'assistants' });
  const attached = await client.vectorStores.files.createAndPoll(store.id, {
    file_id: manual.id, attributes: { kind: 'manual', year: 2024 } });
  console.log(`  ${manual.filename} ${attached.status} attributes=${JSON.stringify(attached.attributes)}`);
  check(attached.status === 'completed', `the manual was not indexed: ${JSON.stringify(attached.last_error)}`);
  // bytes in memory, with toFile
  const faqBytes = fs.readFileSync(path.join(dir, 'support-faq.txt'));
  const faq = await client.files.create({ file: await toFile(faqBytes, 'support-faq.txt'), purpose: 'assistants' });
  await client.vectorStores.files.createAndPoll(store.id, { file_id: faq.id, attributes: { kind: 'faq', year: 2023 } });
  // several files in one batch
  const batch = await client.vectorStores.fileBatches.uploadAndPoll(store.id, {
    files: [fs.createReadStream(path.join(dir, 'warranty-and-returns.docx'))] });
  console.log(`  batch ${batch.status}: ${JSON.stringify(batch.file_counts)}`);
  check(batch.file_counts.completed === 1, 'the batch was not indexed');
  const listed = [];
  for await (const file of client.files.list({ limit: 2 })) listed.push(file.id);  // pages on its own
  check([manual.id, faq.id].every((id) => listed.includes(id)), 'files.list misses an uploaded file');
  return store.id;
}

async function search(client, store) {
  const page = await client.vectorStores.search(store, {
    query: 'How do I reset the sensor array?', max_num_results: 3, rewrite_query: true,
    filters: { type: 'and', filters: [{ type: 'eq', key: 'kind', value: 'manual' },
                                      { type: 'gte', key: 'year', value: 2024 }] },
    ranking_options: { score_threshold: 0.2 } });
  console.log("\nsearch 'How do I reset the sensor array?', only kind == 'manual' and year >= 2024:");
  for (const hit of page.data) {
    console.log(`  ${hit.score.toFixed(3)} ${hit.filename} p.${hit.page}: ${hit.content[0].text.split(/\s+/).join(' ').slice(0, 80)}`);
  }
  check(page.data.length && page.data.every((h) => h.attributes.kind === 'manual' && h.score >= 0.2),
        'the filtered search found nothing, or the filter was not applied');
}

async function responses(client, model, store) {
  const tools = [{ type: 'file_search', vector_store_ids: [store] }];
  const first = await client.responses.create({ model, input: QUESTION, tools, include: ['file_search_call.results'] });
  const searched = first.output.find((item) => item.type === 'file_search_call');
  console.log(`\nQ: ${QUESTION}\n(searched ${JSON.stringify(searched.queries)}, ${searched.results?.length ?? 0} results)`);
  check(showResponse(first).length, 'the answer has no citation');

  console.log(`\nQ (streamed, previous_response_id): ${FOLLOW_UP}`);
  const stream = client.responses.stream({ model, input: FOLLOW_UP, tools, previous_response_id: first.id });
  let streamed = '';
  stream.on('response.output_text.delta', (event) => { streamed += event.delta; });
  const second = await stream.finalResponse();
  check(streamed && streamed === second.output_text, 'the streamed text differs from the final response');
  check(showResponse(second).length, 'the follow-up has no citation');
}

async function chat(client, model, store) {
  console.log(`\nQ (chat completions, streamed): ${QUESTION}`);
  // vector_store_ids is ragkit's own field: TypeScript wants it spread in from an untyped object
  const stream = client.chat.completions.stream({ model, messages: [{ role: 'user', content: QUESTION }],
                                                 ...{ vector_store_ids: [store] } });
  stream.on('content', (delta) => process.stdout.write(delta));
  const done = await stream.finalChatCompletion();
  const cited = done.choices[0].message.citations ?? [];
  console.log();
  for (const c of cited) console.log(`  [${c.n}] ${c.page ? `${c.filename} p.${c.page}` : c.filename}: ${c.quote}`);
  check(cited.length, 'the chat completion has no citation');
}

async function assistants(client, model, store) {
  if (!client.beta?.threads?.runs?.stream) {
    console.log('\nThis openai version has no Assistants API: skipped.');
    return;
  }
  const assistant = await client.beta.assistants.create({
    model, tools: [{ type: 'file_search' }], tool_resources: { file_search: { vector_store_ids: [store] } } });
  const thread = await client.beta.threads.create({ messages: [{ role: 'user', content: 'What battery does the WS-200 use?' }] });
  console.log('\nQ (Assistants run, streamed): What battery does the WS-200 use?');
  const run = client.beta.threads.runs.stream(thread.id, { assistant_id: assistant.id });
  const [message] = await run.finalMessages();
  check((await run.finalRun()).status === 'completed', 'the run did not complete');
  const text = message.content[0].text;
  console.log(text.value);
  const lines = citationLines(text.annotations);
  for (const line of lines) console.log(`  ${line}`);
  check(lines.length, 'the run answered without a citation');
  await client.beta.threads.delete(thread.id);
  await client.beta.assistants.delete(assistant.id);
}

async function embeddingsAndErrors(client) {
  const texts = ['Hold the SYNC button for 10 seconds.', 'The warranty covers defects.'];
  const embedded = await client.embeddings.create({ model: EMBEDDING_MODEL, input: texts });
  console.log(`\nembeddings: ${embedded.data.length} texts, ${embedded.data[0].embedding.length} dimensions`);
  check(embedded.data.length === 2 && embedded.data[0].embedding.length > 0, 'no embeddings');
  try {
    await client.vectorStores.retrieve('vs_does_not_exist');
    fail('a missing vector store was found');
  } catch (error) {
    check(error instanceof OpenAI.NotFoundError, `expected a NotFoundError, got ${error}`);
    console.log(`missing store: ${error.constructor.name} ${error.status}: ${error.error.message}`);
  }
}

function stationStatus({ station_id }) {  // stands in for the caller's own system
  return { station_id, last_error: 'E42', battery: '81%' };
}

async function functionRoundTrip(client, model, store) {
  const tools = [{ type: 'file_search', vector_store_ids: [store] }, STATION_STATUS];
  console.log(`\nQ (function tool, streamed): ${STATION_QUESTION}`);
  let response = await client.responses.stream({ model, input: STATION_QUESTION, tools }).finalResponse();
  for (let round = 0; round < 5; round += 1) {  // the model may call again after seeing the outputs
    const calls = response.output.filter((item) => item.type === 'function_call');
    if (!calls.length) break;
    const input = calls.map((call) => {
      const result = stationStatus(JSON.parse(call.arguments));
      console.log(`  -> ${call.name}(${call.arguments}) = ${JSON.stringify(result)}`);
      return { type: 'function_call_output', call_id: call.call_id, output: JSON.stringify(result) };
    });
    response = await client.responses.stream({ model, previous_response_id: response.id, input, tools }).finalResponse();
  }
  check(response.status === 'completed', `the response ${response.status}: ${JSON.stringify(response.error)}`);
  showResponse(response);
  check(response.output_text, 'the model gave no answer');
}

async function main() {
  const client = new OpenAI({ baseURL: process.env.RAGKIT_BASE_URL || 'http://127.0.0.1:8080/v1',
                              apiKey: process.env.RAGKIT_API_KEY || 'none', timeout: 300_000 });
  const model = await chatModel(client);
  const store = await buildStore(client, corpus());
  await search(client, store);
  await responses(client, model ?? OFFLINE_MODEL, store);
  await chat(client, model ?? OFFLINE_MODEL, store);
  await assistants(client, model ?? OFFLINE_MODEL, store);
  await embeddingsAndErrors(client);
  if (model) {
    await functionRoundTrip(client, model, store);
  } else {
    console.log('\nNo chat model behind ragkit: skipping the function tool round trip (start ragkit serve '
                + 'with RAGKIT_MODEL, and RAGKIT_BASE_URL for a local OpenAI-compatible server).');
  }
  if (!process.argv.includes('--keep')) {
    for await (const file of client.vectorStores.files.list(store)) await client.files.delete(file.id);
    await client.vectorStores.delete(store);
    console.log(`\ndeleted ${store} and its files`);
  }
}

await main();
