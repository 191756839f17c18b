#!/usr/bin/env node
// Benchmark reference GPT-2 tokenizers from Node.
//
//   node bench/tiktoken_bench.js FILE... [--repeat N] [--ids-out PREFIX]
//
// Each FILE is read as UTF-8 and encoded as one document (no special tokens,
// i.e. encode_ordinary).  Encoders:
//   tiktoken-wasm     npm tiktoken (WASM build of OpenAI's tiktoken) from
//                     data/npm/tiktoken (put there by scripts/setup).
//   tiktoken-rs-node  napi binding of the tiktoken-rs crate, npm package
//                     tiktoken-rs-node-linux-x64-gnu@1.0.6.  If it is not already in
//                     data/npm/tiktoken-rs-node/, the script tries to fetch it with
//                     `npm pack` + `tar xzf`; if that fails it is skipped.
//                     Its API (from the package's index.d.ts / src/lib.rs):
//                       getEncoding("gpt2") -> Encoding
//                       Encoding.encode(text: string) -> Uint32Array
//                     encode() uses encode_with_special_tokens, so it only matches
//                     encode_ordinary on text that contains no "<|endoftext|>".
//
// Timing: one warm-up pass, then --repeat N (default 3) timed passes; a pass is
// the total time to encode all files in order.  The median is reported.
// stdout: one JSON line per encoder:
//   {"encoder", "bytes", "tokens", "seconds", "mb_per_s", "ids_fnv1a64"}
// ids_fnv1a64 = 64-bit FNV-1a over the ids of all files in order, each id as 4
// little-endian bytes, as 16 lowercase hex digits.
// --ids-out PREFIX writes the ids of all files (concatenated, in order) as
// little-endian uint32 to PREFIX.<encoder>.u32.
// stderr: progress, and whether the encoders agree (exit status 1 if they do not).
"use strict";

const fs = require("fs");
const path = require("path");
const { spawnSync } = require("child_process");

const root = path.resolve(__dirname, "..");
const NPM_DIR = path.join(root, "data/npm");
const WASM_DIR = path.join(NPM_DIR, "tiktoken");
const RS_DIR = path.join(NPM_DIR, "tiktoken-rs-node");
const RS_PKG = "tiktoken-rs-node-linux-x64-gnu@1.0.6";
const RS_NODE_FILE = "tiktoken-rs-node.linux-x64-gnu.node";

function log(msg) {
  process.stderr.write(`tiktoken_bench: ${msg}\n`);
}
function die(msg) {
  log(msg);
  process.exit(2);
}

function parseArgs(argv) {
  const files = [];
  let repeat = 3;
  let idsOut = null;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => {
      if (i + 1 >= argv.length) die(`${a} needs a value`);
      return argv[++i];
    };
    if (a === "--repeat") repeat = Number(val());
    else if (a.startsWith("--repeat=")) repeat = Number(a.slice(9));
    else if (a === "--ids-out") idsOut = val();
    else if (a.startsWith("--ids-out=")) idsOut = a.slice(10);
    else if (a === "-h" || a === "--help") {
      process.stdout.write("usage: node bench/tiktoken_bench.js FILE... [--repeat N] [--ids-out PREFIX]\n");
      process.exit(0);
    } else if (a.startsWith("--")) die(`unknown option ${a}`);
    else files.push(a);
  }
  if (!files.length) die("no input files (usage: node bench/tiktoken_bench.js FILE... [--repeat N] [--ids-out PREFIX])");
  if (!Number.isInteger(repeat) || repeat < 1) die("--repeat must be a positive integer");
  return { files, repeat, idsOut };
}

// ---------------------------------------------------------------------------
// Encoders

function loadWasm() {
  const { get_encoding } = require(path.join(WASM_DIR, "tiktoken.cjs"));
  const version = JSON.parse(fs.readFileSync(path.join(WASM_DIR, "package.json"), "utf8")).version;
  const enc = get_encoding("gpt2");
  return { name: "tiktoken-wasm", version, encode: (text) => enc.encode_ordinary(text) };
}

function run(cmd, args, cwd) {
  const r = spawnSync(cmd, args, { cwd, encoding: "utf8", timeout: 180000 });
  if (r.error) throw new Error(`${cmd} ${args.join(" ")}: ${r.error.message}`);
  if (r.status !== 0) {
    throw new Error(`${cmd} ${args.join(" ")} exited with ${r.status}: ${(r.stderr || "").trim().split("\n").slice(-3).join(" | ")}`);
  }
  return r.stdout;
}

// Fetch the package into RS_DIR: npm pack into a temp folder next to it, extract,
// then rename the extracted package/ folder into place (atomic on one filesystem).
function fetchRsNode() {
  fs.mkdirSync(NPM_DIR, { recursive: true });
  const tmp = fs.mkdtempSync(path.join(NPM_DIR, ".tiktoken-rs-node-tmp-"));
  try {
    log(`fetching ${RS_PKG} with npm pack ...`);
    const out = run("npm", ["pack", RS_PKG, "--silent"], tmp).trim().split("\n").pop().trim();
    const tgz = path.join(tmp, out);
    if (!out.endsWith(".tgz") || !fs.existsSync(tgz)) throw new Error(`npm pack did not produce a .tgz (got ${JSON.stringify(out)})`);
    run("tar", ["xzf", tgz, "-C", tmp], tmp);
    const pkgDir = path.join(tmp, "package");
    if (!fs.existsSync(path.join(pkgDir, RS_NODE_FILE))) throw new Error(`${RS_NODE_FILE} not in the package`);
    fs.renameSync(pkgDir, RS_DIR);
    log(`installed ${RS_PKG} into ${path.relative(process.cwd(), RS_DIR)}`);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

function loadRsNode() {
  if (process.platform !== "linux" || process.arch !== "x64") {
    throw new Error(`${RS_PKG} is built for linux-x64-gnu only (this is ${process.platform}-${process.arch})`);
  }
  if (!fs.existsSync(path.join(RS_DIR, RS_NODE_FILE))) fetchRsNode();
  const version = JSON.parse(fs.readFileSync(path.join(RS_DIR, "package.json"), "utf8")).version;
  const m = require(path.join(RS_DIR, RS_NODE_FILE));
  const enc = m.getEncoding("gpt2");
  return { name: "tiktoken-rs-node", version, encode: (text) => enc.encode(text) };
}

// ---------------------------------------------------------------------------
// Helpers

const FNV_OFFSET = 0xcbf29ce484222325n;
const FNV_PRIME = 0x100000001b3n;
const MASK64 = 0xffffffffffffffffn;

// 64-bit FNV-1a over the little-endian bytes of each uint32 id.
function fnv1a64(idArrays) {
  let h = FNV_OFFSET;
  for (const ids of idArrays) {
    for (let i = 0; i < ids.length; i++) {
      const v = ids[i];
      h = ((h ^ BigInt(v & 0xff)) * FNV_PRIME) & MASK64;
      h = ((h ^ BigInt((v >>> 8) & 0xff)) * FNV_PRIME) & MASK64;
      h = ((h ^ BigInt((v >>> 16) & 0xff)) * FNV_PRIME) & MASK64;
      h = ((h ^ BigInt(v >>> 24)) * FNV_PRIME) & MASK64;
    }
  }
  return h.toString(16).padStart(16, "0");
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function writeIds(file, idArrays) {
  const total = idArrays.reduce((n, a) => n + a.length, 0);
  const buf = Buffer.alloc(total * 4);
  let off = 0;
  for (const ids of idArrays) {
    for (let i = 0; i < ids.length; i++, off += 4) buf.writeUInt32LE(ids[i], off);
  }
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  fs.writeFileSync(file, buf);
}

function encodeAll(enc, texts) {
  const out = new Array(texts.length);
  for (let i = 0; i < texts.length; i++) out[i] = enc.encode(texts[i]);
  return out;
}

// ---------------------------------------------------------------------------

function main() {
  const { files, repeat, idsOut } = parseArgs(process.argv.slice(2));

  const strict = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
  const texts = [];
  let bytes = 0;
  for (const f of files) {
    const raw = fs.readFileSync(f);
    let text;
    try {
      text = strict.decode(raw);
    } catch {
      log(`warning: ${f} is not valid UTF-8; invalid bytes become U+FFFD`);
      text = new TextDecoder("utf-8", { ignoreBOM: true }).decode(raw);
    }
    texts.push(text);
    bytes += Buffer.byteLength(text, "utf8");
  }
  const withEot = files.filter((_, i) => texts[i].includes("<|endoftext|>"));
  log(`${files.length} file(s), ${bytes} bytes, repeat ${repeat}`);

  const encoders = [loadWasm()];
  try {
    encoders.push(loadRsNode());
  } catch (e) {
    log(`skipping tiktoken-rs-node: ${e.message}`);
  }

  const results = [];
  for (const enc of encoders) {
    const ids = encodeAll(enc, texts); // warm-up; also the ids we report
    const times = [];
    for (let r = 0; r < repeat; r++) {
      const t0 = process.hrtime.bigint();
      encodeAll(enc, texts);
      times.push(Number(process.hrtime.bigint() - t0) / 1e9);
    }
    const seconds = median(times);
    const tokens = ids.reduce((n, a) => n + a.length, 0);
    const rec = {
      encoder: enc.name,
      bytes,
      tokens,
      seconds,
      mb_per_s: Number((bytes / 1e6 / seconds).toFixed(3)),
      ids_fnv1a64: fnv1a64(ids),
    };
    process.stdout.write(JSON.stringify(rec) + "\n");
    log(`${enc.name} ${enc.version}: runs ${times.map((t) => t.toFixed(3)).join(" ")} s`);
    if (idsOut) {
      const out = `${idsOut}.${enc.name}.u32`;
      writeIds(out, ids);
      log(`wrote ${tokens} ids to ${out}`);
    }
    results.push({ enc, ids, rec });
  }

  if (results.length < 2) {
    log("only one encoder ran; nothing to compare");
    return;
  }
  const [a, b] = results;
  let agree = a.rec.ids_fnv1a64 === b.rec.ids_fnv1a64 && a.rec.tokens === b.rec.tokens;
  for (let f = 0; agree && f < files.length; f++) {
    const x = a.ids[f], y = b.ids[f];
    if (x.length !== y.length) agree = false;
    for (let i = 0; agree && i < x.length; i++) if (x[i] !== y[i]) agree = false;
  }
  if (agree) {
    log(`${a.enc.name} and ${b.enc.name} agree on all ${a.rec.tokens} ids`);
  } else {
    for (let f = 0; f < files.length; f++) {
      const x = a.ids[f], y = b.ids[f];
      let i = 0;
      while (i < x.length && i < y.length && x[i] === y[i]) i++;
      if (i < x.length || i < y.length) {
        log(`MISMATCH in ${files[f]} at id #${i}: ${a.enc.name} [${Array.from(x.slice(i, i + 8))}] ` +
          `vs ${b.enc.name} [${Array.from(y.slice(i, i + 8))}]`);
      }
    }
    if (withEot.length) {
      log(`note: ${withEot.length} file(s) contain "<|endoftext|>", which tiktoken-rs-node encodes as the ` +
        `special token while encode_ordinary does not: ${withEot.slice(0, 5).join(", ")}`);
    }
    log("encoders DISAGREE");
    process.exitCode = 1;
  }
}

main();
