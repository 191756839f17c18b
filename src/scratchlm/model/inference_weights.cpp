// inference_weights.cpp — packing a model's linear weights in bf16 or Q8_0 (see inference_weights.h).
#include "scratchlm/model/inference_weights.h"

#include <cstring>

#include "scratchlm/kernels/matmul_panels.h"
#include "scratchlm/model/gpt.h"
#include "scratchlm/tensor/bf16.h"
#include "scratchlm/tensor/parallel.h"
#include "scratchlm/tensor/q8_0.h"
#include "scratchlm/util/error.h"

namespace slm {

size_t packed_row_bytes(WeightFormat format, int64_t K) {
  switch (format) {
    case WeightFormat::F32:
      return static_cast<size_t>(K) * sizeof(float);
    case WeightFormat::BF16:
      return static_cast<size_t>(K) * sizeof(bf16_t);
    case WeightFormat::Q8_0:
      return q8_0_row_bytes(K);
  }
  return 0;
}

void InferenceWeights::add(const std::string& name, WeightFormat format, int64_t N, int64_t K, const void* data,
                           size_t size) {
  if (format == WeightFormat::F32) fail_internal("InferenceWeights holds bf16 or Q8_0 matrices, not fp32");
  if (format == WeightFormat::Q8_0 && K % kQ8_0Block != 0)
    fail("{}: a Q8_0 matrix needs rows that are a multiple of {} values, this one has {}", name, kQ8_0Block, K);
  if (size != static_cast<size_t>(N) * packed_row_bytes(format, K))
    fail("{}: {} bytes for a {} x {} matrix", name, size, N, K);
  put(name, format, N, K,
      std::vector<uint8_t>(static_cast<const uint8_t*>(data), static_cast<const uint8_t*>(data) + size));
}

void InferenceWeights::put(const std::string& name, WeightFormat format, int64_t N, int64_t K,
                           std::vector<uint8_t> data, bool panels) {
  auto e = std::make_unique<Entry>();
  e->data = std::move(data);
  e->view = PackedLinear{format, N, K, e->data.data(), panels};
  m_[name] = std::move(e);
}

const PackedLinear* InferenceWeights::find(std::string_view name) const {
  auto it = m_.find(std::string(name));
  return it == m_.end() ? nullptr : &it->second->view;
}

size_t InferenceWeights::bytes() const {
  size_t n = 0;
  for (const auto& [name, e] : m_) n += e->data.size();
  return n;
}

namespace {

// N fp32 rows of K values (row n's value k at src[n * row_step + k * col_step]) -> packed rows.
std::vector<uint8_t> pack_rows(const float* src, int64_t N, int64_t K, int64_t row_step, int64_t col_step,
                               WeightFormat format) {
  const size_t rb = packed_row_bytes(format, K);
  std::vector<uint8_t> out(static_cast<size_t>(N) * rb);
  parallel_for(0, N, [&](int64_t n) {
    std::vector<float> row(static_cast<size_t>(K));
    for (int64_t k = 0; k < K; ++k) row[k] = src[n * row_step + k * col_step];
    uint8_t* dst = out.data() + static_cast<size_t>(n) * rb;
    if (format == WeightFormat::BF16) {
      std::vector<bf16_t> b(static_cast<size_t>(K));
      f32_to_bf16_row(row.data(), b.data(), b.size());
      std::memcpy(dst, b.data(), rb);
    } else {
      quantize_row_q8_0(row.data(), reinterpret_cast<BlockQ8_0*>(dst), K);
    }
  });
  return out;
}

}  // namespace

std::unique_ptr<InferenceWeights> InferenceWeights::pack(const GPT& model, WeightFormat format) {
  const GPTConfig& c = model.config();
  if (format == WeightFormat::Q8_0 && c.emb_dim % kQ8_0Block != 0)
    fail("Q8_0 weights need an embedding width that is a multiple of {}; this model's is {}", kQ8_0Block, c.emb_dim);
  auto w = std::make_unique<InferenceWeights>();
  const ParamStore& s = model.params();
  for (int64_t l = 0; l < c.n_layers; ++l) {
    const std::string h = "h." + std::to_string(l) + ".";
    for (const char* n : {"attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight"}) {
      const Param* p = s.find(h + n);
      const int64_t K = p->shape[0], N = p->shape[1];  // Conv1D [in, out]: column n is output n's row
      if (format == WeightFormat::F32) {
        std::vector<uint8_t> b(static_cast<size_t>(panel_floats(N, K)) * sizeof(float));
        pack_panels(reinterpret_cast<float*>(b.data()), s.data(p->name), K, N);
        w->put(p->name, format, N, K, std::move(b), true);
        continue;
      }
      if (format == WeightFormat::BF16 && matmul_panels_available()) {
        std::vector<uint8_t> b(static_cast<size_t>(panel_floats(N, K)) * sizeof(bf16_t));
        pack_panels(reinterpret_cast<bf16_t*>(b.data()), s.data(p->name), K, N);
        w->put(p->name, format, N, K, std::move(b), true);
        continue;
      }
      const std::vector<uint8_t> b = pack_rows(s.data(p->name), N, K, 1, N, format);
      w->add(p->name, format, N, K, b.data(), b.size());
    }
  }
  if (!c.is_classifier() && format != WeightFormat::F32) {
    const std::vector<uint8_t> b = pack_rows(model.head_weight(), c.vocab_size, c.emb_dim, c.emb_dim, 1, format);
    w->add(std::string(kPackedHead), format, c.vocab_size, c.emb_dim, b.data(), b.size());
  }
  return w;
}

std::unique_ptr<InferenceWeights> InferenceWeights::for_inference(const GPT& model, WeightFormat format) {
  if (format == WeightFormat::F32 && (!matmul_panels_available() || model.config().lora.enabled())) return nullptr;
  return pack(model, format);
}

}  // namespace slm
