// inference_weights.h — a model's linear weights held packed for inference (chapters 5 and 7
// "going further"): bf16 (--precision bf16) or Q8_0 (a q8_0 GGUF file, or --precision q8_0), in
// rows of the layer's inputs ([out][in], as GGUF stores them); or fp32, and on CPUs with AVX2 the
// bf16 block matrices, in panels of 16 outputs (kernels/matmul_panels.h). fp32 packs hold only
// the block matrices. The transformer blocks and the head read
// them through kernels/linear_dispatch.h in the no-grad forward; training never does
// (GPT::enable_grads drops them).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "scratchlm/kernels/linear_dispatch.h"

namespace slm {

class GPT;

// The name under which the output head (lm_head, or wte when tied) is packed.
inline constexpr std::string_view kPackedHead = "head";

class InferenceWeights {
 public:
  // bf16 or Q8_0 copies of every block's four linear weights and the language-model head of
  // `model` (fp32 Conv1D [in, out] transposed to [out, in]; bf16 block matrices in panels where
  // the panel kernel runs). Q8_0 needs widths that are multiples of 32 (BadInput error otherwise).
  // F32: the block matrices in panels (pack_panels); the head stays on the model's own fp32
  // weights (kernels/matmul.h reads it row by row already).
  static std::unique_ptr<InferenceWeights> pack(const GPT& model, WeightFormat format);

  // What inference runs for `format`: pack(), except for F32 on a CPU without the panel kernel's
  // AVX2 + FMA or for a model with LoRA adapters, where it is null (the fp32 weights on BLAS).
  static std::unique_ptr<InferenceWeights> for_inference(const GPT& model, WeightFormat format);

  // Take a bf16 or Q8_0 matrix already packed: N rows of K values, `size` bytes (checked against
  // the format).
  void add(const std::string& name, WeightFormat format, int64_t N, int64_t K, const void* data, size_t size);
  // The matrix packed under a parameter name ("h.0.attn.c_attn.weight", kPackedHead), or nullptr.
  const PackedLinear* find(std::string_view name) const;
  bool empty() const { return m_.empty(); }
  // Bytes held by the packed matrices.
  size_t bytes() const;

 private:
  struct Entry {
    std::vector<uint8_t> data;
    PackedLinear view;
  };
  void put(const std::string& name, WeightFormat format, int64_t N, int64_t K, std::vector<uint8_t> data,
           bool panels = false);
  std::unordered_map<std::string, std::unique_ptr<Entry>> m_;  // stable views
};

// Bytes of one packed row of K values (bf16, Q8_0; fp32 rows before they are put in panels).
size_t packed_row_bytes(WeightFormat format, int64_t K);

}  // namespace slm
