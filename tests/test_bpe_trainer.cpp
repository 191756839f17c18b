// test_bpe_trainer.cpp — byte-level BPE training (bpe_trainer.h): hand-derived merges, the
// tie-breaking rule, round trips, <|endoftext|>, save/load, determinism, errors, Moby Dick and
// the `slm train-tokenizer` command.
#include <gtest/gtest.h>

#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "scratchlm/tokenizer/bpe.h"
#include "scratchlm/tokenizer/bpe_trainer.h"
#include "scratchlm/tokenizer/utf8.h"
#include "scratchlm/util/error.h"
#include "scratchlm/util/file.h"
#include "test_util.h"

namespace fs = std::filesystem;
using slm::BpeTrainOptions;
using slm::BpeTrainResult;
using slm::SplitPattern;
using slm::Tokenizer;

namespace {

BpeTrainResult train(const std::vector<std::string>& docs, size_t vocab_size, SplitPattern pattern = SplitPattern::Gpt2,
                     int threads = 1) {
  std::vector<std::string_view> views(docs.begin(), docs.end());
  BpeTrainOptions o;
  o.vocab_size = vocab_size;
  o.pattern = pattern;
  o.threads = threads;
  return slm::train_bpe(views, o);
}

// The merged tokens (ids 256..) as byte strings.
std::vector<std::string> merged_tokens(const Tokenizer& t) {
  std::vector<std::string> out;
  for (uint32_t id = 256; id < 256 + t.num_merges(); ++id) out.push_back(t.token_bytes(id));
  return out;
}

// GPT-2's id of a printable ASCII byte ('!'..'~' are ids 0..93).
uint32_t ascii_id(char c) { return static_cast<uint32_t>(c - '!'); }

// Pseudo-English text of about `bytes` bytes, seeded: words of 1-3 syllables (some non-ASCII).
std::string synthetic_text(size_t bytes, uint32_t seed) {
  static const char* syl[] = {"the", "wha", "le",   "sea", "ship", "cap",  "tain", "a",  "hab", "whi",
                              "te",  "har", "poon", "and", "of",   "ca",   "fé",   "na", "ïve", "東",
                              "京",  "🐋",   "18",   "51",  "—",    "said", "ish",  "ma", "el",  "bo"};
  constexpr size_t kSyl = std::size(syl);
  std::mt19937 rng(seed);
  std::string s;
  while (s.size() < bytes) {
    size_t n = 1 + rng() % 3;
    for (size_t i = 0; i < n; ++i) s += syl[rng() % kSyl];
    uint32_t r = rng() % 20;
    s += r == 0 ? ".\n" : r == 1 ? ", " : r == 2 ? "  " : " ";
  }
  return s;
}

}  // namespace

// "aaabdaaabac" is a single gpt2 piece (a letter run). Pairs are counted at every adjacent
// position, weighted by how often the piece occurs, and a merge rewrites a word left to right
// without overlaps:
//   a a a b d a a a b a c   pairs: aa 4 (positions 0-1, 1-2, 5-6, 6-7), ab 2, bd 1, da 1, ba 1, ac 1
//   1. (a, a) -> "aa" (256)     aa a b d aa a b a c      pairs: (aa,a) 2, (a,b) 2, others 1
//   2. (aa, a) -> "aaa" (257)   tie at 2: "aaa" < "ab" bytewise   aaa b d aaa b a c
//   3. (aaa, b) -> "aaab" (258) count 2                  aaab d aaab a c
//   then everything has count 1 and the bytewise smallest concatenation wins:
//   4. (aaab, a) -> "aaaba"     ("aaaba" < "aaabd" < "ac" < "daaab")   aaab d aaaba c
//   5. (aaaba, c) -> "aaabac"   ("aaabac" < "aaabd" < "daaaba")        aaab d aaabac
//   6. (aaab, d) -> "aaabd"     ("aaabd" < "daaabac")                   aaabd aaabac
//   7. (aaabd, aaabac) -> "aaabdaaabac", and then no pair is left.
TEST(BpeTrainer, HandDerivedMergesOfAaabdaaabac) {
  auto r = train({"aaabdaaabac"}, 256 + 3 + 1);
  const Tokenizer& t = r.tokenizer;
  EXPECT_EQ(r.merges_done, 3u);
  EXPECT_EQ(r.unique_pieces, 1u);
  EXPECT_EQ(r.input_bytes, 11u);
  ASSERT_EQ(t.vocab_size(), 260u);
  EXPECT_EQ(merged_tokens(t), (std::vector<std::string>{"aa", "aaa", "aaab"}));
  EXPECT_EQ(t.eot_id(), 259u);
  EXPECT_EQ(t.token_bytes(259), "<|endoftext|>");
  // GPT-2 byte order: '!' is 0, so 'a' = 64, 'c' = 66, 'd' = 67; the space is 220, NUL 188.
  EXPECT_EQ(t.token_id("a"), 64u);
  EXPECT_EQ(t.token_id(" "), 220u);
  EXPECT_EQ(t.token_id(std::string(1, '\0')), 188u);
  EXPECT_EQ(t.encode_ordinary("aaabdaaabac"),
            (std::vector<uint32_t>{258, ascii_id('d'), 258, ascii_id('a'), ascii_id('c')}));

  slm::test::TempDir dir;
  t.save_dir(dir.path());
  EXPECT_EQ(slm::test::read_text(dir.file("vocab.bpe")), "#version: 0.2\na a\naa a\naaa b\n");

  // Asking for more: merges 4..7 as derived above, then the corpus runs out of pairs.
  auto all = train({"aaabdaaabac"}, 300);
  EXPECT_EQ(all.merges_done, 7u);
  EXPECT_EQ(all.tokenizer.vocab_size(), 256u + 7 + 1);
  EXPECT_EQ(merged_tokens(all.tokenizer),
            (std::vector<std::string>{"aa", "aaa", "aaab", "aaaba", "aaabac", "aaabd", "aaabdaaabac"}));
  EXPECT_EQ(all.tokenizer.encode_ordinary("aaabdaaabac"), (std::vector<uint32_t>{262}));
  EXPECT_EQ(all.tokenizer.eot_id(), 263u);
}

TEST(BpeTrainer, TieBreaking) {
  // All pairs occur once. Pieces "zz" and " é" (bytes 20 C3 A9). Ties go to the bytewise
  // (unsigned) smallest concatenation — not the smallest ids (z = 89 < C3 = 127 < space = 220)
  // and not signed chars (which would put C3 A9 first):
  //   " \xC3" (20 C3) < "zz" (7A 7A) < "\xC3\xA9" (C3 A9)  ->  merge 1: (space, C3)
  //   then " é" (20 C3 A9) < "zz"                           ->  merge 2: (" \xC3", A9)
  //   then "zz"                                             ->  merge 3: (z, z)
  auto r = train({"zz é"}, 256 + 3 + 1);
  EXPECT_EQ(merged_tokens(r.tokenizer), (std::vector<std::string>{" \xC3", " \xC3\xA9", "zz"}));

  // A higher count beats a smaller concatenation: pieces "zz", " zz", " ab" -> (z, z) occurs
  // twice. Then " a" < " zz" < "ab", then " ab" < " zz".
  auto c = train({"zz zz ab"}, 256 + 4 + 1);
  EXPECT_EQ(merged_tokens(c.tokenizer), (std::vector<std::string>{"zz", " a", " ab", " zz"}));

  // Piece frequency weights the counts: "ab" once, " cd" three times -> (c, d) 3 and (space, c) 3
  // tie, " c" < "cd"; then (" c", d) 3 -> " cd"; then "ab" last.
  auto w = train({"ab cd cd cd"}, 256 + 3 + 1);
  EXPECT_EQ(merged_tokens(w.tokenizer), (std::vector<std::string>{" c", " cd", "ab"}));
  EXPECT_EQ(w.unique_pieces, 2u);
}

TEST(BpeTrainer, PiecesAndDocumentsNeverMergeAcrossEachOther) {
  // "ab" ends document 0 and "cd" starts document 1; "ab!" is two gpt2 pieces.
  auto r = train({"xxab", "cdyy", "ab!ab!"}, 300);
  for (const auto& tok : merged_tokens(r.tokenizer)) {
    EXPECT_EQ(tok.find("bc"), std::string::npos) << tok;
    EXPECT_EQ(tok.find("b!"), std::string::npos) << tok;
  }
}

TEST(BpeTrainer, RoundTripsRandomText) {
  std::string corpus =
      "Hello, world! The quick brown fox jumps over the lazy dog.\n\n"
      "Café naïve résumé — façade; Ærøskøbing. ¿Qué tal? Straße.\n"
      "東京は日本の首都です。北京、上海。한국어 텍스트.\n"
      "Emoji: 🐋🐳🙂👍🏽 family 👨‍👩‍👧 flags 🇯🇵\n"
      "\t\tindented\r\n    spaces      and\u00a0nbsp\u3000ideographic space\n"
      "numbers 1234567 3.14159 and 'quotes' don't it's we'll\n";
  std::string big;
  for (int i = 0; i < 20; ++i) big += corpus;
  for (SplitPattern p : {SplitPattern::Gpt2, SplitPattern::Gpt4}) {
    auto r = train({big, corpus}, 400, p, 2);
    const Tokenizer& t = r.tokenizer;
    EXPECT_EQ(t.vocab_size(), 400u);
    EXPECT_EQ(t.decode(t.encode_ordinary(big)), big);
    EXPECT_LT(t.encode_ordinary(big).size(), big.size() / 2);

    std::mt19937 rng(1234);
    const uint32_t ranges[][2] = {{0x20, 0x7E},       {0x09, 0x0D},     {0xA0, 0x17F},
                                  {0x300, 0x36F},     {0x4E00, 0x4FFF}, {0xAC00, 0xAC80},
                                  {0x1F300, 0x1F6FF}, {0x2000, 0x200D}, {0x3000, 0x3000}};
    for (int k = 0; k < 200; ++k) {
      std::string x;
      size_t len = rng() % 60;
      if (k % 4 == 3) {  // random bytes, repaired
        for (size_t i = 0; i < len; ++i) x.push_back(static_cast<char>(rng() & 0xFF));
        x = slm::utf8_lossy(x);
      } else {
        for (size_t i = 0; i < len; ++i) {
          const auto& rg = ranges[rng() % std::size(ranges)];
          slm::utf8_append(x, rg[0] + rng() % (rg[1] - rg[0] + 1));
        }
      }
      std::vector<uint32_t> ids = t.encode_ordinary(x);
      ASSERT_EQ(t.decode(ids), x) << "case " << k;
      for (uint32_t id : ids) ASSERT_LT(id, 399u);  // never the <|endoftext|> id in ordinary text
    }
  }
}

TEST(BpeTrainer, EndOfTextIsReservedAndNeverMerged) {
  std::vector<std::string> docs;
  for (int i = 0; i < 50; ++i)
    docs.push_back("hello<|endoftext|>world<|endoftext|><|endoftext|>hello world<|endoftext|>");
  auto r = train(docs, 300);
  const Tokenizer& t = r.tokenizer;
  uint32_t eot = static_cast<uint32_t>(t.vocab_size() - 1);
  EXPECT_EQ(t.eot_id(), eot);
  EXPECT_EQ(t.token_bytes(eot), "<|endoftext|>");
  EXPECT_EQ(r.merges_done, t.vocab_size() - 257);
  for (uint32_t id = 0; id < eot; ++id) {
    const std::string& b = t.token_bytes(id);
    if (b.size() < 2) continue;  // the byte tokens '<' and '|' exist, but nothing merged contains them
    EXPECT_EQ(b.find('<'), std::string::npos) << b;
    EXPECT_EQ(b.find('|'), std::string::npos) << b;
    EXPECT_EQ(b.find("endof"), std::string::npos) << b;
  }
  // Whole-corpus words became single tokens; the special token still encodes to its id.
  std::vector<uint32_t> ids = t.encode("hello<|endoftext|> world", slm::SpecialMode::Allow);
  EXPECT_EQ(ids, (std::vector<uint32_t>{*t.token_id("hello"), eot, *t.token_id(" world")}));
}

TEST(BpeTrainer, SaveAndLoadGiveIdenticalEncodings) {
  std::string text = synthetic_text(40000, 7);
  std::string probe = "The white whale, said Ishmael — café 東京 🐋🐋 1851!\n\n  end";
  for (SplitPattern p : {SplitPattern::Gpt2, SplitPattern::Gpt4}) {
    auto r = train({text}, 700, p, 2);
    EXPECT_EQ(r.tokenizer.vocab_size(), 700u);
    slm::test::TempDir dir;
    r.tokenizer.save_dir(dir.path(), "openai");
    ASSERT_TRUE(fs::exists(dir.file("encoder.json")));
    ASSERT_TRUE(fs::exists(dir.file("vocab.bpe")));
    ASSERT_TRUE(fs::exists(dir.file("tokenizer_config.json")));
    Tokenizer loaded = Tokenizer::load_dir(dir.path());
    EXPECT_EQ(loaded.pattern(), p);
    ASSERT_EQ(loaded.vocab_size(), r.tokenizer.vocab_size());
    EXPECT_EQ(loaded.num_merges(), r.tokenizer.num_merges());
    for (uint32_t id = 0; id < loaded.vocab_size(); ++id)
      ASSERT_EQ(loaded.token_bytes(id), r.tokenizer.token_bytes(id)) << id;
    EXPECT_EQ(loaded.encode_ordinary(probe), r.tokenizer.encode_ordinary(probe));
    EXPECT_EQ(loaded.encode_ordinary(text), r.tokenizer.encode_ordinary(text));
    EXPECT_EQ(loaded.decode(loaded.encode_ordinary(probe)), probe);
  }
}

TEST(BpeTrainer, DeterministicAcrossRunsAndThreadCounts) {
  // 400 KB in one document: split into several chunks that are counted in parallel.
  std::vector<std::string> docs{synthetic_text(400000, 11), synthetic_text(5000, 12), "", synthetic_text(70000, 13)};
  auto a = train(docs, 1000, SplitPattern::Gpt2, 1);
  auto b = train(docs, 1000, SplitPattern::Gpt2, 1);
  auto c = train(docs, 1000, SplitPattern::Gpt2, 2);
  auto d = train(docs, 1000, SplitPattern::Gpt2, 4);
  EXPECT_EQ(a.merges_done, 743u);
  for (const auto* x : {&b, &c, &d}) {
    EXPECT_EQ(x->unique_pieces, a.unique_pieces);
    EXPECT_EQ(x->merges_done, a.merges_done);
    EXPECT_EQ(merged_tokens(x->tokenizer), merged_tokens(a.tokenizer));
  }
  slm::test::TempDir d1, d2;
  a.tokenizer.save_dir(d1.path());
  c.tokenizer.save_dir(d2.path());
  EXPECT_EQ(slm::test::read_text(d1.file("vocab.bpe")), slm::test::read_text(d2.file("vocab.bpe")));
  EXPECT_EQ(slm::test::read_text(d1.file("encoder.json")), slm::test::read_text(d2.file("encoder.json")));
}

TEST(BpeTrainer, ReportsProgress) {
  std::vector<std::string> docs{synthetic_text(30000, 3)};
  std::vector<std::string_view> views(docs.begin(), docs.end());
  BpeTrainOptions o;
  o.vocab_size = 600;
  std::vector<std::pair<size_t, size_t>> calls;
  o.progress = [&](size_t done, size_t wanted) { calls.emplace_back(done, wanted); };
  auto r = slm::train_bpe(views, o);
  ASSERT_GE(calls.size(), 3u);
  EXPECT_EQ(calls.front(), std::make_pair(size_t{100}, size_t{343}));
  EXPECT_EQ(calls.back(), std::make_pair(r.merges_done, size_t{343}));
}

TEST(BpeTrainer, RejectsBadInput) {
  EXPECT_THROW(train({"hello world"}, 100), slm::Error);
  EXPECT_THROW(train({"hello world"}, 256), slm::Error);
  EXPECT_NO_THROW(train({"hello world"}, 257));
  EXPECT_THROW(train({}, 300), slm::Error);
  EXPECT_THROW(train({"", ""}, 300), slm::Error);
  try {
    train({"fine", std::string("bad \xC3\x28 utf8")}, 300);
    FAIL() << "invalid UTF-8 was accepted";
  } catch (const slm::Error& e) {
    EXPECT_EQ(e.kind(), slm::ErrorKind::BadInput);
    EXPECT_NE(std::string(e.what()).find("document 1"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("byte offset 4"), std::string::npos) << e.what();
  }
  // Only special tokens: no pieces, no merges, but a valid 257-token vocabulary.
  auto r = train({"<|endoftext|><|endoftext|>"}, 300);
  EXPECT_EQ(r.merges_done, 0u);
  EXPECT_EQ(r.tokenizer.vocab_size(), 257u);
  EXPECT_EQ(r.tokenizer.eot_id(), 256u);
}

TEST(BpeTrainer, MobyDickVocabulary4096) {
  std::string path = slm::test::data_dir() + "/moby-dick/data.txt";
  if (!fs::exists(path)) GTEST_SKIP() << path << " is absent";
  std::string text = slm::read_file(path);
  auto r = train({text}, 4096, SplitPattern::Gpt2, 0);
  const Tokenizer& t = r.tokenizer;
  EXPECT_EQ(t.vocab_size(), 4096u);
  EXPECT_EQ(r.merges_done, 3839u);
  size_t n = std::min<size_t>(50000, text.size());
  while (n < text.size() && (static_cast<uint8_t>(text[n]) & 0xC0) == 0x80) ++n;  // a character boundary
  std::string head = text.substr(0, n);
  std::vector<uint32_t> ids = t.encode_ordinary(head);
  EXPECT_EQ(t.decode(ids), head);
  EXPECT_LT(ids.size(), head.size() / 3);
  EXPECT_EQ(t.token_bytes(256), " t");  // the most frequent pair in English text
}

TEST(BpeTrainer, CliTrainsFromFilesAndDirectories) {
  slm::test::TempDir in, out;
  fs::create_directories(in.file("sub"));
  slm::test::write_text(in.file("b.txt"), synthetic_text(20000, 1));
  slm::test::write_text(in.file("sub/a.txt"), synthetic_text(20000, 2));
  slm::test::write_text(in.file("c.txt"), "just one more file\n");
  auto r = slm::test::run_slm("train-tokenizer --input " + slm::test::shell_quote(in.path()) +
                              " --vocab-size 500 --out " + slm::test::shell_quote(out.path()) + " --threads 2");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("500 tokens"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("3 files"), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("merges 243/243"), std::string::npos) << r.err;
  Tokenizer t = Tokenizer::load_dir(out.path());
  EXPECT_EQ(t.vocab_size(), 500u);
  std::string probe = "the white whale said Ishmael";
  EXPECT_EQ(t.decode(t.encode_ordinary(probe)), probe);

  // Same corpus as files in path order, via the library: same vocabulary.
  std::vector<std::string> docs{slm::test::read_text(in.file("b.txt")), slm::test::read_text(in.file("c.txt")),
                                slm::test::read_text(in.file("sub/a.txt"))};
  auto lib = train(docs, 500);
  EXPECT_EQ(merged_tokens(lib.tokenizer), merged_tokens(t));

  // Invalid UTF-8: an error naming the file and the offset, unless --lossy.
  slm::test::write_text(in.file("bad.txt"), std::string("abc\xFF"));
  auto bad = slm::test::run_slm("train-tokenizer --input " + slm::test::shell_quote(in.file("bad.txt")) + " " +
                                slm::test::shell_quote(in.file("c.txt")) + " --vocab-size 300 --out " +
                                slm::test::shell_quote(out.file("x")));
  EXPECT_EQ(bad.rc, 2);
  EXPECT_NE(bad.err.find("bad.txt"), std::string::npos) << bad.err;
  EXPECT_NE(bad.err.find("byte offset 3"), std::string::npos) << bad.err;
  auto lossy = slm::test::run_slm("train-tokenizer --lossy --input " + slm::test::shell_quote(in.file("bad.txt")) +
                                  " --vocab-size 300 --out " + slm::test::shell_quote(out.file("x")));
  EXPECT_EQ(lossy.rc, 0) << lossy.err;

  auto small = slm::test::run_slm("train-tokenizer --input " + slm::test::shell_quote(in.file("c.txt")) +
                                  " --vocab-size 100 --out " + slm::test::shell_quote(out.file("y")));
  EXPECT_EQ(small.rc, 2);
  EXPECT_NE(small.err.find("slm: error:"), std::string::npos) << small.err;
  auto missing = slm::test::run_slm("train-tokenizer --input /nonexistent/file --vocab-size 300 --out " +
                                    slm::test::shell_quote(out.file("z")));
  EXPECT_EQ(missing.rc, 2);
}
