// gguf_export.cpp — writing a GPT and its tokenizer as a llama.cpp gpt2 GGUF file (see gguf_model.h).
#include <cstring>
#include <vector>

#include "scratchlm/io/gguf.h"
#include "scratchlm/io/gguf_model.h"
#include "scratchlm/io/gguf_names.h"
#include "scratchlm/tensor/half.h"
#include "scratchlm/tensor/q8_0.h"
#include "scratchlm/tokenizer/byte_unicode.h"
#include "scratchlm/util/error.h"

namespace slm {

namespace {

// llama.cpp's token types (llama_token_type) and file types (llama_ftype).
constexpr int32_t kTokenNormal = 1, kTokenControl = 3, kTokenUnused = 5;
uint32_t file_type(GgufWeightType t) { return t == GgufWeightType::F32 ? 0 : t == GgufWeightType::F16 ? 1 : 7; }

void add_tokenizer(GgufWriter& w, const Tokenizer& tok, int64_t model_vocab) {
  const auto n = static_cast<int64_t>(tok.vocab_size());
  if (n > model_vocab)
    fail("the tokenizer has {} tokens but the model's embedding only {} rows: they do not belong together", n,
         model_vocab);
  std::vector<std::string> tokens;
  std::vector<int32_t> types;
  tokens.reserve(static_cast<size_t>(model_vocab));
  for (uint32_t id = 0; id < static_cast<uint32_t>(n); ++id) {
    bool special = false;
    for (const auto& s : tok.specials()) special |= s.second == id;
    tokens.push_back(special ? tok.token_bytes(id) : bytes_to_vocab_string(tok.token_bytes(id)));
    types.push_back(special ? kTokenControl : kTokenNormal);
  }
  for (int64_t id = n; id < model_vocab; ++id) {  // a padded embedding (e.g. 50304 rows for 50257 tokens)
    tokens.push_back("[PAD" + std::to_string(id) + "]");
    types.push_back(kTokenUnused);
  }
  std::vector<std::string> merges;
  merges.reserve(tok.num_merges());
  for (const auto& [a, b] : tok.merges())
    merges.push_back(bytes_to_vocab_string(tok.token_bytes(a)) + " " + bytes_to_vocab_string(tok.token_bytes(b)));
  w.set_string("tokenizer.ggml.model", "gpt2");
  // llama.cpp's names for the split patterns: GPT-2's, and cl100k's (which Llama 3 uses).
  w.set_string("tokenizer.ggml.pre", tok.pattern() == SplitPattern::Gpt2 ? "gpt-2" : "llama-bpe");
  w.set_string_array("tokenizer.ggml.tokens", tokens);
  w.set_i32_array("tokenizer.ggml.token_type", types);
  w.set_string_array("tokenizer.ggml.merges", merges);
  if (auto eot = tok.eot_id()) {
    w.set_u32("tokenizer.ggml.bos_token_id", *eot);
    w.set_u32("tokenizer.ggml.eos_token_id", *eot);
    w.set_u32("tokenizer.ggml.padding_token_id", *eot);
  }
  w.set_bool("tokenizer.ggml.add_bos_token", false);
  w.set_bool("tokenizer.ggml.add_eos_token", false);
}

// Fill dst with entry e's data (src null: zeros), transposed and converted to type.
void encode(const gguf_names::Entry& e, const float* src, GgmlType type, uint8_t* dst) {
  const std::vector<int64_t> dims = e.dims();
  const int64_t row = dims[0], rows = dims.size() > 1 ? dims[1] : 1, n = row * rows;
  std::vector<float> tmp;
  const float* x = src;
  if (!src) {
    tmp.assign(static_cast<size_t>(n), 0.0f);
    x = tmp.data();
  } else if (e.transpose) {  // ours [in, out] -> stored [out, in]
    const int64_t in = e.shape[0], out = e.shape[1];
    tmp.resize(static_cast<size_t>(n));
    for (int64_t i = 0; i < in; ++i)
      for (int64_t o = 0; o < out; ++o) tmp[static_cast<size_t>(o * in + i)] = src[i * out + o];
    x = tmp.data();
  }
  switch (type) {
    case GgmlType::F32:
      std::memcpy(dst, x, static_cast<size_t>(n) * 4);
      break;
    case GgmlType::F16:
      for (int64_t i = 0; i < n; ++i) {
        const uint16_t h = f32_to_f16(x[i]);
        std::memcpy(dst + 2 * i, &h, 2);
      }
      break;
    case GgmlType::Q8_0: {
      std::vector<BlockQ8_0> blocks(static_cast<size_t>(row / kQ8_0Block));
      for (int64_t r = 0; r < rows; ++r) {
        quantize_row_q8_0(x + r * row, blocks.data(), row);
        std::memcpy(dst + r * q8_0_row_bytes(row), blocks.data(), q8_0_row_bytes(row));
      }
      break;
    }
    case GgmlType::BF16:
      fail_internal("BF16 export is not offered");
  }
}

}  // namespace

GgufWeightType parse_gguf_weight_type(std::string_view s) {
  if (s == "f32") return GgufWeightType::F32;
  if (s == "f16") return GgufWeightType::F16;
  if (s == "q8_0") return GgufWeightType::Q8_0;
  fail("unknown GGUF weight type '{}' (expected f32, f16 or q8_0)", s);
}

void save_gguf_model(const GPT& model, const Tokenizer& tokenizer, const std::string& path, GgufWeightType type,
                     const std::string& name) {
  const GPTConfig& c = model.config();
  if (c.is_classifier())
    fail("a classifier cannot be exported to GGUF: llama.cpp's gpt2 architecture is a language model");
  if (c.lora.enabled()) fail("the model has unmerged LoRA adapters: merge them before exporting to GGUF");
  GgufWriter w;
  w.set_string("general.architecture", "gpt2");
  w.set_string("general.name", name);
  w.set_u32("general.file_type", file_type(type));
  if (type == GgufWeightType::Q8_0) w.set_u32("general.quantization_version", 2);
  w.set_u32("gpt2.context_length", static_cast<uint32_t>(c.context_length));
  w.set_u32("gpt2.embedding_length", static_cast<uint32_t>(c.emb_dim));
  w.set_u32("gpt2.feed_forward_length", static_cast<uint32_t>(4 * c.emb_dim));
  w.set_u32("gpt2.block_count", static_cast<uint32_t>(c.n_layers));
  w.set_u32("gpt2.attention.head_count", static_cast<uint32_t>(c.n_heads));
  w.set_f32("gpt2.attention.layer_norm_epsilon", c.layer_norm_epsilon);
  w.set_bool("scratchlm.qkv_bias", c.qkv_bias);  // llama.cpp needs the bias; zeros stand for none
  add_tokenizer(w, tokenizer, c.vocab_size);
  for (const auto& e : gguf_names::table(c)) {
    GgmlType t = GgmlType::F32;
    if (e.quantizable && type == GgufWeightType::F16) t = GgmlType::F16;
    if (e.quantizable && type == GgufWeightType::Q8_0)  // rows that are no whole blocks: F16, as llama.cpp does
      t = e.dims()[0] % kQ8_0Block == 0 ? GgmlType::Q8_0 : GgmlType::F16;
    const float* src = e.ours.empty() ? nullptr : model.params().data(e.ours);
    w.add_tensor(e.theirs, t, e.dims(), [e, src, t](uint8_t* dst) { encode(e, src, t, dst); });
  }
  w.write(path);
}

}  // namespace slm
