#!/usr/bin/env node
// Generate reference GPT-2 tokenization cases with OpenAI's tiktoken (npm WASM build).
//
//   node tools/tiktoken_cases.js [--out tests/fixtures/tiktoken_gpt2_cases.jsonl]
//
// Needs data/npm/tiktoken (tiktoken@1.0.22, put there by scripts/setup) and
// data/moby-dick/*.txt.  No npm install.  Output is one JSON object per line:
//   {"name": "<category>/<id>", "text": "...", "special": "none"|"all", "ids": [...]}
// special "none" = enc.encode_ordinary(text); "all" = enc.encode(text, "all").
// We never implement any tokenization logic here: we only record what tiktoken
// returns.  The output is deterministic (fixed case list + seeded PRNG).
"use strict";

const fs = require("fs");
const path = require("path");

const root = path.resolve(__dirname, "..");

function parseArgs(argv) {
  let out = path.join(root, "tests/fixtures/tiktoken_gpt2_cases.jsonl");
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--out") {
      if (i + 1 >= argv.length) die("--out needs a path");
      out = path.resolve(argv[++i]);
    } else if (a.startsWith("--out=")) {
      out = path.resolve(a.slice("--out=".length));
    } else if (a === "-h" || a === "--help") {
      process.stdout.write("usage: node tools/tiktoken_cases.js [--out FILE]\n");
      process.exit(0);
    } else {
      die(`unknown argument: ${a}`);
    }
  }
  return { out };
}

function die(msg) {
  process.stderr.write(`tiktoken_cases: ${msg}\n`);
  process.exit(2);
}

const MAX_BYTES = 2 * 1024 * 1024;
const TIKTOKEN_DIR = path.join(root, "data/npm/tiktoken");

// ---------------------------------------------------------------------------
// Case collection

const cases = [];
const names = new Set();

function add(name, text, special = "none") {
  if (special !== "none" && special !== "all") throw new Error(`bad special ${special}`);
  if (!/^[a-z0-9_-]+\/[A-Za-z0-9_.+-]+$/.test(name)) throw new Error(`bad case name ${JSON.stringify(name)}`);
  const key = name;
  if (names.has(key)) throw new Error(`duplicate case name ${name}`);
  if (typeof text !== "string") throw new Error(`${name}: text is not a string`);
  if (!text.isWellFormed()) throw new Error(`${name}: text has a lone surrogate`);
  names.add(key);
  cases.push({ name, text, special });
}

// Add the same text as "<cat>/<id>" (none) and "<cat>/<id>.all" (all).
function addBoth(name, text) {
  add(name, text, "none");
  add(`${name}.all`, text, "all");
}

const hex = (cp) => cp.toString(16).toUpperCase().padStart(4, "0");

// --- English prose ---------------------------------------------------------
const prose = [
  ["hello", "hello"],
  ["hello-world", "hello world"],
  ["hello-world-cap", "Hello World"],
  ["hello-world-upper", "HELLO WORLD"],
  ["hello-comma", "Hello, world!"],
  ["fox", "The quick brown fox jumps over the lazy dog."],
  ["fox-upper", "THE QUICK BROWN FOX JUMPS OVER THE LAZY DOG."],
  ["camel", "someunknownPlace camelCaseIdentifier XMLHttpRequest getHTTPResponseCode"],
  ["snake", "snake_case_identifier __init__ _private MAX_VALUE"],
  ["code", "for (int i = 0; i < n; ++i) {\n    sum += a[i] * b[i];\n}\n"],
  ["python", "def f(x):\n    return x ** 2  # square\n\nprint(f(3))\n"],
  ["url", "See https://www.example.com/path/to/page?query=1&other=two#frag for details."],
  ["email", "Contact: john.doe+tag@example.co.uk, <jane@example.org>"],
  ["quotes", "She said, \"It's fine.\" He replied: 'Is it?'"],
  ["hyphens", "state-of-the-art well-known mother-in-law e-mail"],
  ["dashes", "wait\u2014what? 1990\u20132000 \u2013 en dash \u2014 em dash"],
  ["parens", "(parenthetical) [bracketed] {braced} <angled>"],
  ["single-letters", "a b c d e f g h i j k l m n o p q r s t u v w x y z"],
  ["single-upper", "A B C D E F G H I J K L M N O P Q R S T U V W X Y Z"],
  ["alphabet", "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"],
  ["markdown", "# Title\n\n* item one\n* item two\n\n```js\nconst x = 1;\n```\n"],
  ["html", "<div class=\"a\"><p>Hi&nbsp;there &amp; bye</p></div>"],
  ["json", "{\"key\": [1, 2.5, true, null], \"s\": \"v\\n\"}"],
  ["path", "C:\\Users\\name\\file.txt /usr/local/bin/python3 ../up/./here"],
  ["paragraphs", "First paragraph.\n\nSecond paragraph, with more words.\n\n\nThird."],
  ["empty", ""],
];
for (const [id, t] of prose) add(`prose/${id}`, t);

// --- Contractions ----------------------------------------------------------
const suffixes = [
  "s", "S", "t", "T", "re", "RE", "Re", "rE", "ve", "VE", "Ve", "m", "M",
  "ll", "LL", "Ll", "d", "D",
];
for (const suf of suffixes) {
  const id = suf; // names are case-sensitive: contractions/word-Re vs contractions/word-rE
  add(`contractions/word-${id}`, `it'${suf}`);
  add(`contractions/space-${id}`, `it '${suf}`);
  add(`contractions/start-${id}`, `'${suf} ok`);
  add(`contractions/doubled-${id}`, `it''${suf}`);
  add(`contractions/curly-${id}`, `it\u2019${suf}`);
  add(`contractions/then-word-${id}`, `x'${suf}abc`);
}
const contractionSentences = [
  ["sentence", "I'm sure you're right, it's what we've said: they'll know and I'd go. Don't!"],
  ["sentence-upper", "I'M SURE YOU'RE RIGHT, IT'S WHAT WE'VE SAID: THEY'LL KNOW AND I'D GO. DON'T!"],
  ["possessive", "the ship's captain, the sailors' mess, James's book"],
  ["alone", "'s 't 're 've 'm 'll 'd"],
  ["alone-upper", "'S 'T 'RE 'VE 'M 'LL 'D"],
  ["apostrophes-only", "' '' ''' '''' \u2019 \u2019\u2019"],
  ["quote-word", "'hello' 'world'"],
  ["digit-before", "1990's 80's 2's"],
  ["space-before-nonword", "rock 'n' roll, 'twas, 'tis"],
  ["curly-sentence", "Don\u2019t say it\u2019s what we\u2019ve done \u2018quoted\u2019"],
  ["newline-before", "it\n's"],
  ["multi", "'s's's's"],
  ["sdash", "'s-'t-'re"],
  ["accent-after", "l'\u00e9t\u00e9 c'\u00e9tait"],
];
for (const [id, t] of contractionSentences) add(`contractions/${id}`, t);

// --- Numbers ---------------------------------------------------------------
const numbers = [
  ["zero", "0"],
  ["digits-1-20", Array.from({ length: 20 }, (_, i) => "1234567890".repeat(2).slice(0, i + 1)).join(" ")],
  ["runs", "7 77 777 7777 77777 777777 7777777"],
  ["year", "In 1851, 2024 and 1999."],
  ["decimal", "3.14159 0.5 .5 5. 100.00 -2.5e10 1e-9"],
  ["million", "1,000,000 and 12,345.67"],
  ["negative", "-1 -42 +7 \u22123"],
  ["mixed-alnum", "abc123 123abc a1b2c3 H2O CO2 mp3 4x4 v1.2.3 0x1F"],
  ["phone", "+1 (555) 123-4567"],
  ["date", "2024-01-31 31/01/2024 12:30:45"],
  ["percent", "50% 99.9% $1,234.56 \u20ac10 \u00a35"],
  ["ordinal", "1st 2nd 3rd 4th 21st 100th"],
  ["arabic-indic", "\u0663 \u0661\u0662\u0663 x\u0663"],
  ["superscript", "x\u00b2 + y\u00b3 = z\u00b9 m\u00b2 10\u00b2"],
  ["fullwidth", "\uff11 \uff11\uff12\uff13 \uff21\uff22\uff23"],
  ["roman", "Chapter \u216b and \u2160\u2161\u2162 \u216b"],
  ["fractions", "\u00bd \u00bc \u00be 1\u00bd \u2153"],
  ["circled", "\u2460 \u2461 \u2462 \u2469"],
  ["devanagari-digits", "\u0967\u0968\u0969 \u096a"],
  ["math-digits", "\u{1D7D8}\u{1D7D9}\u{1D7DA}"],
  ["digits-space-digits", "123 456 789"],
  ["digits-newline", "1\n2\n3\n"],
];
for (const [id, t] of numbers) add(`numbers/${id}`, t);

// --- ASCII whitespace ------------------------------------------------------
for (let n = 1; n <= 20; n++) {
  add(`whitespace/spaces-${n}`, " ".repeat(n));
  add(`whitespace/spaces-${n}-word`, `a${" ".repeat(n)}b`);
}
const ws = [
  ["tab", "\t"],
  ["tabs-3", "\t\t\t"],
  ["tab-word", "a\tb"],
  ["tab-before-word", "\tword"],
  ["newline", "\n"],
  ["newlines-3", "\n\n\n"],
  ["newline-word", "a\nb"],
  ["crlf", "a\r\nb\r\n"],
  ["crlf-multi", "\r\n\r\n\r\n"],
  ["cr", "a\rb\r"],
  ["vt-ff", "a\u000bb\u000cc"],
  ["trailing-spaces", "hello   "],
  ["trailing-space-1", "hello "],
  ["trailing-newline", "hello\n"],
  ["trailing-mixed", "hello \t\n "],
  ["leading-spaces", "   hello"],
  ["leading-newline", "\nhello"],
  ["leading-mixed", " \t\n x"],
  ["blank-lines", "a \n\n b"],
  ["spaces-newline-spaces", "a   \n   b"],
  ["space-before-punct", "a   !"],
  ["space-before-punct-1", "a !"],
  ["newline-before-punct", "a\n!"],
  ["spaces-before-digits", "a   123"],
  ["only-whitespace-mix", " \t \n \r\n \t"],
  ["indent-code", "if x:\n    if y:\n        z()\n"],
  ["tab-indent", "{\n\tfoo();\n\t\tbar();\n}"],
  ["space-newline-space", " \n "],
  ["newline-space-word", "\n word"],
  ["spaces-end-of-line", "line one   \nline two  \n"],
];
for (const [id, t] of ws) add(`whitespace/${id}`, t);

// --- Punctuation -----------------------------------------------------------
const punct = [
  ["bang3", "!!!"],
  ["dots", "..."],
  ["qbq", "?!?"],
  ["dashdash", "--"],
  ["symbols", "@#$%^&*()"],
  ["angles", "<<>>"],
  ["dots-word", "wait... what?!"],
  ["all-ascii", "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"],
  ["space-punct", " !!! ... ?!?"],
  ["arrow", "-> => <- <=> ::"],
  ["ellipsis-char", "wait\u2026"],
  ["quotes-curly", "\u201cquoted\u201d \u2018single\u2019 \u00abguillemets\u00bb"],
  ["punct-newline", "!!!\n???\n"],
  ["underscore", "___ __x__ _"],
  ["equals", "===== ----- *****"],
  ["cjk-punct", "\u3002\u3001\uff01\uff1f\u300c\u300d"],
  ["inverted", "\u00bfQu\u00e9? \u00a1Hola!"],
];
for (const [id, t] of punct) add(`punct/${id}`, t);

// --- Accented Latin --------------------------------------------------------
const accents = [
  ["cafe", "caf\u00e9"],
  ["cafe-decomposed", "cafe\u0301"],
  ["cafe-both", "caf\u00e9 cafe\u0301"],
  ["spanish", "Ma\u00f1ana el ni\u00f1o comer\u00e1 pi\u00f1a."],
  ["german", "\u00dcber gr\u00f6\u00dfe Stra\u00dfe, M\u00fcller \u00c4rger"],
  ["french", "\u00c0 l'\u00e9cole, o\u00f9 \u00ea\u00eetre \u00e7a \u0153uvre"],
  ["nordic", "\u00c6r\u00f8 \u00e5 \u00d8resund \u00c5land"],
  ["polish", "Za\u017c\u00f3\u0142\u0107 g\u0119\u015bl\u0105 ja\u017a\u0144"],
  ["vietnamese", "Ti\u1ebfng Vi\u1ec7t c\u00f3 d\u1ea5u"],
  ["upper-accents", "\u00c9COLE \u00d1AND\u00da \u00dcBER"],
  ["ligatures", "\ufb01sh \ufb02ow \u0132"],
  ["turkish", "\u0130stanbul \u0131s\u0131k"],
];
for (const [id, t] of accents) add(`accents/${id}`, t);

// --- CJK -------------------------------------------------------------------
const cjk = [
  ["chinese", "\u6211\u7231\u5317\u4eac\u5929\u5b89\u95e8\u3002"],
  ["chinese-long", "\u4eba\u5de5\u667a\u80fd\u662f\u8ba1\u7b97\u673a\u79d1\u5b66\u7684\u4e00\u4e2a\u5206\u652f\uff0c\u5b83\u4f01\u56fe\u4e86\u89e3\u667a\u80fd\u7684\u5b9e\u8d28\u3002"],
  ["traditional", "\u7e41\u9ad4\u4e2d\u6587\u5b57"],
  ["hiragana", "\u3053\u3093\u306b\u3061\u306f\u3001\u4e16\u754c\uff01"],
  ["katakana", "\u30ab\u30bf\u30ab\u30ca \u30b3\u30fc\u30d2\u30fc"],
  ["halfwidth-kana", "\uff76\uff80\uff76\uff85"],
  ["japanese-mixed", "\u79c1\u306f\u5b66\u751f\u3067\u3059\u3002GPT-2\u3092\u4f7f\u3044\u307e\u3059\u3002"],
  ["korean", "\uc548\ub155\ud558\uc138\uc694 \uc138\uacc4"],
  ["korean-jamo", "\u1100\u1161\u11a8"],
  ["cjk-latin-mix", "Hello\u4e16\u754c world\u3053\u3093\u306b\u3061\u306f 123\u5e74"],
  ["cjk-ext-b", "\u{20000}\u{20001}\u{2A6D6}"],
  ["ideographic-space-cjk", "\u4e2d\u3000\u6587"],
];
for (const [id, t] of cjk) add(`cjk/${id}`, t);

// --- Emoji -----------------------------------------------------------------
const emoji = [
  ["smile", "\u{1F600}"],
  ["smile-text", "I am happy \u{1F600}!"],
  ["multi", "\u{1F600}\u{1F601}\u{1F602}\u{1F923}"],
  ["zwj-family", "\u{1F468}\u200D\u{1F469}\u200D\u{1F467}\u200D\u{1F466}"],
  ["zwj-technologist", "\u{1F469}\u200D\u{1F4BB} codes"],
  ["skin-tone", "\u{1F44D}\u{1F3FD} \u{1F44B}\u{1F3FF}"],
  ["zwj-skin", "\u{1F469}\u{1F3FD}\u200D\u{1F680}"],
  ["flags", "\u{1F1FA}\u{1F1F8}\u{1F1EF}\u{1F1F5}\u{1F1E9}\u{1F1EA}"],
  ["flag-england", "\u{1F3F4}\u{E0067}\u{E0062}\u{E0065}\u{E006E}\u{E0067}\u{E007F}"],
  ["variation-selector", "\u2764\uFE0F \u263A\uFE0E \u2764"],
  ["keycap", "1\uFE0F\u20E3 #\uFE0F\u20E3"],
  ["rainbow-flag", "\u{1F3F3}\uFE0F\u200D\u{1F308}"],
  ["emoji-word-glue", "go\u{1F680}now"],
  ["space-emoji", "  \u{1F600}  \u{1F600}"],
];
for (const [id, t] of emoji) add(`emoji/${id}`, t);

// --- Combining marks -------------------------------------------------------
const combining = [
  ["after-letter", "e\u0301 a\u0300 o\u0308"],
  ["stacked", "a\u0301\u0302\u0303\u0304"],
  ["after-space", " \u0301"],
  ["after-space-word", "word \u0301x"],
  ["alone", "\u0301"],
  ["at-start", "\u0301abc"],
  ["after-digit", "1\u0301 2\u0302"],
  ["after-punct", "!\u0301 .\u0302"],
  ["zalgo", "Z\u0351\u036b\u0343\u036a\u0302\u036b\u033d\u034f\u0334\u0319\u0324\u031e\u0349\u035a\u032f\u031e\u0320\u034dA\u0334\u0335\u031c\u0330\u0354L\u0368\u0366\u0366"],
  ["enclosing", "a\u20dd b\u20de"],
  ["after-newline", "\n\u0301"],
  ["hebrew-points", "\u05e9\u05b8\u05c1\u05dc\u05d5\u05b9\u05dd"],
  ["devanagari-virama", "\u0915\u094d\u0937"],
];
for (const [id, t] of combining) add(`combining/${id}`, t);

// --- Unusual Unicode spaces ------------------------------------------------
const uniSpaces = [
  0x00a0, 0x0085, 0x2028, 0x2029, 0x3000, 0xfeff, 0x200b, 0x1680,
  0x2000, 0x2001, 0x2002, 0x2003, 0x2004, 0x2005, 0x2006, 0x2007, 0x2008, 0x2009, 0x200a,
  0x202f, 0x205f,
];
for (const cp of uniSpaces) {
  const c = String.fromCodePoint(cp);
  const id = `u${hex(cp)}`;
  add(`unispace/${id}-alone`, c);
  add(`unispace/${id}-between`, `hello${c}world`);
  add(`unispace/${id}-before-word`, `${c}word`);
  add(`unispace/${id}-repeated`, `a${c}${c}${c}b`);
  add(`unispace/${id}-at-end`, `word${c}`);
  add(`unispace/${id}-mixed-ascii`, `a ${c} b${c} c ${c}${c} d  ${c}\n${c}e`);
  add(`unispace/${id}-before-punct`, `x${c}!`);
}
add("unispace/all-in-a-row", uniSpaces.map((cp) => String.fromCodePoint(cp)).join(""));
add("unispace/all-between-words", uniSpaces.map((cp, i) => `w${i}${String.fromCodePoint(cp)}`).join(""));

// --- Letter classes --------------------------------------------------------
const letters = [
  ["greek", "\u0391\u03bb\u03c6\u03ac\u03b2\u03b7\u03c4\u03bf \u03b5\u03bb\u03bb\u03b7\u03bd\u03b9\u03ba\u03ac \u03a9\u03c9"],
  ["cyrillic", "\u041f\u0440\u0438\u0432\u0435\u0442, \u043c\u0438\u0440! \u0401\u0436\u0438\u043a"],
  ["arabic", "\u0645\u0631\u062d\u0628\u0627 \u0628\u0627\u0644\u0639\u0627\u0644\u0645"],
  ["hebrew", "\u05e9\u05dc\u05d5\u05dd \u05e2\u05d5\u05dc\u05dd"],
  ["devanagari", "\u0928\u092e\u0938\u094d\u0924\u0947 \u0926\u0941\u0928\u093f\u092f\u093e"],
  ["thai", "\u0e2a\u0e27\u0e31\u0e2a\u0e14\u0e35\u0e0a\u0e32\u0e27\u0e42\u0e25\u0e01"],
  ["armenian-georgian", "\u0532\u0561\u0580\u0587 \u10d2\u10d0\u10db\u10d0\u10e0\u10ef\u10dd\u10d1\u10d0"],
  ["ethiopic", "\u1230\u120b\u121d"],
  ["modifier-letters", "a\u02b0 k\u02b7 \u02b0 \u02bc \u02c8stress"],
  ["titlecase", "\u01c5 \u01c5ungla \u01c8 \u01cb \u1f88"],
  ["letterlike", "\u2103 \u2109 \u2115 \u211d \u2113 \u2126 \u212a \u212b \u2122"],
  ["math-alnum", "\u{1D400}\u{1D401}\u{1D402} \u{1D4B6}\u{1D4B7}"],
  ["fullwidth-latin", "\uff28\uff45\uff4c\uff4c\uff4f"],
  ["ipa", "\u0283\u0254\u0259\u025b\u026a\u028a\u0292\u03b8\u00f0\u014b"],
  ["cherokee", "\u13a0\u13a1\u13a2 \uab70\uab71"],
  ["rtl-mixed", "abc \u05d0\u05d1\u05d2 123 \u0627\u0644\u0639"],
  ["dotless-i", "\u0131\u0130i I"],
  ["sharp-s", "\u00df \u1e9e"],
];
for (const [id, t] of letters) add(`letters/${id}`, t);

// --- Symbols / marks categories ---------------------------------------------
const symbols = [
  ["tm-copy", "ScratchLM\u2122 \u00a9 2024 \u00ae"],
  ["degree", "25\u00b0C 77\u00b0F"],
  ["math", "\u2211 \u220f \u222b \u221a \u221e \u2248 \u2260 \u2264 \u2265 \u00b1 \u00d7 \u00f7"],
  ["currency", "\u20ac100 \u00a350 \u00a5200 \u20b9 \u20bf $ \u00a2"],
  ["arrows", "\u2190 \u2191 \u2192 \u2193 \u21d2 \u27f6"],
  ["box-drawing", "\u250c\u2500\u2510\n\u2502x\u2502\n\u2514\u2500\u2518"],
  ["bullets", "\u2022 one \u00b7 two \u25e6 three"],
  ["music-chess", "\u266a\u266b \u2654\u265b"],
  ["dingbats", "\u2713 \u2717 \u2605 \u2606 \u2764"],
  ["section-pilcrow", "\u00a7 1 \u00b6 2 \u2020 \u2021"],
  ["symbol-glue", "a\u2122b\u00a9c"],
  ["private-use", "\ue000\uf8ff"],
  ["replacement-char", "\ufffd"],
  ["noncharacter-adjacent", "\ufffc\ufffd"],
];
for (const [id, t] of symbols) add(`symbols/${id}`, t);

// --- Control characters ----------------------------------------------------
add("control/nul", "\u0000");
add("control/nul-between", "a\u0000b");
add("control/soh", "\u0001");
add("control/del", "\u007f");
add("control/del-word", "abc\u007fdef");
add("control/esc-ansi", "\u001b[31mred\u001b[0m");
add("control/bell-bs", "a\u0007b\u0008c");
add("control/c0-all", Array.from({ length: 32 }, (_, i) => String.fromCharCode(i)).join(""));
add("control/c1-all", Array.from({ length: 32 }, (_, i) => String.fromCharCode(0x80 + i)).join(""));
add("control/c1-between-words", "one\u0080two\u009fthree\u0085four");
add("control/c1-space-word", "a \u0090 b");
add("control/nul-space", " \u0000 ");

// --- Very long words -------------------------------------------------------
add("long/letters-1000", "a".repeat(1000));
add("long/letters-mixed-1200", "abcdefghijklmnopqrstuvwxyz".repeat(47).slice(0, 1200));
add("long/word-upper-1000", "ABCDEFGHIJ".repeat(100));
add("long/space-word-1500", " " + "supercalifragilistic".repeat(75));
add("long/digits-5000", "1234567890".repeat(500));
add("long/zeros-2000", "0".repeat(2000));
add("long/punct-3000", "!?.,;:-=+*&^%$#@~".repeat(177).slice(0, 3000));
add("long/dots-3000", ".".repeat(3000));
add("long/spaces-2000", " ".repeat(2000));
add("long/spaces-2000-word", " ".repeat(2000) + "word");
add("long/newlines-1000", "\n".repeat(1000));
add("long/accented-1500", "\u00e9".repeat(1500));
add("long/cjk-1000", "\u4e2d\u6587\u5b57".repeat(334).slice(0, 1000));
add("long/emoji-500", "\u{1F600}".repeat(500));

// --- Special token ---------------------------------------------------------
const specials = [
  ["eot", "<|endoftext|>"],
  ["eot-twice", "<|endoftext|><|endoftext|>"],
  ["eot-inside", "a<|endoftext|>b"],
  ["eot-spaced", " <|endoftext|> "],
  ["eot-no-close", "<|endoftext"],
  ["eot-no-gt", "<|endoftext|"],
  ["eot-upper", "<|ENDOFTEXT|>"],
  ["eot-newline", "<|endoftext|>\n"],
  ["eot-newline-before", "text\n<|endoftext|>\nmore"],
  ["eot-in-word", "end<|endoftext|>of"],
  ["eot-spaces-around", "a   <|endoftext|>   b"],
  ["eot-partial-prefix", "<|endof<|endoftext|>"],
  ["eot-other-special", "<|startoftext|> <|fim_prefix|> <|im_start|>"],
];
for (const [id, t] of specials) addBoth(`special/${id}`, t);
addBoth("special/book-sentence",
  "Hello, do you like tea? <|endoftext|> In the sunlit terraces of someunknownPlace.");

// --- Random mixes (seeded) --------------------------------------------------
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
const rng = mulberry32(0x5c7a7c11);
const pick = (arr) => arr[Math.floor(rng() * arr.length)];
const cps = (s) => Array.from(s);

// Each entry is a pool of whole code points (or short units) of one kind.
const pools = {
  lower: cps("abcdefghijklmnopqrstuvwxyz"),
  upper: cps("ABCDEFGHIJKLMNOPQRSTUVWXYZ"),
  digit: cps("0123456789"),
  space: [" ", " ", " ", "  ", "   "],
  tab_nl: ["\t", "\n", "\r\n", "\r", "\n\n"],
  unispace: uniSpaces.map((cp) => String.fromCodePoint(cp)),
  punct: cps("!\"#$%&()*+,-./:;<=>?@[\\]^_`{|}~"),
  apos: ["'", "'s", "'S", "'t", "'re", "'RE", "'ve", "'m", "'ll", "'LL", "'d", "'D", "\u2019s", "''"],
  accented: cps("\u00e9\u00f1\u00fc\u00c9\u00e0\u00e7\u00f8\u00df\u0153"),
  combining: cps("\u0300\u0301\u0302\u0308\u0327\u20dd"),
  cjk: cps("\u4e2d\u6587\u65e5\u672c\u3042\u3044\u30ab\u30ca\ud55c\uad6d\u3002"),
  emoji: ["\u{1F600}", "\u{1F44D}\u{1F3FD}", "\u{1F468}\u200D\u{1F469}\u200D\u{1F467}", "\u{1F1FA}\u{1F1F8}", "\u2764\uFE0F", "\u{1F680}"],
  scripts: cps("\u03b1\u03b2\u0393\u0436\u0416\u0645\u05e9\u0928\u0e2a\u02b0\u01c5\u2126"),
  numeric: cps("\u0663\u00b2\uff11\u216b\u00bd"),
  symbol: cps("\u2122\u00a9\u00b0\u2211\u20ac\u2192\u2022"),
  control: cps("\u0000\u0001\u007f\u0080\u0085\u009f\u001b"),
  word: ["the", "The", "whale", "Ahab", "ship", "sea", "hello", "world", "GPT", "token", "don't", "I'm"],
};
const poolNames = Object.keys(pools);

function randomString(nPieces, extraPieces = []) {
  let s = "";
  for (let i = 0; i < nPieces; i++) {
    if (extraPieces.length && rng() < 0.08) {
      s += pick(extraPieces);
      continue;
    }
    const pool = pools[pick(poolNames)];
    const reps = rng() < 0.25 ? 1 + Math.floor(rng() * 4) : 1;
    for (let r = 0; r < reps; r++) s += pick(pool);
  }
  return s;
}

for (let i = 0; i < 60; i++) {
  const n = 1 + Math.floor(rng() * 60);
  add(`random/mix-${String(i).padStart(2, "0")}`, randomString(n));
}
for (let i = 0; i < 20; i++) {
  const n = 1 + Math.floor(rng() * 40);
  add(`random/special-mix-${String(i).padStart(2, "0")}`,
    randomString(n, ["<|endoftext|>", "<|endoftext", "<|", "|>"]), "all");
}
// Two-kind mixes: pairs of pools interleaved, to stress boundaries between classes.
for (let i = 0; i < 20; i++) {
  const a = pools[pick(poolNames)], b = pools[pick(poolNames)];
  let s = "";
  const n = 2 + Math.floor(rng() * 20);
  for (let k = 0; k < n; k++) s += pick(k % 2 ? a : b);
  add(`random/pair-mix-${String(i).padStart(2, "0")}`, s);
}

// --- Moby Dick -------------------------------------------------------------
function readText(rel) {
  const p = path.join(root, rel);
  if (!fs.existsSync(p)) die(`missing ${rel} (run scripts/setup)`);
  return fs.readFileSync(p, "utf8");
}
for (const n of [1, 2, 3, 32, 135]) {
  add(`moby/chapter-${n}`, readText(`data/moby-dick/chapter_${n}.txt`));
}
{
  const cpsAll = Array.from(readText("data/moby-dick/data.txt"));
  add("moby/data-first-20000-chars", cpsAll.slice(0, 20000).join(""));
}

// ---------------------------------------------------------------------------
// Encode with tiktoken and write.

// JSON.stringify, plus \uXXXX escaping of characters that some line-based
// readers treat as line breaks, or that are invisible / easily lost in editors:
// DEL and C1 controls (incl. U+0085), U+00A0, U+00AD, U+061C, U+1680, U+180E,
// U+2000-U+200F, U+2028-U+202F, U+205F-U+206F, U+3000, U+FEFF, U+FFF9-U+FFFB,
// BMP private use U+E000-U+F8FF, and U+FFFE/U+FFFF.  (JSON.stringify already
// escapes U+0000-U+001F, '"' and '\\'.)  The list is explicit, not Unicode
// property based, so the output does not depend on Node's ICU version.
// Everything else, including all astral characters, is written as raw UTF-8, so
// the file never contains surrogate-pair escapes.
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
  const { out } = parseArgs(process.argv.slice(2));
  const tiktokenPkg = JSON.parse(fs.readFileSync(path.join(TIKTOKEN_DIR, "package.json"), "utf8"));
  const { get_encoding } = require(path.join(TIKTOKEN_DIR, "tiktoken.cjs"));
  const enc = get_encoding("gpt2");
  const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

  const lines = [];
  const perCategory = new Map();
  let totalTokens = 0;
  for (const c of cases) {
    const ids = c.special === "all" ? enc.encode(c.text, "all") : enc.encode_ordinary(c.text);
    // Sanity check: tiktoken must round-trip the text.
    const back = decoder.decode(enc.decode(ids));
    if (back !== c.text) throw new Error(`${c.name}: tiktoken decode(encode(text)) != text`);
    const idList = Array.from(ids);
    totalTokens += idList.length;
    lines.push(`{"name": ${jsonString(c.name)}, "text": ${jsonString(c.text)}, ` +
      `"special": "${c.special}", "ids": [${idList.join(", ")}]}`);
    const cat = c.name.split("/")[0];
    perCategory.set(cat, (perCategory.get(cat) || 0) + 1);
  }
  enc.free();

  const body = lines.join("\n") + "\n";
  const bytes = Buffer.byteLength(body, "utf8");
  if (bytes > MAX_BYTES) die(`fixture would be ${bytes} bytes (> ${MAX_BYTES})`);
  // Verify what we wrote parses back to the same cases.
  body.split("\n").slice(0, -1).forEach((line, i) => {
    const o = JSON.parse(line);
    if (o.text !== cases[i].text || o.name !== cases[i].name) throw new Error(`line ${i + 1} does not round-trip`);
  });

  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, body);
  const cats = [...perCategory].map(([k, v]) => `${k}=${v}`).join(" ");
  process.stderr.write(`tiktoken ${tiktokenPkg.version} gpt2; categories: ${cats}; ` +
    `${totalTokens} tokens; ${bytes} bytes\n`);
  process.stdout.write(`wrote ${cases.length} cases to ${path.relative(process.cwd(), out) || out}\n`);
}

main();
