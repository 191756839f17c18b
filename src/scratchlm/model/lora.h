// lora.h — the LoRA layer of appendix E as a model part: a low-rank pair (A, B) beside a frozen
// Linear, y += (alpha / r) (x A) B, with its forward and backward side by side; and the model-level
// operations on adapters (add, merge). finetune/lora.h is the public entry point and explains the
// design (targets, the three slice adapters of c_attn, PEFT files).
//
// Layout: A [in, groups * r] (x A is one sgemm), B [groups, r, out / groups]: group g's update goes
// to output columns [g * out/groups, (g+1) * out/groups). groups = 3 for c_attn (query, key, value
// as in the book's separate W_query / W_key / W_value), 1 elsewhere.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "scratchlm/model/config.h"

namespace slm {

class GPT;
class ParamStore;

struct LoraAdapter {
  int64_t in = 0, out = 0, r = 0, groups = 1;
  float scale = 0.0f;
  const float *A = nullptr, *B = nullptr;
  float *gA = nullptr, *gB = nullptr;  // null when frozen / grads off
  float* u = nullptr;                  // saved x A, [M, groups * r]

  bool on() const { return A != nullptr; }
  bool trainable() const { return gA || gB; }
  // Point at the store's NAME.lora_A / NAME.lora_B when present (else off).
  void bind(ParamStore& s, const std::string& name, int64_t in, int64_t out, int64_t groups, float scale);
  // y[M, out] += scale * (x[M, in] A) B; keeps x A in u.
  void forward(const float* x, float* y, int64_t M) const;
  // Given dy: gA, gB += ...; dx[M, in] += scale * ((dy B^T) A^T) when dx is non-null.
  // du: scratch of M * groups * r floats.
  void backward(const float* dy, float* dx, const float* x, float* du, int64_t M) const;
  // One row: y[out] += scale * (x A) B; tmp holds groups * r floats.
  void apply_vec(const float* x, float* y, float* tmp) const;
  // W[in, out] (Conv1D layout) += scale * A B.
  void merge_into(float* W) const;
};

// The adapter parameters (name, shape) a config with cfg.lora enabled declares, in order.
std::vector<std::pair<std::string, std::vector<int64_t>>> lora_param_shapes(const GPTConfig& cfg);

// "attn,mlp" lists (also "all" = attn,mlp,head); BadInput for unknown names or rank/alpha <= 0.
LoraConfig parse_lora_targets(std::string_view list, int64_t rank, float alpha);

// A copy of `base` with adapters (A Kaiming-uniform as torch's kaiming_uniform_(a=sqrt(5)), seeded;
// B zero); every base parameter frozen, only the adapters trainable. BadInput for "head" on a
// language model, or when base already has adapters.
std::unique_ptr<GPT> add_lora(const GPT& base, const LoraConfig& lora, uint64_t seed);

// The model without adapters, W += scale * A B: the same outputs, a plain model.
std::unique_ptr<GPT> merge_lora(const GPT& model);

}  // namespace slm
