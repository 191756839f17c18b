// test_responses.cpp — the model's answers to instruction entries (chapter 7.7): the book's
// cleaning (.replace(marker, "").strip()), the bytes of its instruction-data-with-response.json
// (Python's json.dump(indent=4)), and generate_responses with a tiny random model.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "scratchlm/finetune/responses.h"
#include "scratchlm/model/config.h"
#include "scratchlm/model/gpt.h"
#include "scratchlm/tokenizer/bpe.h"
#include "scratchlm/tokenizer/utf8.h"
#include "scratchlm/util/error.h"
#include "test_util.h"

namespace fs = std::filesystem;
using slm::InstructionEntry;
using slm::PromptTemplate;

namespace {
std::unique_ptr<slm::GPT> tiny_model() { return slm::test::tiny_gpt(11); }
}  // namespace

TEST(ResponsesClean, LikeTheBook) {
  EXPECT_EQ(slm::clean_response("  ### Response:\nThe answer.\n\n", PromptTemplate::Alpaca), "The answer.");
  EXPECT_EQ(slm::clean_response("a ### Response: b", PromptTemplate::Alpaca), "a  b");
  EXPECT_EQ(slm::clean_response("<|assistant|>: Hi <|assistant|>:", PromptTemplate::Phi3), "Hi");
  EXPECT_EQ(slm::clean_response("### Response:", PromptTemplate::Phi3), "### Response:");
  // Python's str.strip(): Unicode whitespace (NBSP, ideographic space, \x1c) but not ZWSP U+200B.
  EXPECT_EQ(slm::clean_response("\xC2\xA0\x1c x \xE3\x80\x80\t", PromptTemplate::Alpaca), "x");
  EXPECT_EQ(slm::clean_response("\xE2\x80\x8Bx", PromptTemplate::Alpaca), "\xE2\x80\x8Bx");
  EXPECT_EQ(slm::clean_response(" \n ", PromptTemplate::Alpaca), "");
  EXPECT_EQ(slm::lstrip_whitespace("  a b  "), "a b  ");
  EXPECT_EQ(slm::rstrip_whitespace("  a b  "), "  a b");
  EXPECT_EQ(slm::rstrip_whitespace("a\xFF "), "a\xFF");
}

TEST(ResponsesJson, BytesOfPythonsJsonDump) {
  std::vector<InstructionEntry> e{{"Say \"hi\".", "", "Hi.\n"},
                                  {"Translate caf\xC3\xA9 \xF0\x9F\x98\x80", "x\ty", "</b>\\"}};
  EXPECT_EQ(slm::responses_json(e, {"Hello.", "\x7f"}),
            "[\n    {\n        \"instruction\": \"Say \\\"hi\\\".\",\n        \"input\": \"\",\n"
            "        \"output\": \"Hi.\\n\",\n        \"model_response\": \"Hello.\"\n    },\n"
            "    {\n        \"instruction\": \"Translate caf\\u00e9 \\ud83d\\ude00\",\n        \"input\": \"x\\ty\",\n"
            "        \"output\": \"</b>\\\\\",\n        \"model_response\": \"\\u007f\"\n    }\n]");
  EXPECT_EQ(slm::responses_json({}, {}), "[]");
  EXPECT_THROW(slm::responses_json(e, {"one"}), slm::Error);

  // The book's own file, rebuilt byte for byte from its entries and responses.
  const std::string ref = slm::test::shared_data_dir() + "/reference/instruction-data-with-response.json";
  if (!fs::exists(ref)) GTEST_SKIP() << "../shared/data/reference/instruction-data-with-response.json absent";
  const std::string bytes = slm::test::read_text(ref);
  auto entries = slm::load_instruction_data(ref);
  std::vector<std::string> responses;
  for (const auto& o : nlohmann::json::parse(bytes)) responses.push_back(o.at("model_response").get<std::string>());
  EXPECT_EQ(slm::responses_json(entries, responses), bytes);
}

TEST(ResponsesGenerate, WritesTheBooksShapeAtomically) {
  const auto& tok = slm::test::gpt2_tokenizer();
  auto m = tiny_model();
  std::vector<InstructionEntry> entries{
      {"Identify the correct spelling of the following word.", "Ocassion", "The correct spelling is 'Occasion.'"},
      {"What is an antonym of 'complicated'?", "", "An antonym of 'complicated' is 'simple'."},
      {std::string(600, 'a') + " longer than the context", "", "ok"}};  // > 128 tokens: left-truncated
  slm::GenerateOptions g = slm::book_response_options();
  EXPECT_EQ(g.max_new_tokens, 256);
  EXPECT_EQ(g.sampler.temperature, 0.0f);
  EXPECT_EQ(g.eos_id, 50256);
  g.max_new_tokens = 6;
  slm::test::TempDir t;
  const std::string path = t.file("instruction-data-with-response.json");
  auto responses = slm::generate_responses(*m, tok, entries, PromptTemplate::Alpaca, g, path, false);
  ASSERT_EQ(responses.size(), 3u);
  // Nothing but the output in the directory (no temp file left behind).
  std::vector<std::string> names;
  for (const auto& f : fs::directory_iterator(t.path())) names.push_back(f.path().filename().string());
  EXPECT_EQ(names, std::vector<std::string>{"instruction-data-with-response.json"});

  const std::string bytes = slm::test::read_text(path);
  auto j = nlohmann::ordered_json::parse(bytes);
  ASSERT_TRUE(j.is_array());
  ASSERT_EQ(j.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    std::vector<std::string> keys;
    for (const auto& [k, v] : j[i].items()) keys.push_back(k);
    EXPECT_EQ(keys, (std::vector<std::string>{"instruction", "input", "output", "model_response"}));
    EXPECT_EQ(j[i]["instruction"], entries[i].instruction);
    EXPECT_EQ(j[i]["input"], entries[i].input);
    EXPECT_EQ(j[i]["output"], entries[i].output);
    EXPECT_EQ(j[i]["model_response"], responses[i]);
    // Greedy: the same answer again, equal to decoding the new tokens after prompt + response prefix.
    EXPECT_EQ(slm::generate_response(*m, tok, entries[i], PromptTemplate::Alpaca, g), responses[i]);
    auto prompt = slm::response_prompt_ids(tok, entries[i], PromptTemplate::Alpaca);
    auto ids = slm::generate(*m, prompt, g);
    std::vector<uint32_t> u(ids.begin(), ids.end());
    EXPECT_EQ(responses[i], slm::clean_response(slm::utf8_lossy(tok.decode(u)), PromptTemplate::Alpaca));
  }
  EXPECT_EQ(bytes, slm::responses_json(entries, responses));
  EXPECT_GT(slm::response_prompt_ids(tok, entries[2], PromptTemplate::Alpaca).size(), 128u);
  // The template matters: the first prompt starts with the Alpaca head, phi3's with <|user|>.
  auto phi = slm::response_prompt_ids(tok, entries[0], PromptTemplate::Phi3);
  std::vector<uint32_t> pu(phi.begin(), phi.end());
  EXPECT_EQ(tok.decode(pu), "<|user|>\n" + entries[0].instruction + "\nOcassion\n<|assistant|>:\n");

  // An unwritable destination is an error and leaves nothing behind.
  EXPECT_THROW(
      slm::generate_responses(*m, tok, entries, PromptTemplate::Alpaca, g, t.file("no/such/dir/x.json"), false),
      slm::Error);
}

TEST(ResponsesChat, PromptKeepsTurnsAndDropsTheOldest) {
  const auto& tok = slm::test::gpt2_tokenizer();
  std::vector<InstructionEntry> turns{{"First?", "", "One."}, {"Second?", "", "Two."}};
  const InstructionEntry next{"Third?", "", ""};
  const std::string t1 = slm::format_example(turns[0], PromptTemplate::Alpaca);
  const std::string t2 = slm::format_example(turns[1], PromptTemplate::Alpaca);
  const std::string tail = slm::format_prompt(next, PromptTemplate::Alpaca) + "\n\n### Response:\n";
  auto decode = [&](const std::vector<int32_t>& ids) {
    std::vector<uint32_t> u(ids.begin(), ids.end());
    return tok.decode(u);
  };
  auto keep = turns;
  EXPECT_EQ(decode(slm::chat_prompt_ids(tok, keep, next, PromptTemplate::Alpaca, 1000)),
            t1 + "\n\n" + t2 + "\n\n" + tail);
  EXPECT_EQ(keep.size(), 2u);
  const int64_t two = static_cast<int64_t>(tok.encode(t2 + "\n\n" + tail, slm::SpecialMode::Text).size());
  keep = turns;
  EXPECT_EQ(decode(slm::chat_prompt_ids(tok, keep, next, PromptTemplate::Alpaca, two)), t2 + "\n\n" + tail);
  ASSERT_EQ(keep.size(), 1u);
  EXPECT_EQ(keep[0].instruction, "Second?");
  keep = turns;
  EXPECT_EQ(decode(slm::chat_prompt_ids(tok, keep, next, PromptTemplate::Alpaca, 5)), tail);  // too long even alone
  EXPECT_TRUE(keep.empty());
}
