// LangChain.js (`@langchain/openai`) against `ragkit serve`: ChatOpenAI and OpenAIEmbeddings with
// `configuration: { baseURL }`, as LangChain's docs write an OpenAI-compatible server.
//
// 1. ChatOpenAI on chat completions over a store: ragkit's `vector_store_ids` go in `modelKwargs`
//    (sent as body fields). The cited passages are the message's `citations`, which LangChain
//    leaves out of its AIMessage; `__includeRawResponse: true` keeps the raw completion (and each
//    raw chunk when streamed) in `additional_kwargs.__raw_response`.
// 2. A follow-up, streamed, with the chat's history: ragkit makes the question standalone.
// 3. bindTools with a function tool (needs a chat model behind ragkit): the model calls it, the
//    script runs it and sends a ToolMessage back; ragkit searches beside it and cites.
// 4. `useResponsesApi: true` with the built-in file_search tool (tools.fileSearch): the answer's
//    file_citation annotations, with ragkit's page and quote, are in response_metadata.output.
//    A streamed follow-up with `previous_response_id`.
// 5. OpenAIEmbeddings with ragkit's embedding model.
//
// Run:
//   npm ci --prefix examples        # the pinned packages of examples/package.json
//   ragkit serve --no-auth &
//   node examples/langchain.mjs
//
// Environment: RAGKIT_BASE_URL (default http://127.0.0.1:8080/v1), RAGKIT_API_KEY,
// RAGKIT_VECTOR_STORE_ID (default: the store `ragkit-examples`, created from corpora/halvard on
// first use), RAGKIT_CHAT_MODEL (default: the first chat model /v1/models lists).
// Prints each answer with `[n] file p.page: quote` lines; exits 1 when something is missing.
// Tested with @langchain/openai@1.6.0 and @langchain/core@1.4.0.

import { AIMessage, HumanMessage } from '@langchain/core/messages';
import { tool } from '@langchain/core/tools';
import { ChatOpenAI, OpenAIEmbeddings, tools } from '@langchain/openai';
import { z } from 'zod';
import { BASE_URL, API_KEY, OFFLINE_MODEL, EMBEDDING_MODEL, EMBED_QUERY, EMBED_TEXTS, check, chatModel, vectorStore, citationLine, showRanking,
} from './ragkit_env.mjs';

const QUESTION = 'What does error code E42 mean?';
const FOLLOW_UP = 'How do I fix it?';
const STATION_QUESTION = 'Station OSL-7 reports a fault. Look up its status and tell me what its error code means.';
const RESPONSES_QUESTION = 'What battery does the WS-200 sensor array use?';
const RESPONSES_FOLLOW_UP = 'How long does it last?';

// ragkit's citations of a chat completion (or of its streamed chunks), from the raw response
function chatCitations(message) {
  const raw = message.additional_kwargs.__raw_response;
  return raw?.choices?.[0]?.message?.citations ?? raw?.choices?.[0]?.delta?.citations ?? [];
}

// the file_citation annotations of a Responses answer, with ragkit's n, page and quote
function responseCitations(message) {
  const notes = (message.response_metadata.output ?? []).filter((item) => item.type === 'message')
    .flatMap((item) => item.content.flatMap((part) => part.annotations ?? []))
    .filter((note) => note.type === 'file_citation');
  return [...new Map(notes.map((note) => [note.n, note])).values()];
}

function showAnswer(text, citations, what) {
  console.log(`A: ${text}`);
  for (const c of citations) console.log(citationLine(c));
  check(citations.length, `the ${what} has no citation`);
}

async function streamed(runnable, input, options) {
  const cited = [];
  let whole;
  process.stdout.write('A: ');
  for await (const chunk of await runnable.stream(input, options)) {
    if (typeof chunk.content === 'string') process.stdout.write(chunk.content);
    else for (const part of chunk.content) if (part.type === 'text') process.stdout.write(part.text);
    if (chunk.additional_kwargs.__raw_response) cited.push(...chatCitations(chunk));
    whole = whole ? whole.concat(chunk) : chunk;
  }
  console.log();
  return { whole, cited };
}

async function chatCompletions(model, store) {
  const llm = new ChatOpenAI({ model, apiKey: API_KEY, configuration: { baseURL: BASE_URL },
    modelKwargs: { vector_store_ids: [store] }, __includeRawResponse: true });
  console.log(`Q (chat completions): ${QUESTION}`);
  const answer = await llm.invoke([new HumanMessage(QUESTION)]);
  showAnswer(answer.content, chatCitations(answer), 'chat completion');
  check(answer.usage_metadata?.total_tokens > 0, 'no token usage reported');

  console.log(`\nQ (follow-up, streamed): ${FOLLOW_UP}`);
  const history = [new HumanMessage(QUESTION), new AIMessage(answer.content), new HumanMessage(FOLLOW_UP)];
  const { whole, cited } = await streamed(llm, history);
  for (const c of cited) console.log(citationLine(c));
  check(whole.content && cited.length && whole.usage_metadata?.total_tokens > 0, 'the streamed answer has no citation or usage');
}

async function functionTool(model, store) {
  const stationStatus = tool(
    // stands in for the caller's own system (a fleet database, an API)
    async ({ station_id }) => JSON.stringify({ station_id, last_error: 'E42', battery: '81%' }),
    { name: 'station_status', description: 'The live status of a weather station: its last error code and battery level.',
      schema: z.object({ station_id: z.string() }) });
  const llm = new ChatOpenAI({ model, apiKey: API_KEY, configuration: { baseURL: BASE_URL },
    modelKwargs: { vector_store_ids: [store] }, __includeRawResponse: true }).bindTools([stationStatus]);
  console.log(`\nQ (bindTools): ${STATION_QUESTION}`);
  const messages = [new HumanMessage(STATION_QUESTION)];
  for (let turn = 0; turn < 5; turn += 1) {
    const reply = await llm.invoke(messages);
    messages.push(reply);
    if (!reply.tool_calls?.length) break;
    for (const call of reply.tool_calls) {
      console.log(`  -> ${call.name}(${JSON.stringify(call.args)})`);
      messages.push(await stationStatus.invoke(call));  // a ToolMessage with the call's id
    }
  }
  const last = messages.at(-1);
  check(messages.some((m) => m.tool_calls?.length), 'the function was not called');
  showAnswer(last.content, chatCitations(last), 'answer after the function call');
}

async function responsesApi(model, store) {
  const llm = new ChatOpenAI({ model, apiKey: API_KEY, configuration: { baseURL: BASE_URL }, useResponsesApi: true })
    .bindTools([tools.fileSearch({ vectorStoreIds: [store] })]);
  console.log(`\nQ (Responses, file_search): ${RESPONSES_QUESTION}`);
  const answer = await llm.invoke(RESPONSES_QUESTION);
  const [search] = answer.additional_kwargs.tool_outputs ?? [];
  console.log(`  (searched ${JSON.stringify(search?.queries)})`);
  showAnswer(answer.text, responseCitations(answer), 'Responses answer');

  console.log(`Q (Responses, streamed, previous_response_id): ${RESPONSES_FOLLOW_UP}`);
  const { whole } = await streamed(llm, RESPONSES_FOLLOW_UP, { previous_response_id: answer.response_metadata.id });
  const [followed] = whole.additional_kwargs.tool_outputs ?? [];
  console.log(`  (searched ${JSON.stringify(followed?.queries)})`);
  const citations = responseCitations(whole);
  for (const c of citations) console.log(citationLine(c));
  check(citations.length, 'the streamed Responses answer has no citation');
}

async function embeddings() {
  const model = new OpenAIEmbeddings({ model: EMBEDDING_MODEL, apiKey: API_KEY, configuration: { baseURL: BASE_URL } });
  const [vectors, query] = await Promise.all([model.embedDocuments(EMBED_TEXTS), model.embedQuery(EMBED_QUERY)]);
  showRanking(EMBED_TEXTS, query, vectors);
}

try {
  const model = await chatModel();
  const store = await vectorStore();
  console.log(`ragkit at ${BASE_URL}, model ${model ?? OFFLINE_MODEL}, vector store ${store}\n`);
  await chatCompletions(model ?? OFFLINE_MODEL, store);
  if (model) await functionTool(model, store);
  else console.log('\nNo chat model behind ragkit: skipping bindTools (ragkit-extractive cannot call functions).');
  await responsesApi(model ?? OFFLINE_MODEL, store);
  await embeddings();
} catch (error) {
  console.error(`error: ${error.constructor.name}: ${error.message}`);
  process.exit(1);
}
