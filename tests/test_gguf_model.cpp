// test_gguf_model.cpp — GPTs as llama.cpp gpt2 GGUF files, without llama.cpp (test_gguf_llama.cpp
// has the real one): the tensor names, layouts and hyperparameter keys; exact F32 round trips of
// tied/untied, with/without qkv-bias models (bit-identical weights, so identical logits, also
// through `slm logits`); F16 and Q8_0 within their rounding; the tokenizer in the metadata; the
// CLI (`slm export`, --model FILE.gguf in info/generate, back to a Hugging Face directory); errors.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "scratchlm/io/gguf.h"
#include "scratchlm/io/gguf_model.h"
#include "scratchlm/io/hf_gpt2.h"
#include "scratchlm/model/gpt.h"
#include "scratchlm/tensor/half.h"
#include "scratchlm/tokenizer/bpe.h"
#include "scratchlm/util/error.h"
#include "test_util.h"

namespace fs = std::filesystem;
using slm::GgufFile;
using slm::GgufWeightType;
using slm::test::run_slm;
using slm::test::TempDir;

namespace {

std::unique_ptr<slm::GPT> model(uint64_t seed, bool tied, bool qkv_bias) {
  auto m = slm::test::tiny_gpt(seed, tied);
  if (qkv_bias) return m;
  slm::GPTConfig c = m->config();
  c.qkv_bias = false;
  auto n = std::make_unique<slm::GPT>(c);
  n->init_weights(seed);
  return n;
}

std::vector<float> logits_of(slm::GPT& m, const std::vector<int32_t>& ids) {
  std::vector<float> out(ids.size() * static_cast<size_t>(m.config().vocab_size));
  m.logits(ids.data(), 1, static_cast<int64_t>(ids.size()), out.data(), false);
  return out;
}

}  // namespace

TEST(GgufModel, LayoutIsLlamaCppGpt2) {
  TempDir t;
  auto m = model(1, /*tied=*/false, /*qkv_bias=*/true);
  slm::save_gguf_model(*m, slm::test::gpt2_tokenizer(), t.file("m.gguf"), GgufWeightType::F32, "tiny");
  const GgufFile f = GgufFile::open(t.file("m.gguf"));
  const auto& c = m->config();
  EXPECT_EQ(f.get_string("general.architecture"), "gpt2");
  EXPECT_EQ(f.get_string("general.name"), "tiny");
  EXPECT_EQ(f.get_uint("general.file_type"), 0u);
  EXPECT_EQ(f.get_uint("gpt2.context_length"), static_cast<uint64_t>(c.context_length));
  EXPECT_EQ(f.get_uint("gpt2.embedding_length"), 32u);
  EXPECT_EQ(f.get_uint("gpt2.feed_forward_length"), 128u);
  EXPECT_EQ(f.get_uint("gpt2.block_count"), static_cast<uint64_t>(c.n_layers));
  EXPECT_EQ(f.get_uint("gpt2.attention.head_count"), 2u);
  EXPECT_FLOAT_EQ(static_cast<float>(f.get_float("gpt2.attention.layer_norm_epsilon")), 1e-5f);
  EXPECT_EQ(f.get_string("tokenizer.ggml.model"), "gpt2");
  EXPECT_EQ(f.get_string("tokenizer.ggml.pre"), "gpt-2");
  const auto& tokens = f.get_string_array("tokenizer.ggml.tokens");
  ASSERT_EQ(tokens.size(), 50257u);
  EXPECT_EQ(tokens[220], "Ġ");
  EXPECT_EQ(tokens[50256], "<|endoftext|>");
  const auto types = f.get_int_array("tokenizer.ggml.token_type");
  EXPECT_EQ(types[50256], 3);  // control
  EXPECT_EQ(types[0], 1);
  EXPECT_EQ(f.get_string_array("tokenizer.ggml.merges")[0], "Ġ t");
  EXPECT_EQ(f.get_uint("tokenizer.ggml.eos_token_id"), 50256u);
  EXPECT_EQ(f.get_uint("tokenizer.ggml.bos_token_id"), 50256u);
  EXPECT_FALSE(f.get_bool("tokenizer.ggml.add_bos_token"));
  // Tensors: llama.cpp's names, dims[0] the row length, matrices stored [out, in].
  EXPECT_EQ(f.find_tensor("token_embd.weight")->dims, (std::vector<int64_t>{32, 50257}));
  EXPECT_EQ(f.find_tensor("position_embd.weight")->dims, (std::vector<int64_t>{32, c.context_length}));
  EXPECT_EQ(f.find_tensor("blk.0.attn_qkv.weight")->dims, (std::vector<int64_t>{32, 96}));
  EXPECT_EQ(f.find_tensor("blk.1.ffn_up.weight")->dims, (std::vector<int64_t>{32, 128}));
  EXPECT_EQ(f.find_tensor("blk.1.ffn_down.weight")->dims, (std::vector<int64_t>{128, 32}));
  EXPECT_EQ(f.find_tensor("output.weight")->dims, (std::vector<int64_t>{32, 50257}));
  EXPECT_EQ(f.tensors().size(), 2 + 12 * static_cast<size_t>(c.n_layers) + 3);
  // Row o of the stored qkv matrix is column o of Hugging Face's Conv1D weight.
  std::vector<float> qkv(96 * 32);
  f.read_f32(*f.find_tensor("blk.0.attn_qkv.weight"), qkv);
  const float* w = m->params().data("h.0.attn.c_attn.weight");
  for (int o : {0, 5, 95})
    for (int i : {0, 7, 31}) EXPECT_EQ(qkv[o * 32 + i], w[i * 96 + o]) << o << " " << i;
}

TEST(GgufModel, F32RoundTripIsExact) {
  for (bool tied : {true, false})
    for (bool bias : {true, false}) {
      SCOPED_TRACE(std::string(tied ? "tied" : "untied") + (bias ? " bias" : " no-bias"));
      TempDir t;
      auto m = model(2, tied, bias);
      slm::save_gguf_model(*m, slm::test::gpt2_tokenizer(), t.file("m.gguf"), GgufWeightType::F32, "m");
      if (!bias) {  // llama.cpp needs the bias: zeros stand for none
        const GgufFile f = GgufFile::open(t.file("m.gguf"));
        std::vector<float> b(96, 1.0f);
        f.read_f32(*f.find_tensor("blk.1.attn_qkv.bias"), b);
        EXPECT_EQ(b, std::vector<float>(96, 0.0f));
      }
      auto back = slm::load_hf_model(t.file("m.gguf"));  // the one dispatch every --model goes through
      EXPECT_EQ(back->config().to_hf_json(), m->config().to_hf_json());
      ASSERT_EQ(back->params().numel(), m->params().numel());
      EXPECT_EQ(std::memcmp(back->params().data_all(), m->params().data_all(), m->params().numel() * 4), 0);
      const std::vector<int32_t> ids = {464, 2068, 7586, 21831};
      EXPECT_EQ(logits_of(*back, ids), logits_of(*m, ids));
    }
}

TEST(GgufModel, F16AndQ8_0AreWithinTheirRounding) {
  TempDir t;
  auto m = model(3, false, true);
  for (auto type : {GgufWeightType::F16, GgufWeightType::Q8_0}) {
    const std::string path = t.file(type == GgufWeightType::F16 ? "h.gguf" : "q.gguf");
    slm::save_gguf_model(*m, slm::test::gpt2_tokenizer(), path, type, "m");
    const GgufFile f = GgufFile::open(path);
    EXPECT_EQ(f.get_uint("general.file_type"), type == GgufWeightType::F16 ? 1u : 7u);
    const auto want = type == GgufWeightType::F16 ? slm::GgmlType::F16 : slm::GgmlType::Q8_0;
    for (const char* n : {"token_embd.weight", "blk.0.attn_qkv.weight", "blk.1.ffn_down.weight", "output.weight"})
      EXPECT_EQ(f.find_tensor(n)->type, want) << n;
    for (const char* n : {"position_embd.weight", "blk.0.attn_norm.weight", "blk.0.attn_qkv.bias", "output_norm.bias"})
      EXPECT_EQ(f.find_tensor(n)->type, slm::GgmlType::F32) << n;
    auto back = slm::load_gguf_model(path);
    for (const auto& p : m->params().params()) {
      const float* a = m->params().data(p.name);
      const float* b = back->params().data(p.name);
      float amax = 0, err = 0;
      for (size_t i = 0; i < p.numel; ++i) {
        amax = std::max(amax, std::fabs(a[i]));
        err = std::max(err, std::fabs(a[i] - b[i]));
      }
      const bool f32 = p.name.find("wpe") != std::string::npos || p.shape.size() == 1;
      const float bound = f32 ? 0.0f : type == GgufWeightType::F16 ? amax * 1e-3f : amax / 127 * 0.57f;
      EXPECT_LE(err, bound) << p.name;
    }
  }
}

TEST(GgufModel, TokenizerTravelsInTheMetadata) {
  TempDir t;
  auto m = model(4, true, true);
  slm::save_gguf_model(*m, slm::test::gpt2_tokenizer(), t.file("m.gguf"), GgufWeightType::F32, "m");
  const slm::Tokenizer tok = slm::load_model_tokenizer(t.file("m.gguf"));
  const slm::Tokenizer& ref = slm::test::gpt2_tokenizer();
  EXPECT_EQ(tok.vocab_size(), ref.vocab_size());
  EXPECT_EQ(tok.num_merges(), ref.num_merges());
  EXPECT_EQ(tok.eot_id(), ref.eot_id());
  EXPECT_EQ(slm::tokenizer_content_id(tok), slm::tokenizer_content_id(ref));
  for (const char* s : {"Hello, world! It's 2024.", "  naïve café\n\n\tx", "<|endoftext|> tail"})
    EXPECT_EQ(tok.encode(s, slm::SpecialMode::Allow), ref.encode(s, slm::SpecialMode::Allow)) << s;
  // A bigger embedding than the vocabulary (padded as llama.cpp's converter pads): [PADn] unused tokens.
  slm::GPTConfig c = m->config();
  c.vocab_size = 50304;
  slm::GPT big(c);
  big.init_weights(5);
  slm::save_gguf_model(big, ref, t.file("big.gguf"), GgufWeightType::F32, "big");
  const GgufFile f = GgufFile::open(t.file("big.gguf"));
  EXPECT_EQ(f.get_string_array("tokenizer.ggml.tokens")[50303], "[PAD50303]");
  EXPECT_EQ(f.get_int_array("tokenizer.ggml.token_type")[50300], 5);
  EXPECT_EQ(slm::load_gguf_tokenizer(t.file("big.gguf")).vocab_size(), 50257u);
  EXPECT_EQ(slm::load_gguf_config(t.file("big.gguf")).vocab_size, 50304);
}

TEST(GgufModel, LoadErrorsNameTheProblem) {
  TempDir t;
  auto m = model(6, true, true);
  slm::save_gguf_model(*m, slm::test::gpt2_tokenizer(), t.file("m.gguf"), GgufWeightType::F32, "m");
  // A file of another architecture, a missing tensor, a wrong shape: rewritten through the writer.
  auto rewrite = [&](const std::string& out, const std::string& drop, const std::string& arch, int64_t ff) {
    const GgufFile f = GgufFile::open(t.file("m.gguf"));
    slm::GgufWriter w;
    w.set_string("general.architecture", arch);
    for (const char* k :
         {"gpt2.context_length", "gpt2.embedding_length", "gpt2.block_count", "gpt2.attention.head_count"})
      w.set_u32(k, static_cast<uint32_t>(f.get_uint(k)));
    w.set_u32("gpt2.feed_forward_length", static_cast<uint32_t>(ff));
    w.set_f32("gpt2.attention.layer_norm_epsilon", 1e-5f);
    for (const auto& ti : f.tensors()) {
      if (ti.name == drop) continue;
      w.add_tensor(ti.name, ti.type, ti.dims, [&f, ti](uint8_t* d) { std::memcpy(d, f.bytes(ti).data(), ti.nbytes); });
    }
    w.write(t.file(out));
  };
  rewrite("ok.gguf", "", "gpt2", 128);
  EXPECT_EQ(slm::load_gguf_config(t.file("ok.gguf")).emb_dim, 32);
  rewrite("llama.gguf", "", "llama", 128);
  EXPECT_HAS(slm::test::error_of([&] { slm::load_hf_model(t.file("llama.gguf")); }), "'llama' model");
  rewrite("drop.gguf", "blk.1.ffn_up.bias", "gpt2", 128);
  EXPECT_HAS(slm::test::error_of([&] { slm::load_hf_model(t.file("drop.gguf")); }), "'blk.1.ffn_up.bias' is missing");
  rewrite("ff.gguf", "", "gpt2", 100);
  EXPECT_HAS(slm::test::error_of([&] { slm::load_hf_config(t.file("ff.gguf")); }), "feed_forward_length is 100");
  EXPECT_HAS(slm::test::error_of([&] { slm::load_gguf_tokenizer(t.file("ok.gguf")); }), "tokenizer.ggml.model");
  slm::test::write_text(t.file("not.gguf"), "hello");
  EXPECT_HAS(slm::test::error_of([&] { slm::load_hf_model(t.file("not.gguf")); }), "neither a model directory nor");
  EXPECT_HAS(slm::test::error_of([&] { slm::parse_gguf_weight_type("q4_0"); }), "q4_0");
}

TEST(GgufModel, CliExportAndLoad) {
  TempDir t;
  auto m = model(7, false, false);
  slm::save_hf_model(*m, t.file("dir"), &slm::test::gpt2_tokenizer());
  const std::string dir = slm::test::shell_quote(t.file("dir"));
  for (const char* type : {"f32", "f16", "q8_0"}) {
    auto r = run_slm("export --model " + dir + " --format gguf --type " + type + " --out " + t.file(type) + ".gguf");
    ASSERT_EQ(r.rc, 0) << r.err;
  }
  const std::string f32 = t.file("f32.gguf");
  // Logits through the CLI: the GGUF file's equal the directory's (bit-identical weights).
  auto a = run_slm("logits --model " + dir + " --tokens '464 2068 7586' --all");
  auto b = run_slm("logits --model " + f32 + " --tokens '464 2068 7586' --all");
  ASSERT_EQ(a.rc, 0) << a.err;
  ASSERT_EQ(b.rc, 0) << b.err;
  EXPECT_EQ(a.out, b.out);
  auto info = run_slm("info --json --model " + t.file("q8_0.gguf"));
  ASSERT_EQ(info.rc, 0) << info.err;
  EXPECT_HAS(info.out, "\"n_embd\": 32");
  auto g1 = run_slm("generate --model " + dir + " --prompt 'The sea' --temperature 0 --max-new-tokens 8 --json");
  auto g2 = run_slm("generate --model " + f32 + " --prompt 'The sea' --temperature 0 --max-new-tokens 8 --json");
  ASSERT_EQ(g2.rc, 0) << g2.err;
  EXPECT_EQ(g1.out.substr(0, g1.out.find("tokens_per_second")), g2.out.substr(0, g2.out.find("tokens_per_second")));
  // Back to a Hugging Face directory, weights and tokenizer included.
  auto r = run_slm("export --model " + f32 + " --format hf --out " + t.file("back"));
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_TRUE(fs::exists(t.file("back") + "/vocab.json"));
  auto c = run_slm("logits --model " + t.file("back") + " --tokens '464 2068 7586' --all");
  EXPECT_EQ(c.out, a.out);
  // Errors: one line, exit 2.
  auto bad = run_slm("export --model " + dir + " --type q4_0 --out " + t.file("x.gguf"));
  EXPECT_EQ(bad.rc, 2);
  EXPECT_HAS(bad.err, "unknown GGUF weight type 'q4_0'");
  std::string bytes = slm::test::read_text(f32);
  bytes.resize(bytes.size() / 2);
  slm::test::write_text(t.file("cut.gguf"), bytes);
  auto cut = run_slm("generate --model " + t.file("cut.gguf") + " --prompt hi");
  EXPECT_EQ(cut.rc, 2);
  EXPECT_HAS(cut.err, "past the end of the data section");
  EXPECT_EQ(std::count(cut.err.begin(), cut.err.end(), '\n'), 1) << cut.err;
}
