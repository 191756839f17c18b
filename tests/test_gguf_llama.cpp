// test_gguf_llama.cpp — `slm export --format gguf` proven against the real implementations
// (tools/gguf_check.mjs over the npm packages scripts/setup installs into data/npm/gguf):
//   node-llama-cpp@3.21.1 (a prebuilt llama.cpp) loads the files, tokenizes as ScratchLM does
//   (GPT-2's vocabulary on the 615 tiktoken fixture strings; vocabularies trained by
//   `slm train-tokenizer` with the gpt2 and the gpt4 split pattern), and continues a prompt greedily
//   exactly as `slm generate --temperature 0` does, for F32 and F16 files of trained models (tied and
//   untied heads, with and without qkv bias); for Q8_0 the first divergence and the top-1 agreement
//   over 200 positions are measured and printed (docs/experiments.md);
//   @huggingface/gguf@0.4.6 reads the same metadata and tensor table as ScratchLM's reader.
// Skips only when node or the npm packages are absent (CI runs scripts/setup first).
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "scratchlm/io/gguf.h"
#include "scratchlm/io/gguf_model.h"
#include "scratchlm/model/gpt.h"
#include "scratchlm/tokenizer/bpe.h"
#include "test_util.h"

namespace fs = std::filesystem;
using nlohmann::json;
using slm::test::run_slm;
using slm::test::shell_quote;

namespace {

std::string oracle_missing() {
  if (std::system("node --version >/dev/null 2>&1") != 0) return "node is not installed";
  if (!fs::exists(slm::test::data_dir() + "/npm/gguf/node_modules/node-llama-cpp/package.json") ||
      !fs::exists(slm::test::data_dir() + "/npm/gguf/node_modules/@huggingface/gguf/package.json"))
    return "data/npm/gguf (node-llama-cpp, @huggingface/gguf) is missing: run scripts/setup";
  if (!fs::exists(slm::test::data_dir() + "/moby-dick/chapter_1.txt"))
    return "data/moby-dick is missing: run scripts/setup";
  return "";
}

// tools/gguf_check.mjs on FILE with REQUEST.
json llama(const std::string& file, const json& request) {
  slm::test::TempDir t;
  slm::test::write_text(t.file("req.json"), request.dump());
  const std::string cmd = "node " + shell_quote(slm::test::source_dir() + "/tools/gguf_check.mjs") + " " +
                          shell_quote(file) + " " + t.file("req.json") + " >" + t.file("out") + " 2>" + t.file("err");
  const int rc = std::system(cmd.c_str());
  if (rc != 0) throw std::runtime_error("gguf_check.mjs failed: " + slm::test::read_text(t.file("err")));
  return json::parse(slm::test::read_text(t.file("out")));
}

std::vector<std::string> fixture_strings() {
  std::vector<std::string> out;
  std::ifstream f(slm::test::source_dir() + "/tests/fixtures/tiktoken_gpt2_cases.jsonl");
  for (std::string line; std::getline(f, line);) {
    const json j = json::parse(line);
    if (j["special"] == "none") out.push_back(j["text"]);
  }
  return out;
}

std::vector<int> ids_of(const json& j) { return j.get<std::vector<int>>(); }

// `slm generate --temperature 0` ids.
std::vector<int> slm_greedy(const std::string& model, const std::string& prompt, int n, const std::string& extra = "") {
  auto r = run_slm("generate " + extra + " --model " + shell_quote(model) + " --prompt " + shell_quote(prompt) +
                   " --temperature 0 --no-stop-at-eos --json --threads 1 --max-new-tokens " + std::to_string(n));
  if (r.rc != 0) throw std::runtime_error("slm generate failed: " + r.err);
  return ids_of(json::parse(r.out)["ids"]);
}

// A trained model (scratchlm's own BPE vocabulary) and its exports, built once for the suite.
struct Trained {
  std::string dir, tok;
};

// Trains A and B in `tmp` and exports each as F32, F16 and Q8_0 (DIR-TYPE.gguf).
void build_models(const slm::test::TempDir& tmp, Trained& a, Trained& b) {
  const std::string corpus = slm::test::data_dir() + "/moby-dick/chapter_1.txt";
  // B learns a short passage by heart (a tied head learns slowly; memorized text gives clear margins).
  slm::test::write_text(tmp.file("passage.txt"), [&] {
    const std::string text = slm::test::read_text(corpus).substr(0, 1500) + "\n";
    std::string out;
    for (int i = 0; i < 20; ++i) out += text;
    return out;
  }());
  // A: gpt4 split pattern, untied head, qkv bias. B: gpt2 split pattern, tied head, no qkv bias.
  for (int k = 0; k < 2; ++k) {
    Trained& m = k == 0 ? a : b;
    m.tok = tmp.file(k == 0 ? "tok4" : "tok2");
    m.dir = tmp.file(k == 0 ? "A" : "B");
    auto r = run_slm("train-tokenizer --input " + corpus + " --vocab-size 512 --threads 1 --out " + m.tok +
                     " --pattern " + (k == 0 ? "gpt4" : "gpt2"));
    if (r.rc != 0) throw std::runtime_error("slm failed: " + r.err);
    r = run_slm(
        "pretrain --config gpt2-tiny --emb-dim 64 --n-heads 2 --n-layers 2 --context-length 256 --seq 64 "
        "--batch 4 --threads 1 --quiet --vocab-size 512 --lr 3e-3 --warmup 4 --eval-every 1000 --dropout 0 "
        "--tokenizer " +
        m.tok + " --out " + m.dir +
        (k == 0 ? " --steps 150 --qkv-bias true --tie-word-embeddings false --data " + corpus
                : " --steps 300 --qkv-bias false --tie-word-embeddings true --data " + tmp.file("passage.txt")));
    if (r.rc != 0) throw std::runtime_error("slm failed: " + r.err);
    for (const char* type : {"f32", "f16"}) {
      r = run_slm("export --model " + m.dir + " --format gguf --type " + type + " --out " + m.dir + "-" + type +
                  ".gguf");
      if (r.rc != 0) throw std::runtime_error("slm failed: " + r.err);
    }
    r = run_slm("quantize --model " + m.dir + " --type q8_0 --out " + m.dir + "-q8_0.gguf");  // = export --type
    if (r.rc != 0) throw std::runtime_error("slm failed: " + r.err);
  }
}

const char* kPrompt = "Call me Ishmael. Some years ago";

TEST(GgufLlama, TokenizesLikeScratchLmWithGpt2sVocabulary) {
  if (const std::string why = oracle_missing(); !why.empty()) GTEST_SKIP() << why;
  slm::test::TempDir t;
  auto m = slm::test::tiny_gpt(1, true);
  slm::save_gguf_model(*m, slm::test::gpt2_tokenizer(), t.file("gpt2.gguf"), slm::GgufWeightType::F32, "gpt2");
  const auto strings = fixture_strings();
  ASSERT_GT(strings.size(), 600u);
  const json out = llama(t.file("gpt2.gguf"), {{"strings", strings}});
  ASSERT_EQ(out["tokens"].size(), strings.size());
  size_t same = 0;
  for (size_t i = 0; i < strings.size(); ++i) {
    const auto ours = slm::test::gpt2_tokenizer().encode(strings[i], slm::SpecialMode::Text);
    const std::vector<uint32_t> theirs = out["tokens"][i].get<std::vector<uint32_t>>();
    EXPECT_EQ(theirs, ours) << "string " << i << ": " << json(strings[i]).dump();
    same += theirs == ours;
  }
  std::printf("llama.cpp tokenization, GPT-2 vocabulary: %zu/%zu fixture strings identical\n", same, strings.size());
}

void check_tokenization(const Trained& a, const Trained& b) {
  auto strings = fixture_strings();
  strings.push_back("He'S   DON'T  1234567 ÀÉ naïve\r\n\n  x\t\ty  ");
  for (const Trained* m : {&a, &b}) {
    const slm::Tokenizer tok = slm::load_model_tokenizer(m->dir + "-f32.gguf");
    const slm::Tokenizer src = slm::Tokenizer::load_dir(m->tok);
    EXPECT_EQ(tok.pattern(), src.pattern());
    const json out = llama(m->dir + "-f32.gguf", {{"strings", strings}});
    size_t same = 0;
    for (size_t i = 0; i < strings.size(); ++i) {
      const auto ours = src.encode(strings[i], slm::SpecialMode::Text);
      EXPECT_EQ(tok.encode(strings[i], slm::SpecialMode::Text), ours);
      const std::vector<uint32_t> theirs = out["tokens"][i].get<std::vector<uint32_t>>();
      EXPECT_EQ(theirs, ours) << m->tok << " string " << i << ": " << json(strings[i]).dump();
      same += theirs == ours;
    }
    std::printf("llama.cpp tokenization, %s: %zu/%zu strings identical\n", split_pattern_name(src.pattern()), same,
                strings.size());
    // And `slm tokenize` itself on the last one.
    auto r = run_slm("tokenize --json --tokenizer " + m->tok + " " + shell_quote(strings.back()));
    ASSERT_EQ(r.rc, 0) << r.err;
    EXPECT_EQ(json::parse(r.out).get<std::vector<uint32_t>>(), out["tokens"].back().get<std::vector<uint32_t>>());
  }
}

void check_greedy(const Trained& a, const Trained& b) {
  for (const Trained* m : {&a, &b}) {
    const slm::Tokenizer tok = slm::Tokenizer::load_dir(m->tok);
    std::vector<int> prompt;
    for (uint32_t id : tok.encode(kPrompt)) prompt.push_back(static_cast<int>(id));
    const auto from_dir = slm_greedy(m->dir, kPrompt, 32);
    for (const char* type : {"f32", "f16"}) {
      SCOPED_TRACE(m->dir + " " + type);
      const std::string file = m->dir + "-" + type + ".gguf";
      const json out = llama(file, {{"prompt", prompt}, {"n", 32}});
      const auto theirs = ids_of(out["continuation"]);
      ASSERT_EQ(theirs.size(), 32u);
      EXPECT_EQ(theirs, slm_greedy(file, kPrompt, 32));
      if (std::string(type) == "f32") {
        EXPECT_EQ(theirs, from_dir);
      }
      std::set<int> distinct(theirs.begin(), theirs.end());
      EXPECT_GE(distinct.size(), 4u) << "the model should say something less trivial than one repeated token";
    }
  }
}

void check_q8_0(const Trained& m) {
  const slm::Tokenizer tok = slm::Tokenizer::load_dir(m.tok);
  std::vector<int> prompt;
  for (uint32_t id : tok.encode(kPrompt)) prompt.push_back(static_cast<int>(id));
  const int n = 200;
  const auto q8 = ids_of(llama(m.dir + "-q8_0.gguf", {{"prompt", prompt}, {"n", n}})["continuation"]);
  ASSERT_EQ(q8.size(), static_cast<size_t>(n));
  auto first_divergence = [&](const std::vector<int>& other) {
    for (int i = 0; i < n; ++i)
      if (other[i] != q8[i]) return i;
    return n;
  };
  const std::string file = m.dir + "-q8_0.gguf";
  const int vs_fp32 = first_divergence(slm_greedy(m.dir, kPrompt, n));
  const int vs_native = first_divergence(slm_greedy(file, kPrompt, n));  // slm's own int8 Q8_0 path
  const int vs_dequant = first_divergence(slm_greedy(file, kPrompt, n, "--precision fp32"));
  // Top-1 agreement, teacher-forced on llama.cpp's sequence: ScratchLM's argmax at each of the 200
  // positions (fp32 weights; the file's Q8_0 weights natively; dequantized) against llama.cpp's choice.
  std::string ids;
  std::vector<int> seq = prompt;
  seq.insert(seq.end(), q8.begin(), q8.end());
  for (int id : seq) ids += std::to_string(id) + " ";
  auto top1_agreement = [&](const std::string& model) {
    auto r = run_slm("logits --all --model " + model + " --tokens " + shell_quote(ids));
    EXPECT_EQ(r.rc, 0) << r.err;
    std::istringstream rows(r.out);
    std::string row;
    int pos = 0, agree = 0;
    for (; std::getline(rows, row); ++pos) {
      if (pos < static_cast<int>(prompt.size()) - 1 || pos >= static_cast<int>(seq.size()) - 1) continue;
      std::istringstream vals(row);
      float v, best = -1e30f;
      int arg = -1;
      for (int k = 0; vals >> v; ++k)
        if (v > best) best = v, arg = k;
      agree += arg == seq[pos + 1];
    }
    EXPECT_EQ(pos, static_cast<int>(seq.size()));
    return agree;
  };
  const int agree = top1_agreement(m.dir), agree_native = top1_agreement(file),
            agree_dequant = top1_agreement(file + " --precision fp32");
  std::printf(
      "Q8_0 in llama.cpp, %d greedy tokens: first divergence from ScratchLM fp32 at %d, from ScratchLM's native "
      "Q8_0 at %d, from ScratchLM on the dequantized file at %d; top-1 agreement %d/%d with fp32, %d/%d native "
      "Q8_0, %d/%d dequantized\n",
      n, vs_fp32, vs_native, vs_dequant, agree, n, agree_native, n, agree_dequant, n);
  EXPECT_GE(agree, n * 9 / 10);
  EXPECT_GE(agree_native, n * 9 / 10);
  EXPECT_GE(agree_dequant, n * 9 / 10);
}

void check_huggingface_gguf(const Trained& a, const Trained& b) {
  for (const std::string& file : {a.dir + "-q8_0.gguf", b.dir + "-f16.gguf"}) {
    const json out = llama(file, json::object());
    const slm::GgufFile f = slm::GgufFile::open(file);
    EXPECT_EQ(out["metadata"]["version"], 3);
    EXPECT_EQ(out["metadata"]["tensor_count"], f.tensors().size());
    EXPECT_EQ(out["metadata"]["kv_count"], f.metadata().size());
    for (const auto& [key, v] : f.metadata()) {
      SCOPED_TRACE(key);
      const json& theirs = out["metadata"][key];
      switch (v.type) {
        case slm::GgufType::String:
          EXPECT_EQ(theirs, std::string(v.strings[0]));
          break;
        case slm::GgufType::U32:
          EXPECT_EQ(theirs, f.get_uint(key));
          break;
        case slm::GgufType::Bool:
          EXPECT_EQ(theirs, f.get_bool(key));
          break;
        case slm::GgufType::F32:
          EXPECT_FLOAT_EQ(theirs.get<float>(), static_cast<float>(f.get_float(key)));
          break;
        case slm::GgufType::Array:
          EXPECT_EQ(theirs["length"], v.count);
          if (v.elem == slm::GgufType::String)
            EXPECT_EQ(theirs["first"][0], std::string(v.strings[0]));
          else
            EXPECT_EQ(theirs["first"][0], f.get_int_array(key)[0]);
          break;
        default:
          ADD_FAILURE() << "unexpected type";
      }
    }
    ASSERT_EQ(out["tensors"].size(), f.tensors().size());
    for (size_t i = 0; i < f.tensors().size(); ++i) {
      EXPECT_EQ(out["tensors"][i]["name"], f.tensors()[i].name);
      EXPECT_EQ(out["tensors"][i]["shape"].get<std::vector<int64_t>>(), f.tensors()[i].dims);
      EXPECT_EQ(out["tensors"][i]["dtype"], static_cast<uint32_t>(f.tensors()[i].type));
    }
  }
}

// One test, so that the models are trained once (ctest runs each test in a process of its own).
TEST(GgufLlama, TrainedModelsRunInLlamaCpp) {
  if (const std::string why = oracle_missing(); !why.empty()) GTEST_SKIP() << why;
  slm::test::TempDir tmp;
  Trained a, b;
  build_models(tmp, a, b);
  {
    SCOPED_TRACE("tokenization with trained vocabularies");
    check_tokenization(a, b);
  }
  {
    SCOPED_TRACE("greedy continuation, F32 and F16");
    check_greedy(a, b);
  }
  {
    SCOPED_TRACE("Q8_0: first divergence, top-1 agreement");
    check_q8_0(a);
  }
  {
    SCOPED_TRACE("@huggingface/gguf reads the same file");
    check_huggingface_gguf(a, b);
  }
}

}  // namespace
