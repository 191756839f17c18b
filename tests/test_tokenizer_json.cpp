// test_tokenizer_json.cpp — Hugging Face tokenizer.json (chapter 2.5's BPE in the tokenizers
// library's format): the shape Hugging Face writes for GPT-2, a directory holding only
// tokenizer.json loads as the same tokenizer, bad files are one-line errors, and the real library
// (npm tokenizers, native binding, via tools/hf_tokenizers_encode.js) encodes the tokenizer fixture
// strings to ScratchLM's ids for GPT-2's vocabulary and for a gpt4-pattern vocabulary trained by
// `slm train-tokenizer`.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "scratchlm/io/checkpoint.h"
#include "scratchlm/io/hf_gpt2.h"
#include "scratchlm/model/gpt.h"
#include "scratchlm/tokenizer/bpe.h"
#include "scratchlm/tokenizer/tokenizer_json.h"
#include "test_util.h"

namespace fs = std::filesystem;
using slm::test::run_slm;

namespace {

struct Case {
  std::string name, text;
};

// The tokenizer fixtures' strings: tiktoken's GPT-2 cases and the split-pattern cases of `pattern`.
std::vector<Case> fixture_cases(const std::string& pattern) {
  std::vector<Case> out;
  std::string line;
  std::ifstream a(slm::test::source_dir() + "/tests/fixtures/tiktoken_gpt2_cases.jsonl");
  while (std::getline(a, line)) {
    auto j = nlohmann::json::parse(line);
    out.push_back({j["name"].get<std::string>() + "/" + j["special"].get<std::string>(), j["text"]});
  }
  std::ifstream b(slm::test::source_dir() + "/tests/fixtures/split_cases.jsonl");
  while (std::getline(b, line)) {
    auto j = nlohmann::json::parse(line);
    if (j["pattern"] == pattern) out.push_back({"split/" + j["name"].get<std::string>(), j["text"]});
  }
  return out;
}

std::string oracle_dir() { return slm::test::data_dir() + "/npm/tokenizers"; }

// Why the Hugging Face oracle cannot run here, or "" when it can.
std::string oracle_missing() {
  if (std::system("node --version >/dev/null 2>&1") != 0) return "node is not installed";
  if (!fs::exists(oracle_dir() + "/package.json")) return oracle_dir() + " is missing (run scripts/setup)";
  return "";
}

// ids Hugging Face's tokenizers gives each case, from tokenizer.json in dir.
std::vector<std::vector<uint32_t>> hf_encode(const std::string& dir, const std::vector<Case>& cases) {
  std::string in;
  for (const auto& c : cases) in += nlohmann::json{{"name", c.name}, {"text", c.text}}.dump() + "\n";
  slm::test::write_text(dir + "/cases.jsonl", in);
  const std::string cmd = "node " + slm::test::source_dir() + "/tools/hf_tokenizers_encode.js --tokenizer " + dir +
                          "/tokenizer.json --cases " + dir + "/cases.jsonl --out " + dir + "/ids.jsonl";
  EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
  std::vector<std::vector<uint32_t>> out;
  std::ifstream f(dir + "/ids.jsonl");
  std::string line;
  while (std::getline(f, line)) out.push_back(nlohmann::json::parse(line)["ids"].get<std::vector<uint32_t>>());
  return out;
}

// Every case: Hugging Face's ids equal ScratchLM's (specials allowed: HF always matches added tokens).
void expect_hf_agrees(const slm::Tokenizer& tok, const std::string& dir, const std::vector<Case>& cases) {
  const auto hf = hf_encode(dir, cases);
  ASSERT_EQ(hf.size(), cases.size());
  size_t bad = 0;
  for (size_t i = 0; i < cases.size(); ++i)
    if (hf[i] != tok.encode(cases[i].text, slm::SpecialMode::Allow) && ++bad <= 5)
      ADD_FAILURE() << cases[i].name << ": Hugging Face's ids differ";
  EXPECT_EQ(bad, 0u) << "of " << cases.size() << " cases";
}

// A gpt4-pattern vocabulary trained by `slm train-tokenizer` on the fixture strings.
slm::Tokenizer trained_gpt4(const slm::test::TempDir& t) {
  std::string text;
  for (const auto& c : fixture_cases("gpt4")) text += c.text + "\n";
  slm::test::write_text(t.file("train.txt"), text);
  auto r = run_slm("train-tokenizer --input " + t.file("train.txt") +
                   " --vocab-size 1200 --pattern gpt4 --threads 2 --out " + t.file("trained"));
  EXPECT_EQ(r.rc, 0) << r.err;
  return slm::Tokenizer::load_dir(t.file("trained"));
}

}  // namespace

TEST(TokenizerJson, Gpt2ExportHasHuggingFacesShape) {
  const slm::Tokenizer& tok = slm::test::gpt2_tokenizer();
  slm::test::TempDir t;
  tok.save_dir(t.path(), "hf");
  auto j = nlohmann::json::parse(slm::test::read_text(t.file("tokenizer.json")));
  EXPECT_EQ(j["version"], "1.0");
  EXPECT_EQ(j["normalizer"], nullptr);
  EXPECT_EQ(j["pre_tokenizer"],
            (nlohmann::json{
                {"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", true}}));
  EXPECT_EQ(j["decoder"]["type"], "ByteLevel");
  EXPECT_EQ(j["post_processor"]["type"], "ByteLevel");
  ASSERT_EQ(j["added_tokens"].size(), 1u);
  EXPECT_EQ(j["added_tokens"][0]["id"], 50256);
  EXPECT_EQ(j["added_tokens"][0]["content"], "<|endoftext|>");
  EXPECT_EQ(j["added_tokens"][0]["special"], true);
  const auto& m = j["model"];
  EXPECT_EQ(m["type"], "BPE");
  EXPECT_EQ(m["vocab"].size(), 50257u);
  EXPECT_EQ(m["vocab"]["Ġthe"], 262);
  EXPECT_EQ(m["vocab"]["<|endoftext|>"], 50256);
  EXPECT_EQ(m["merges"].size(), 50000u);
  EXPECT_EQ(m["merges"][0], "Ġ t");
  auto st = nlohmann::json::parse(slm::test::read_text(t.file("special_tokens_map.json")));
  EXPECT_EQ(st, (nlohmann::json{
                    {"bos_token", "<|endoftext|>"}, {"eos_token", "<|endoftext|>"}, {"unk_token", "<|endoftext|>"}}));
}

TEST(TokenizerJson, DirectoryWithOnlyTokenizerJsonLoads) {
  slm::test::TempDir t;
  const slm::Tokenizer gpt4 = trained_gpt4(t);
  ASSERT_EQ(gpt4.pattern(), slm::SplitPattern::Gpt4);
  for (const auto* tok : {&slm::test::gpt2_tokenizer(), &gpt4}) {
    const std::string dir = t.file(std::string("only-") + slm::split_pattern_name(tok->pattern()));
    tok->save_dir(t.file("full"), "hf");
    fs::create_directories(dir);
    fs::copy_file(t.file("full/tokenizer.json"), dir + "/tokenizer.json");
    const slm::Tokenizer back = slm::Tokenizer::load_dir(dir);
    EXPECT_EQ(back.pattern(), tok->pattern());
    EXPECT_EQ(back.vocab_size(), tok->vocab_size());
    EXPECT_EQ(back.merges(), tok->merges());
    EXPECT_EQ(back.eot_id(), tok->eot_id());
    for (const auto& c : fixture_cases(slm::split_pattern_name(tok->pattern())))
      ASSERT_EQ(back.encode(c.text, slm::SpecialMode::Allow), tok->encode(c.text, slm::SpecialMode::Allow)) << c.name;
    // The CLI finds it too.
    auto r = run_slm("tokenize --tokenizer " + dir + " " + slm::test::shell_quote("Hello, world!"));
    EXPECT_EQ(r.rc, 0) << r.err;
    fs::remove_all(t.file("full"));
  }
}

TEST(TokenizerJson, ModelDirectoriesAndCheckpointsCarryIt) {
  auto m = slm::test::tiny_gpt(3);
  const slm::Tokenizer& tok = slm::test::gpt2_tokenizer();
  slm::test::TempDir t;
  slm::save_hf_model(*m, t.file("model"), &tok);
  slm::save_checkpoint(t.file("ckpt"), *m, nullptr, &tok, nlohmann::json{{"step", 0}});
  for (const std::string& dir : {t.file("model"), t.file("ckpt")}) {
    for (const char* f : {"tokenizer.json", "special_tokens_map.json", "generation_config.json", "vocab.json"})
      EXPECT_TRUE(fs::exists(dir + "/" + f)) << dir << " " << f;
    auto g = nlohmann::json::parse(slm::test::read_text(dir + "/generation_config.json"));
    EXPECT_EQ(g["eos_token_id"], 50256);
    EXPECT_EQ(g["bos_token_id"], 50256);
    EXPECT_EQ(slm::test::read_text(dir + "/tokenizer.json"), slm::tokenizer_json_text(tok));
  }
  // A model directory whose tokenizer is only tokenizer.json: the model's own tokenizer is used.
  fs::remove(t.file("model/vocab.json"));
  fs::remove(t.file("model/merges.txt"));
  auto r = run_slm("generate --model " + t.file("model") + " --max-new-tokens 3 --temperature 0 --prompt Hi");
  EXPECT_EQ(r.rc, 0) << r.err;
}

TEST(TokenizerJson, UnsupportedFilesAreClearErrors) {
  slm::test::TempDir t;
  auto good = nlohmann::json::parse(slm::tokenizer_json_text(slm::test::gpt2_tokenizer()));
  auto err_of = [&](const nlohmann::json& j) {
    slm::test::write_text(t.file("tokenizer.json"), j.dump());
    return slm::test::error_of([&] { slm::load_tokenizer_json(t.file("tokenizer.json")); });
  };
  auto j = good;
  j["normalizer"] = {{"type", "NFC"}};
  EXPECT_HAS(err_of(j), "normalizer");
  j = good;
  j["pre_tokenizer"] = {{"type", "Whitespace"}};
  EXPECT_HAS(err_of(j), "unsupported pre_tokenizer");
  j = good;
  j["pre_tokenizer"] = {
      {"type", "Sequence"},
      {"pretokenizers",
       {{{"type", "Split"}, {"pattern", {{"Regex", "\\w+"}}}, {"behavior", "Isolated"}, {"invert", false}},
        {{"type", "ByteLevel"}, {"use_regex", false}}}}};
  EXPECT_HAS(err_of(j), "unsupported pre_tokenizer");
  j = good;
  j["model"]["type"] = "WordPiece";
  EXPECT_HAS(err_of(j), "not BPE");
  j = good;
  j["added_tokens"].push_back({{"id", 50257}, {"content", "<|im_start|>"}, {"special", true}});
  EXPECT_HAS(err_of(j), "<|im_start|>");
  j = good;
  j["model"]["merges"][3] = "abc";
  EXPECT_HAS(err_of(j), "merges[3]");
  j = good;
  j["model"]["merges"][3] = nlohmann::json::array({"Ġ", "a"});  // the pair form reads as well
  EXPECT_EQ(
      slm::load_tokenizer_json((slm::test::write_text(t.file("tokenizer.json"), j.dump()), t.file("tokenizer.json")))
          .vocab_size(),
      50257u);
  slm::test::write_text(t.file("tokenizer.json"), "{\"model\": ");
  EXPECT_HAS(slm::test::error_of([&] { slm::load_tokenizer_json(t.file("tokenizer.json")); }), "malformed JSON");
}

// The real library: Hugging Face's tokenizers loads the exported files and encodes every fixture
// string to ScratchLM's ids.
TEST(TokenizerJson, HuggingFaceTokenizersEncodesLikeScratchLM) {
  if (const std::string why = oracle_missing(); !why.empty()) GTEST_SKIP() << why;
  slm::test::TempDir t;
  const slm::Tokenizer& gpt2 = slm::test::gpt2_tokenizer();
  gpt2.save_dir(t.file("gpt2"), "hf");
  expect_hf_agrees(gpt2, t.file("gpt2"), fixture_cases("gpt2"));
  const slm::Tokenizer gpt4 = trained_gpt4(t);
  gpt4.save_dir(t.file("gpt4"), "hf");
  expect_hf_agrees(gpt4, t.file("gpt4"), fixture_cases("gpt4"));
}
