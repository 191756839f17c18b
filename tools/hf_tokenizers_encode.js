#!/usr/bin/env node
// Encode strings with Hugging Face's tokenizers library (the npm native binding), from a
// tokenizer.json, for the tests that check ScratchLM's exported tokenizer.json against it.
//
//   node tools/hf_tokenizers_encode.js --tokenizer DIR/tokenizer.json --cases IN.jsonl --out OUT.jsonl
//
// Needs data/npm/tokenizers (tokenizers@0.23.2, put there by scripts/setup); no npm install.
// IN: one JSON object a line with "name" and "text". OUT: {"name": ..., "ids": [...]} a line, in
// order: tokenizer.encode(text, null, {addSpecialTokens: false}) — added tokens such as
// <|endoftext|> in the text are matched as specials, as Hugging Face always does. Nothing is
// computed here but what the library returns.
"use strict";

const fs = require("fs");
const path = require("path");

const root = path.resolve(__dirname, "..");
const LIB = path.join(root, "data/npm/tokenizers");

function die(msg) {
  process.stderr.write(`hf_tokenizers_encode: ${msg}\n`);
  process.exit(2);
}

function parseArgs(argv) {
  const a = {};
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    if (k !== "--tokenizer" && k !== "--cases" && k !== "--out") die(`unknown argument: ${k}`);
    if (i + 1 >= argv.length) die(`${k} needs a value`);
    a[k.slice(2)] = argv[++i];
  }
  for (const k of ["tokenizer", "cases", "out"]) if (!a[k]) die(`give --${k}`);
  return a;
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  if (!fs.existsSync(path.join(LIB, "package.json"))) die(`${LIB} is missing: run scripts/setup`);
  const { Tokenizer } = require(LIB);
  const tok = Tokenizer.fromFile(args.tokenizer);
  const cases = fs
    .readFileSync(args.cases, "utf8")
    .split("\n")
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l));
  const out = [];
  for (const c of cases) {
    const enc = await tok.encode(c.text, null, { addSpecialTokens: false });
    out.push(JSON.stringify({ name: c.name, ids: enc.getIds() }));
  }
  fs.writeFileSync(args.out, out.join("\n") + "\n");
}

main().catch((e) => die(e && e.stack ? e.stack : String(e)));
