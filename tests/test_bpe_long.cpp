// test_bpe_long.cpp — the bounded-memory long-piece encoder (bpe_long.h) gives exactly the
// whole-piece heap encoder's tokens, on adversarial long pieces around and across its window
// (chapter 2.5).
#include <gtest/gtest.h>

#include <random>

#include "scratchlm/tokenizer/bpe.h"
#include "scratchlm/tokenizer/bpe_long.h"
#include "test_util.h"

using namespace slm;

namespace {

const Tokenizer& gpt2() { return slm::test::gpt2_tokenizer(); }

std::string repeat(std::string_view unit, size_t bytes) {
  std::string s;
  while (s.size() < bytes) s += unit;
  return s;
}

std::string random_from(const std::vector<std::string>& alphabet, size_t bytes, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s;
  while (s.size() < bytes) s += alphabet[rng() % alphabet.size()];
  return s;
}

// The bounded encoder fed `piece` in parts of about `part` bytes (0: all at once).
std::vector<uint32_t> bounded(std::string_view piece, size_t window, size_t part, size_t* fallbacks = nullptr) {
  LongPieceEncoder enc(gpt2(), window);
  std::vector<uint32_t> out;
  for (size_t i = 0; i < piece.size(); i += part ? part : piece.size())
    enc.feed(piece.substr(i, part ? part : piece.size()), out);
  enc.finish(out);
  if (fallbacks) *fallbacks = enc.fallbacks();
  return out;
}

std::vector<uint32_t> unbounded(std::string_view piece) {
  std::vector<uint32_t> out;
  gpt2().bpe_piece(piece, out);
  return out;
}

struct Family {
  std::string name;
  std::function<std::string(size_t bytes, uint32_t seed)> make;
};

std::vector<Family> families() {
  std::vector<Family> f;
  for (std::string unit :
       {"a",  "e",  "z",  "Q",  "1",  "0",   "-",   "=",   ".",   " ",   "\n",  "é",  "ж",   "中", "😀",  // one symbol
        "ab", "ha", "na", "01", "-=", "abc", "lol", "the", "123", "aab", "ab ", "éa", "中文"})
    f.push_back({"repeat '" + unit + "'", [unit](size_t n, uint32_t) { return repeat(unit, n); }});
  auto alpha = [](std::string letters) {
    std::vector<std::string> v;
    for (char c : letters) v.emplace_back(1, c);
    return v;
  };
  for (std::string letters : {"ab", "abc", "aeiou", "abcdefghijklmnopqrstuvwxyz", "0123456789", "-=_.", "ab1"})
    f.push_back({"random over '" + letters + "'",
                 [v = alpha(letters)](size_t n, uint32_t seed) { return random_from(v, n, seed); }});
  f.push_back({"random UTF-8 letters", [](size_t n, uint32_t seed) {
                 return random_from({"é", "ж", "中", "😀", "a", "ß", "ω"}, n, seed);
               }});
  f.push_back({"random bytes", [](size_t n, uint32_t seed) {
                 std::mt19937 rng(seed);
                 std::string s(n, '\0');
                 for (auto& c : s) c = static_cast<char>(rng() & 0xFF);
                 return s;
               }});
  f.push_back({"runs with rare breaks", [](size_t n, uint32_t seed) {
                 std::mt19937 rng(seed);
                 std::string s;
                 while (s.size() < n) s += (rng() % 97 == 0) ? std::string(1, "bxq"[rng() % 3]) : std::string("a");
                 return s;
               }});
  f.push_back({"run after a prefix",
               [](size_t n, uint32_t seed) { return std::string(" ") + std::string(seed % 7, 'b') + repeat("a", n); }});
  return f;
}

}  // namespace

TEST(BpeLong, WindowIsAtLeastEightLongestTokens) {
  LongPieceEncoder enc(gpt2(), 1);
  EXPECT_GE(gpt2().max_token_bytes(), 64u);  // GPT-2's longest tokens are long runs of spaces/dashes
  EXPECT_EQ(enc.window(), 8 * gpt2().max_token_bytes());
}

// Table-driven: every family, lengths just below, at and above 1, 2 and 3 windows and a few random
// ones, fed at once and in odd-sized parts; the result must equal the whole-piece encoder's.
TEST(BpeLong, EqualsTheWholePieceEncoder) {
  const size_t w = LongPieceEncoder(gpt2(), 1).window();
  std::mt19937 rng(7);
  size_t cases = 0, fallbacks = 0;
  for (const auto& fam : families()) {
    std::vector<size_t> lengths = {1, w - 1, w, w + 1, 2 * w - 1, 2 * w + 3, 3 * w + 17};
    for (int k = 0; k < 3; ++k) lengths.push_back(w / 2 + rng() % (4 * w));
    for (size_t n : lengths) {
      std::string piece = fam.make(n, static_cast<uint32_t>(rng()));
      auto want = unbounded(piece);
      size_t fb = 0;
      ASSERT_EQ(bounded(piece, w, 0, &fb), want) << fam.name << ", " << piece.size() << " bytes";
      fallbacks += fb;
      ASSERT_EQ(bounded(piece, w, 1 + rng() % 997), want) << fam.name << ", " << piece.size() << " bytes, in parts";
      ++cases;
    }
  }
  EXPECT_GT(cases, 300u);
  EXPECT_EQ(fallbacks, 0u) << "some windows had no certified anchor (still exact, but not bounded)";
}

// Through the tokenizer: text whose pieces are long (a letter run, a digit run, a space run, dashes)
// encodes the same with the long-piece threshold at its smallest and at its default.
TEST(BpeLong, EncodePieceUsesItAboveTheThreshold) {
  const size_t w = LongPieceEncoder(gpt2(), 1).window();
  std::string text = "x " + repeat("a", 3 * w + 5) + " " + repeat("7", 2 * w) + repeat(" ", 2 * w + 1) + "y" +
                     repeat("-", 2 * w + 3) + " " + repeat("é", w + 1) + "z";
  std::vector<uint32_t> small;
  for_each_piece(gpt2().pattern(), text, [&](std::string_view p) { gpt2().encode_piece(p, small, w); });
  EXPECT_EQ(small, gpt2().encode(text, SpecialMode::Text));
  std::vector<uint32_t> direct;
  for_each_piece(gpt2().pattern(), text, [&](std::string_view p) {
    if (auto id = gpt2().token_id(p))
      direct.push_back(*id);
    else
      gpt2().bpe_piece(p, direct);
  });
  EXPECT_EQ(small, direct);
}
