// serve_load.mjs — load generator for `slm serve` (not a test; bench/serve_bench.sh runs it):
// C concurrent clients each send R streamed /v1/completions requests one after another
// (max_tokens M, greedy, include_usage), and the run reports the aggregate generated tokens/s,
// p50/p99 time to first token and p50/p99 request latency. Node's http module, no packages.
//   node bench/serve_load.mjs BASE_URL [clients=32] [requests_per_client=10] [max_tokens=64]
// Prints one JSON line.
import http from 'node:http';

const [base, C = '32', R = '10', M = '64'] = process.argv.slice(2);
if (!base) {
  console.error('usage: node serve_load.mjs BASE_URL [clients] [requests_per_client] [max_tokens]');
  process.exit(2);
}
const clients = +C, perClient = +R, maxTokens = +M;
const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity });
const prompts = ['Call me Ishmael.', 'It was the best of times,', 'The whale', 'Once upon a time', 'In the beginning'];

// One streamed request over node:http (no body timeout: a request may wait long in the queue).
function one(i) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const body = JSON.stringify({ prompt: prompts[i % prompts.length], max_tokens: maxTokens, temperature: 0,
      stream: true, stream_options: { include_usage: true } });
    const req = http.request(base + '/v1/completions', {
      method: 'POST', agent, headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) },
    }, (res) => {
      if (res.statusCode !== 200) {
        reject(new Error(`HTTP ${res.statusCode}`));
        res.resume();
        return;
      }
      res.setEncoding('utf8');
      let buf = '', ttft = -1, tokens = 0;
      res.on('data', (d) => {
        buf += d;
        let cut;
        while ((cut = buf.indexOf('\n\n')) >= 0) {
          const line = buf.slice(0, cut);
          buf = buf.slice(cut + 2);
          if (!line.startsWith('data: ') || line === 'data: [DONE]') continue;
          const ev = JSON.parse(line.slice(6));
          if (ev.usage) tokens = ev.usage.completion_tokens;
          if (ttft < 0 && ev.choices?.[0]?.text) ttft = performance.now() - t0;
        }
      });
      res.on('end', () => resolve({ ttft, latency: performance.now() - t0, tokens }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] : NaN;
};

const results = [];
const start = performance.now();
await Promise.all(Array.from({ length: clients }, async (_, c) => {
  for (let k = 0; k < perClient; k++) results.push(await one(c * perClient + k));
}));
const wall = (performance.now() - start) / 1000;
const tokens = results.reduce((a, r) => a + r.tokens, 0);
const ttfts = results.filter((r) => r.ttft >= 0).map((r) => r.ttft);
agent.destroy();
console.log(JSON.stringify({
  requests: results.length, tokens, wall_s: +wall.toFixed(2), tokens_per_s: +(tokens / wall).toFixed(1),
  ttft_p50_ms: Math.round(pct(ttfts, 50)), ttft_p99_ms: Math.round(pct(ttfts, 99)),
  latency_p50_ms: Math.round(pct(results.map((r) => r.latency), 50)),
  latency_p99_ms: Math.round(pct(results.map((r) => r.latency), 99)),
}));
