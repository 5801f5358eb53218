// The official `openai` npm package against a running Panamax server.
//   PANAMAX_BASE_URL=http://127.0.0.1:8080/v1 PANAMAX_MODEL=tiny-chat node openai-client.mjs
// Exits 0 when every case passes, 1 on the first failure (printed). Run by OpenAiNodeClientTest in the server module.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import OpenAI from 'openai';

const baseURL = process.env.PANAMAX_BASE_URL;
const model = process.env.PANAMAX_MODEL ?? 'tiny-chat';
if (!baseURL) {
  console.error('set PANAMAX_BASE_URL (e.g. http://127.0.0.1:8080/v1)');
  process.exit(2);
}
const client = new OpenAI({ baseURL, apiKey: process.env.PANAMAX_API_KEY ?? 'unused', maxRetries: 0, timeout: 60_000 });
const messages = [{ role: 'system', content: 'You are terse.' }, { role: 'user', content: 'once upon a time' }];

const cases = {
  async chat() {
    const c = await client.chat.completions.create({ model, messages, max_completion_tokens: 12, temperature: 0 });
    assert.equal(c.object, 'chat.completion');
    assert.equal(c.model, model);
    assert.equal(c.choices.length, 1);
    assert.equal(c.choices[0].index, 0);
    assert.equal(c.choices[0].message.role, 'assistant');
    assert.equal(typeof c.choices[0].message.content, 'string');
    assert.ok(c.choices[0].message.content.length > 0);
    assert.equal(c.choices[0].finish_reason, 'length');
    assert.equal(c.usage.completion_tokens, 12);
    assert.ok(c.usage.prompt_tokens > 3);
    assert.equal(c.usage.total_tokens, c.usage.prompt_tokens + 12);
    return c.choices[0].message.content;
  },

  async chatStreaming(whole) {
    const stream = await client.chat.completions.create({
      model, messages, max_completion_tokens: 12, temperature: 0, stream: true, stream_options: { include_usage: true },
    });
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    assert.ok(chunks.length >= 3, `role, content, finish, usage chunks: ${chunks.length}`);
    assert.equal(chunks[0].object, 'chat.completion.chunk');
    assert.equal(chunks[0].choices[0].delta.role, 'assistant', 'the role comes in the first delta');
    let text = '';
    let finish = null;
    for (const ch of chunks) {
      for (const choice of ch.choices) {
        assert.equal(choice.index, 0);
        text += choice.delta.content ?? '';
        if (choice.finish_reason) finish = choice.finish_reason;
      }
    }
    assert.equal(text, whole, 'streamed text equals the non-streaming text (greedy)');
    assert.equal(finish, 'length');
    const last = chunks[chunks.length - 1];
    assert.deepEqual(last.choices, [], 'the usage chunk has no choices');
    assert.equal(last.usage.completion_tokens, 12);
  },

  async chatStop(whole) {
    const stop = whole.substring(Math.floor(whole.length / 2), Math.floor(whole.length / 2) + 2);
    const c = await client.chat.completions.create({
      model, messages, max_completion_tokens: 12, temperature: 0, stop: ['never-in-the-text', stop],
    });
    assert.equal(c.choices[0].message.content, whole.substring(0, whole.indexOf(stop)));
    assert.equal(c.choices[0].finish_reason, 'stop');
  },

  async completions() {
    const c = await client.completions.create({ model, prompt: 'once upon a time', max_tokens: 10, temperature: 0 });
    assert.equal(c.object, 'text_completion');
    assert.equal(c.choices.length, 1);
    assert.ok(c.choices[0].text.length > 0);
    assert.equal(c.choices[0].finish_reason, 'length');
    assert.equal(c.usage.completion_tokens, 10);
    const stream = await client.completions.create({ model, prompt: 'once upon a time', max_tokens: 10, temperature: 0, stream: true });
    let text = '';
    for await (const chunk of stream) for (const choice of chunk.choices) text += choice.text ?? '';
    assert.equal(text, c.choices[0].text, 'streamed completion equals the non-streaming one');
  },

  async logprobs(whole) {
    const c = await client.chat.completions.create({
      model, messages, max_completion_tokens: 12, temperature: 0, logprobs: true, top_logprobs: 3,
      frequency_penalty: 0, presence_penalty: 0,
    });
    assert.equal(c.choices[0].message.content, whole, 'logprobs do not change greedy tokens');
    const content = c.choices[0].logprobs.content;
    assert.equal(content.length, 12);
    for (const t of content) {
      assert.ok(t.logprob <= 0);
      assert.equal(t.top_logprobs.length, 3);
      assert.ok(Array.isArray(t.bytes));
    }
    assert.equal(Buffer.from(content.flatMap((t) => t.bytes)).toString('utf8'), whole, 'the tokens\' bytes are the text');
  },

  async models() {
    const list = await client.models.list();
    assert.ok(list.data.some((m) => m.id === model), JSON.stringify(list.data));
  },

  async errors() {
    await assert.rejects(
      client.chat.completions.create({ model, messages, max_completion_tokens: 4, temperature: 3 }),
      (e) => e instanceof OpenAI.BadRequestError && e.status === 400 && e.message.includes("'temperature' must be in [0, 2]"),
    );
    await assert.rejects(
      client.chat.completions.create({ model: 'gpt-4o', messages }),
      (e) => e instanceof OpenAI.BadRequestError && e.message.includes('does not exist') && e.param === 'model',
    );
  },
};

let passed = 0;
let failed = 0;
try {
  const whole = await cases.chat();
  passed++;
  for (const name of ['chatStreaming', 'chatStop', 'logprobs', 'completions', 'models', 'errors']) {
    try {
      await cases[name](whole);
      console.log(`ok ${name}`);
      passed++;
    } catch (e) {
      console.error(`FAILED ${name}: ${e.stack ?? e}`);
      failed++;
    }
  }
} catch (e) {
  console.error(`FAILED chat: ${e.stack ?? e}`);
  failed++;
}
const { version } = JSON.parse(readFileSync(new URL('node_modules/openai/package.json', import.meta.url), 'utf8'));
console.log(`openai-node ${version}: ${passed} cases passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
