// bench/llama_generate.mjs — llama.cpp's batch-1 greedy decoding speed on a GGUF file, through
// node-llama-cpp (the prebuilt llama.cpp that scripts/setup installs into data/npm/gguf), for the
// generate section of scripts/bench beside bench_generate on the same file and threads.
//   node bench/llama_generate.mjs FILE.gguf --threads 2 --prompt-tokens 16 --new-tokens 64
// Prints one JSON line: {"impl": "llama.cpp", "tokens_per_s", "prompt_s", ...}. The prompt is
// random token ids (seeded); decoding time runs from the first generated token to the last.
import path from "node:path";
import { createRequire } from "node:module";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = process.env.SLM_GGUF_NPM || path.join(here, "..", "data", "npm", "gguf");
const require = createRequire(path.join(root, "package.json"));
const load = async (name) => import(pathToFileURL(require.resolve(name)).href);

const args = process.argv.slice(2);
const file = args[0];
const opt = (name, def) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : def;
};
if (!file) {
  console.error("usage: node bench/llama_generate.mjs FILE.gguf [--threads N] [--prompt-tokens N] [--new-tokens N]");
  process.exit(2);
}
const threads = opt("--threads", 2), promptTokens = opt("--prompt-tokens", 16), newTokens = opt("--new-tokens", 64);
process.env.NODE_LLAMA_CPP_SKIP_DOWNLOAD = "true";
const { getLlama } = await load("node-llama-cpp");
const llama = await getLlama({ gpu: false, build: "never", usePrebuiltBinaries: true, progressLogs: false, logLevel: "error" });
const model = await llama.loadModel({ modelPath: path.resolve(file), gpuLayers: 0 });
let seed = 3;
const prompt = [];
for (let i = 0; i < promptTokens; ++i) {
  seed = (seed * 1103515245 + 12345) % 2147483648;
  prompt.push(100 + (seed % 1000));  // ids every vocabulary of the benchmarks has
}
const context = await model.createContext({ contextSize: promptTokens + newTokens + 8, threads, batchSize: 512 });
const seq = context.getSequence();
const t0 = performance.now();
let first = 0, n = 0;
for await (const t of seq.evaluate(prompt, { temperature: 0, yieldEogToken: true })) {
  if (++n === 1) first = performance.now();
  if (n >= newTokens) break;
}
const end = performance.now();
console.log(JSON.stringify({
  impl: "llama.cpp", weights: "q8_0", config: file, threads, prompt_tokens: promptTokens, new_tokens: n,
  tokens_per_s: (n - 1) / ((end - first) / 1000), prompt_s: (first - t0) / 1000,
}));
await context.dispose();
await model.dispose();
await llama.dispose();
