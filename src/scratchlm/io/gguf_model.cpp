// gguf_model.cpp — reading a llama.cpp gpt2 GGUF file as a GPT and its tokenizer (see gguf_model.h).
#include "scratchlm/io/gguf_model.h"

#include <cstdio>
#include <set>
#include <vector>

#include "scratchlm/io/gguf.h"
#include "scratchlm/io/gguf_names.h"
#include "scratchlm/model/inference_weights.h"
#include "scratchlm/tokenizer/printable.h"
#include "scratchlm/util/error.h"
#include "scratchlm/util/paths.h"
#include "scratchlm/util/sha256.h"

namespace slm {

namespace {

constexpr int64_t kTokenUnused = 5;

// A hyperparameter as int64 within [1, limit].
int64_t hparam(const GgufFile& f, const std::string& key, int64_t limit) {
  const uint64_t v = f.get_uint(key);
  if (v < 1 || v > static_cast<uint64_t>(limit)) fail("{}: {} is {} (1 to {} allowed)", f.path(), key, v, limit);
  return static_cast<int64_t>(v);
}

const GgufTensorInfo& tensor(const GgufFile& f, const std::string& name) {
  const GgufTensorInfo* t = f.find_tensor(name);
  if (!t) fail("{}: tensor '{}' is missing (a gpt2 file has it)", f.path(), name);
  return *t;
}

std::string dims_string(const std::vector<int64_t>& d) {
  std::string s = "{";
  for (size_t i = 0; i < d.size(); ++i) s += (i ? ", " : "") + std::to_string(d[i]);
  return s + "}";
}

// The config of an opened file, its tensor table checked against it.
GPTConfig config_of(const GgufFile& f) {
  const std::string arch(f.get_string("general.architecture"));
  if (arch != "gpt2")
    fail("{}: the file holds a {} model; ScratchLM loads llama.cpp's gpt2 architecture", f.path(), in_quotes(arch));
  GPTConfig c;
  c.emb_dim = hparam(f, "gpt2.embedding_length", ConfigLimits::emb_dim);
  c.n_heads = hparam(f, "gpt2.attention.head_count", ConfigLimits::emb_dim);
  c.n_layers = hparam(f, "gpt2.block_count", ConfigLimits::n_layers);
  c.context_length = hparam(f, "gpt2.context_length", ConfigLimits::context_length);
  const int64_t ff = hparam(f, "gpt2.feed_forward_length", 4 * ConfigLimits::emb_dim);
  if (ff != 4 * c.emb_dim)
    fail("{}: gpt2.feed_forward_length is {}, but GPT-2's MLP is 4 x {} = {} wide", f.path(), ff, c.emb_dim,
         4 * c.emb_dim);
  const double eps = f.get_float("gpt2.attention.layer_norm_epsilon");
  if (!(eps > 0 && eps < 1)) fail("{}: gpt2.attention.layer_norm_epsilon is {}, expected (0, 1)", f.path(), eps);
  c.layer_norm_epsilon = static_cast<float>(eps);
  const GgufTensorInfo& emb = tensor(f, "token_embd.weight");
  if (emb.dims.size() != 2 || emb.dims[0] != c.emb_dim)
    fail("{}: token_embd.weight has dims {}, expected {{{}, n_vocab}}", f.path(), dims_string(emb.dims), c.emb_dim);
  c.vocab_size = emb.dims[1];
  c.tie_word_embeddings = f.find_tensor("output.weight") == nullptr;
  c.qkv_bias = f.find("scratchlm.qkv_bias") ? f.get_bool("scratchlm.qkv_bias") : true;
  c.validate();
  for (const auto& e : gguf_names::table(c)) {
    const GgufTensorInfo& t = tensor(f, e.theirs);
    if (t.dims != e.dims())
      fail("{}: tensor '{}' has dims {}, the config needs {}", f.path(), e.theirs, dims_string(t.dims),
           dims_string(e.dims()));
  }
  return c;
}

}  // namespace

GPTConfig load_gguf_config(const std::string& path) { return config_of(GgufFile::open(path)); }

std::unique_ptr<GPT> load_gguf_model(const std::string& path, bool quiet) {
  const GgufFile f = GgufFile::open(path);
  const GPTConfig c = config_of(f);
  auto model = std::make_unique<GPT>(c);
  std::set<std::string> used;
  std::vector<float> tmp;
  auto q8 = std::make_unique<InferenceWeights>();
  for (const auto& e : gguf_names::table(c)) {
    used.insert(e.theirs);
    if (e.ours.empty()) continue;  // a zero qkv bias standing for none
    const GgufTensorInfo& t = *f.find_tensor(e.theirs);
    // Q8_0 matrices also stay as they are, [out][in] blocks, for the int8 inference path; the
    // head is the output matrix, or the token embedding when tied.
    const bool head = e.ours == "lm_head.weight" || (e.ours == "wte.weight" && c.tie_word_embeddings);
    if (t.type == GgmlType::Q8_0 && (e.transpose || head)) {
      const auto b = f.bytes(t);
      q8->add(head ? std::string(kPackedHead) : e.ours, WeightFormat::Q8_0, t.dims[1], t.dims[0], b.data(), b.size());
    }
    float* dst = model->params().data(e.ours);
    if (!e.transpose) {
      f.read_f32(t, std::span<float>(dst, t.numel));
      continue;
    }
    tmp.resize(t.numel);  // stored [out, in] -> ours [in, out]
    f.read_f32(t, tmp);
    const int64_t in = e.shape[0], out = e.shape[1];
    for (int64_t o = 0; o < out; ++o)
      for (int64_t i = 0; i < in; ++i) dst[i * out + o] = tmp[static_cast<size_t>(o * in + i)];
  }
  if (!quiet)
    for (const auto& t : f.tensors())
      if (!used.count(t.name))
        std::fprintf(stderr, "slm: warning: %s: ignoring unknown tensor %s\n", path.c_str(), in_quotes(t.name).c_str());
  if (!q8->empty()) model->set_inference_weights(std::move(q8));
  return model;
}

Tokenizer load_gguf_tokenizer(const std::string& path) {
  const GgufFile f = GgufFile::open(path);
  const std::string model(f.get_string("tokenizer.ggml.model"));
  if (model != "gpt2")
    fail("{}: tokenizer.ggml.model is {}; ScratchLM reads byte-level BPE (\"gpt2\") tokenizers", path,
         in_quotes(model));
  SplitPattern pattern = SplitPattern::Gpt2;
  if (f.find("tokenizer.ggml.pre")) {
    const std::string pre(f.get_string("tokenizer.ggml.pre"));
    if (pre == "llama-bpe" || pre == "llama3" || pre == "llama-v3")
      pattern = SplitPattern::Gpt4;
    else if (pre != "gpt-2" && pre != "default")
      fail("{}: pre-tokenizer {} is not supported (gpt-2, llama-bpe)", path, in_quotes(pre));
  }
  const auto& tokens = f.get_string_array("tokenizer.ggml.tokens");
  std::vector<int64_t> types;
  if (f.find("tokenizer.ggml.token_type")) {
    types = f.get_int_array("tokenizer.ggml.token_type");
    if (types.size() != tokens.size()) fail("{}: {} token types for {} tokens", path, types.size(), tokens.size());
  }
  size_t n = tokens.size();  // unused padding tokens at the end are not part of the vocabulary
  while (n > 0 && !types.empty() && types[n - 1] == kTokenUnused) --n;
  std::vector<std::pair<std::string, uint32_t>> vocab;
  vocab.reserve(n);
  for (size_t i = 0; i < n; ++i) vocab.emplace_back(std::string(tokens[i]), static_cast<uint32_t>(i));
  std::vector<std::pair<std::string, std::string>> merges;
  const auto& ms = f.get_string_array("tokenizer.ggml.merges");
  merges.reserve(ms.size());
  for (size_t i = 0; i < ms.size(); ++i) {
    const size_t sp = ms[i].find(' ');
    if (sp == std::string_view::npos || ms[i].find(' ', sp + 1) != std::string_view::npos)
      fail("{}: merge {} ({}) is not two tokens separated by one space", path, i, in_quotes(ms[i]));
    merges.emplace_back(std::string(ms[i].substr(0, sp)), std::string(ms[i].substr(sp + 1)));
  }
  return Tokenizer::from_vocab(vocab, merges, pattern, path);
}

Tokenizer load_model_tokenizer(const std::string& model, const std::string& explicit_path) {
  const std::string& src = explicit_path.empty() ? model : explicit_path;
  if (!src.empty() && GgufFile::is_gguf(src)) return load_gguf_tokenizer(src);
  return Tokenizer::load_dir(tokenizer_dir_for_model(model, explicit_path));
}

bool is_gguf_path(const std::string& path) { return !path.empty() && GgufFile::is_gguf(path); }

std::string tokenizer_content_id(const Tokenizer& tok) {
  Sha256 h;
  h.update_field("scratchlm-tokenizer-content/1");
  h.update_field(split_pattern_name(tok.pattern()));
  h.update_u64(tok.vocab_size());
  for (uint32_t id = 0; id < tok.vocab_size(); ++id) h.update_field(tok.token_bytes(id));
  for (const auto& [s, id] : tok.specials()) {
    h.update_field(s);
    h.update_u64(id);
  }
  for (const auto& [a, b] : tok.merges()) {
    h.update_u64(a);
    h.update_u64(b);
  }
  return h.hex();
}

}  // namespace slm
