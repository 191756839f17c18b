// gpt_weights.cpp — the GPT model's weights (chapter 4.6 GPTModel's parameters, appendix D's
// initialization): GPT-2's and PyTorch's initializations, and the lower-precision copies the
// matmuls may read — a mixed-precision training run's bf16 copies (chapter 5 "going further") and
// packed bf16 / Q8_0 inference weights. See gpt.h.
#include "scratchlm/model/gpt.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "scratchlm/model/inference_weights.h"
#include "scratchlm/tensor/rng.h"
#include "scratchlm/util/error.h"

namespace slm {

void GPT::init_weights(uint64_t seed) {
  Rng rng(seed);
  const float std_resid = 0.02f / std::sqrt(2.0f * static_cast<float>(cfg_.n_layers));
  for (auto& p : store_.params()) {
    float* d = store_.data(p.name);
    const bool ln = p.name.find("ln_") != std::string::npos;
    if (p.name.ends_with(".bias")) {
      std::fill_n(d, p.numel, 0.0f);
    } else if (ln) {
      std::fill_n(d, p.numel, 1.0f);
    } else {
      const float sd = p.name.ends_with("c_proj.weight") ? std_resid : 0.02f;
      for (size_t i = 0; i < p.numel; ++i) d[i] = static_cast<float>(rng.normal()) * sd;
    }
  }
}

void GPT::init_weights_torch_default(uint64_t seed) {
  Rng rng(seed);
  for (auto& p : store_.params()) {
    float* d = store_.data(p.name);
    if (p.name.find("ln_") != std::string::npos) {
      std::fill_n(d, p.numel, p.name.ends_with(".weight") ? 1.0f : 0.0f);
    } else if (p.name == "wte.weight" || p.name == "wpe.weight") {
      for (size_t i = 0; i < p.numel; ++i) d[i] = static_cast<float>(rng.normal());
    } else {
      // fan_in: Conv1D weights are [in, out]; lm_head is [V, C] (in = C); a bias's layer has in = C
      // except mlp.c_proj, whose input is 4C.
      int64_t fan_in = p.name == "lm_head.weight" || p.name == "score.weight" ? p.shape[1]
                       : p.shape.size() == 2                                  ? p.shape[0]
                                                                              : cfg_.emb_dim;
      if (p.name.ends_with("mlp.c_proj.bias")) fan_in = 4 * cfg_.emb_dim;
      const float bound = 1.0f / std::sqrt(static_cast<float>(fan_in));
      for (size_t i = 0; i < p.numel; ++i) d[i] = (2.0f * rng.uniform() - 1.0f) * bound;
    }
  }
}

void GPT::set_inference_weights(std::unique_ptr<InferenceWeights> w) {
  if (w && cfg_.lora.enabled()) fail("packed (bf16 / Q8_0) inference weights need a model without LoRA adapters");
  if (fp32_released_) fail("this model's fp32 weights were released for inference; load it again");
  packed_ = std::move(w);
  bind();
  B_ = T_ = 0;  // the arena's layout depends on it (bf16_activations)
}

void GPT::release_packed_fp32() {
  if (!packed_) return;
  const uintptr_t page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  for (const Param& p : store_.params()) {
    if (!packed_->find(p.name)) continue;  // the block matrices (the head is packed under its own name)
    const uintptr_t begin = reinterpret_cast<uintptr_t>(store_.data(p.name));
    const uintptr_t first = (begin + page - 1) / page * page, last = (begin + p.numel * sizeof(float)) / page * page;
    if (last > first) madvise(reinterpret_cast<void*>(first), last - first, MADV_DONTNEED);
  }
  fp32_released_ = true;
}

void GPT::set_precision(Precision p) {
  if (p == precision()) return;
  if (p == Precision::Fp32) {
    bf16_.reset();
  } else {
    // The block matmul weights. A language model's head rounds its weight itself, into the
    // layouts its GEMMs take (kernels/cross_entropy.h); a classifier's small score head, the LoRA
    // adapters and the embeddings stay fp32.
    std::vector<std::string> names;
    for (int64_t l = 0; l < cfg_.n_layers; ++l)
      for (const char* w : {"attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight"})
        names.push_back("h." + std::to_string(l) + "." + w);
    bf16_ = std::make_unique<Bf16Weights>(store_, names);
  }
  for (auto& b : blocks_) b.attn.w16_qkv = b.attn.w16_proj = b.ff.w16_fc = b.ff.w16_proj = nullptr;
  bind();
  B_ = T_ = 0;  // the arena's layout depends on it (bf16_activations)
}

}  // namespace slm
