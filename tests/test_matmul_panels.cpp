// test_matmul_panels.cpp — fp32 inference weights in panels (kernels/matmul_panels.h): each path
// (paths this CPU lacks are skipped, by name) gives exactly the documented order of sums for any
// row count, at shapes off the panel and vector widths; and a model packed so decodes a sequence
// with the same bits alone and batched with others, within rounding of the unpacked model.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <memory>
#include <type_traits>
#include <vector>

#include "bf16_test_util.h"
#include "scratchlm/io/hf_gpt2.h"
#include "scratchlm/kernels/matmul_panels.h"
#include "scratchlm/model/gpt.h"
#include "scratchlm/model/inference_weights.h"
#include "scratchlm/model/kv_cache.h"

namespace slm {
namespace {

using test::randn;

bool same_bits(float a, float b) { return std::memcmp(&a, &b, sizeof a) == 0; }

const char* name(PanelPath p) { return p == PanelPath::Avx512 ? "avx512" : p == PanelPath::Avx2 ? "avx2" : "scalar"; }

}  // namespace

// For fp32 weights (Wt = float) and bf16 ones (the weight rounded to bf16, then the same sums).
template <class Wt>
void check_every_path() {
  for (const auto& [K, N] : {std::pair<int64_t, int64_t>{83, 75}, {32, 16}, {5, 130}}) {
    auto W = randn(static_cast<size_t>(K * N), 1);  // Conv1D W[K, N]
    const auto bias = randn(static_cast<size_t>(N), 2);
    const int64_t maxM = 19;
    const auto x = randn(static_cast<size_t>(maxM * K), 3);
    std::vector<Wt> panels(static_cast<size_t>(panel_floats(N, K)), Wt(1));
    pack_panels(panels.data(), W.data(), K, N);
    if constexpr (std::is_same_v<Wt, bf16_t>)
      for (float& w : W) w = round_to_bf16(w);  // what the kernel must multiply with
    ASSERT_EQ(panels.size() % static_cast<size_t>(16 * K), 0u);
    for (int64_t n = N; n % 16; ++n)  // the last panel's missing columns are zeros
      EXPECT_EQ(panels[static_cast<size_t>(((n / 16) * K + K - 1) * 16 + n % 16)], Wt(0));
    for (PanelPath p : {PanelPath::Scalar, PanelPath::Avx2, PanelPath::Avx512}) {
      if (!panel_path_available(p)) {
        std::printf("[ skipped  ] path %s: not on this CPU\n", name(p));
        continue;
      }
      for (int64_t M : {1, 2, 3, 4, 5, 7, 8, 9, 16, 19})
        for (const float* b : {static_cast<const float*>(nullptr), bias.data()}) {
          std::vector<float> out(static_cast<size_t>(M * N));
          matmul_panels(out.data(), x.data(), panels.data(), b, M, K, N, p);
          for (int64_t m = 0; m < M; ++m)
            for (int64_t n = 0; n < N; ++n) {
              float want = 0.0f;  // the documented order, from the unpacked weight
              double exact = b ? b[n] : 0.0, scale = std::fabs(exact);
              for (int64_t k = 0; k < K; ++k) {
                want = std::fma(x[m * K + k], W[k * N + n], want);
                exact += static_cast<double>(x[m * K + k]) * W[k * N + n];
                scale += std::fabs(static_cast<double>(x[m * K + k]) * W[k * N + n]);
              }
              if (b) want += b[n];
              ASSERT_TRUE(same_bits(out[m * N + n], want))
                  << name(p) << " K=" << K << " N=" << N << " M=" << M << " row " << m << " col " << n;
              ASSERT_LE(std::fabs(out[m * N + n] - exact), 1e-6 * scale);
            }
        }
    }
  }
}

TEST(Panels, EveryPathSumsInTheDocumentedOrderForAnyRowCount) { check_every_path<float>(); }
TEST(Panels, Bf16PanelsSumTheRoundedWeightsInTheSameOrder) { check_every_path<bf16_t>(); }

// Continuous batching with fp32 panels: three sequences decoding one token each give, in one
// pass, exactly the logits each gets alone (the block matrices' and the head's sums do not depend
// on the row count), and those of the model without panels within float rounding.
TEST(Panels, APackedModelDecodesTheSameBitsAloneAndBatched) {
  if (!matmul_panels_available()) GTEST_SKIP() << "no AVX2/FMA: inference keeps BLAS";
  auto m = load_hf_model(std::string(SLM_SOURCE_DIR) + "/tests/fixtures/torch/tiny_qkvbias", true);
  const int64_t V = m->config().vocab_size;
  const std::vector<std::vector<int32_t>> prompts = {{5, 17, 200, 3}, {250, 4}, {1, 2, 3, 4, 5, 6, 7}};
  const std::vector<int32_t> next = {42, 7, 99};
  auto decode = [&](bool batched) {
    std::vector<std::unique_ptr<KVCache>> caches;
    std::vector<KVCache*> ptrs;
    std::vector<float> logits(prompts.size() * static_cast<size_t>(V)), scratch(static_cast<size_t>(V));
    for (const auto& p : prompts) {
      caches.push_back(std::make_unique<KVCache>(m->config()));
      ptrs.push_back(caches.back().get());
      m->prefill(p.data(), static_cast<int64_t>(p.size()), *caches.back(), scratch.data());
    }
    if (batched) {
      const std::vector<int64_t> ones(prompts.size(), 1);
      m->forward_cached(next.data(), ones.data(), static_cast<int64_t>(prompts.size()), ptrs.data(), logits.data());
    } else {
      for (size_t b = 0; b < prompts.size(); ++b) m->decode_step(next[b], *caches[b], logits.data() + b * V);
    }
    return logits;
  };
  const std::vector<float> blas = decode(false);
  m->set_inference_weights(InferenceWeights::pack(*m, WeightFormat::F32));
  ASSERT_NE(m->inference_weights()->find("h.0.attn.c_attn.weight"), nullptr);
  EXPECT_EQ(m->inference_weights()->find(kPackedHead), nullptr);  // the head stays on its fp32 rows
  const std::vector<float> alone = decode(false), batched = decode(true);
  float err = 0;
  for (size_t i = 0; i < alone.size(); ++i) {
    ASSERT_TRUE(same_bits(alone[i], batched[i])) << "logit " << i;
    err = std::max(err, std::fabs(alone[i] - blas[i]));
  }
  EXPECT_LE(err, 1e-4f);
}

}  // namespace slm
