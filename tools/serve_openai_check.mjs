// serve_openai_check.mjs — the official OpenAI Node SDK (npm `openai`, pinned in tools/serve_npm,
// installed by scripts/setup into data/npm/serve) against a running `slm serve`: chat, completions,
// streaming with include_usage, logprobs, echo, and the SDK's typed errors (400, 401, 404, 429).
// Run by tests/test_serve_clients.cpp:
//   node tools/serve_openai_check.mjs NPM_DIR BASE_URL MODEL API_KEY
// The server must run with --api-key API_KEY --parallel 1 --max-queue 0 and a --max-tokens-limit of at
// least 2000 (a long request keeps the one slot busy for the 429). Prints one line per check; exits 1
// on the first failure.
import assert from 'node:assert/strict';
import { pathToFileURL } from 'node:url';
import path from 'node:path';

const [npmDir, baseURL, model, apiKey] = process.argv.slice(2);
if (!apiKey) {
  console.error('usage: node serve_openai_check.mjs NPM_DIR BASE_URL MODEL API_KEY');
  process.exit(2);
}
const { default: OpenAI } = await import(pathToFileURL(path.join(npmDir, 'node_modules/openai/index.mjs')).href);
const client = new OpenAI({ baseURL, apiKey, maxRetries: 0, timeout: 60_000 });
const messages = [{ role: 'user', content: 'Name a colour.' }];

async function check(name, fn) {
  try {
    await fn();
    console.log(`ok   ${name}`);
  } catch (e) {
    console.log(`FAIL ${name}: ${e?.stack ?? e}`);
    process.exit(1);
  }
}

async function expectError(Type, status, fn, param) {
  try {
    await fn();
  } catch (e) {
    assert.ok(e instanceof Type, `expected ${Type.name}, got ${e?.constructor?.name}: ${e?.message}`);
    assert.equal(e.status, status);
    assert.equal(typeof e.message, 'string');
    if (param !== undefined) assert.equal(e.param, param);
    return e;
  }
  assert.fail(`expected ${Type.name}`);
}

await check('models.list and models.retrieve', async () => {
  const list = await client.models.list();
  assert.equal(list.data[0].id, model);
  const m = await client.models.retrieve(model);
  assert.equal(m.id, model);
});

let whole;
await check('chat.completions.create with logprobs', async () => {
  whole = await client.chat.completions.create({ model, messages, max_tokens: 8, temperature: 0, logprobs: true, top_logprobs: 2 });
  assert.equal(whole.object, 'chat.completion');
  const choice = whole.choices[0];
  assert.equal(choice.message.role, 'assistant');
  assert.equal(typeof choice.message.content, 'string');
  assert.ok(['stop', 'length'].includes(choice.finish_reason));
  assert.equal(choice.logprobs.content.length, whole.usage.completion_tokens);
  for (const t of choice.logprobs.content) {
    assert.equal(typeof t.token, 'string');
    assert.ok(t.logprob <= 0);
    assert.ok(Array.isArray(t.bytes));
    assert.equal(t.top_logprobs.length, 2);
    assert.equal(t.top_logprobs[0].token, t.token); // greedy: the chosen token is the likeliest
  }
  assert.equal(whole.usage.total_tokens, whole.usage.prompt_tokens + whole.usage.completion_tokens);
});

await check('chat stream with include_usage joins to the whole answer', async () => {
  const stream = await client.chat.completions.create({
    model, messages, max_tokens: 8, temperature: 0, stream: true, stream_options: { include_usage: true },
  });
  let text = '';
  let usage = null;
  let chunks = 0;
  for await (const chunk of stream) {
    chunks++;
    if (chunk.usage) usage = chunk.usage;
    for (const c of chunk.choices) text += c.delta?.content ?? '';
  }
  assert.ok(chunks >= 2);
  assert.equal(text, whole.choices[0].message.content);
  assert.deepEqual(usage, whole.usage);
});

await check('completions.create: echo + logprobs of a token-array prompt, max_tokens 0', async () => {
  const ids = [464, 2068, 7586, 21831];
  const r = await client.completions.create({ model, prompt: ids, max_tokens: 0, echo: true, logprobs: 1 });
  const lp = r.choices[0].logprobs;
  assert.equal(lp.tokens.length, ids.length);
  assert.equal(lp.token_logprobs[0], null);
  assert.equal(lp.top_logprobs[0], null);
  for (let i = 1; i < ids.length; i++) {
    assert.ok(lp.token_logprobs[i] <= 0);
    assert.equal(Object.keys(lp.top_logprobs[i]).length, 1);
  }
  assert.equal(lp.text_offset[0], 0);
  assert.equal(r.choices[0].text, lp.tokens.join(''));
  assert.equal(r.usage.prompt_tokens, ids.length);
});

await check('completions.create with a list of prompts', async () => {
  const r = await client.completions.create({ model, prompt: ['Every effort', [464, 2068]], max_tokens: 3, temperature: 0 });
  assert.equal(r.choices.length, 2);
  assert.deepEqual(r.choices.map((c) => c.index), [0, 1]);
});

await check('completions stream with include_usage', async () => {
  const stream = await client.completions.create({
    model, prompt: 'Every effort moves you', max_tokens: 5, temperature: 0, stream: true, stream_options: { include_usage: true },
  });
  let text = '';
  let usage = null;
  for await (const chunk of stream) {
    if (chunk.usage) usage = chunk.usage;
    for (const c of chunk.choices) text += c.text;
  }
  const r = await client.completions.create({ model, prompt: 'Every effort moves you', max_tokens: 5, temperature: 0 });
  assert.equal(text, r.choices[0].text);
  assert.equal(usage.completion_tokens, r.usage.completion_tokens);
});

await check('400 BadRequestError names the field', async () => {
  await expectError(OpenAI.BadRequestError, 400, () => client.chat.completions.create({ model, messages, temprature: 1 }), 'temprature');
  await expectError(OpenAI.BadRequestError, 400, () => client.chat.completions.create({ model, messages, tools: [{ type: 'function', function: { name: 'f' } }] }), 'tools');
  await expectError(OpenAI.BadRequestError, 400, () => client.chat.completions.create({ model, messages, response_format: { type: 'json_object' } }), 'response_format');
  await expectError(OpenAI.BadRequestError, 400, () => client.completions.create({ model, prompt: 'a', max_tokens: -1 }), 'max_tokens');
});

await check('401 AuthenticationError with a wrong key', async () => {
  const bad = new OpenAI({ baseURL, apiKey: 'wrong-key', maxRetries: 0 });
  await expectError(OpenAI.AuthenticationError, 401, () => bad.models.list());
  await expectError(OpenAI.AuthenticationError, 401, () => bad.chat.completions.create({ model, messages }));
});

await check('404 NotFoundError for another model', async () => {
  await expectError(OpenAI.NotFoundError, 404, () => client.models.retrieve('no-such-model'));
});

await check('429 RateLimitError while the one slot is busy, then the slot is freed by aborting', async () => {
  const controller = new AbortController();
  const long = await client.completions.create(
    { model, prompt: 'Every effort moves you', max_tokens: 2000, stream: true }, { signal: controller.signal });
  const it = long[Symbol.asyncIterator]();
  await it.next(); // the long request is generating
  await expectError(OpenAI.RateLimitError, 429, () => client.completions.create({ model, prompt: 'a', max_tokens: 2 }));
  controller.abort();
  try { while (!(await it.next()).done); } catch { /* aborted */ }
  // The slot comes free at the next decode step.
  let ok = false;
  for (let i = 0; i < 100 && !ok; i++) {
    try {
      await client.completions.create({ model, prompt: 'a', max_tokens: 2 });
      ok = true;
    } catch (e) {
      if (!(e instanceof OpenAI.RateLimitError)) throw e;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  assert.ok(ok, 'the aborted stream did not free its slot');
});

console.log('all checks passed');
