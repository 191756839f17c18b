// test_instruct_data.cpp — instruction data of chapter 7.2–7.3: the book's prompt templates byte
// for byte (Alpaca of section 7.2, Phi-3 of exercise 7.1), loading JSON / JSONL with clear errors,
// the 85/10/5 split against the book's test set, and the book's collate function.
#include <gtest/gtest.h>

#include <filesystem>

#include "scratchlm/data/instruct_data.h"
#include "scratchlm/tokenizer/bpe.h"
#include "scratchlm/util/error.h"
#include "test_util.h"

namespace fs = std::filesystem;
using slm::InstructionEntry;
using slm::PromptTemplate;

namespace {

// instruction-data.json entry 50 (the book's example in section 7.2 and exercise 7.1).
const InstructionEntry kEntry50{"Identify the correct spelling of the following word.", "Ocassion",
                                "The correct spelling is 'Occasion.'"};
// The exercise 7.1 sample without an input.
const InstructionEntry kNoInput{"What is an antonym of 'complicated'?", "", "An antonym of 'complicated' is 'simple'."};

const char* kAlpacaHead =
    "Below is an instruction that describes a task. Write a response that appropriately completes the request.";

std::string shared_file(const std::string& name) { return slm::test::shared_data_dir() + "/" + name; }

// The error message of load_instruction_data on a file with these bytes.
std::string load_error(const std::string& bytes, const std::string& name = "data.json") {
  slm::test::TempDir t;
  slm::test::write_text(t.file(name), bytes);
  try {
    slm::load_instruction_data(t.file(name));
  } catch (const slm::Error& e) {
    EXPECT_EQ(e.kind(), slm::ErrorKind::BadInput);
    std::string m = e.what();
    EXPECT_EQ(m.find('\n'), std::string::npos) << m;
    return m;
  }
  ADD_FAILURE() << "no error for: " << bytes;
  return "";
}

bool same(const InstructionEntry& a, const InstructionEntry& b) {
  return a.instruction == b.instruction && a.input == b.input && a.output == b.output;
}

slm::TokenizedExample ex(std::vector<int32_t> ids, int64_t prompt_len = 0) {
  slm::TokenizedExample e;
  e.ids = std::move(ids);
  e.prompt_len = prompt_len;
  return e;
}

}  // namespace

TEST(InstructFormat, AlpacaMatchesTheBookByteForByte) {
  EXPECT_EQ(slm::format_example(kEntry50, PromptTemplate::Alpaca),
            "Below is an instruction that describes a task. Write a response that appropriately completes the "
            "request.\n\n### Instruction:\nIdentify the correct spelling of the following word.\n\n### Input:\n"
            "Ocassion\n\n### Response:\nThe correct spelling is 'Occasion.'");
  EXPECT_EQ(slm::format_prompt(kEntry50, PromptTemplate::Alpaca),
            std::string(kAlpacaHead) +
                "\n\n### Instruction:\nIdentify the correct spelling of the following word.\n\n### Input:\nOcassion");
  EXPECT_EQ(slm::response_prefix(PromptTemplate::Alpaca), "\n\n### Response:\n");
  EXPECT_EQ(slm::response_marker(PromptTemplate::Alpaca), "### Response:");
  // The same entry read from the book's file.
  if (!fs::exists(shared_file("instruction-data.json"))) GTEST_SKIP() << "../shared/data/instruction-data.json absent";
  auto all = slm::load_instruction_data(shared_file("instruction-data.json"));
  ASSERT_GT(all.size(), 50u);
  EXPECT_TRUE(same(all[50], kEntry50));
}

TEST(InstructFormat, EmptyInputHasNoInputBlock) {
  EXPECT_EQ(slm::format_example(kNoInput, PromptTemplate::Alpaca),
            std::string(kAlpacaHead) +
                "\n\n### Instruction:\nWhat is an antonym of 'complicated'?\n\n### Response:\n"
                "An antonym of 'complicated' is 'simple'.");
  EXPECT_EQ(slm::format_prompt(kNoInput, PromptTemplate::Alpaca).find("### Input"), std::string::npos);
}

TEST(InstructFormat, Phi3MatchesExercise71) {
  // ch07/01_main-chapter-code/exercise-solutions.ipynb, exercise 7.1 (format_input_phi and the
  // "\n<|assistant|>:\n" response text), and its printed output for the two samples.
  EXPECT_EQ(slm::format_prompt(kEntry50, PromptTemplate::Phi3),
            "<|user|>\nIdentify the correct spelling of the following word.\nOcassion");
  EXPECT_EQ(slm::format_prompt(kNoInput, PromptTemplate::Phi3), "<|user|>\nWhat is an antonym of 'complicated'?");
  EXPECT_EQ(slm::format_example(kEntry50, PromptTemplate::Phi3),
            "<|user|>\nIdentify the correct spelling of the following word.\nOcassion\n<|assistant|>:\n"
            "The correct spelling is 'Occasion.'");
  EXPECT_EQ(slm::response_prefix(PromptTemplate::Phi3), "\n<|assistant|>:\n");
  EXPECT_EQ(slm::response_marker(PromptTemplate::Phi3), "<|assistant|>:");
  EXPECT_EQ(slm::parse_prompt_template("alpaca"), PromptTemplate::Alpaca);
  EXPECT_EQ(slm::parse_prompt_template("phi3"), PromptTemplate::Phi3);
  EXPECT_EQ(slm::prompt_template_name(PromptTemplate::Phi3), "phi3");
  EXPECT_THROW(slm::parse_prompt_template("chatml"), slm::Error);
}

TEST(InstructLoad, TheBooksFile) {
  if (!fs::exists(shared_file("instruction-data.json"))) GTEST_SKIP() << "../shared/data/instruction-data.json absent";
  auto all = slm::load_instruction_data(shared_file("instruction-data.json"));
  ASSERT_EQ(all.size(), 1100u);
  EXPECT_EQ(std::count_if(all.begin(), all.end(), [](const auto& e) { return e.input.empty(); }), 775);
}

TEST(InstructLoad, JsonLinesEqualsJsonArray) {
  slm::test::TempDir t;
  slm::test::write_text(t.file("a.json"),
                        "\xEF\xBB\xBF[\n {\"instruction\": \"Say hi.\", \"input\": \"\", \"output\": \"Hi.\"},\n"
                        " {\"output\": \"caf\\u00e9\", \"extra\": [1, 2], \"instruction\": \"Spell caf\xC3\xA9.\"},\n"
                        " {\"instruction\": \"Add.\", \"input\": null, \"output\": \"<|endoftext|>\"},\n"
                        " {\"instruction\": \"Echo\", \"input\": \"a\\nb\", \"output\": \"a\\nb\"}\n]\n");
  slm::test::write_text(t.file("a.jsonl"),
                        "{\"instruction\": \"Say hi.\", \"input\": \"\", \"output\": \"Hi.\"}\r\n"
                        "\n"
                        "{\"output\": \"caf\\u00e9\", \"extra\": {\"k\": 1}, \"instruction\": \"Spell caf\xC3\xA9.\"}\n"
                        "  {\"instruction\": \"Add.\", \"output\": \"<|endoftext|>\"}\n"
                        "{\"instruction\": \"Echo\", \"input\": \"a\\nb\", \"output\": \"a\\nb\"}");
  auto a = slm::load_instruction_data(t.file("a.json"));
  auto b = slm::load_instruction_data(t.file("a.jsonl"));
  ASSERT_EQ(a.size(), 4u);
  ASSERT_EQ(b.size(), 4u);
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(same(a[i], b[i])) << i;
  EXPECT_TRUE(same(a[1], InstructionEntry{"Spell caf\xC3\xA9.", "", "caf\xC3\xA9"}));
  EXPECT_TRUE(same(a[2], InstructionEntry{"Add.", "", "<|endoftext|>"}));
  EXPECT_EQ(a[3].input, "a\nb");
}

TEST(InstructLoad, ErrorsNameTheFileAndEntry) {
  std::string m = load_error("[{\"instruction\": \"a\", \"output\": \"b\"}, {\"output\": \"b\"}]");
  EXPECT_NE(m.find("data.json: entry 1"), std::string::npos) << m;
  EXPECT_NE(m.find("missing \"instruction\""), std::string::npos) << m;
  m = load_error("[{\"instruction\": \"a\", \"output\": 3}]");
  EXPECT_NE(m.find("entry 0"), std::string::npos) << m;
  EXPECT_NE(m.find("\"output\" must be a string"), std::string::npos) << m;
  m = load_error("[{\"instruction\": \"a\", \"input\": [], \"output\": \"b\"}]");
  EXPECT_NE(m.find("\"input\" must be a string"), std::string::npos) << m;
  m = load_error("[{\"instruction\": \"a\", \"output\": \"b\"}, {\"instruction\": \"a\", \"outp");
  EXPECT_NE(m.find("data.json: malformed JSON"), std::string::npos) << m;
  m = load_error("[{\"instruction\": \"a\xFF\", \"output\": \"b\"}]");
  EXPECT_NE(m.find("invalid UTF-8"), std::string::npos) << m;
  EXPECT_NE(m.find("data.json"), std::string::npos) << m;
  m = load_error("[]");
  EXPECT_NE(m.find("data.json: no entries"), std::string::npos) << m;
  m = load_error(" \n");
  EXPECT_NE(m.find("empty"), std::string::npos) << m;
  m = load_error("[\"just a string\"]");
  EXPECT_NE(m.find("entry 0: expected a JSON object"), std::string::npos) << m;
  m = load_error("{\"instruction\": \"a\", \"output\": \"b\"}\n\n{\"instruction\": \"a\", \"output\": \"b\"\n",
                 "d.jsonl");
  EXPECT_NE(m.find("d.jsonl: entry 1 (line 3): malformed JSON"), std::string::npos) << m;
  m = load_error("{\"instruction\": \"a\", \"output\": \"b\"}\n{\"instruction\": \"a\"}\n", "d.jsonl");
  EXPECT_NE(m.find("entry 1 (line 2): missing \"output\""), std::string::npos) << m;
  m = load_error("{\n  \"instruction\": \"a\",\n  \"output\": \"b\"\n}\n");
  EXPECT_NE(m.find("expected a JSON array of entries or one JSON object per line"), std::string::npos) << m;
  EXPECT_THROW(slm::load_instruction_data("/nonexistent/instruction-data.json"), slm::Error);
}

TEST(InstructSplit, TheBooksSplit) {
  std::vector<InstructionEntry> all(1100);
  for (size_t i = 0; i < all.size(); ++i) all[i].instruction = std::to_string(i);
  auto s = slm::split_instruction_data(all);
  ASSERT_EQ(s.train.size(), 935u);
  ASSERT_EQ(s.test.size(), 110u);
  ASSERT_EQ(s.val.size(), 55u);
  EXPECT_EQ(s.train.back().instruction, "934");
  EXPECT_EQ(s.test.front().instruction, "935");
  EXPECT_EQ(s.val.front().instruction, "1045");
  auto s2 = slm::split_instruction_data(std::vector<InstructionEntry>(all.begin(), all.begin() + 7));
  EXPECT_EQ(s2.train.size(), 5u);  // int(7 * 0.85) = 5, int(7 * 0.1) = 0
  EXPECT_EQ(s2.test.size(), 0u);
  EXPECT_EQ(s2.val.size(), 2u);
  EXPECT_THROW(slm::split_instruction_data(all, 0.9, 0.2), slm::Error);

  // The test part equals the entries of the book's instruction-data-with-response.json.
  const std::string data = shared_file("instruction-data.json"),
                    ref = shared_file("reference/instruction-data-with-response.json");
  if (!fs::exists(data) || !fs::exists(ref)) GTEST_SKIP() << "../shared/data instruction files absent";
  auto book = slm::split_instruction_data(slm::load_instruction_data(data));
  auto want = slm::load_instruction_data(ref);  // "model_response" is ignored
  ASSERT_EQ(book.test.size(), 110u);
  ASSERT_EQ(want.size(), 110u);
  for (size_t i = 0; i < want.size(); ++i) EXPECT_TRUE(same(book.test[i], want[i])) << "test entry " << i;
}

TEST(InstructCollate, TheBooksExample) {
  auto a = ex({0, 1, 2, 3, 4}), b = ex({5, 6}), c = ex({7, 8, 9});
  auto batch = slm::collate_instruction_batch({&a, &b, &c});
  ASSERT_EQ(batch.B, 3);
  ASSERT_EQ(batch.T, 5);
  EXPECT_EQ(batch.inputs, (std::vector<int32_t>{0, 1, 2, 3, 4, 5, 6, 50256, 50256, 50256, 7, 8, 9, 50256, 50256}));
  EXPECT_EQ(batch.targets,
            (std::vector<int32_t>{1, 2, 3, 4, 50256, 6, 50256, -100, -100, -100, 8, 9, 50256, -100, -100}));

  auto cut = slm::collate_instruction_batch({&a, &b, &c}, 50256, -100, 3);
  ASSERT_EQ(cut.T, 3);
  EXPECT_EQ(cut.inputs, (std::vector<int32_t>{0, 1, 2, 5, 6, 50256, 7, 8, 9}));
  EXPECT_EQ(cut.targets, (std::vector<int32_t>{1, 2, 3, 6, 50256, -100, 8, 9, 50256}));
  auto loose = slm::collate_instruction_batch({&a, &b}, 50256, -100, 100);  // longer than the batch: no effect
  EXPECT_EQ(loose.T, 5);

  auto single = slm::collate_instruction_batch({&b}, 7, -1);  // other pad / ignore values
  EXPECT_EQ(single.inputs, (std::vector<int32_t>{5, 6}));
  EXPECT_EQ(single.targets, (std::vector<int32_t>{6, 7}));
  EXPECT_THROW(slm::collate_instruction_batch({}), slm::Error);
}

TEST(InstructCollate, MaskPromptMasksExactlyThePromptTargets) {
  // prompt_len 3: targets 0 and 1 predict prompt tokens 1 and 2; target 2 predicts the answer.
  auto a = ex({10, 11, 12, 13, 14}, 3), b = ex({20, 21}, 1), c = ex({30, 31, 32}, 3);
  auto m = slm::collate_instruction_batch({&a, &b, &c}, 50256, -100, 0, true);
  EXPECT_EQ(m.inputs,
            (std::vector<int32_t>{10, 11, 12, 13, 14, 20, 21, 50256, 50256, 50256, 30, 31, 32, 50256, 50256}));
  EXPECT_EQ(m.targets, (std::vector<int32_t>{-100, -100, 13, 14, 50256, 21, 50256, -100, -100, -100, -100, -100, 50256,
                                             -100, -100}));
  auto unmasked = slm::collate_instruction_batch({&a, &b, &c});
  EXPECT_EQ(unmasked.inputs, m.inputs);
}

TEST(InstructTokenize, IdsAndPromptLength) {
  const auto& tok = slm::test::gpt2_tokenizer();
  for (auto t : {PromptTemplate::Alpaca, PromptTemplate::Phi3}) {
    for (const auto& e : {kEntry50, kNoInput}) {
      auto te = slm::tokenize_example(tok, e, t);
      auto full = tok.encode(slm::format_example(e, t), slm::SpecialMode::Text);
      auto prompt = tok.encode(slm::format_prompt(e, t) + slm::response_prefix(t), slm::SpecialMode::Text);
      ASSERT_EQ(te.ids.size(), full.size());
      for (size_t i = 0; i < full.size(); ++i) EXPECT_EQ(te.ids[i], static_cast<int32_t>(full[i]));
      EXPECT_EQ(te.prompt_len, static_cast<int64_t>(prompt.size()));
      EXPECT_TRUE(std::equal(prompt.begin(), prompt.end(), full.begin()));
    }
  }
  // "<|endoftext|>" inside an entry is data: ordinary text, never the pad id.
  auto te =
      slm::tokenize_example(tok, InstructionEntry{"Print <|endoftext|>.", "", "<|endoftext|>"}, PromptTemplate::Alpaca);
  EXPECT_EQ(std::count(te.ids.begin(), te.ids.end(), 50256), 0);
  // An answer starting with a newline merges with the prefix's: the prompt length stops before it.
  auto nl = slm::tokenize_example(tok, InstructionEntry{"x", "", "\nfoo"}, PromptTemplate::Alpaca);
  std::string prefix_bytes;
  for (int64_t i = 0; i < nl.prompt_len; ++i) prefix_bytes += tok.token_bytes(static_cast<uint32_t>(nl.ids[i]));
  const std::string prompt =
      slm::format_prompt(InstructionEntry{"x", "", ""}, PromptTemplate::Alpaca) + "\n\n### Response:\n";
  EXPECT_LE(prefix_bytes.size(), prompt.size());
  EXPECT_EQ(prompt.compare(0, prefix_bytes.size(), prefix_bytes), 0);
  EXPECT_GE(nl.prompt_len, static_cast<int64_t>(tok.encode(prompt, slm::SpecialMode::Text).size()) - 1);
}
