// The OpenAI Agents SDK for JavaScript (`@openai/agents`) against `ragkit serve`, as its docs
// write it with another OpenAI-compatible server: setDefaultOpenAIClient(new OpenAI({ baseURL,
// apiKey })) and setTracingDisabled(true) (traces would otherwise be uploaded to OpenAI).
//
// 1. An Agent with fileSearchTool([store]) on the Responses API (the SDK's default), run():
//    ragkit runs file_search over its store; with a chat model behind ragkit the agent also has
//    a function tool(), which the model calls, the SDK runs and sends back.
// 2. A follow-up, streamed (run(..., { stream: true }) and toTextStream()), continued with the
//    first run's previousResponseId: ragkit searches the follow-up made standalone.
// 3. Memory in a server-side conversation (OpenAIConversationsSession): the SDK adds each turn's
//    items (the question, the file_search_call, the answer) to it and sends them back next turn.
// 4. The same agent on chat completions (OpenAIChatCompletionsModel): hosted tools do not exist
//    there, so the store goes in modelSettings.providerData (ragkit's `vector_store_ids`), and the
//    cited passages are the message's `citations`. Streamed.
//
// Run:
//   npm ci --prefix examples        # the pinned packages of examples/package.json
//   ragkit serve --no-auth &
//   node examples/openai_agents.mjs
//
// Environment: RAGKIT_BASE_URL (default http://127.0.0.1:8080/v1), RAGKIT_API_KEY,
// RAGKIT_VECTOR_STORE_ID (default: the store `ragkit-examples`, created from corpora/halvard on
// first use), RAGKIT_CHAT_MODEL (default: the first chat model /v1/models lists).
// Prints each answer with `[n] file p.page: quote` lines; exits 1 when something is missing.
// Tested with @openai/agents@0.20.0.

import {
  Agent, OpenAIChatCompletionsModel, OpenAIConversationsSession, fileSearchTool, run, setDefaultOpenAIClient,
  setTracingDisabled, tool,
} from '@openai/agents';
import OpenAI from 'openai';
import { z } from 'zod';
import { BASE_URL, API_KEY, OFFLINE_MODEL, check, chatModel, vectorStore, citationLine } from './ragkit_env.mjs';

const INSTRUCTIONS = 'Answer from the documents; cite them.';
const QUESTION = 'What does error code E42 mean?';
const STATION_QUESTION = 'Station OSL-7 reports a fault. Look up its status and tell me what its error code means.';
const FOLLOW_UP = 'How do I fix it?';
const SESSION_QUESTIONS = ['What battery does the WS-200 sensor array use?', 'How long does it last?'];
const RESET_QUESTION = 'How do I reset the WS-200 sensor array?';

const stationStatus = tool({
  name: 'station_status',
  description: 'The live status of a weather station: its last error code and battery level.',
  parameters: z.object({ station_id: z.string() }),
  // stands in for the caller's own system (a fleet database, an API)
  execute: async ({ station_id }) => JSON.stringify({ station_id, last_error: 'E42', battery: '81%' }),
});

function citationsOf(items, key = 'annotations') {
  const notes = items.filter((item) => item.type === 'message_output_item')
    .flatMap((item) => item.rawItem.content.flatMap((part) => part.providerData?.[key] ?? []))
    .filter((note) => key === 'citations' || note.type === 'file_citation');
  return [...new Map(notes.map((note) => [note.n, note])).values()];  // a passage cited twice: once
}

// The run's steps (searches, function calls and their outputs), its answer and citations.
function show(result, { streamed = false } = {}) {
  for (const item of result.newItems) {
    const raw = item.rawItem;
    if (item.type === 'tool_call_item' && raw.type === 'function_call') console.log(`  -> ${raw.name}(${raw.arguments})`);
    if (item.type === 'tool_call_item' && raw.name === 'file_search_call') {
      console.log(`  (searched ${JSON.stringify(raw.providerData?.queries)})`);
    }
    if (item.type === 'tool_call_output_item') console.log(`  <- ${raw.output?.text ?? JSON.stringify(raw.output)}`);
  }
  if (!streamed) console.log(`A: ${result.finalOutput}`);
  const citations = citationsOf(result.newItems);
  for (const c of citations) console.log(citationLine(c));
  check(result.finalOutput && citations.length, 'the answer has no citation');
}

async function responsesAgent(client, model, store) {
  const agent = new Agent({ name: 'Support', instructions: INSTRUCTIONS, model,
    tools: [fileSearchTool([store], { includeSearchResults: true }), ...(model === OFFLINE_MODEL ? [] : [stationStatus])] });
  const question = model === OFFLINE_MODEL ? QUESTION : STATION_QUESTION;
  console.log(`Q: ${question}`);
  const first = await run(agent, question);
  show(first);
  if (model !== OFFLINE_MODEL) {
    check(first.newItems.some((i) => i.type === 'tool_call_output_item'), 'the function was not called');
  }
  check(first.state.usage.totalTokens > 0, 'no token usage reported');

  console.log(`\nQ (follow-up, streamed, previousResponseId): ${FOLLOW_UP}`);
  const stream = await run(agent, FOLLOW_UP, { stream: true, previousResponseId: first.lastResponseId });
  process.stdout.write('A: ');
  for await (const text of stream.toTextStream()) process.stdout.write(text);
  await stream.completed;
  console.log();
  check(!stream.error, `the stream failed: ${stream.error}`);
  show(stream, { streamed: true });

  console.log('\nMemory in a conversation (OpenAIConversationsSession)');
  const session = new OpenAIConversationsSession({ client });
  for (const question of SESSION_QUESTIONS) {
    console.log(`Q (session): ${question}`);
    show(await run(agent, question, { session }));
  }
  const kept = await session.getItems();
  console.log(`  (conversation ${await session.getSessionId()} holds ${kept.length} items)`);
  check(kept.length >= 6, 'the conversation did not keep the turns');
  await session.clearSession();
}

async function chatCompletionsAgent(client, model, store) {
  const agent = new Agent({ name: 'Support', instructions: INSTRUCTIONS, model: new OpenAIChatCompletionsModel(client, model),
    modelSettings: { providerData: { vector_store_ids: [store] } }, tools: model === OFFLINE_MODEL ? [] : [stationStatus] });
  const question = model === OFFLINE_MODEL ? QUESTION : STATION_QUESTION;
  console.log(`\nQ (chat completions): ${question}`);
  const result = await run(agent, question);
  for (const item of result.newItems) {
    if (item.type === 'tool_call_item') console.log(`  -> ${item.rawItem.name}(${item.rawItem.arguments})`);
  }
  console.log(`A: ${result.finalOutput}`);
  const citations = citationsOf(result.newItems, 'citations');
  for (const c of citations) console.log(citationLine(c));
  check(citations.length, 'the chat completion has no citation');

  console.log(`Q (chat completions, streamed): ${RESET_QUESTION}`);
  const stream = await run(agent, RESET_QUESTION, { stream: true });
  const streamed = [];
  process.stdout.write('A: ');
  for await (const event of stream) {
    if (event.type === 'raw_model_stream_event' && event.data.type === 'output_text_delta') process.stdout.write(event.data.delta);
    // the SDK keeps OpenAI's delta fields; ragkit's citations are on the raw chunks
    if (event.type === 'raw_model_stream_event' && event.data.type === 'model') {
      streamed.push(...(event.data.event?.choices?.[0]?.delta?.citations ?? []));
    }
  }
  await stream.completed;
  console.log();
  for (const c of streamed) console.log(citationLine(c));
  check(streamed.length, 'the streamed chat completion has no citation');
}

try {
  setTracingDisabled(true);
  const client = new OpenAI({ baseURL: BASE_URL, apiKey: API_KEY });
  setDefaultOpenAIClient(client);
  const model = (await chatModel()) ?? OFFLINE_MODEL;
  const store = await vectorStore();
  console.log(`ragkit at ${BASE_URL}, model ${model}, vector store ${store}\n`);
  if (model === OFFLINE_MODEL) {
    console.log('No chat model behind ragkit: the agent has file_search only (ragkit-extractive cannot call functions).\n');
  }
  await responsesAgent(client, model, store);
  await chatCompletionsAgent(client, model, store);
} catch (error) {
  console.error(`error: ${error.constructor.name}: ${error.message}`);
  process.exit(1);
}
