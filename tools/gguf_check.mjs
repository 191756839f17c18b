// tools/gguf_check.mjs — what real GGUF implementations make of a file that `slm export` wrote
// (tests/test_gguf_llama.cpp runs it; the packages come from scripts/setup into data/npm/gguf):
//   @huggingface/gguf  reads the metadata and the tensor table;
//   node-llama-cpp     (a prebuilt llama.cpp) loads the model, tokenizes strings, and continues a
//                      prompt greedily (temperature 0, f32 KV cache) token by token.
//
//   node tools/gguf_check.mjs FILE.gguf REQUEST.json
// REQUEST: {"strings": [...], "prompt": [ids], "n": 32, "threads": 1}; prints one JSON object:
//   {"metadata": {key: value (arrays as {"length", "first"})}, "tensors": [{"name", "shape", "dtype"}],
//    "tokens": [[ids] per string], "continuation": [ids]}
// Offline: llama.cpp's binaries are the prebuilt ones inside the package (build: "never"), and
// nothing is downloaded.
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = process.env.SLM_GGUF_NPM || path.join(here, "..", "data", "npm", "gguf");
const require = createRequire(path.join(root, "package.json"));
const load = async (name) => import(pathToFileURL(require.resolve(name)).href);

const [file, requestPath] = process.argv.slice(2);
if (!file || !requestPath) {
  console.error("usage: node tools/gguf_check.mjs FILE.gguf REQUEST.json");
  process.exit(2);
}
const request = JSON.parse(fs.readFileSync(requestPath, "utf8"));
process.env.NODE_LLAMA_CPP_SKIP_DOWNLOAD = "true";

const out = { metadata: {}, tensors: [] };

// @huggingface/gguf: metadata and tensor infos.
const { gguf } = await load("@huggingface/gguf");
const parsed = await gguf(path.resolve(file), { allowLocalFile: true });
for (const [k, v] of Object.entries(parsed.metadata)) {
  const plain = typeof v === "bigint" ? Number(v) : v;
  out.metadata[k] = Array.isArray(plain) ? { length: plain.length, first: plain.slice(0, 3) } : plain;
}
out.tensors = parsed.tensorInfos.map((t) => ({
  name: t.name,
  shape: t.shape.map((d) => Number(d)),
  dtype: t.dtype,
}));

// llama.cpp through node-llama-cpp.
const { getLlama } = await load("node-llama-cpp");
const llama = await getLlama({ gpu: false, build: "never", usePrebuiltBinaries: true, progressLogs: false, logLevel: "error" });
const model = await llama.loadModel({ modelPath: path.resolve(file), gpuLayers: 0 });
out.tokens = (request.strings || []).map((s) => Array.from(model.tokenize(s, false)));
if (request.prompt && request.n) {
  const context = await model.createContext({
    contextSize: Math.min(model.trainContextSize, request.prompt.length + request.n + 8),
    threads: request.threads || 1,
    flashAttention: false,
    experimentalKvCacheKeyType: "F32",
    experimentalKvCacheValueType: "F32",
  });
  const seq = context.getSequence();
  const got = [];
  for await (const t of seq.evaluate(request.prompt, { temperature: 0, yieldEogToken: true })) {
    got.push(t);
    if (got.length >= request.n) break;
  }
  out.continuation = got;
  await context.dispose();
}
await model.dispose();
await llama.dispose();
process.stdout.write(JSON.stringify(out) + "\n");
