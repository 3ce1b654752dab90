// LlamaIndex.TS (`llamaindex`, `@llamaindex/openai`, `@llamaindex/workflow`) against `ragkit serve`:
// its `OpenAI` and `OpenAIResponses` LLMs with `baseURL`, as its docs write an OpenAI-compatible server.
//
// 1. `OpenAI` on chat completions over a store: ragkit's `vector_store_ids` go in
//    `additionalChatOptions` (sent as body fields). The cited passages are the raw completion's
//    `citations` (`response.raw`; each raw chunk's `delta.citations` when streamed).
// 2. A follow-up, streamed, with the chat's history: ragkit makes the question standalone.
// 3. `OpenAIResponses` with `builtInTools: [{ type: 'file_search', vector_store_ids }]`: the
//    file_citation annotations, with ragkit's page and quote, are in `message.options.annotations`.
//    A streamed follow-up with `previous_response_id` (`store: true` keeps the first response).
// 4. `agent()` from @llamaindex/workflow on the chat completions LLM, `run()`; with a chat model
//    behind ragkit it has a function tool (`tool()` from llamaindex), and `responseFormat` asks for
//    the answer as JSON too. Offline the agent has no function and ragkit's answerer answers.
// 5. The same agent on `OpenAIResponses` beside file_search, `runStream()`: the deltas and the
//    annotations from the stream's events.
// 6. `OpenAIEmbedding` with ragkit's embedding model.
//
// Run:
//   npm ci --prefix examples        # the pinned packages of examples/package.json
//   ragkit serve --no-auth &
//   node examples/llamaindex_ts.mjs
//
// Environment: RAGKIT_BASE_URL (default http://127.0.0.1:8080/v1), RAGKIT_API_KEY,
// RAGKIT_VECTOR_STORE_ID (default: the store `ragkit-examples`, created from corpora/halvard on
// first use), RAGKIT_CHAT_MODEL (default: the first chat model /v1/models lists).
// Prints each answer with `[n] file p.page: quote` lines; exits 1 when something is missing.
// Tested with llamaindex@0.12.1, @llamaindex/openai@0.4.22 and @llamaindex/workflow@1.1.24.

import { OpenAI, OpenAIEmbedding, OpenAIResponses } from '@llamaindex/openai';
import { agent, agentStreamEvent, stopAgentEvent } from '@llamaindex/workflow';
import { tool } from 'llamaindex';
import { z } from 'zod';
import { BASE_URL, API_KEY, OFFLINE_MODEL, EMBEDDING_MODEL, EMBED_QUERY, EMBED_TEXTS, check, chatModel, vectorStore, citationLine, showRanking,
} from './ragkit_env.mjs';

const QUESTION = 'What does error code E42 mean?';
const FOLLOW_UP = 'How do I fix it?';
const RESPONSES_QUESTION = 'What battery does the WS-200 sensor array use?';
const RESPONSES_FOLLOW_UP = 'How long does it last?';
const STATION_QUESTION = 'Station OSL-7 reports a fault. Look up its status and tell me what its error code means.';

// LlamaIndex's OpenAIResponses keeps the last text delta on every later event of a stream (the
// annotation, `output_text.done`, `output_item.done`, `response.completed`), so an agent, which
// adds up the deltas, would repeat the answer's end: only a text delta event carries text.
class ResponsesLLM extends OpenAIResponses {
  async *streamChat(params) {
    for await (const chunk of super.streamChat(params)) {
      yield chunk.raw?.type === 'response.output_text.delta' ? chunk : { ...chunk, delta: '' };
    }
  }
}

const stationStatus = tool({
  name: 'station_status',
  description: 'The live status of a weather station: its last error code and battery level.',
  parameters: z.object({ station_id: z.string() }),
  // stands in for the caller's own system (a fleet database, an API)
  execute: ({ station_id }) => {
    console.log(`  -> station_status(${JSON.stringify({ station_id })})`);
    return { station_id, last_error: 'E42', battery: '81%' };  // LlamaIndex sends it without quotes
  },
});

// a passage cited twice is listed once
const once = (notes) => [...new Map(notes.filter((n) => n.type === 'file_citation').map((n) => [n.n, n])).values()];

function showAnswer(text, citations, what) {
  console.log(`A: ${text}`);
  for (const c of citations) console.log(citationLine(c));
  check(citations.length, `the ${what} has no citation`);
}

async function chatCompletions(llm) {
  console.log(`Q (chat completions): ${QUESTION}`);
  const first = await llm.chat({ messages: [{ role: 'user', content: QUESTION }] });
  showAnswer(first.message.content, first.raw.choices[0].message.citations ?? [], 'chat completion');
  check(first.raw.usage?.total_tokens > 0, 'no token usage reported');

  console.log(`\nQ (chat completions, streamed follow-up): ${FOLLOW_UP}`);
  const messages = [{ role: 'user', content: QUESTION }, first.message, { role: 'user', content: FOLLOW_UP }];
  const cited = [];
  process.stdout.write('A: ');
  for await (const chunk of await llm.chat({ messages, stream: true })) {
    process.stdout.write(chunk.delta);
    cited.push(...(chunk.raw?.choices?.[0]?.delta?.citations ?? []));
  }
  console.log();
  for (const c of cited) console.log(citationLine(c));
  check(cited.length, 'the streamed answer has no citation');
}

async function responses(llm) {
  console.log(`\nQ (Responses, file_search): ${RESPONSES_QUESTION}`);
  const first = await llm.chat({ messages: [{ role: 'user', content: RESPONSES_QUESTION }] });
  const [search] = first.message.options.built_in_tool_calls;
  console.log(`  (searched ${JSON.stringify(search?.queries)})`);
  showAnswer(first.message.content, once(first.message.options.annotations ?? []), 'Responses answer');

  console.log(`\nQ (Responses, streamed, previous_response_id): ${RESPONSES_FOLLOW_UP}`);
  const stream = await llm.chat({ messages: [{ role: 'user', content: RESPONSES_FOLLOW_UP }], stream: true,
    additionalChatOptions: { previous_response_id: first.raw.id } });
  let completed = null;
  process.stdout.write('A: ');
  for await (const chunk of stream) {
    process.stdout.write(chunk.delta);
    if (chunk.raw?.type === 'response.completed') completed = chunk.raw.response;
  }
  console.log(`\n  (searched as: ${completed?.ragkit?.search_query})`);
  const notes = (completed?.output ?? []).filter((item) => item.type === 'message')
    .flatMap((item) => item.content.flatMap((part) => part.annotations ?? []));
  for (const c of once(notes)) console.log(citationLine(c));
  check(once(notes).length, 'the streamed Responses answer has no citation');
}

async function agentRun(llm, model) {
  const question = model ? STATION_QUESTION : QUESTION;
  console.log(`\nQ (agent, chat completions): ${question}`);
  const support = agent({ llm, tools: model ? [stationStatus] : [] });
  // responseFormat: once answered, the agent has the LLM restate its answer through a function
  const Report = z.object({ error_code: z.string(), meaning: z.string() });
  const done = await support.run(question, model ? { responseFormat: Report } : {});
  console.log(`A: ${done.data.result}`);
  check(/\[\d+\]/.test(done.data.result), 'the agent\'s answer cites nothing');
  if (model) {
    console.log(`  as JSON: ${JSON.stringify(done.data.object)}`);
    check(Report.safeParse(done.data.object).success, 'the agent gave no JSON in the shape asked for');
  }
}

async function agentStream(llm, model) {
  const question = model ? STATION_QUESTION : QUESTION;
  console.log(`\nQ (agent, Responses, streamed): ${question}`);
  const support = agent({ llm, tools: model ? [stationStatus] : [] });
  const notes = [];
  let result = null;
  let text = '';
  for await (const event of support.runStream(question)) {
    if (agentStreamEvent.include(event)) {
      if (event.data.delta && !text) process.stdout.write('A: ');  // after the function calls
      process.stdout.write(event.data.delta);
      text += event.data.delta;
      if (event.data.raw?.type === 'response.output_text.annotation.added') notes.push(event.data.raw.annotation);
    }
    if (stopAgentEvent.include(event)) result = event.data.result;
  }
  console.log();
  for (const c of once(notes)) console.log(citationLine(c));
  check(result && once(notes).length, 'the streamed agent answer has no citation');
}

async function embeddings() {
  const model = new OpenAIEmbedding({ model: EMBEDDING_MODEL, apiKey: API_KEY, baseURL: BASE_URL });
  const [query, ...vectors] = await model.getTextEmbeddings([EMBED_QUERY, ...EMBED_TEXTS]);
  showRanking(EMBED_TEXTS, query, vectors);
}

try {
  const model = await chatModel();
  const store = await vectorStore();
  const name = model ?? OFFLINE_MODEL;
  console.log(`ragkit at ${BASE_URL}, model ${name}, vector store ${store}\n`);
  const chat = new OpenAI({ model: name, apiKey: API_KEY, baseURL: BASE_URL, maxRetries: 2,
    additionalChatOptions: { vector_store_ids: [store] } });
  const fileSearch = new ResponsesLLM({ model: name, apiKey: API_KEY, baseURL: BASE_URL, maxRetries: 2, store: true,
    builtInTools: [{ type: 'file_search', vector_store_ids: [store] }] });
  await chatCompletions(chat);
  await responses(fileSearch);
  if (!model) console.log('\nNo chat model behind ragkit: the agents have no function tool (ragkit-extractive cannot call functions).');
  await agentRun(chat, model);
  await agentStream(fileSearch, model);
  await embeddings();
} catch (error) {
  console.error(`error: ${error.constructor.name}: ${error.message}`);
  process.exit(1);
}
