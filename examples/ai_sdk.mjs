// The Vercel AI SDK (`ai` + `@ai-sdk/openai`) against `ragkit serve`, as its docs write it with a
// changed baseURL: createOpenAI({ baseURL: 'http://127.0.0.1:8080/v1', apiKey }).
//
// 1. generateText on the Responses API (`openai(model)`, the SDK's default) with
//    `openai.tools.fileSearch({ vectorStoreIds })`: the answer, its `sources` (one per cited
//    passage), and ragkit's page and exact quote of each citation from the raw response.
// 2. streamText, a follow-up in the same chat: the SDK sends the earlier turn back (ragkit's
//    items as `item_reference`s) and ragkit searches the follow-up made standalone.
// 3. A function tool the SDK runs (`tool({ execute })`, `stopWhen: stepCountIs(5)`) beside
//    file_search. Needs a chat model behind ragkit; offline the script says so and goes on.
// 4. Chat completions (`openai.chat(model)`): the SDK has no option for extra body fields, so a
//    `fetch` wrapper adds ragkit's `vector_store_ids`; each `[n]` is a `source` (file, page, address), and
//    the citations with their quotes are on the raw message.
// 5. embedMany with `openai.embedding('ragkit-embedding')`: the vectors ragkit searches with.
//
// Run:
//   npm ci --prefix examples        # the pinned packages of examples/package.json
//   ragkit serve --no-auth &
//   node examples/ai_sdk.mjs
//
// Environment: RAGKIT_BASE_URL (default http://127.0.0.1:8080/v1), RAGKIT_API_KEY,
// RAGKIT_VECTOR_STORE_ID (default: the store `ragkit-examples`, created from corpora/halvard on
// first use), RAGKIT_CHAT_MODEL (default: the first chat model /v1/models lists).
// Prints each answer with `[n] file p.page: quote` lines; exits 1 when something is missing.

import { createOpenAI } from '@ai-sdk/openai';
import { embedMany, generateText, stepCountIs, streamText, tool } from 'ai';
import { z } from 'zod';
import { BASE_URL, API_KEY, OFFLINE_MODEL, EMBEDDING_MODEL, EMBED_QUERY, EMBED_TEXTS, check, chatModel, vectorStore, citationLine, showRanking,
} from './ragkit_env.mjs';

const QUESTION = 'What battery does the WS-200 sensor array use?';
const FOLLOW_UP = 'How long does it last?';
const STATION_QUESTION = 'Station OSL-7 reports a fault. Look up its status and tell me what its error code means.';
const CHAT_QUESTION = 'How long is the warranty on the WS-200 sensor array?';

function responseCitations(body) {
  const notes = (body?.output ?? []).filter((item) => item.type === 'message')
    .flatMap((item) => item.content.flatMap((part) => part.annotations ?? []))
    .filter((note) => note.type === 'file_citation');
  return [...new Map(notes.map((note) => [note.n, note])).values()];  // a passage cited twice: once
}

function showAnswer(text, citations, sources) {
  console.log(`A: ${text}`);
  for (const c of citations) console.log(citationLine(c));
  console.log(`  sources: ${[...new Set(sources.map((s) => s.filename ?? s.title))].join(', ')}`);
  check(citations.length && sources.length, 'the answer has no citation');
}

async function fileSearch(openai, model, store) {
  const tools = { file_search: openai.tools.fileSearch({ vectorStoreIds: [store] }) };
  const messages = [{ role: 'user', content: QUESTION }];
  console.log(`Q: ${QUESTION}`);
  const first = await generateText({ model: openai(model), messages, tools,
    providerOptions: { openai: { include: ['file_search_call.results'] } } });
  const searched = first.content.find((part) => part.type === 'tool-result' && part.toolName === 'file_search');
  console.log(`(searched ${JSON.stringify(searched?.output.queries)}, ${searched?.output.results?.length ?? 0} results)`);
  showAnswer(first.text, responseCitations(first.response.body), first.sources);

  messages.push(...first.response.messages, { role: 'user', content: FOLLOW_UP });
  console.log(`\nQ (follow-up, streamed): ${FOLLOW_UP}`);
  const stream = streamText({ model: openai(model), messages, tools, includeRawChunks: true });
  let completed = null;
  process.stdout.write('A: ');
  for await (const part of stream.fullStream) {
    if (part.type === 'text-delta') process.stdout.write(part.text);
    if (part.type === 'raw' && part.rawValue?.type === 'response.completed') completed = part.rawValue.response;
    if (part.type === 'error') check(false, `the stream failed: ${part.error}`);
  }
  console.log(`\n  (searched as: ${completed?.ragkit?.search_query})`);
  const citations = responseCitations(completed);
  for (const c of citations) console.log(citationLine(c));
  check(citations.length && (await stream.sources).length, 'the streamed answer has no citation');
}

async function functionTool(openai, model, store) {
  console.log(`\nQ: ${STATION_QUESTION}`);
  const stationStatus = tool({
    description: 'The live status of a weather station: its last error code and battery level.',
    inputSchema: z.object({ station_id: z.string() }),
    // stands in for the caller's own system (a fleet database, an API)
    execute: async ({ station_id }) => ({ station_id, last_error: 'E42', battery: '81%' }),
  });
  const result = await generateText({
    model: openai(model), prompt: STATION_QUESTION, stopWhen: stepCountIs(5),
    tools: { file_search: openai.tools.fileSearch({ vectorStoreIds: [store] }), station_status: stationStatus } });
  for (const call of result.steps.flatMap((s) => s.toolCalls)) {
    if (!call.providerExecuted) console.log(`  -> ${call.toolName}(${JSON.stringify(call.input)})`);
  }
  check(result.steps.some((s) => s.toolCalls.some((c) => c.toolName === 'station_status')), 'the function was not called');
  showAnswer(result.text, responseCitations(result.response.body), result.sources);
  check(result.totalUsage.totalTokens > 0, 'no token usage reported');
}

async function chatCompletions(model, store) {
  // openai.chat() sends only OpenAI's fields: ragkit's store goes into the body here
  const openai = createOpenAI({ baseURL: BASE_URL, apiKey: API_KEY, fetch: (url, init) => {
    if (String(url).endsWith('/chat/completions') && init?.body) {
      init = { ...init, body: JSON.stringify({ ...JSON.parse(init.body), vector_store_ids: [store] }) };
    }
    return fetch(url, init);
  } });
  console.log(`\nQ (chat completions): ${CHAT_QUESTION}`);
  const result = await generateText({ model: openai.chat(model), prompt: CHAT_QUESTION });
  const cited = result.response.body.choices[0].message.citations ?? [];
  console.log(`A: ${result.text}`);
  for (const c of cited) console.log(citationLine(c));
  // each [n] is also a url_citation annotation, which the SDK gives as a source: file, page, address
  console.log(`  sources: ${result.sources.map((s) => `${s.title} <${s.url}>`).join(', ')}`);
  check(cited.length && result.sources.length && result.finishReason === 'stop', 'the chat completion has no citation');

  const messages = [{ role: 'user', content: CHAT_QUESTION }, { role: 'assistant', content: result.text },
    { role: 'user', content: 'Can I extend it?' }];
  console.log('Q (chat completions, streamed): Can I extend it?');
  const stream = streamText({ model: openai.chat(model), messages, includeRawChunks: true });
  const streamed = [];
  process.stdout.write('A: ');
  for await (const part of stream.fullStream) {
    if (part.type === 'text-delta') process.stdout.write(part.text);
    if (part.type === 'raw') streamed.push(...(part.rawValue?.choices?.[0]?.delta?.citations ?? []));
  }
  console.log();
  for (const c of streamed) console.log(citationLine(c));
  check(streamed.length && (await stream.sources).length && (await stream.usage).totalTokens > 0,
    'the streamed chat completion has no citation or usage');
}

async function embeddings(openai) {
  const { embeddings: [query, ...vectors] } = await embedMany({ model: openai.embedding(EMBEDDING_MODEL),
    values: [EMBED_QUERY, ...EMBED_TEXTS] });
  showRanking(EMBED_TEXTS, query, vectors);
}

try {
  const openai = createOpenAI({ baseURL: BASE_URL, apiKey: API_KEY });
  const model = await chatModel();
  const store = await vectorStore();
  console.log(`ragkit at ${BASE_URL}, model ${model ?? OFFLINE_MODEL}, vector store ${store}\n`);
  await fileSearch(openai, model ?? OFFLINE_MODEL, store);
  if (model) await functionTool(openai, model, store);
  else console.log('\nNo chat model behind ragkit: skipping the function tool (ragkit-extractive cannot call functions).');
  await chatCompletions(model ?? OFFLINE_MODEL, store);
  await embeddings(openai);
} catch (error) {
  console.error(`error: ${error.message}${error.responseBody ? `\n${error.responseBody}` : ''}`);
  process.exit(1);
}
