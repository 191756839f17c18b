// test_quant_matmul.cpp — the inference linear layers on packed weights: every SIMD path of the
// Q8_0 × Q8_0 kernel (kernels/q8_0_matmul.h) and of the bf16 kernel (kernels/bf16_weight_matmul.h) is
// bit-identical to its scalar reference (paths this CPU lacks are skipped, by name), and both are
// close to the fp32 BLAS product (stated bounds); packed models (model/inference_weights.h) run
// the same forward as fp32 within those bounds.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "scratchlm/kernels/bf16_weight_matmul.h"
#include "scratchlm/kernels/matmul.h"
#include "scratchlm/kernels/q8_0_matmul.h"
#include "scratchlm/model/gpt.h"
#include "scratchlm/model/inference_weights.h"
#include "scratchlm/model/kv_cache.h"
#include "scratchlm/tensor/half.h"
#include "scratchlm/util/error.h"

namespace slm {
namespace {

std::vector<float> randn(size_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 g(seed);
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = d(g);
  return v;
}

// W[N][K] as Q8_0 rows; Wt its fp32 Conv1D form [K][N] (dequantized, so only the activations'
// quantization separates the kernel from BLAS).
struct Q8Weights {
  std::vector<BlockQ8_0> q;
  std::vector<float> conv1d;
};

Q8Weights q8_weights(int64_t N, int64_t K, uint32_t seed) {
  const std::vector<float> w = randn(static_cast<size_t>(N * K), seed, 0.05f);
  Q8Weights r;
  r.q.resize(static_cast<size_t>(N * K / kQ8_0Block));
  r.conv1d.resize(w.size());
  for (int64_t n = 0; n < N; ++n) quantize_row_q8_0(w.data() + n * K, r.q.data() + n * K / kQ8_0Block, K);
  // The extremes a foreign file may hold: -128 quants (ours never write them) and a zero block.
  r.q[0].qs[0] = -128;
  r.q[1].qs[5] = -128;
  std::memset(r.q[2].qs, 0, sizeof r.q[2].qs);
  std::vector<float> row(static_cast<size_t>(K));
  for (int64_t n = 0; n < N; ++n) {
    dequantize_row_q8_0(r.q.data() + n * K / kQ8_0Block, row.data(), K);
    for (int64_t k = 0; k < K; ++k) r.conv1d[k * N + n] = row[k];
  }
  return r;
}

TEST(Q8_0Matmul, EveryPathEqualsTheScalarReferenceBitForBit) {
  for (auto [M, K, N] : {std::tuple{1, 768, 96}, {3, 96, 40}, {5, 64, 7}, {2, 3072, 33}}) {
    const Q8Weights w = q8_weights(N, K, 7);
    const std::vector<float> x = randn(static_cast<size_t>(M * K), 11), bias = randn(static_cast<size_t>(N), 13);
    std::vector<float> ref(static_cast<size_t>(M * N)), got(ref.size());
    matmul_q8_0_path(ref.data(), x.data(), w.q.data(), bias.data(), M, K, N, Q8Path::Scalar);
    int ran = 0;
    for (Q8Path p : {Q8Path::Avx2, Q8Path::AvxVnni, Q8Path::Avx512Vnni}) {
      if (!q8_path_available(p)) {
        std::printf("q8_0 path %s: not on this CPU, skipped\n", q8_path_name(p));
        continue;
      }
      ++ran;
      std::fill(got.begin(), got.end(), NAN);
      matmul_q8_0_path(got.data(), x.data(), w.q.data(), bias.data(), M, K, N, p);
      EXPECT_EQ(std::memcmp(got.data(), ref.data(), ref.size() * sizeof(float)), 0)
          << q8_path_name(p) << " M=" << M << " K=" << K << " N=" << N << ": " << got[0] << " vs " << ref[0];
    }
    if (M == 1) std::printf("q8_0: %d SIMD paths checked against the scalar reference\n", ran);
  }
}

TEST(Q8_0Matmul, IsCloseToTheFp32Product) {
  // Against BLAS on the dequantized weights, only the activations' rounding remains: each x_k moves
  // by at most d_x / 2 (d_x = max|x in its block| / 127), so |error| <= Σ_k |w_k| d_x / 2 (+ fp16
  // rounding of d_x, 2^-11 relative, and float sums). The bound checked: that sum, times 1.1.
  const int64_t M = 4, K = 768, N = 64;
  const Q8Weights w = q8_weights(N, K, 3);
  const std::vector<float> x = randn(static_cast<size_t>(M * K), 5);
  std::vector<float> got(static_cast<size_t>(M * N)), want(got.size());
  matmul_q8_0(got.data(), x.data(), w.q.data(), nullptr, M, K, N);
  matmul_forward(want.data(), x.data(), w.conv1d.data(), nullptr, M, K, N);
  double worst = 0;
  for (int64_t m = 0; m < M; ++m)
    for (int64_t n = 0; n < N; ++n) {
      double bound = 0;
      for (int64_t b = 0; b < K / kQ8_0Block; ++b) {
        float amax = 0;
        for (int64_t j = 0; j < kQ8_0Block; ++j) amax = std::fmax(amax, std::fabs(x[m * K + b * kQ8_0Block + j]));
        for (int64_t j = 0; j < kQ8_0Block; ++j)
          bound += std::fabs(w.conv1d[(b * kQ8_0Block + j) * N + n]) * amax / 127.0 * (0.5 + 1.0 / 2048);
      }
      const double err = std::fabs(got[m * N + n] - want[m * N + n]);
      EXPECT_LE(err, bound * 1.1 + 1e-5) << m << "," << n;
      worst = std::max(worst, err / bound);
    }
  std::printf("q8_0 vs fp32: worst error %.3f of the activation-rounding bound\n", worst);
  EXPECT_GT(worst, 0.0);  // the activations really are quantized
}

TEST(Bf16Matmul, EveryPathEqualsTheScalarReferenceBitForBit) {
  for (auto [M, K, N] : {std::tuple{1, 768, 96}, {3, 100, 40}, {2, 7, 5}}) {
    const std::vector<float> wf = randn(static_cast<size_t>(N * K), 17, 0.05f);
    std::vector<bf16_t> w(wf.size());
    f32_to_bf16_row(wf.data(), w.data(), w.size());
    const std::vector<float> x = randn(static_cast<size_t>(M * K), 19), bias = randn(static_cast<size_t>(N), 23);
    std::vector<float> ref(static_cast<size_t>(M * N)), got(ref.size());
    matmul_bf16_weights_path(ref.data(), x.data(), w.data(), bias.data(), M, K, N, Bf16WeightPath::Scalar);
    for (Bf16WeightPath p : {Bf16WeightPath::Avx2, Bf16WeightPath::Avx512}) {
      if (!bf16_weight_path_available(p)) {
        std::printf("bf16 path %s: not on this CPU, skipped\n", bf16_weight_path_name(p));
        continue;
      }
      matmul_bf16_weights_path(got.data(), x.data(), w.data(), bias.data(), M, K, N, p);
      EXPECT_EQ(std::memcmp(got.data(), ref.data(), ref.size() * sizeof(float)), 0)
          << bf16_weight_path_name(p) << " M=" << M << " K=" << K << ": " << got[0] << " vs " << ref[0];
    }
  }
}

TEST(Bf16Matmul, EqualsFp32OnTheRoundedWeights) {
  // The products are exact fp32 products of the bf16 weights: against BLAS on the same rounded
  // weights only the summation order differs (relative 1e-5 of Σ|w x|), for one row (the dot
  // kernels) and many (widened tiles through sgemm).
  for (int64_t M : {int64_t{1}, kBf16GemmRows + 6}) {
    const int64_t K = 768, N = 80;
    const std::vector<float> wf = randn(static_cast<size_t>(N * K), 29, 0.05f);
    std::vector<bf16_t> w(wf.size());
    f32_to_bf16_row(wf.data(), w.data(), w.size());
    std::vector<float> conv1d(wf.size());
    for (int64_t n = 0; n < N; ++n)
      for (int64_t k = 0; k < K; ++k) conv1d[k * N + n] = bf16_to_f32(w[n * K + k]);
    const std::vector<float> x = randn(static_cast<size_t>(M * K), 31);
    std::vector<float> got(static_cast<size_t>(M * N)), want(got.size());
    matmul_bf16_weights(got.data(), x.data(), w.data(), nullptr, M, K, N);
    matmul_forward(want.data(), x.data(), conv1d.data(), nullptr, M, K, N);
    for (int64_t m = 0; m < M; ++m)
      for (int64_t n = 0; n < N; ++n) {
        double mag = 0;
        for (int64_t k = 0; k < K; ++k) mag += std::fabs(conv1d[k * N + n] * x[m * K + k]);
        EXPECT_NEAR(got[m * N + n], want[m * N + n], 1e-5 * mag) << "M=" << M << " " << m << "," << n;
      }
  }
}

GPTConfig small_config() {
  GPTConfig c;
  c.vocab_size = 300;
  c.context_length = 32;
  c.emb_dim = 64;
  c.n_heads = 4;
  c.n_layers = 2;
  c.drop_rate = 0.0f;
  return c;
}

TEST(InferenceWeights, PackedModelsDecodeLikeFp32) {
  GPT m(small_config());
  m.init_weights(42);
  const std::vector<int32_t> prompt = {5, 17, 250, 3, 99, 7};
  const int64_t V = m.config().vocab_size;
  auto run = [&]() {
    KVCache cache(m.config());
    std::vector<float> a(static_cast<size_t>(V)), out;
    m.prefill(prompt.data(), static_cast<int64_t>(prompt.size()), cache, a.data());
    out = a;
    m.decode_step(42, cache, a.data());
    out.insert(out.end(), a.begin(), a.end());
    return out;
  };
  const std::vector<float> fp32 = run();
  float amax = 0;
  for (float v : fp32) amax = std::max(amax, std::fabs(v));
  for (WeightFormat f : {WeightFormat::BF16, WeightFormat::Q8_0}) {
    m.set_inference_weights(InferenceWeights::pack(m, f));
    ASSERT_NE(m.inference_weights()->find("h.1.mlp.c_proj.weight"), nullptr);
    ASSERT_NE(m.inference_weights()->find(kPackedHead), nullptr);
    const std::vector<float> got = run();
    float err = 0;
    for (size_t i = 0; i < got.size(); ++i) err = std::max(err, std::fabs(got[i] - fp32[i]));
    // bf16 weights: 2^-9 relative each; Q8_0: 1/254 of a block's max for weights and activations.
    const float bound = (f == WeightFormat::BF16 ? 0.01f : 0.05f) * amax;
    std::printf("%s: max |logit - fp32| = %.5f (max |logit| %.3f)\n", f == WeightFormat::BF16 ? "bf16" : "q8_0", err,
                amax);
    EXPECT_LE(err, bound);
    EXPECT_GT(err, 0.0f);  // the packed weights were really used
  }
  m.enable_grads();  // training drops them: fp32 again, bit for bit
  EXPECT_EQ(m.inference_weights(), nullptr);
  EXPECT_EQ(run(), fp32);
}

TEST(InferenceWeights, ReleasingTheFp32BlockWeightsKeepsTheOutputAndStopsTraining) {
  GPTConfig c = small_config();
  c.emb_dim = 256;  // matrices of many pages, so that most of their memory is given back
  GPT m(c);
  m.init_weights(7);
  m.set_inference_weights(InferenceWeights::pack(m, WeightFormat::Q8_0));
  const std::vector<int32_t> tokens = {1, 2, 3, 4, 5};
  std::vector<float> before(static_cast<size_t>(c.vocab_size)), after(before.size());
  m.logits(tokens.data(), 1, 5, before.data(), true);
  m.release_packed_fp32();
  float zeros = 0;  // the fp32 matrix now reads as zeros (its interior pages are gone)
  const float* w = m.params().data("h.0.mlp.c_fc.weight");
  for (int64_t i = 0; i < 4 * c.emb_dim * c.emb_dim; ++i) zeros += w[i] == 0.0f;
  EXPECT_GT(zeros, 0.9f * 4 * c.emb_dim * c.emb_dim);
  m.logits(tokens.data(), 1, 5, after.data(), true);
  EXPECT_EQ(after, before);
  EXPECT_THROW(m.enable_grads(), Error);
  EXPECT_THROW(m.set_inference_weights(nullptr), Error);
}

}  // namespace
}  // namespace slm
