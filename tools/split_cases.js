#!/usr/bin/env node
// Generate reference pre-tokenization splits for the two tiktoken split patterns.
//
//   node tools/split_cases.js [--out tests/fixtures/split_cases.jsonl] [--sweep]
//
// Needs data/npm/tiktoken (tiktoken@1.0.22, put there by scripts/setup).  No npm install.
// Output is one JSON object per line:
//   {"name": "<category>/<id>", "pattern": "gpt2"|"gpt4", "text": "...", "pieces": ["...", ...]}
//
// The pieces come from a JavaScript RegExp translation of the patterns (below), which
// emulates Rust regex semantics.  Every case is then validated against tiktoken itself
// (the Rust fancy-regex + regex crates, compiled to WASM):
//   1. exact: a throw-away Tiktoken is built whose vocabulary is the 256 bytes, our pieces,
//      and the concatenations of adjacent pieces; encode_ordinary must return exactly one
//      token per piece.  Tokens never cross tiktoken's pieces, a piece that is in the
//      vocabulary becomes one token, and BPE never stops while two adjacent parts join into
//      a vocabulary entry, so this holds if and only if tiktoken's pieces are ours.  This is
//      run with the package's own pat_str and with the pattern string given above (for gpt4
//      they are spelled differently: see PATTERNS).
//   2. boundaries: with the real encoding (gpt2 / cl100k_base), every piece boundary (as a
//      UTF-8 byte offset) is a token boundary.
//   3. per-piece: with the real encoding, encode_ordinary(text) equals the concatenation of
//      encode_ordinary(piece) over the pieces.
//   plus: the pieces concatenate to the text, none is empty.
// Any failure prints the case and exits 1.  --sweep additionally checks the character
// classes of every Unicode scalar value against tiktoken and lists those that differ
// (expected only for characters newer than the Unicode tables compiled into the WASM).
// The output is deterministic (fixed case list + seeded PRNG).
"use strict";

const fs = require("fs");
const path = require("path");

const root = path.resolve(__dirname, "..");
const TIKTOKEN_DIR = path.join(root, "data/npm/tiktoken");
const MAX_BYTES = 2 * 1024 * 1024;

function parseArgs(argv) {
  let out = path.join(root, "tests/fixtures/split_cases.jsonl");
  let sweep = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--out") {
      if (i + 1 >= argv.length) die("--out needs a path");
      out = path.resolve(argv[++i]);
    } else if (a.startsWith("--out=")) {
      out = path.resolve(a.slice("--out=".length));
    } else if (a === "--sweep") {
      sweep = true;
    } else if (a === "-h" || a === "--help") {
      process.stdout.write("usage: node tools/split_cases.js [--out FILE] [--sweep]\n");
      process.exit(0);
    } else {
      die(`unknown argument: ${a}`);
    }
  }
  return { out, sweep };
}

function die(msg) {
  process.stderr.write(`split_cases: ${msg}\n`);
  process.exit(2);
}

const hex = (cp) => cp.toString(16).toUpperCase().padStart(4, "0");
const esc = (cp) => `\\u{${cp.toString(16)}}`;

// ---------------------------------------------------------------------------
// The patterns, as tiktoken (Rust) spells them, and their JavaScript translation.

// Unicode White_Space (PropList.txt), which is what Rust regex's \s matches.  JavaScript's
// \s differs (it has U+FEFF, lacks U+0085), so it is never used below.  Not in the list:
// U+180E (White_Space only before Unicode 6.3), U+200B, U+FEFF, U+001C-U+001F.
const WHITE_SPACE = [
  0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x20, 0x85, 0xa0, 0x1680,
  0x2000, 0x2001, 0x2002, 0x2003, 0x2004, 0x2005, 0x2006, 0x2007, 0x2008, 0x2009, 0x200a,
  0x2028, 0x2029, 0x202f, 0x205f, 0x3000,
];
const WS = WHITE_SPACE.map(esc).join(""); // class body
const s_ = `[${WS}]`; // \s
const S_ = `[^${WS}]`; // \S

// (?i:...) in Rust regex uses Unicode simple case folding: a literal matches every member
// of its case-folding orbit.  JavaScript's /u + /i uses the same simple case folding
// (CaseFolding.txt, status C+S), so we ask it for the orbit of each letter over the whole
// code space, and spell the orbit out as a class.  Result: s -> [sSſ] (U+017F LATIN SMALL
// LETTER LONG S); d m t l v e r -> just the two ASCII cases.  (K/U+212A KELVIN SIGN and
// Å/U+212B ANGSTROM SIGN are the other non-ASCII members of ASCII-letter orbits, but
// k and å are not in the pattern.)  Validated against tiktoken by the contraction cases.
function caseOrbit(ch) {
  const re = new RegExp(`^${ch}$`, "iu");
  const out = [];
  for (let cp = 0; cp <= 0x10ffff; cp++) {
    if (cp >= 0xd800 && cp <= 0xdfff) continue;
    if (re.test(String.fromCodePoint(cp))) out.push(cp);
  }
  return out;
}
const ORBITS = {};
for (const ch of "sdmtlver") ORBITS[ch] = caseOrbit(ch);
const EXPECTED_ORBITS = {
  s: [0x53, 0x73, 0x17f], d: [0x44, 0x64], m: [0x4d, 0x6d], t: [0x54, 0x74],
  l: [0x4c, 0x6c], v: [0x56, 0x76], e: [0x45, 0x65], r: [0x52, 0x72],
};
for (const ch of Object.keys(EXPECTED_ORBITS)) {
  if (ORBITS[ch].join() !== EXPECTED_ORBITS[ch].join()) {
    die(`case orbit of '${ch}' is ${ORBITS[ch].map(hex).join(" ")}, expected ` +
      EXPECTED_ORBITS[ch].map(hex).join(" ") + " (Node's Unicode tables changed?)");
  }
}
const ci = (ch) => `[${ORBITS[ch].map(esc).join("")}]`;

// Possessive quantifiers: X?+ and X++ are atomic.  JavaScript has no atomic groups, but a
// lookahead is atomic once it succeeds, so (?=(X?))\k<n> matches exactly what X?+ does.
// (For these two patterns the possessive forms happen to match the same as the greedy
// ones: [^\r\n\p{L}\p{N}] cannot match a letter, so giving it back never helps \p{L}+;
// and [\r\n]* after [^\s\p{L}\p{N}]++ cannot use a given-back char either.  tiktoken@1.0.22
// itself ships the older greedy spelling of cl100k, see below; the exact check runs both.)
const JS_SOURCES = {
  gpt2:
    `'s|'t|'re|'ve|'m|'ll|'d` +
    `| ?\\p{L}+` +
    `| ?\\p{N}+` +
    `| ?[^${WS}\\p{L}\\p{N}]+` +
    `|${s_}+(?!${S_})` +
    `|${s_}+`,
  gpt4:
    `'(?:${ci("s")}|${ci("d")}|${ci("m")}|${ci("t")}|${ci("l")}${ci("l")}|${ci("v")}${ci("e")}|${ci("r")}${ci("e")})` +
    `|(?=(?<p1>[^\\r\\n\\p{L}\\p{N}]?))\\k<p1>\\p{L}+` +
    `|\\p{N}{1,3}` +
    `| ?(?=(?<p2>[^${WS}\\p{L}\\p{N}]+))\\k<p2>[\\r\\n]*` +
    `|${s_}*[\\r\\n]` +
    `|${s_}+(?!${S_})` +
    `|${s_}+`,
};

const PATTERNS = {
  gpt2: {
    encoding: "gpt2",
    // The pattern as given in src/scratchlm/tokenizer/pretokenize.h (same as the package's).
    rust: String.raw`'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`,
    js: new RegExp(JS_SOURCES.gpt2, "gu"),
  },
  gpt4: {
    encoding: "cl100k_base",
    // Current tiktoken (Python) spelling of cl100k_base, as in pretokenize.h.  The npm
    // package's own pat_str is (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|
    // \p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+ : greedy instead of
    // possessive and [\r\n]+ instead of [\r\n]; both are equivalent and both are checked.
    rust: String.raw`'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]++[\r\n]*|\s*[\r\n]|\s+(?!\S)|\s+`,
    js: new RegExp(JS_SOURCES.gpt4, "gu"),
  },
};

// Split text with the JS translation, the way Rust's find_iter walks a text.  Text that no
// match covers would be skipped by find_iter; we report it as an error instead.
function splitJs(pattern, text) {
  const re = PATTERNS[pattern].js;
  re.lastIndex = 0;
  const pieces = [];
  let pos = 0;
  let m;
  while ((m = re.exec(text)) !== null) {
    if (m[0].length === 0) throw new Error(`${pattern}: empty match at ${m.index}`);
    if (m.index !== pos) throw new Error(`${pattern}: text at ${pos}..${m.index} not covered`);
    pieces.push(m[0]);
    pos = m.index + m[0].length;
  }
  if (pos !== text.length) throw new Error(`${pattern}: text after ${pos} not covered`);
  return pieces;
}

// ---------------------------------------------------------------------------
// Case collection.  Each case is added for one pattern, or (share) for both.

const cases = [];
const names = { gpt2: new Set(), gpt4: new Set() };

function add(pattern, name, text) {
  if (!PATTERNS[pattern]) throw new Error(`bad pattern ${pattern}`);
  if (!/^[a-z0-9_-]+\/[A-Za-z0-9_.+-]+$/.test(name)) throw new Error(`bad case name ${JSON.stringify(name)}`);
  if (names[pattern].has(name)) throw new Error(`duplicate case name ${pattern} ${name}`);
  if (typeof text !== "string" || text.length === 0) throw new Error(`${name}: empty or not a string`);
  if (!text.isWellFormed()) throw new Error(`${name}: text has a lone surrogate`);
  names[pattern].add(name);
  cases.push({ name, pattern, text });
}
function share(name, text) {
  add("gpt2", name, text);
  add("gpt4", name, text);
}
const shareAll = (cat, list) => { for (const [id, t] of list) share(`${cat}/${id}`, t); };

// --- Contractions ------------------------------------------------------------
// Every case form of every suffix, plus ſ (U+017F) and lookalikes that must NOT fold.
const suffixes = [
  "s", "S", "\u017f", "t", "T", "d", "D", "m", "M",
  "ll", "LL", "Ll", "lL", "ve", "VE", "Ve", "vE", "re", "RE", "Re", "rE",
];
const sufId = (suf) => Array.from(suf).map((c) => (/[A-Za-z]/.test(c) ? c : `u${hex(c.codePointAt(0))}`)).join("");
for (const suf of suffixes) {
  const id = sufId(suf);
  share(`contractions/alone-${id}`, `'${suf}`);
  share(`contractions/word-${id}`, `it'${suf}`);
  share(`contractions/then-letters-${id}`, `x'${suf}abc`);
  share(`contractions/after-space-${id}`, `it '${suf}x`);
  share(`contractions/doubled-quote-${id}`, `it''${suf}x`);
  share(`contractions/start-then-word-${id}`, `'${suf}x ok`);
}
// Characters near the contraction letters that are not in their simple case-folding
// orbits (or fold only under full / Turkic folding): none may act as a contraction.
const notFolding = [
  0x212a, 0x212b, 0x0130, 0x0131, 0x00df, 0x1e9e, 0xfb05, 0xfb06, 0x01c4, 0x01c5, 0x01c6,
  0x01c7, 0x01c8, 0x01c9, 0x029f, 0x1d05, 0x1d0d, 0x1d1b, 0x1d07, 0x1d20, 0x0280, 0xa731,
  0xff53, 0xff33, 0xff44, 0xff4c, 0x1d42c, 0x1e61, 0x1e9b, 0x0455, 0x0282,
];
share("contractions/lookalikes-x", notFolding.map((cp) => `'${String.fromCodePoint(cp)}x`).join(" "));
share("contractions/lookalikes-glued", notFolding.map((cp) => `'${String.fromCodePoint(cp)}x`).join(""));
shareAll("contractions", [
  ["sentence", "I'm sure you're right, it's what we've said: they'll know and I'd go. Don't!"],
  ["sentence-upper", "I'M SURE YOU'RE RIGHT, IT'S WHAT WE'VE SAID: THEY'LL KNOW AND I'D GO. DON'T!"],
  ["mixed-case-run", "'s'S'\u017f't'T'd'D'm'M'll'LL'lL've'VE'vE're'RE'rE"],
  ["repeated-s", "'s's's's'sx"],
  ["long-s-word", "Chriſt'\u017f Goſpel'\u017fx"],
  ["quotes-only", "' '' ''' '''' x'"],
  ["triple-quote-s", "'''s '''S '''\u017fx"],
  ["space-quote-s", "  's   'S\t'll\n've"],
  ["newline-before", "it\n's\r\n'LL"],
  ["digit-before", "1990's 80'S 2'\u017f"],
  ["curly", "it\u2019s it\u2018s it\u02bcs it\uff07s"],
  ["partial", "'l 'v 'r 'lx 'vx 'rx 'le 'vr"],
  ["accent-after", "l'\u00e9t\u00e9 c'\u00e9tait d'\u00e0"],
  ["before-digit", "'s1 'll2 'd3"],
  ["before-punct", "'s! 'LL? 'Ve."],
  ["rock-n-roll", "rock'n'roll, 'twas, 'tis, ma'am"],
  ["after-cjk", "\u4e2d's \u4e2d'S"],
  ["after-emoji", "\u{1F600}'s \u{1F600}'S"],
]);

// --- Letters with a leading non-letter (the gpt4 [^\r\n\p{L}\p{N}]?+\p{L}+ branch) -------
shareAll("leading", [
  ["tab-word", "\tword"],
  ["bang-word", "!word"],
  ["two-spaces-word", "  word"],
  ["newline-word", "\nword"],
  ["cr-word", "\rword"],
  ["crlf-word", "\r\nword"],
  ["space-word", " word"],
  ["vt-word", "\u000bword"],
  ["ff-word", "\u000cword"],
  ["nbsp-word", "\u00a0word"],
  ["nel-word", "\u0085word"],
  ["ideographic-space-word", "\u3000word"],
  ["dash-word", "-word"],
  ["quote-word", "\"word\""],
  ["paren-word", "(word)"],
  ["dollar-word", "$word"],
  ["underscore-word", "_word __init__"],
  ["digit-word", "1word word1 1w2"],
  ["zwsp-word", "\u200bword"],
  ["bom-word", "\ufeffword"],
  ["combining-word", "\u0301word"],
  ["double-punct-word", ",,word !?word"],
  ["tab-tab-word", "\t\tword"],
  ["space-tab-word", " \tword"],
  ["tab-space-word", "\t word"],
  ["emoji-word", "\u{1F600}word"],
  ["cjk-punct-word", "\u3002word"],
  ["sentence", "Hello, world! \tTabbed\nnew line (paren) -dash \"quoted\""],
]);

// --- Numbers -------------------------------------------------------------------
for (let n = 1; n <= 10; n++) {
  const d = "1234567890".slice(0, n);
  share(`numbers/digits-${n}`, d);
  share(`numbers/space-digits-${n}`, ` ${d}`);
  share(`numbers/word-digits-${n}`, `x${d}y`);
}
shareAll("numbers", [
  ["digits-13", "1234567890123"],
  ["two-spaces-digits", "  123456"],
  ["tab-digits", "\t1234"],
  ["newline-digits", "\n1234"],
  ["decimal", "3.14159 0.5 .5 5. 100.00 -2.5e10 1e-9"],
  ["thousands", "1,234,567.89 12 345 678"],
  ["signs", "-42 +7 \u22123 \u00b11"],
  ["phone", "+1 (555) 123-4567"],
  ["hex", "0x1F 0xDEADBEEF"],
  ["version", "v1.2.3 10.0.19045"],
  ["date-time", "2024-01-31T12:30:45Z"],
  ["superscript", "x\u00b2 10\u00b2\u00b3 \u00b2\u00b3\u00b9\u2074"],
  ["arabic-indic", "\u0663 \u0661\u0662\u0663\u0664\u0665 x\u0663"],
  ["roman", "Chapter \u216b \u2160\u2161\u2162\u2163 \u217b"],
  ["fractions", "\u00bd \u00bc\u00be 1\u00bd \u2153"],
  ["circled", "\u2460\u2461\u2462\u2463\u2464 \u2469"],
  ["devanagari-digits", "\u0967\u0968\u0969\u096a\u096b"],
  ["fullwidth", "\uff11\uff12\uff13\uff14 \uff10"],
  ["math-digits", "\u{1D7D8}\u{1D7D9}\u{1D7DA}\u{1D7DB}"],
  ["ideographic-zero", "\u3007\u3007\u3007\u3007"],
  ["mixed-kinds", "1\u00b2\u0663\u216b5\u00bd7"],
  ["cjk-numerals-are-letters", "\u4e00\u4e8c\u4e09 123"],
  ["digits-letters-alternate", "a1b22c333d4444e55555"],
  ["digits-punct", "1!22?333.4444,55555"],
  ["digit-combining", "1\u0301 23\u0302"],
  ["digits-crlf", "12\r\n345\r\n"],
]);

// --- Punctuation runs followed by \r\n runs --------------------------------------
shareAll("punct", [
  ["bang-crlf", "!!!\r\n\r\n"],
  ["dots-lf", "...\n"],
  ["space-dots-crlf", " ...\r\n"],
  ["cr-cr-lf", "?!\r\r\n\n"],
  ["semicolon-lf-lf-word", ";;\n\nx"],
  ["dash-crlf-spaces-word", "--\r\n  x"],
  ["dot-space-crlf", ". \r\n"],
  ["sentence-crlf", "a.\r\n\r\nb"],
  ["brace-lf3", "}\n\n\n"],
  ["paren-crlf-tabs", ")\r\n\t\tfoo"],
  ["slashes-crlf", "//\r\n"],
  ["punct-lf-space", "!!\n x"],
  ["punct-lf-punct", "!!\n!!"],
  ["punct-nel", "!!\u0085\u0085x"],
  ["punct-ls", "!!\u2028x"],
  ["space-punct-space", " ! ? ."],
  ["two-spaces-punct", "a  !"],
  ["all-ascii", "!\"#$%&()*+,-./:;<=>?@[\\]^_`{|}~"],
  ["apostrophe-punct", "'!' '?'"],
  ["unicode-punct", "\u00bfQu\u00e9? \u00a1Hola! \u2026\u2014\u2013"],
  ["symbols", "\u2122\u00a9\u00b0\u2211\u20ac\u2192\u2022 \u00a7\u00b6"],
  ["control-chars", "a\u0000b\u0001c\u007fd\u001be\u009ff"],
  ["info-separators", "a\u001c\u001d\u001e\u001fb \u001c x"],
  ["code", "for (int i = 0; i < n; ++i) {\r\n\tsum += a[i];\r\n}\r\n"],
  ["python", "def f(x):\n    return x ** 2  # square\n\n\nprint(f(3))\n"],
  ["markdown", "# Title\n\n* item\n\n```js\nconst x = 1;\n```\n"],
  ["json", "{\"key\": [1, 2.5, true, null], \"s\": \"v\\n\"}"],
  ["url", "https://www.example.com/path?q=1&o=two#frag"],
]);

// --- Whitespace runs and CR/LF mixes --------------------------------------------
const after = [["letter", "x"], ["digit", "7"], ["punct", "!"], ["end", ""]];
const runs = [
  ["sp1", " "], ["sp2", "  "], ["sp3", "   "], ["sp6", "      "], ["tab", "\t"], ["tab2", "\t\t"],
  ["lf", "\n"], ["lf2", "\n\n"], ["crlf", "\r\n"], ["sp-lf", " \n"], ["lf-sp", "\n "],
  ["lf-sp2", "\n  "], ["sp-tab-sp", " \t "], ["crlf-sp-tab", "\r\n \t"], ["nbsp-sp", "\u00a0 "],
  ["sp-nbsp", " \u00a0"], ["em-sp", "\u2003 "],
];
for (const [rid, r] of runs) {
  for (const [aid, a] of after) share(`whitespace/${rid}-before-${aid}`, `a${r}${a}`);
}
shareAll("whitespace", [
  ["a-sp-crlf-tab-sp-b", "a \r\n\t b"],
  ["sp-lf-sp-lf", " \n \n"],
  ["cr-cr-lf", "\r\r\n"],
  ["crlf-crlf", "\r\n\r\n"],
  ["lf-sp-lf-sp2-x", "\n \n  x"],
  ["sp-crlf-sp-x", " \r\n x"],
  ["x-lf-lf-sp-tab-y", "x\n\n \ty"],
  ["sp3-lf", "   \n"],
  ["lf-sp3", "\n   "],
  ["tab-lf-tab", "\t\n\t"],
  ["cr", "\r"],
  ["lf", "\n"],
  ["sp", " "],
  ["sp2", "  "],
  ["vt-ff", "\u000b\u000c"],
  ["lf-vt-lf", "\n\u000b\n x"],
  ["lf-nel-lf", "\n\u0085\n x"],
  ["crlf-ls-crlf", "\r\n\u2028\r\n"],
  ["cr-only-lines", "a\rb\r\rc"],
  ["lf-cr", "a\n\rb"],
  ["sp-cr-sp", "a \r b"],
  ["trailing-mix", "end \t\r\n \u00a0"],
  ["indent", "if x:\n    if y:\n        z()\n"],
  ["spaces-end-of-line", "line one   \nline two  \n"],
  ["blank-lines-indented", "a\n\n    \n\tb"],
  ["all-ascii-ws", "\t\n\u000b\u000c\r "],
]);

// --- Each White_Space character, and lookalikes that are not White_Space ------------
const lookalikes = [0xfeff, 0x200b, 0x180e, 0x200c, 0x200d, 0x2060, 0x001c, 0x001f];
const positions = [
  ["alone", (c) => c],
  ["start", (c) => `${c}word`],
  ["middle", (c) => `hello${c}world`],
  ["before-word", (c) => `a ${c}word`],
  ["before-digit", (c) => `a${c}123`],
  ["before-punct", (c) => `x${c}!`],
  ["end", (c) => `word${c}`],
  ["repeated", (c) => `a${c}${c}${c}b`],
  ["mixed-ascii", (c) => `a ${c} b${c} c ${c}${c} d  ${c}\n${c}e${c}\r\n`],
];
for (const cp of [...WHITE_SPACE, ...lookalikes]) {
  const c = String.fromCodePoint(cp);
  for (const [pid, f] of positions) share(`unispace/u${hex(cp)}-${pid}`, f(c));
}
share("unispace/all-in-a-row", WHITE_SPACE.map((cp) => String.fromCodePoint(cp)).join("") + "x");
share("unispace/all-between-words", WHITE_SPACE.map((cp, i) => `w${i}${String.fromCodePoint(cp)}`).join(""));
share("unispace/lookalikes-in-a-row", lookalikes.map((cp) => String.fromCodePoint(cp)).join("") + "x");

// --- Accents, combining marks, scripts ---------------------------------------------
shareAll("accents", [
  ["cafe", "caf\u00e9"],
  ["cafe-decomposed", "cafe\u0301"],
  ["cafe-decomposed-space", "cafe\u0301 au lait"],
  ["naive", "na\u00efve na\u0131\u0308ve"],
  ["angstrom", "\u00c5ngstr\u00f6m \u212bngstr\u00f6m"],
  ["stacked", "a\u0301\u0302\u0303\u0304b"],
  ["leading-combining", "\u0301abc"],
  ["space-combining", "word \u0301x"],
  ["newline-combining", "\n\u0301x"],
  ["enclosing", "a\u20dd b\u20de 1\u20e3"],
  ["vietnamese", "Ti\u1ebfng Vi\u1ec7t c\u00f3 d\u1ea5u"],
  ["german", "\u00dcber gr\u00f6\u00dfe Stra\u00dfe \u1e9e"],
  ["turkish", "\u0130stanbul \u0131s\u0131k"],
  ["devanagari", "\u0928\u092e\u0938\u094d\u0924\u0947 \u0926\u0941\u0928\u093f\u092f\u093e"],
  ["thai", "\u0e2a\u0e27\u0e31\u0e2a\u0e14\u0e35\u0e0a\u0e32\u0e27\u0e42\u0e25\u0e01"],
  ["hebrew-points", "\u05e9\u05b8\u05c1\u05dc\u05d5\u05b9\u05dd \u05e2\u05d5\u05dc\u05dd"],
  ["arabic", "\u0645\u0631\u062d\u0628\u0627 \u0628\u0627\u0644\u0639\u0627\u0644\u0645"],
  ["greek-cyrillic", "\u0391\u03bb\u03c6\u03ac\u03b2\u03b7\u03c4\u03bf \u041f\u0440\u0438\u0432\u0435\u0442, \u043c\u0438\u0440!"],
  ["modifier-letters", "a\u02b0 k\u02b7 \u02bc \u02c8stress"],
  ["titlecase", "\u01c5ungla \u01c8 \u01cb \u1f88"],
  ["zalgo", "Z\u0351\u036b\u0343A\u0334\u0335L\u0368G\u0366O"],
]);

// --- CJK ---------------------------------------------------------------------------
shareAll("cjk", [
  ["chinese", "\u6211\u7231\u5317\u4eac\u5929\u5b89\u95e8\u3002"],
  ["chinese-punct", "\u4e2d\u6587\uff0c\u6807\u70b9\u3002"],
  ["japanese", "\u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8"],
  ["japanese-mixed", "\u79c1\u306f\u5b66\u751f\u3067\u3059\u3002GPT-2\u3092\u4f7f\u3044\u307e\u3059\u3002"],
  ["korean", "\ud55c\uad6d\uc5b4 \ud14d\uc2a4\ud2b8"],
  ["kanji-digits-kana", "\u6f22\u5b57123\u304b\u306a"],
  ["ideographic-space", "\u3000\u5168\u89d2\u3000\u30b9\u30da\u30fc\u30b9"],
  ["fullwidth-latin", "\uff21\uff22\uff23\uff11\uff12\uff13"],
  ["ext-b", "\u{20000}\u{20001}\u{2A6D6}"],
  ["cjk-latin", "Hello\u4e16\u754c world\u3053\u3093\u306b\u3061\u306f 123\u5e74"],
]);

// --- Emoji ---------------------------------------------------------------------------
shareAll("emoji", [
  ["thumbs", "\u{1F44D}"],
  ["family-zwj", "\u{1F468}\u200D\u{1F469}\u200D\u{1F467}\u200D\u{1F466}"],
  ["rainbow-flag", "\u{1F3F3}\uFE0F\u200D\u{1F308}"],
  ["heart-vs", "\u2764\uFE0F \u2764"],
  ["skin-tone", "hi \u{1F44B}\u{1F3FD} there"],
  ["repeated", "\u{1F600}\u{1F600}\u{1F600}"],
  ["keycap", "1\uFE0F\u20E3 #\uFE0F\u20E3"],
  ["flags", "\u{1F1FA}\u{1F1F8}\u{1F1E9}\u{1F1EA}"],
  ["glued", "a\u{1F44D}b"],
  ["space-emoji", " \u{1F44D}  \u{1F44D}"],
  ["newline-emoji", "\n\u{1F44D}\r\n\u{1F44D}"],
  ["emoji-crlf", "\u{1F44D}\r\n\r\n"],
  ["technologist-word", "\u{1F469}\u200D\u{1F4BB}codes"],
]);

// --- Long runs -------------------------------------------------------------------------
shareAll("long", [
  ["letters-1000", "a".repeat(1000)],
  ["spaces-400", " ".repeat(400)],
  ["spaces-400-word", " ".repeat(400) + "word"],
  ["digits-300", "1234567890".repeat(30)],
  ["space-digits-301", " " + "9".repeat(301)],
  ["bangs-500-crlf", "!".repeat(500) + "\r\n".repeat(50) + "x"],
  ["newlines-300", "\n".repeat(300)],
  ["crlf-200-word", "\r\n".repeat(200) + "word"],
  ["tabs-100-word", "\t".repeat(100) + "word"],
  ["ab-space-200", "ab ".repeat(200)],
  ["ideographic-space-100", "x" + "\u3000".repeat(100) + "y"],
  ["accented-500", "\u00e9".repeat(500)],
  ["cjk-400", "\u4e2d\u6587".repeat(200)],
  ["emoji-100", "\u{1F600}".repeat(100)],
  ["contractions-100", "'s".repeat(100)],
  ["mixed-ws-200", " \t\n\u00a0\u3000".repeat(40) + "end"],
  ["prose", "Call me Ishmael. Some years ago\u2014never mind how long precisely\u2014having " +
    "little or no money in my purse, and nothing particular to interest me on shore, I " +
    "thought I would sail about a little and see the watery part of the world. It's a way " +
    "I have of driving off the spleen, and regulating the circulation.\n\n" +
    "Whenever I find myself growing grim about the mouth; whenever it is a damp, drizzly " +
    "November in my soul;\r\n\tthen, I account it high time to get to sea as soon as I can."],
]);

// --- Random mixes (seeded; separate streams per pattern) ----------------------------------
function mulberry32(seed) {
  let a = seed >>> 0;
  return function () {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const cps = (s) => Array.from(s);
// Only characters whose General_Category / White_Space are stable across Unicode versions.
const pools = {
  lower: cps("abcdefghijklmnopqrstuvwxyz"),
  upper: cps("ABCDEFGHIJKLMNOPQRSTUVWXYZ"),
  digit: cps("0123456789"),
  space: [" ", " ", " ", "  ", "   "],
  newline: ["\n", "\r\n", "\r", "\r\r\n", "\n\n", "\t", " \n", "\n "],
  unispace: WHITE_SPACE.map((cp) => String.fromCodePoint(cp)),
  lookalike: lookalikes.map((cp) => String.fromCodePoint(cp)),
  punct: cps("!\"#$%&()*+,-./:;<=>?@[\\]^_`{|}~"),
  apos: ["'", "'s", "'S", "'\u017f", "'t", "'T", "'re", "'rE", "'RE", "'ve", "'Ve", "'m",
    "'M", "'ll", "'lL", "'LL", "'d", "'D", "''", "\u2019s"],
  accented: cps("\u00e9\u00f1\u00fc\u00c9\u00e0\u00e7\u00f8\u00df\u0153\u017f\u0131\u0130"),
  combining: cps("\u0300\u0301\u0308\u0327\u20dd\u094d"),
  cjk: cps("\u4e2d\u6587\u65e5\u672c\u3042\u30ab\ud55c\uad6d\u3002\uff0c"),
  emoji: ["\u{1F600}", "\u{1F44D}\u{1F3FD}", "\u{1F468}\u200D\u{1F469}\u200D\u{1F467}",
    "\u{1F1FA}\u{1F1F8}", "\u2764\uFE0F", "\u{1F680}"],
  scripts: cps("\u03b1\u0393\u0436\u0416\u0645\u05e9\u0928\u0e2a\u02b0\u01c5\u2126"),
  numeric: cps("\u0663\u00b2\u00b3\uff11\u216b\u00bd\u2460\u3007\u0967"),
  symbol: cps("\u2122\u00a9\u00b0\u2211\u20ac\u2192\u2022\u2014\u2026"),
  control: cps("\u0000\u0001\u007f\u0080\u009f\u001b"),
  word: ["the", "The", "whale", "Ahab", "sea", "GPT", "token", "don't", "I'm", "WE'LL", "CAN'T"],
};
const poolNames = Object.keys(pools);
function randomCases(pattern, seed, count) {
  const rng = mulberry32(seed);
  const pick = (arr) => arr[Math.floor(rng() * arr.length)];
  for (let i = 0; i < count; i++) {
    const n = 1 + Math.floor(rng() * 40);
    let s = "";
    for (let k = 0; k < n; k++) {
      const pool = pools[pick(poolNames)];
      const reps = rng() < 0.3 ? 1 + Math.floor(rng() * 5) : 1;
      for (let r = 0; r < reps; r++) s += pick(pool);
    }
    add(pattern, `random/mix-${String(i).padStart(2, "0")}`, s);
  }
  // Two pools interleaved, to stress boundaries between classes.
  for (let i = 0; i < 20; i++) {
    const a = pools[pick(poolNames)], b = pools[pick(poolNames)];
    const n = 2 + Math.floor(rng() * 24);
    let s = "";
    for (let k = 0; k < n; k++) s += pick(k % 2 ? a : b);
    add(pattern, `random/pair-${String(i).padStart(2, "0")}`, s);
  }
}
randomCases("gpt2", 0x6b7a2c01, 60);
randomCases("gpt4", 0x6b7a2c04, 60);

// ---------------------------------------------------------------------------
// Validation against tiktoken.

let Tiktoken, getEncoding;
function loadTiktoken() {
  ({ Tiktoken, get_encoding: getEncoding } = require(path.join(TIKTOKEN_DIR, "tiktoken.cjs")));
}
function packagePatStr(encoding) {
  const p = path.join(TIKTOKEN_DIR, "encoders", `${encoding}.json`);
  return JSON.parse(fs.readFileSync(p, "utf8")).pat_str;
}

const utf8 = (s) => Buffer.from(s, "utf8");
const ALL_BYTES = Array.from({ length: 256 }, (_, b) => Buffer.from([b]));

// Exact check: tiktoken's own pieces of `text` under `patStr`, given our pieces.  Returns
// the list of tokens (as strings) that tiktoken produced with a vocabulary made of the
// single bytes, our pieces and each pair of adjacent pieces (see the header comment).
function tiktokenPieces(text, pieces, patStr) {
  const vocab = new Map(); // latin1 key -> rank
  const lines = [];
  const put = (buf) => {
    const key = buf.toString("latin1");
    if (vocab.has(key)) return;
    vocab.set(key, vocab.size);
    lines.push(`${buf.toString("base64")} ${vocab.size - 1}`);
  };
  ALL_BYTES.forEach(put);
  const bufs = pieces.map(utf8);
  bufs.forEach(put);
  for (let i = 0; i + 1 < bufs.length; i++) put(Buffer.concat([bufs[i], bufs[i + 1]]));
  const enc = new Tiktoken(lines.join("\n"), {}, patStr);
  try {
    const ids = enc.encode_ordinary(text);
    return Array.from(ids, (id) => Buffer.from(enc.decode_single_token_bytes(id)));
  } finally {
    enc.free();
  }
}

const showBufs = (bufs) => JSON.stringify(bufs.map((b) => b.toString("utf8")));

function validateCase(c, pieces, encs, patStrs) {
  const errs = [];
  if (pieces.join("") !== c.text) errs.push("pieces do not concatenate to the text");
  if (pieces.some((p) => p.length === 0)) errs.push("empty piece");
  const ourBufs = pieces.map(utf8);
  const ourKey = ourBufs.map((b) => b.toString("hex")).join(",");
  // 1. exact pieces, with each spelling of the pattern
  for (const [label, pat] of patStrs) {
    const got = tiktokenPieces(c.text, pieces, pat);
    if (got.map((b) => b.toString("hex")).join(",") !== ourKey) {
      errs.push(`exact (${label}): tiktoken pieces ${showBufs(got)}`);
    }
  }
  // 2. piece boundaries are token boundaries under the real encoding
  const enc = encs[c.pattern];
  const ids = Array.from(enc.encode_ordinary(c.text));
  const tokenCuts = new Set([0]);
  let off = 0;
  for (const id of ids) {
    off += enc.decode_single_token_bytes(id).length;
    tokenCuts.add(off);
  }
  const textBytes = utf8(c.text).length;
  if (off !== textBytes) errs.push(`tokens cover ${off} bytes, text has ${textBytes}`);
  off = 0;
  for (const b of ourBufs) {
    off += b.length;
    if (!tokenCuts.has(off)) errs.push(`piece boundary at byte ${off} is inside a token`);
  }
  // 3. encoding piece by piece gives the same ids
  const perPiece = [];
  for (const p of pieces) perPiece.push(...enc.encode_ordinary(p));
  if (perPiece.join(",") !== ids.join(",")) {
    errs.push(`per-piece ids [${perPiece.join(",")}] != ids [${ids.join(",")}]`);
  }
  return errs;
}

// --sweep: run every Unicode scalar value through both patterns in a few contexts, in
// chunks, with the exact check.  Prints the code points where JS and tiktoken disagree.
function sweep(patStrs) {
  const contexts = (c) => [`x${c}y `, ` ${c}1 `, `'${c}${c} `, `!${c}\n `, `${c}  a `, `1${c}2 `];
  const bad = { gpt2: [], gpt4: [] };
  const CHUNK = 1500;
  for (const pattern of ["gpt2", "gpt4"]) {
    for (let lo = 0; lo <= 0x10ffff; lo += CHUNK) {
      const chars = [];
      for (let cp = lo; cp < Math.min(lo + CHUNK, 0x110000); cp++) {
        if (cp >= 0xd800 && cp <= 0xdfff) continue;
        chars.push(cp);
      }
      if (!chars.length) continue;
      const text = chars.map((cp) => contexts(String.fromCodePoint(cp)).join("")).join("");
      const pieces = splitJs(pattern, text);
      let ok = true;
      for (const [, pat] of patStrs[pattern]) {
        const got = tiktokenPieces(text, pieces, pat);
        if (got.map((b) => b.toString("hex")).join(",") !== pieces.map((p) => utf8(p).toString("hex")).join(",")) ok = false;
      }
      if (ok) continue;
      // Narrow down to single code points.
      for (const cp of chars) {
        const t = contexts(String.fromCodePoint(cp)).join("");
        const ps = splitJs(pattern, t);
        for (const [, pat] of patStrs[pattern]) {
          const got = tiktokenPieces(t, ps, pat);
          if (got.map((b) => b.toString("hex")).join(",") !== ps.map((p) => utf8(p).toString("hex")).join(",")) {
            bad[pattern].push(cp);
            break;
          }
        }
      }
    }
    process.stderr.write(`sweep ${pattern}: ${bad[pattern].length} code points differ` +
      (bad[pattern].length ? `: ${compressRanges(bad[pattern])}` : "") + "\n");
  }
  return bad;
}
function compressRanges(list) {
  const out = [];
  for (let i = 0; i < list.length; i++) {
    let j = i;
    while (j + 1 < list.length && list[j + 1] === list[j] + 1) j++;
    out.push(i === j ? hex(list[i]) : `${hex(list[i])}-${hex(list[j])}`);
    i = j;
  }
  return out.join(" ");
}

// ---------------------------------------------------------------------------
// Output: JSON.stringify, plus \uXXXX escapes (same rule as tools/tiktoken_cases.js) for
// characters that line-based readers treat as line breaks or that are invisible: DEL and
// C1 controls (incl. U+0085), U+00A0, U+00AD, U+061C, U+1680, U+180E, U+2000-U+200F,
// U+2028-U+202F, U+205F-U+206F, U+3000, U+FEFF, U+FFF9-U+FFFB, U+E000-U+F8FF, U+FFFE,
// U+FFFF.  JSON.stringify already escapes U+0000-U+001F, '"' and '\\'.  All astral
// characters are raw UTF-8, so the file never contains surrogate-pair escapes.
const ESCAPE_RANGES = [
  [0x7f, 0x9f], [0xa0, 0xa0], [0xad, 0xad], [0x61c, 0x61c], [0x1680, 0x1680],
  [0x180e, 0x180e], [0x2000, 0x200f], [0x2028, 0x202f], [0x205f, 0x206f],
  [0x3000, 0x3000], [0xfeff, 0xfeff], [0xfff9, 0xfffb], [0xe000, 0xf8ff],
  [0xfffe, 0xffff],
];
const needsEscape = (cp) => ESCAPE_RANGES.some(([lo, hi]) => cp >= lo && cp <= hi);
function jsonString(s) {
  const base = JSON.stringify(s);
  let out = "";
  for (const ch of base) {
    const cp = ch.codePointAt(0);
    out += needsEscape(cp) ? "\\u" + cp.toString(16).padStart(4, "0") : ch;
  }
  return out;
}

function main() {
  const args = parseArgs(process.argv.slice(2));
  const tiktokenPkg = JSON.parse(fs.readFileSync(path.join(TIKTOKEN_DIR, "package.json"), "utf8"));
  loadTiktoken();
  const encs = { gpt2: getEncoding("gpt2"), gpt4: getEncoding("cl100k_base") };
  const patStrs = {};
  for (const [name, p] of Object.entries(PATTERNS)) {
    const pkg = packagePatStr(p.encoding);
    patStrs[name] = [["given", p.rust]];
    if (pkg !== p.rust) patStrs[name].push([`package ${p.encoding}`, pkg]);
  }

  const lines = [];
  const counts = { gpt2: 0, gpt4: 0 };
  const perCategory = new Map();
  let failures = 0;
  for (const c of cases) {
    let pieces;
    try {
      pieces = splitJs(c.pattern, c.text);
    } catch (e) {
      pieces = null;
      process.stderr.write(`FAIL ${c.pattern} ${c.name}: ${e.message}\n`);
      failures++;
      continue;
    }
    const errs = validateCase(c, pieces, encs, patStrs[c.pattern]);
    if (errs.length) {
      failures++;
      if (failures <= 20) {
        process.stderr.write(`FAIL ${c.pattern} ${c.name}\n  text:   ${jsonString(c.text)}\n` +
          `  pieces: [${pieces.map(jsonString).join(", ")}]\n` + errs.map((e) => `  ${e}\n`).join(""));
      }
      continue;
    }
    counts[c.pattern]++;
    const cat = `${c.pattern}:${c.name.split("/")[0]}`;
    perCategory.set(cat, (perCategory.get(cat) || 0) + 1);
    lines.push(`{"name": ${jsonString(c.name)}, "pattern": "${c.pattern}", ` +
      `"text": ${jsonString(c.text)}, "pieces": [${pieces.map(jsonString).join(", ")}]}`);
  }

  let sweepBad = null;
  if (args.sweep) sweepBad = sweep(patStrs);
  encs.gpt2.free();
  encs.gpt4.free();

  if (failures) {
    process.stderr.write(`split_cases: ${failures} case(s) failed validation; nothing written\n`);
    process.exit(1);
  }
  if (sweepBad && (sweepBad.gpt2.length || sweepBad.gpt4.length)) {
    process.stderr.write("split_cases: --sweep found code points where JS and tiktoken differ " +
      "(see above); the fixture is still written, it uses none of them\n");
  }
  for (const p of ["gpt2", "gpt4"]) if (counts[p] < 150) die(`only ${counts[p]} ${p} cases`);

  const body = lines.join("\n") + "\n";
  const bytes = Buffer.byteLength(body, "utf8");
  if (bytes > MAX_BYTES) die(`fixture would be ${bytes} bytes (> ${MAX_BYTES})`);
  // The file must split on \n only and parse back to the same cases.
  if (/[\r\u0085\u2028\u2029]/.test(body)) die("raw line separator in output");
  body.split("\n").slice(0, -1).forEach((line, i) => {
    const o = JSON.parse(line);
    if (o.pieces.join("") !== o.text) throw new Error(`line ${i + 1} does not round-trip`);
  });

  fs.mkdirSync(path.dirname(args.out), { recursive: true });
  fs.writeFileSync(args.out, body);
  const cats = [...perCategory].map(([k, v]) => `${k}=${v}`).join(" ");
  process.stderr.write(`tiktoken ${tiktokenPkg.version}; ${cats}; ${bytes} bytes\n`);
  process.stdout.write(`wrote ${lines.length} cases (gpt2 ${counts.gpt2}, gpt4 ${counts.gpt4}) ` +
    `to ${path.relative(process.cwd(), args.out) || args.out}\n`);
}

main();
