// test_tokenize_stream.cpp — chunked encoding (encode_stream.h) gives encode()'s ids bit for bit,
// whatever the chunk and feed sizes: cuts inside UTF-8 characters, inside long pieces and inside
// "<|endoftext|>" (chapter 2.6).
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <random>

#include "scratchlm/data/corpus.h"
#include "scratchlm/data/shards.h"
#include "scratchlm/tokenizer/bpe.h"
#include "scratchlm/tokenizer/encode_stream.h"
#include "scratchlm/tokenizer/utf8.h"
#include "scratchlm/util/error.h"
#include "scratchlm/util/paths.h"
#include "test_util.h"

using namespace slm;

namespace {

const Tokenizer& gpt2() { return slm::test::gpt2_tokenizer(); }

const Tokenizer& gpt2_with_gpt4_split() {
  static const Tokenizer t = Tokenizer::load_files(slm::test::data_dir() + "/gpt2/encoder.json",
                                                   slm::test::data_dir() + "/gpt2/vocab.bpe", SplitPattern::Gpt4);
  return t;
}

// Text with every hard case: prose, contractions, UTF-8 of 2-4 bytes, a literal <|endoftext|>,
// long runs of letters, digits, punctuation, spaces and newlines, and a run at the very end.
std::string hard_text() {
  std::string s = "It's the Whale, they'll say. Café 中文 😀 <|endoftext|>x\n\nA line\r\n  indented\n";
  s += std::string(3000, 'a') + " " + std::string(2500, '7') + "," + std::string(2100, '-') + "b";
  s += std::string(1500, ' ') + "c" + std::string(900, '\n') + "d ";
  for (int i = 0; i < 700; ++i) s += "é";
  s += " <|endoftext|> more words here\twith\ttabs" + std::string(2200, 'z');
  return s;
}

std::vector<uint32_t> stream(const Tokenizer& tok, std::string_view text, size_t chunk, uint32_t seed,
                             bool lossy = false) {
  std::vector<uint32_t> got;
  TextStreamEncoder enc(
      tok, [&](std::span<const uint32_t> ids) { got.insert(got.end(), ids.begin(), ids.end()); }, "'test'", lossy, 1,
      chunk, 1);
  std::mt19937 rng(seed);
  for (size_t i = 0; i < text.size();) {
    size_t n = std::min<size_t>(text.size() - i, 1 + rng() % (2 * chunk + 3));
    enc.feed(text.substr(i, n));
    i += n;
  }
  enc.finish();
  return got;
}

}  // namespace

TEST(TokenizeStream, EqualsWholeTextEncoding) {
  const std::string text = hard_text();
  for (const Tokenizer* tok : {&gpt2(), &gpt2_with_gpt4_split()}) {
    const auto want = tok->encode(text, SpecialMode::Text);
    for (size_t chunk : {1, 2, 3, 5, 16, 64, 257, 1000, 100000})
      for (uint32_t seed : {1u, 2u, 3u})
        ASSERT_EQ(stream(*tok, text, chunk, seed), want)
            << split_pattern_name(tok->pattern()) << " chunk " << chunk << " seed " << seed;
  }
}

// Random texts over the characters the split patterns treat specially (contraction letters,
// CR/LF, Unicode spaces, digits, punctuation, multi-byte letters, the special token's text), with
// runs long enough to have no safe cut: both patterns, tiny chunks.
TEST(TokenizeStream, RandomTrickyTexts) {
  const std::vector<std::string> atoms = {" ",
                                          "  ",
                                          "\n",
                                          "\r\n",
                                          "\t",
                                          "\u00a0",
                                          "\u2003",
                                          "'",
                                          "s",
                                          "ll",
                                          "re",
                                          "a",
                                          "aaaaaaaaaaaaaaaaaaaa",
                                          "1",
                                          "123456789",
                                          "!",
                                          "--",
                                          "é",
                                          "中",
                                          "😀",
                                          "<|endoftext|>",
                                          "\n\n\n",
                                          "        "};
  std::mt19937 rng(11);
  for (int n = 0; n < 40; ++n) {
    std::string text;
    const size_t len = 200 + rng() % 3000;
    while (text.size() < len) text += atoms[rng() % (n % 2 ? atoms.size() : 6)];  // even n: whitespace only
    for (const Tokenizer* tok : {&gpt2(), &gpt2_with_gpt4_split()}) {
      const auto want = tok->encode(text, SpecialMode::Text);
      for (size_t chunk : {size_t{1}, size_t{13}, size_t{300}})
        ASSERT_EQ(stream(*tok, text, chunk, static_cast<uint32_t>(n)), want)
            << split_pattern_name(tok->pattern()) << " text " << n << " chunk " << chunk;
    }
  }
}

TEST(TokenizeStream, EveryCutOfAShortText) {
  const std::string text = "ab <|endoftext|> Café's 中😀!!\n\n  x 12345 'll";
  const auto want = gpt2().encode(text, SpecialMode::Text);
  for (size_t cut = 0; cut <= text.size(); ++cut) {
    std::vector<uint32_t> got;
    TextStreamEncoder enc(
        gpt2(), [&](std::span<const uint32_t> ids) { got.insert(got.end(), ids.begin(), ids.end()); }, "'t'", false, 1,
        1, 1);
    enc.feed(std::string_view(text).substr(0, cut));
    enc.feed(std::string_view(text).substr(cut));
    enc.finish();
    ASSERT_EQ(got, want) << "cut at " << cut;
  }
}

TEST(TokenizeStream, LossyAndInvalidUtf8) {
  std::string text = "ok \xE2\x82 then \xF0\x9F\x98\x80 and \xC3" + std::string(300, 'q') + "\xFF\xE0\x80 end \xE2\x82";
  const auto want = gpt2().encode(utf8_lossy(text), SpecialMode::Text);
  for (size_t chunk : {1, 4, 64})
    for (uint32_t seed : {5u, 6u}) ASSERT_EQ(stream(gpt2(), text, chunk, seed, true), want) << chunk;
  std::string msg = slm::test::error_of([&] { stream(gpt2(), text, 4, 9); });
  EXPECT_HAS(msg, "'test' is not valid UTF-8");
  EXPECT_HAS(msg, "at byte offset 3 ");
  msg = slm::test::error_of([&] { stream(gpt2(), "fine text, then a cut character \xE4\xB8", 4, 9); });
  EXPECT_HAS(msg, "at byte offset 32 ");
}

// ------------------------------------------------------------------ corpus files and shards

namespace {

// Peak resident memory (VmHWM) in bytes, after resetting it to the current RSS; 0 if unsupported.
size_t reset_peak_rss() {
  FILE* f = std::fopen("/proc/self/clear_refs", "w");
  if (!f) return 0;
  bool ok = std::fputs("5", f) >= 0;
  ok = (std::fclose(f) == 0) && ok;
  return ok ? 1 : 0;
}

size_t peak_rss() {
  std::string status = slm::test::read_text("/proc/self/status");
  size_t at = status.find("VmHWM:");
  return at == std::string::npos ? 0 : std::stoull(status.substr(at + 6)) * 1024;
}

}  // namespace

// Corpus files larger than the chunk stream through TextStreamEncoder; the ids equal encoding
// each whole file, with <|endoftext|> between, for any chunk size and thread count.
TEST(TokenizeStream, CorpusInChunksEqualsWholeFiles) {
  slm::test::TempDir t;
  const std::vector<std::string> texts = {hard_text(), "short one", std::string(5000, 'x') + " tail é",
                                          "Café 中文 <|endoftext|> and so on\n"};
  std::vector<std::string> paths;
  std::vector<uint32_t> want;
  for (size_t i = 0; i < texts.size(); ++i) {
    paths.push_back(t.file(std::to_string(i) + ".txt"));
    slm::test::write_text(paths.back(), texts[i]);
    if (i) want.push_back(*gpt2().eot_id());
    auto ids = gpt2().encode(texts[i], SpecialMode::Text);
    want.insert(want.end(), ids.begin(), ids.end());
  }
  for (size_t chunk : {size_t{7}, size_t{100}, size_t{4096}, size_t{16} << 20})
    for (int threads : {1, 2}) {
      std::vector<uint32_t> got;
      encode_documents_to(
          paths, gpt2(), false, threads, "",
          [&](std::span<const uint32_t> ids) { got.insert(got.end(), ids.begin(), ids.end()); }, chunk);
      ASSERT_EQ(got, want) << "chunk " << chunk << ", " << threads << " threads";
    }
  EXPECT_EQ(encode_documents(paths, gpt2(), false, 2), want);
}

TEST(TokenizeStream, ShardWriterIsAtomic) {
  slm::test::TempDir t;
  const std::vector<uint32_t> ids = {1, 2, 3, 50256, 7};
  write_token_shard(t.file("a.bin"), ids, 50257);
  {
    TokenShardWriter w(t.file("a.bin"), 50257);
    w.append(std::vector<uint32_t>{9, 9});
    // destroyed without commit(): the old shard stays, no temp file is left
  }
  EXPECT_EQ(read_token_shard(t.file("a.bin")).to_vector(), ids);
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(t.path()), std::filesystem::directory_iterator()), 1);
  TokenShardWriter w(t.file("b.bin"), 50257);
  for (uint32_t id : ids) w.append(std::span<const uint32_t>(&id, 1));
  std::string msg = slm::test::error_of([&] { w.append(std::vector<uint32_t>{50257}); });
  EXPECT_HAS(msg, "token id 50257 at position 5 is outside the vocabulary of 50257 tokens");
  w.commit();
  EXPECT_EQ(read_token_shard(t.file("b.bin")).to_vector(), ids);
}

// Not timed: tokenizing a 64 MB file of one letter (one 64 MB piece) through the token cache
// raises the peak RSS by less than 64 MB (under 1 byte per input byte; before, ~42 bytes per byte).
TEST(TokenizeStream, LongSingleLetterFileInBoundedMemory) {
  if (slm::test::kSanitized) GTEST_SKIP() << "AddressSanitizer's shadow memory makes RSS bounds meaningless";
  slm::test::TempDir t;
  const std::string path = t.file("a.txt");
  {
    std::string block(size_t{1} << 20, 'a');
    FILE* f = std::fopen(path.c_str(), "wb");
    ASSERT_TRUE(f);
    for (int i = 0; i < 64; ++i) ASSERT_EQ(std::fwrite(block.data(), 1, block.size(), f), block.size());
    std::fclose(f);
  }
  const size_t before = peak_rss();
  if (!reset_peak_rss() || before == 0) GTEST_SKIP() << "/proc/self/clear_refs or VmHWM unavailable";
  const size_t base = peak_rss();
  bool hit = true;
  TokenArray ids = tokenize_documents_cached({path}, gpt2(), "tok", t.file("cache"), false, 1, &hit);
  const size_t growth = peak_rss() - base;
  EXPECT_FALSE(hit);
  std::printf("peak RSS growth tokenizing 64 MiB of 'a': %zu MiB\n", growth >> 20);
  EXPECT_LT(growth, size_t{64} << 20) << "peak RSS grew by " << (growth >> 20) << " MiB";
  // (Exactness is BpeLong's and the tests above; here: the ids spell the file.)
  size_t bytes = 0;
  for (size_t i = 0; i < ids.size(); ++i) bytes += gpt2().token_bytes(ids[i]).size();
  EXPECT_EQ(bytes, size_t{64} << 20);
}

// A corpus that fails half-way (invalid UTF-8 in a later chunk of a streamed file) leaves no shard
// and no temp file in the cache, and names the file and the offset in it.
TEST(TokenizeStream, FailedTokenizationLeavesNoShard) {
  slm::test::TempDir t;
  std::string text = hard_text();
  const size_t bad = text.size();
  text += "\xFF tail";
  slm::test::write_text(t.file("bad.txt"), text);
  std::string msg = slm::test::error_of([&] {
    encode_documents_to(
        {t.file("bad.txt")}, gpt2(), false, 1, "", [](std::span<const uint32_t>) {}, 1000);
  });
  EXPECT_HAS(msg, "bad.txt' is not valid UTF-8");
  EXPECT_HAS(msg, "at byte offset " + std::to_string(bad) + " ");
  // Through the cache (a small file, read whole): the writer's temp file is removed.
  msg = slm::test::error_of(
      [&] { tokenize_documents_cached({t.file("bad.txt")}, gpt2(), "tok", t.file("cache"), false, 1); });
  EXPECT_HAS(msg, "at byte offset " + std::to_string(bad) + " ");
  EXPECT_TRUE(std::filesystem::is_empty(t.file("cache")));
}
