// config.h — GPT model configurations (chapter 4.1: GPT_CONFIG_124M and friends).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace slm {

// LoRA adapters (appendix E, finetune/lora.h): rank 0 = none.
struct LoraConfig {
  int64_t rank = 0;
  float alpha = 0.0f;
  bool attn = true, mlp = true, head = false;
  bool enabled() const { return rank > 0; }
  float scale() const { return rank > 0 ? alpha / static_cast<float>(rank) : 0.0f; }
};

// Upper bounds on a config's fields, checked by validate() (and while reading config.json) before
// anything is built or allocated: far above GPT-2 XL (vocab 50257, context 1024, emb 1600, 48
// layers, 1.56e9 parameters) and far below where a count or a size in bytes overflows 64 bits.
struct ConfigLimits {
  static constexpr int64_t vocab_size = int64_t{1} << 24;      // 16,777,216 tokens (ids are 32-bit)
  static constexpr int64_t context_length = int64_t{1} << 20;  // 1,048,576 positions
  static constexpr int64_t emb_dim = int64_t{1} << 16;         // 65,536 (n_head divides it, so n_head too)
  static constexpr int64_t n_layers = 1024;
  static constexpr int64_t num_labels = int64_t{1} << 20;  // 1,048,576 classes
  static constexpr int64_t lora_rank = int64_t{1} << 16;
  static constexpr int64_t params = int64_t{1} << 36;  // 68.7e9 parameters (256 GiB in fp32)
};

// How a classifier reads its class (GPTConfig::classifier_token) and cuts a long text
// (classifier_truncate); see GPTConfig.
enum class ClassifierToken { Last, LastPosition, Mean };
enum class Truncation { Head, Tail, HeadTail };

struct GPTConfig {
  int64_t vocab_size = 50257;
  int64_t context_length = 1024;  // n_positions
  int64_t emb_dim = 768;          // n_embd
  int64_t n_heads = 12;
  int64_t n_layers = 12;
  float drop_rate = 0.1f;  // embedding, attention-weight and shortcut dropout
  bool qkv_bias = true;
  bool tie_word_embeddings = false;  // the book's GPTModel has its own out_head
  float layer_norm_epsilon = 1e-5f;
  // A classifier (chapter 6): num_labels > 0 replaces the language-model head by a bias-free
  // Linear(emb_dim, num_labels) named score.weight [num_labels, emb_dim], as in Hugging Face's
  // GPT2ForSequenceClassification; id2label names the classes (index = class id).
  int64_t num_labels = 0;
  std::vector<std::string> id2label;
  // How a classifier reads its input (saved with it so `slm classify` does what training did):
  // texts are cut to classifier_max_length tokens (0: the context length) and classified from the
  // last real token ("last"), as the book from the final position of the padded row
  // ("last-position", rows padded to classifier_max_length), or from the mean of the outputs at
  // every real token ("mean"; a text longer than the context is read in windows of the context
  // length and the mean runs over all of them, so only "mean" may have a max length above it).
  // Longer texts keep their first tokens ("head", the book), their last ("tail"), or both
  // ("head+tail": the first quarter of the budget from the start, the rest from the end).
  int64_t classifier_max_length = 0;
  ClassifierToken classifier_token = ClassifierToken::Last;
  Truncation classifier_truncate = Truncation::Head;
  // Low-rank adapters beside the Linear layers (not part of config.json; see finetune/lora.h).
  LoraConfig lora;

  bool is_classifier() const { return num_labels > 0; }
  // The most tokens a classifier reads of a text: classifier_max_length, else the context length.
  int64_t classifier_read_length() const { return classifier_max_length > 0 ? classifier_max_length : context_length; }

  int64_t head_dim() const { return emb_dim / n_heads; }
  // BadInput error when a field is outside its ConfigLimits, fields are inconsistent (emb_dim %
  // n_heads ...) or the model would have more than ConfigLimits::params parameters.
  void validate() const;

  // Hugging Face GPT2Config keys (n_embd, n_head, n_layer, n_positions, vocab_size,
  // layer_norm_epsilon, *_pdrop) plus ScratchLM's qkv_bias and tie_word_embeddings; a classifier
  // also has architectures ["GPT2ForSequenceClassification"], num_labels, id2label, label2id and
  // pad_token_id 50256 (the token Hugging Face uses to find each row's last real token).
  nlohmann::json to_hf_json() const;
  static GPTConfig from_hf_json(const nlohmann::json& j, const std::string& source);
};

// gpt2-124M, gpt2-355M, gpt2-774M, gpt2-1558M (the book's configs, qkv_bias as OpenAI's),
// gpt2-mini (ctx 256, emb 384, 6 heads, 6 layers), gpt2-tiny (ctx 128, emb 128, 4 heads, 2 layers).
GPTConfig config_by_name(const std::string& name);
std::vector<std::string> config_names();
// Names of the readings and cuts as config.json and the CLI spell them ("last", "last-position",
// "mean"; "head", "tail", "head+tail"), and back: nullopt for an unknown name.
const char* classifier_token_name(ClassifierToken t);
std::optional<ClassifierToken> classifier_token_from(std::string_view name);
const char* truncation_name(Truncation t);
std::optional<Truncation> truncation_from(std::string_view name);
// The most tokens a classifier reading `token` may take of a text: the context length, except for
// Mean, which reads longer texts in windows (no limit).
int64_t classifier_length_limit(int64_t context_length, ClassifierToken token);

// Parameter counts, per module, as the book reports them (checked 64-bit arithmetic: BadInput
// error on overflow).
struct ParamCounts {
  int64_t tok_emb = 0, pos_emb = 0, per_block = 0, attention_per_block = 0, ff_per_block = 0, norms_per_block = 0,
          blocks = 0, final_norm = 0, out_head = 0;  // out_head: score for a classifier
  int64_t total = 0;                                 // as stored (out_head counted only when untied or a classifier)
  int64_t total_untied = 0;                          // with a separate out_head
  int64_t total_tied = 0;                            // with out_head shared with tok_emb
  int64_t lora = 0;                                  // LoRA adapters (config.lora), not in the totals above
};
ParamCounts count_params(const GPTConfig& c);

}  // namespace slm
