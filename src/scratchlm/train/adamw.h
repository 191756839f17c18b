// adamw.h — the AdamW optimizer with decoupled weight decay, and global-norm gradient clipping
// (chapter 5.2 and appendix D.3), over a model's ParamStore.
//
// The update is PyTorch's torch.optim.AdamW step, operation for operation:
//   p *= 1 - lr * wd                      (decoupled weight decay, only where decay applies)
//   m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
//   p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
// Which parameters decay: DecayMode::All (the book: torch.optim.AdamW(model.parameters()) decays
// everything) or DecayMode::Matrices (nanoGPT: only tensors with 2+ dimensions, i.e. weight
// matrices and embeddings; biases and LayerNorm parameters do not decay).
#pragma once

#include <cstdint>

#include <string>

#include "scratchlm/io/checkpoint.h"
#include "scratchlm/model/bf16_weights.h"
#include "scratchlm/model/params.h"
#include "scratchlm/tensor/tensor.h"

namespace slm {

enum class DecayMode { All, Matrices };

struct AdamWConfig {
  float lr = 4e-4f;
  float beta1 = 0.9f, beta2 = 0.999f;
  float eps = 1e-8f;
  float weight_decay = 0.1f;
  DecayMode decay = DecayMode::All;
};

class AdamW {
 public:
  // Keeps m and v for the gradient-buffer positions [shard_begin, shard_end) (SIZE_MAX: to the
  // end) and updates only those weights: ZeRO-1's shard of a data-parallel rank (grad_sync.h).
  AdamW(ParamStore& store, const AdamWConfig& cfg, size_t shard_begin = 0, size_t shard_end = SIZE_MAX);
  // One update of every trainable parameter (in the shard) with learning rate lr. With copies
  // (--precision bf16), each updated weight that has a bf16 copy there also gets the copy rounded
  // from its new value in the same pass: what copies->refresh() would write, bit for bit, for the
  // weights this step updates (a ZeRO shard's: the others are some other rank's to update).
  // grad_scale multiplies every gradient as it is read: clip_factor's clipping without a pass of
  // its own over the gradients (the same products: the update is bit for bit the one after
  // clip_grad_norm scaled them in place).
  void step(float lr, Bf16Weights* copies = nullptr, float grad_scale = 1.0f);
  int64_t steps() const { return t_; }
  void set_steps(int64_t t) { t_ = t; }
  // First and second moments, laid out like the store's gradient buffer (its shard).
  Tensor& m() { return m_; }
  Tensor& v() { return v_; }
  size_t shard_begin() const { return begin_; }
  size_t shard_end() const { return end_; }
  bool sharded() const { return begin_ != 0 || end_ != store_.grad_numel(); }
  const AdamWConfig& config() const { return cfg_; }
  // The state a checkpoint saves (views of m and v: the shard's), and restoring it from checkpoint
  // DIR (the shard of its whole m and v).
  OptimizerState checkpoint_state() const {
    return {m_.data(), v_.data(), static_cast<size_t>(m_.numel()), t_, {}, {}};
  }
  void load_checkpoint_state(const std::string& dir);
  ParamStore& store() { return store_; }
  // Learning rate and weight decay may change between steps (schedules).
  void set_weight_decay(float wd) { cfg_.weight_decay = wd; }

 private:
  ParamStore& store_;
  AdamWConfig cfg_;
  Tensor m_, v_;
  size_t begin_ = 0, end_ = 0;
  int64_t t_ = 0;
};

// The sum of g[i]^2 over n floats, in double, in one fixed order (independent of the thread count
// and the ISA, so runs resume and repeat bit for bit).
double sum_of_squares(const float* g, int64_t n);
// The factor clip_grad_norm scales the gradients by: max_norm / (norm + 1e-6) rounded to float
// when max_norm > 0, the norm is finite and the factor is below 1; else 1 (no clipping).
float clip_factor(double norm, double max_norm);
// The global L2 norm of the store's gradients (sum_of_squares of its whole gradient buffer).
double grad_norm(ParamStore& store);

// Global L2 norm of all gradients (computed in double); when max_norm > 0 and the norm exceeds
// it, scales every gradient by max_norm / (norm + 1e-6) as torch.nn.utils.clip_grad_norm_.
// Returns the norm before clipping.
double clip_grad_norm(ParamStore& store, double max_norm);

}  // namespace slm
