// gpt.h — the GPT model of chapter 4.6 (GPTModel): token + position embeddings, dropout, a stack
// of transformer blocks, a final LayerNorm and the output head, with a hand-written backward pass.
//
// Parameters live in a ParamStore under Hugging Face GPT-2 names, so a model directory loads and
// saves without renaming or transposing. Activations live in an arena sized once per (B, T) and
// reused every step. The head is fused with the loss (kernels/cross_entropy.h): training calls
// forward(tokens, targets, with_grad=true) then backward().
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "scratchlm/kernels/matmul_bf16.h"
#include "scratchlm/model/bf16_weights.h"
#include "scratchlm/model/block.h"
#include "scratchlm/model/config.h"
#include "scratchlm/model/kv_cache.h"
#include "scratchlm/model/params.h"
#include "scratchlm/tensor/tensor.h"

namespace slm {

// A classifier's batch (chapter 6.3-6.4): tokens [B, T] padded, holding E examples. Example e owns
// rows row_start[e] .. row_start[e+1]-1 (E+1 entries) and reads positions read_from[r] ..
// read_to[r] of each of them: one position for the "last" readings (the last real token, or T-1
// as the book), every real token for "mean" (a long text in several windows). labels [E], -1
// when unlabeled.
struct ClassBatch {
  int64_t B = 0, T = 0, E = 0;
  std::vector<int32_t> tokens, row_start, read_from, read_to, labels;
};

// Every parameter (Hugging Face name, shape) a config declares, in the order the model stores them:
// embeddings, blocks, final norm, head, LoRA adapters. Cheap (no weights): loading compares it with
// a file's tensor table before anything is allocated. The config must be valid.
using ParamShapes = std::vector<std::pair<std::string, std::vector<int64_t>>>;
ParamShapes gpt_param_shapes(const GPTConfig& cfg);

class InferenceWeights;

class GPT {
 public:
  explicit GPT(const GPTConfig& config);
  GPT(const GPT&) = delete;
  GPT& operator=(const GPT&) = delete;
  ~GPT();

  const GPTConfig& config() const { return cfg_; }
  ParamStore& params() { return store_; }
  const ParamStore& params() const { return store_; }

  // GPT-2 initialization: N(0, 0.02) weights and embeddings, residual projections scaled by
  // 1/sqrt(2 * n_layers), zero biases, LayerNorm weight 1 / bias 0. Seeded (tensor/rng.h).
  void init_weights(uint64_t seed);
  // PyTorch's default initialization, which the book's GPTModel gets: embeddings N(0, 1), linear
  // weights and biases U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (kaiming_uniform with a = sqrt(5)),
  // LayerNorm weight 1 / bias 0. Seeded (tensor/rng.h), not torch's random stream.
  void init_weights_torch_default(uint64_t seed);

  // Re-point layers at the parameter store (after parameters changed trainable flags or were
  // copied in by model-level operations such as add_lora).
  void rebind() {
    bind();
    B_ = T_ = 0;
  }

  // Inference on packed bf16 / Q8_0 weights (model/inference_weights.h): the no-grad forward
  // passes (generation, logits, eval) use them for the blocks' linear layers and the head; nullptr
  // goes back to fp32. enable_grads() drops them (training runs on the fp32 parameters).
  void set_inference_weights(std::unique_ptr<InferenceWeights> w);
  const InferenceWeights* inference_weights() const { return packed_.get(); }
  // Inference only: give the memory of the fp32 block weights that packed copies replace back to
  // the OS (their pages then read as zeros). Afterwards the model cannot train or change its packed
  // weights (BadInput error). The embeddings, the head and everything else stay.
  void release_packed_fp32();

  // Mixed precision (issue 15): Bf16 keeps bf16 copies of the blocks' matmul weights
  // (model/bf16_weights.h) and runs every block matmul and the language-model head with bf16
  // operands and fp32 sums (the head rounds its weight in each pass, kernels/cross_entropy.h); the
  // parameters stay fp32. After an optimizer step changed the weights, refresh_bf16() rounds the
  // copies again (a no-op in fp32).
  //
  // In bf16 (without LoRA adapters or packed inference weights) the activations that only a matmul
  // reads — the ln_1 and ln_2 outputs and the GELU output — exist only as the bf16 operands their
  // kernels write (no conversion pass), in the backward scratch; the backward pass forms them again,
  // bit for bit, from the fp32 inputs it keeps anyway. The attention output is kept as c_proj's bf16
  // operand only (model/block.h). Everything else the backward passes read stays fp32.
  void set_precision(Precision p);
  Precision precision() const { return bf16_ ? Precision::Bf16 : Precision::Fp32; }
  void refresh_bf16() {
    if (bf16_) bf16_->refresh(store_);
  }
  // The bf16 copies (null in fp32), for an optimizer that writes them as it updates the weights.
  Bf16Weights* bf16_weights() { return bf16_.get(); }

  // Allocate gradients for the trainable parameters (all, unless set_trainable was used).
  void enable_grads();
  void zero_grad() { store_.zero_grad(); }

  // Dropout on (training) or off (eval); the seed and step select the dropout masks.
  void set_training(bool training) { training_ = training; }
  bool training() const { return training_; }
  // The masks are keyed by (seed, step, row): row r of the step's rows counted over all its
  // micro-batches and ranks, so a step takes the same masks however its rows are cut into
  // micro-batches (--grad-accum) and ranks. Starts the step at row 0.
  void set_dropout_seed(uint64_t seed, uint64_t step) {
    drop_seed_ = seed;
    drop_step_ = step;
    drop_row0_ = 0;
    drop_rows_done_ = 0;
  }
  // Before a training micro-batch of `global_rows` rows (all ranks'), of which the next pass runs
  // rows first.. (a data-parallel rank's slice; 0 in one process): those rows take the masks that
  // rows done + first.. of the step get; the micro-batch's rows then count as done.
  void next_dropout_rows(int64_t first, int64_t global_rows) {
    drop_row0_ = drop_rows_done_ + static_cast<uint64_t>(first);
    drop_rows_done_ += static_cast<uint64_t>(global_rows);
  }
  // Called by backward() as gradients become final, for data-parallel training to start summing
  // them: stage n_layers once the final LayerNorm's (and the head's) are, then stage l after block
  // l's. Stages below the lowest trainable block are not reported; the embeddings' never are.
  void set_backward_hook(std::function<void(int64_t stage)> hook) { backward_hook_ = std::move(hook); }
  // How a classifier reads its input (config fields classifier_max_length / _token / _truncate).
  void set_classifier_input(int64_t max_length, ClassifierToken token, Truncation truncate = Truncation::Head);
  // Change the dropout rate (e.g. a finetuning run's --dropout); BadInput error outside [0, 1).
  void set_drop_rate(float p);

  // Mean cross-entropy over the targets that are not -100. tokens/targets are [B, T] row-major.
  // with_grad: also computes the head's gradients, so that backward() can follow; grad_scale
  // multiplies all gradients (e.g. 1/accumulation_steps).
  float forward(const int32_t* tokens, const int32_t* targets, int64_t B, int64_t T, bool with_grad = false,
                float grad_scale = 1.0f);
  void backward();
  // Number of target tokens counted by the last forward.
  int64_t last_target_count() const { return last_count_; }

  // Classifier models (config().is_classifier(), chapter 6.5): class logits [E, K] into out_logits
  // (may be null) for the E examples of a ClassBatch, each from the mean of the final-norm outputs
  // over its read positions (one position for the "last" readings). with_loss (labels in [0, K))
  // returns the mean cross-entropy over the examples, and with_grad also computes the head's
  // gradients so that backward() can follow.
  float classify(const ClassBatch& cb, float* out_logits, bool with_loss = false, bool with_grad = false,
                 float grad_scale = 1.0f);

  // Logits: all positions ([B*T, V] into out) or only the last position of each row ([B, V]).
  void logits(const int32_t* tokens, int64_t B, int64_t T, float* out, bool last_only);

  // Generation with a KV cache: the same forward pass, keeping each layer's keys and values.
  // Rows b of tokens[B, T] continue the sequences of caches[b] (at position caches[b]->len, which
  // advances by T; at most the context length in all): one prompt (B = 1), a decode step (T = 1),
  // or B sequences decoding together, reading the weights once for all. Writes the logits of each
  // row's last position to out[B, V].
  void forward_cached(const int32_t* tokens, int64_t B, int64_t T, KVCache* const* caches, float* out);
  // The same with rows of their own lengths (each at least 1): the next lens[b] tokens (packed row
  // after row) continue caches[b]. Continuous batching puts a prompt's chunk and the decode steps
  // of the other sequences in one pass, so the weights are read once per step for all of them.
  void forward_cached(const int32_t* tokens, const int64_t* lens, int64_t B, KVCache* const* caches, float* out);
  // Batch 1: clear the cache and run a prompt of T tokens; append one token.
  void prefill(const int32_t* tokens, int64_t T, KVCache& cache, float* out);
  void decode_step(int32_t token, KVCache& cache, float* out);

  // The final hidden states (after final_norm) of the last forward/logits call, [B*T, C].
  const float* final_hidden() const { return acts_.lnf; }
  // The output head weight [V, C] (lm_head, or wte when tied; score [K, C] for a classifier).
  const float* head_weight() const { return head_w_; }
  // Rows of logits the head computes at a time (kernels/cross_entropy.h; set with the arena).
  int64_t head_chunk_rows() const { return chunk_rows_; }

  // Bytes held by the activation arena (for memory estimates).
  size_t activation_bytes() const { return arena_.bytes(); }
  // Bytes an arena for (B, T) needs, with or without training buffers (BadInput error when the
  // count overflows 64 bits).
  static size_t activation_bytes_for(const GPTConfig& c, int64_t B, int64_t T, bool training,
                                     Precision precision = Precision::Fp32);

 private:
  void bind();
  // The blocks keep bf16 activations (see set_precision): bf16 weights, no adapters, no packed ones.
  bool bf16_activations() const { return bf16_ && !packed_ && !cfg_.lora.enabled(); }
  void ensure_arena(int64_t B, int64_t T);
  int64_t layout_arena(float* base, int64_t B, int64_t T);
  int64_t lowest_trainable_block() const;  // -1: the embeddings train; n_layers: no block does
  void check_inputs(const int32_t* tokens, int64_t n) const;
  void require_lm(const char* what) const;
  void score_lora_backward(const float* h, const float* dz, float* dh);
  // A plain pass over tokens[B, T], or a cached one over the B sequences of caches (lens, T unused).
  void forward_hidden(const int32_t* tokens, int64_t B, int64_t T, KVCache* const* caches = nullptr,
                      const int64_t* lens = nullptr);
  // The head on the last position of each of B rows (of T tokens, or of lens[b]): out[B, V].
  void last_position_logits(int64_t B, int64_t T, const int64_t* lens, float* out);
  PassInfo pass_info(int64_t B, int64_t T) const;

  GPTConfig cfg_;
  ParamStore store_;
  std::vector<TransformerBlock> blocks_;
  std::unique_ptr<InferenceWeights> packed_;  // bf16 / Q8_0 inference weights, usually none
  const PackedLinear* packed_head_ = nullptr;
  bool fp32_released_ = false;         // release_packed_fp32() was called
  LoraAdapter score_lora_;             // a classifier's score-head adapter (appendix E), usually off
  std::vector<float> lora_vec_;        // scratch for adapters on single rows
  std::vector<int64_t> lens_;          // a cached pass's tokens per row (forward_cached with one T)
  std::unique_ptr<Bf16Weights> bf16_;  // --precision bf16
  const float *wte_ = nullptr, *wpe_ = nullptr, *lnf_w_ = nullptr, *lnf_b_ = nullptr, *head_w_ = nullptr;
  float *g_wte_ = nullptr, *g_wpe_ = nullptr, *g_lnf_w_ = nullptr, *g_lnf_b_ = nullptr, *g_head_ = nullptr;

  bool training_ = false;
  uint64_t drop_seed_ = 0, drop_step_ = 0, drop_row0_ = 0, drop_rows_done_ = 0;
  std::function<void(int64_t)> backward_hook_;
  int64_t B_ = 0, T_ = 0;  // arena shape
  int64_t last_count_ = 0;
  std::vector<int32_t> last_tokens_;
  bool have_head_grad_ = false;

  Tensor arena_;
  struct Acts {
    std::vector<float*> x;  // n_layers + 1 residual streams [B,T,C]
    float *lnf = nullptr, *lnf_mean = nullptr, *lnf_rstd = nullptr;
    float *tmp = nullptr, *big = nullptr, *qkv_scratch = nullptr, *dresid = nullptr, *dlnf = nullptr;
    float* logits_chunk = nullptr;
  } acts_;
  int64_t chunk_rows_ = 0;
};

}  // namespace slm
