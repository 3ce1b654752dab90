// Mastra (`@mastra/core`) against `ragkit serve`: an `Agent` whose model comes from the AI SDK's
// provider with a changed baseURL, createOpenAI({ baseURL: 'http://127.0.0.1:8080/v1', apiKey }),
// as Mastra's docs write an OpenAI-compatible server.
//
// 1. `agent.generate` on the Responses API (`openai(model)`) with `openai.tools.fileSearch` among
//    the agent's tools: the answer, its `sources`, and ragkit's page and exact quote of each
//    citation from the raw response (`response.body`).
// 2. `agent.stream`, a follow-up with the earlier turn (`response.messages`): the provider sends
//    ragkit's items back as `item_reference`s and ragkit searches the follow-up made standalone;
//    with `includeRawChunks: true` the raw events hold the citations with ragkit's fields.
// 3. A function tool (`createTool`) beside file_search, `agent.generate` and `agent.stream` with
//    `maxSteps`. Needs a chat model behind ragkit; offline the script says so and goes on.
// 4. `structuredOutput: { schema }`: the answer as JSON in that shape (a chat model again).
//
// Run:
//   npm ci --prefix examples        # the pinned packages of examples/package.json
//   ragkit serve --no-auth &
//   node examples/mastra.mjs
//
// Environment: RAGKIT_BASE_URL (default http://127.0.0.1:8080/v1), RAGKIT_API_KEY,
// RAGKIT_VECTOR_STORE_ID (default: the store `ragkit-examples`, created from corpora/halvard on
// first use), RAGKIT_CHAT_MODEL (default: the first chat model /v1/models lists).
// Prints each answer with `[n] file p.page: quote` lines; exits 1 when something is missing.
// Tested with @mastra/core@1.71.0 and @ai-sdk/openai@3.0.141.

import { createOpenAI } from '@ai-sdk/openai';
import { Agent } from '@mastra/core/agent';
import { createTool } from '@mastra/core/tools';
import { z } from 'zod';
import { BASE_URL, API_KEY, OFFLINE_MODEL, check, chatModel, vectorStore, citationLine } from './ragkit_env.mjs';

// Mastra's server (the `Mastra` class) sends usage events to PostHog unless this is set; an
// Agent on its own sends none, and this keeps it so
process.env.MASTRA_TELEMETRY_DISABLED ??= '1';

const QUESTION = 'What battery does the WS-200 sensor array use?';
const FOLLOW_UP = 'How long does it last?';
const STATION_QUESTION = 'Station OSL-7 reports a fault. Look up its status and tell me what its error code means.';
const REPORT_QUESTION = 'What does error code E42 mean?';
const INSTRUCTIONS = 'You support owners of Halvard weather stations. Answer from the manuals and cite them.';

// the file_citation annotations of a Responses body, with ragkit's n, page and quote; once each
function responseCitations(body) {
  const notes = (body?.output ?? []).filter((item) => item.type === 'message')
    .flatMap((item) => item.content.flatMap((part) => part.annotations ?? []));
  return once(notes);
}

const once = (notes) => [...new Map(notes.filter((n) => n.type === 'file_citation').map((n) => [n.n, n])).values()];

function showAnswer(text, citations, sources) {
  console.log(`A: ${text}`);
  for (const c of citations) console.log(citationLine(c));
  console.log(`  sources: ${[...new Set(sources.map((s) => s.payload.filename ?? s.payload.title))].join(', ')}`);
  check(citations.length && sources.length, 'the answer has no citation');
}

// a streamed answer (asked with includeRawChunks): its text as it comes, the function calls, and
// ragkit's citations from the raw annotation events (the provider's own parts keep OpenAI's fields only)
async function streamed(output) {
  const notes = [];
  let text = '';
  let searched = null;
  for await (const part of output.fullStream) {
    if (part.type === 'tool-call' && !part.payload.providerExecuted) {
      console.log(`  -> ${part.payload.toolName}(${JSON.stringify(part.payload.args)})`);
    }
    if (part.type === 'text-delta') {
      if (!text) process.stdout.write('A: ');
      process.stdout.write(part.payload.text);
      text += part.payload.text;
    }
    if (part.type === 'raw' && part.payload?.type === 'response.output_text.annotation.added') notes.push(part.payload.annotation);
    if (part.type === 'raw' && part.payload?.type === 'response.completed') searched = part.payload.response.ragkit?.search_query;
    if (part.type === 'error') check(false, `the stream failed: ${part.payload.error}`);
  }
  console.log(`\n  (searched as: ${searched})`);
  for (const c of once(notes)) console.log(citationLine(c));
  check(text && once(notes).length && (await output.sources).length, 'the streamed answer has no citation');
}

async function overTheStore(support) {
  console.log(`Q (generate): ${QUESTION}`);
  const first = await support.generate(QUESTION, { providerOptions: { openai: { include: ['file_search_call.results'] } } });
  const searched = first.toolResults.find((r) => r.payload.toolName === 'file_search')?.payload.result;
  console.log(`  (searched ${JSON.stringify(searched?.queries)}, ${searched?.results?.length ?? 0} results)`);
  showAnswer(first.text, responseCitations(first.response.body), first.sources);
  check(first.totalUsage.totalTokens > 0, 'no token usage reported');

  console.log(`\nQ (stream, follow-up): ${FOLLOW_UP}`);
  const history = [{ role: 'user', content: QUESTION }, ...first.response.messages, { role: 'user', content: FOLLOW_UP }];
  await streamed(await support.stream(history, { includeRawChunks: true }));
}

async function functionTool(support) {
  console.log(`\nQ (generate, tool): ${STATION_QUESTION}`);
  const done = await support.generate(STATION_QUESTION, { maxSteps: 5 });
  for (const call of done.toolCalls.filter((c) => !c.payload.providerExecuted)) {
    console.log(`  -> ${call.payload.toolName}(${JSON.stringify(call.payload.args)})`);
  }
  check(done.toolCalls.some((c) => c.payload.toolName === 'station_status'), 'the function was not called');
  showAnswer(done.text, responseCitations(done.response.body), done.sources);

  console.log(`\nQ (stream, tool): ${STATION_QUESTION}`);
  await streamed(await support.stream(STATION_QUESTION, { maxSteps: 5, includeRawChunks: true }));
}

async function structured(support) {
  console.log(`\nQ (structuredOutput): ${REPORT_QUESTION}`);
  const Report = z.object({ error_code: z.string(), meaning: z.string() });
  const done = await support.generate(REPORT_QUESTION, { structuredOutput: { schema: Report } });
  console.log(`A: ${JSON.stringify(done.object)}`);
  check(Report.safeParse(done.object).success, 'the answer is not in the shape asked for');
}

try {
  const openai = createOpenAI({ baseURL: BASE_URL, apiKey: API_KEY });
  const model = await chatModel();
  const store = await vectorStore();
  console.log(`ragkit at ${BASE_URL}, model ${model ?? OFFLINE_MODEL}, vector store ${store}\n`);
  const fileSearch = openai.tools.fileSearch({ vectorStoreIds: [store] });
  const support = new Agent({ id: 'support', name: 'Support', instructions: INSTRUCTIONS,
    model: openai(model ?? OFFLINE_MODEL), tools: { file_search: fileSearch } });
  await overTheStore(support);
  if (model) {
    const stationStatus = createTool({
      id: 'station_status',
      description: 'The live status of a weather station: its last error code and battery level.',
      inputSchema: z.object({ station_id: z.string() }),
      // stands in for the caller's own system (a fleet database, an API)
      execute: async ({ station_id }) => ({ station_id, last_error: 'E42', battery: '81%' }),
    });
    await functionTool(new Agent({ id: 'fleet', name: 'Fleet support', instructions: INSTRUCTIONS,
      model: openai(model), tools: { file_search: fileSearch, station_status: stationStatus } }));
    await structured(support);
  } else {
    console.log('\nNo chat model behind ragkit: skipping the function tool and structured output '
      + '(ragkit-extractive cannot call functions or fill in a JSON shape).');
  }
} catch (error) {
  console.error(`error: ${error.constructor.name}: ${error.message}${error.responseBody ? `\n${error.responseBody}` : ''}`);
  process.exit(1);
}
