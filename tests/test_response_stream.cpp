// test_response_stream.cpp — streamed answers (response_stream.h, chapter 7.7's cleaning): the
// pieces must join to the final text whatever the byte boundaries, and never show text that a
// later byte changes (a stop string, the response marker, trailing whitespace, a split character).
#include <gtest/gtest.h>

#include <random>

#include "scratchlm/finetune/response_stream.h"
#include "scratchlm/finetune/responses.h"

using slm::PromptTemplate;
using slm::ResponseStream;

namespace {

// Feeds `text` in chunks of the given sizes (cycled); returns the pieces taken after each chunk
// and the rest, and checks they join to final_text.
std::vector<std::string> feed(ResponseStream& s, const std::string& text, const std::vector<size_t>& sizes) {
  std::vector<std::string> pieces;
  for (size_t pos = 0, k = 0; pos < text.size(); ++k) {
    const size_t n = std::min(sizes[k % sizes.size()], text.size() - pos);
    const bool more = s.add(std::string_view(text).substr(pos, n));
    pieces.push_back(s.take_ready());
    pos += n;
    if (!more) break;
  }
  pieces.push_back(s.take_rest());
  std::string joined;
  for (const auto& p : pieces) joined += p;
  EXPECT_EQ(joined, s.final_text());
  return pieces;
}

}  // namespace

TEST(ResponseStream, StopStringsCutTheTextAndEndGeneration) {
  ResponseStream s({"END", "", "\n\n"});
  EXPECT_TRUE(s.add("Hello E"));
  EXPECT_EQ(s.take_ready(), "Hello ");  // "E" could begin "END"
  EXPECT_TRUE(s.add("N"));
  EXPECT_EQ(s.take_ready(), "");
  EXPECT_FALSE(s.add("D and more"));
  EXPECT_TRUE(s.stopped());
  EXPECT_FALSE(s.add("ignored"));
  EXPECT_EQ(s.take_rest(), "");
  EXPECT_EQ(s.final_text(), "Hello ");
  // The earliest stop wins, also when it spans chunks.
  ResponseStream t({"xyz", "\n\n"});
  feed(t, "ab\n", {3});
  ResponseStream u({"xyz", "\n\n"});
  auto pieces = feed(u, "ab\n\nxyz", {1});
  EXPECT_EQ(u.final_text(), "ab");
  EXPECT_TRUE(u.stopped());
}

TEST(ResponseStream, CleansLikeCleanResponseWhileStreaming) {
  const std::string text = "  \n### Response:\nThe answer\xE2\x80\x94 is ### Response: 42.  \n ";
  ResponseStream s({}, PromptTemplate::Alpaca);
  auto pieces = feed(s, text, {1});
  EXPECT_EQ(s.final_text(), slm::clean_response(text, PromptTemplate::Alpaca));
  EXPECT_EQ(s.final_text(), "The answer\xE2\x80\x94 is  42.");
  for (const auto& p : pieces) {
    EXPECT_EQ(p.find('#'), std::string::npos) << "a marker part was shown: " << p;
    EXPECT_EQ(p.find("\xEF\xBF\xBD"), std::string::npos) << "a split character was shown repaired";
  }
  // Trailing whitespace waits for text after it.
  ResponseStream w({}, PromptTemplate::Alpaca);
  w.add("a ");
  EXPECT_EQ(w.take_ready(), "a");
  w.add("b");
  EXPECT_EQ(w.take_ready(), " b");
}

TEST(ResponseStream, AnyChunkingJoinsToTheWholeAnswer) {
  std::mt19937 rng(7);
  const std::vector<std::string> atoms = {"a",        " ",        "\n",   "### Response:", "###", "END", "EN",
                                          "\xC3\xA9", "\xE2\x80", "\x94", "\xFF",          "\t",  "Resp"};
  for (int trial = 0; trial < 300; ++trial) {
    std::string text;
    for (int k = 0; k < 20; ++k) text += atoms[rng() % atoms.size()];
    std::vector<size_t> sizes;
    for (int k = 0; k < 5; ++k) sizes.push_back(1 + rng() % 4);
    const bool clean = trial % 2 == 0;
    const std::vector<std::string> stops =
        trial % 3 == 0 ? std::vector<std::string>{"END"} : std::vector<std::string>{};
    ResponseStream chunked(stops, clean ? std::optional(PromptTemplate::Alpaca) : std::nullopt);
    ResponseStream whole(stops, clean ? std::optional(PromptTemplate::Alpaca) : std::nullopt);
    feed(chunked, text, sizes);  // take() fails internally if shown text ever changes
    whole.add(text);
    ASSERT_EQ(chunked.final_text(), whole.final_text()) << "trial " << trial;
  }
}
