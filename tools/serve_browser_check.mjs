// serve_browser_check.mjs — the chat page of `slm serve` in a real browser: Debian's chromium driven
// by npm playwright-core (pinned in tools/serve_npm, installed by scripts/setup into data/npm/serve).
// Run by tests/test_serve_clients.cpp:
//   node tools/serve_browser_check.mjs NPM_DIR BASE_URL API_KEY SCREENSHOT_DIR
// The server must run with --api-key API_KEY and a --max-tokens-limit of at least 3000. The page asks
// for the key, streams an answer, stops it (the server frees the slot), starts a new conversation
// during a running answer (the old answer never lands in the new one), sends again, shows an error
// without breaking the conversation, wraps a long word, and makes no request outside the server.
// Screenshots go to SCREENSHOT_DIR. Exits 1 on the first failure.
import assert from 'node:assert/strict';
import { pathToFileURL } from 'node:url';
import path from 'node:path';
import fs from 'node:fs';

const [npmDir, base, apiKey, shots] = process.argv.slice(2);
if (!shots) {
  console.error('usage: node serve_browser_check.mjs NPM_DIR BASE_URL API_KEY SCREENSHOT_DIR');
  process.exit(2);
}
fs.mkdirSync(shots, { recursive: true });
const { chromium } = await import(pathToFileURL(path.join(npmDir, 'node_modules/playwright-core/index.mjs')).href);
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'], headless: true });
let failed = false;
try {
  const page = await browser.newPage({ viewport: { width: 900, height: 700 } });
  const outside = [];
  page.on('pageerror', (e) => console.log('page error: ' + e.message));
  page.on('console', (m) => { if (m.type() === 'error') console.log('console error: ' + m.text()); });
  page.on('request', (r) => { if (!r.url().startsWith(base)) outside.push(r.url()); });
  const shot = (name) => page.screenshot({ path: path.join(shots, name + '.png'), fullPage: true });
  const step = (name) => console.log('ok   ' + name);
  const busySlots = async () => {
    const r = await page.request.get(base + '/metrics', { headers: { Authorization: 'Bearer ' + apiKey } });
    const m = /\nslm_slots_busy (\d+)/.exec(await r.text());
    return m ? +m[1] : -1;
  };
  const waitIdle = async () => {
    for (let i = 0; i < 200; i++) {
      if ((await busySlots()) === 0) return;
      await page.waitForTimeout(25);
    }
    assert.fail('a slot stayed busy');
  };
  const bubbles = () => page.locator('#log .msg');

  await page.goto(base + '/');
  // 1. The server needs a key: the page asks for it, then shows the model.
  await page.locator('#keybox').waitFor({ state: 'visible', timeout: 10000 });
  await page.fill('#key', apiKey);
  await page.click('#savekey');
  await page.waitForFunction(() => document.getElementById('model').textContent === 'mini', null, { timeout: 10000 });
  assert.match(await page.textContent('#kind'), /context \d+ tokens/);
  step('the key is asked for and the model shown');

  // 2. A long answer streams in; Stop ends it and the server frees the slot.
  await page.fill('#max_tokens', '3000');
  await page.fill('#text', 'Tell me a long story.');
  await page.click('#send');
  const answer = page.locator('#log .assistant').first();
  await page.waitForFunction(() => (document.querySelector('#log .assistant')?.textContent.length ?? 0) > 0, null, { timeout: 20000 });
  const first = (await answer.textContent()).length;
  await page.waitForFunction((n) => document.querySelector('#log .assistant').textContent.length > n, first, { timeout: 20000 });
  step('tokens stream in');
  await shot('1-streaming');
  assert.equal(await page.isDisabled('#stop'), false);
  await page.click('#stop');
  await page.waitForFunction(() => !document.getElementById('send').disabled, null, { timeout: 10000 });
  assert.ok((await answer.getAttribute('class')).includes('stopped'));
  await waitIdle();
  step('Stop ends the answer and frees the slot');
  await shot('2-stopped');

  // 3. "New conversation" during an answer: cancelled, and nothing of it lands afterwards.
  await page.fill('#text', 'Another long story, please.');
  await page.click('#send');
  await page.waitForFunction(() => document.querySelectorAll('#log .assistant').length === 2 &&
    document.querySelectorAll('#log .assistant')[1].textContent.length > 0, null, { timeout: 20000 });
  await page.click('#reset');
  assert.equal(await bubbles().count(), 0);
  await page.waitForTimeout(500);
  assert.equal(await bubbles().count(), 0, 'the old answer landed in the new conversation');
  await waitIdle();
  step('New conversation cancels the running answer');

  // 4. The new conversation works: send again, a short answer.
  await page.fill('#max_tokens', '6');
  await page.fill('#text', 'Hello!');
  await page.click('#send');
  await page.waitForFunction(() => !document.getElementById('send').disabled, null, { timeout: 20000 });
  assert.equal(await bubbles().count(), 2);
  assert.equal(await page.locator('#log .error').count(), 0);
  step('a new message is answered in the new conversation');
  await shot('3-new-conversation');

  // 5. An error shows in the conversation and the next message still works.
  await page.fill('#max_tokens', '99999999');
  await page.fill('#text', 'This one fails.');
  await page.click('#send');
  await page.locator('#log .error').waitFor({ timeout: 10000 });
  assert.match(await page.locator('#log .error').textContent(), /max_tokens/);
  await page.fill('#max_tokens', '6');
  await page.fill('#text', 'And this one works.');
  await page.click('#send');
  await page.waitForFunction(() => !document.getElementById('send').disabled, null, { timeout: 20000 });
  assert.equal(await page.locator('#log .assistant:not(.error)').count(), 2);
  step('an error is shown without breaking the conversation');

  // 6. A long word wraps inside its bubble.
  await page.fill('#text', 'x'.repeat(400));
  await page.click('#send');
  await page.waitForFunction(() => !document.getElementById('send').disabled, null, { timeout: 20000 });
  const wraps = await page.evaluate(() => [...document.querySelectorAll('#log .user')].every((d) => d.scrollWidth <= d.clientWidth));
  assert.ok(wraps, 'a long word overflows its bubble');
  step('long words wrap');
  await shot('4-errors-and-wrapping');

  assert.deepEqual(outside, [], 'requests outside the server');
  step('no request outside the server');
} catch (e) {
  console.log('FAIL ' + (e?.stack ?? e));
  try {
    const page = browser.contexts()[0]?.pages()[0];
    if (page) {
      console.log('page log: ' + (await page.innerHTML('#log')).slice(0, 2000));
      await page.screenshot({ path: path.join(shots, 'failure.png'), fullPage: true });
    }
  } catch { /* the page is gone */ }
  failed = true;
} finally {
  await browser.close();
}
if (failed) process.exit(1);
console.log('all checks passed');
