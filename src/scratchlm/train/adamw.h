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
  AdamW(ParamStore& store, const AdamWConfig& cfg);
  // One update of every trainable parameter with learning rate lr.
  void step(float lr);
  int64_t steps() const { return t_; }
  void set_steps(int64_t t) { t_ = t; }
  // First and second moments, laid out like the store's gradient buffer.
  Tensor& m() { return m_; }
  Tensor& v() { return v_; }
  const AdamWConfig& config() const { return cfg_; }
  // The state a checkpoint saves (views of m and v), and restoring it from checkpoint DIR.
  OptimizerState checkpoint_state() const { return {m_.data(), v_.data(), static_cast<size_t>(m_.numel()), t_, {}}; }
  void load_checkpoint_state(const std::string& dir) { load_optimizer_state(dir, store_, m_.data(), v_.data(), t_); }
  ParamStore& store() { return store_; }
  // Learning rate and weight decay may change between steps (schedules).
  void set_weight_decay(float wd) { cfg_.weight_decay = wd; }

 private:
  ParamStore& store_;
  AdamWConfig cfg_;
  Tensor m_, v_;
  int64_t t_ = 0;
};

// Global L2 norm of all gradients (computed in double); when max_norm > 0 and the norm exceeds
// it, scales every gradient by max_norm / (norm + 1e-6) as torch.nn.utils.clip_grad_norm_.
// Returns the norm before clipping.
double clip_grad_norm(ParamStore& store, double max_norm);

}  // namespace slm
