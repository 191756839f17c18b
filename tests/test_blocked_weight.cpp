// test_blocked_weight.cpp — bf16 operands packed in oneDNN's blocked layout (kernels/blocked_weight.h;
// mixed precision, chapter 5 "going further"): the layout is the one oneDNN's GEMM multiplies, the
// packers from fp32 round as every bf16 copy is rounded, and the products on packed operands (the
// head's logits and input gradient, a layer's weight gradient on its packed output gradient) are
// the products on the plain operands, bit for bit, on both GEMM paths.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <limits>
#include <utility>
#include <vector>

#include "bf16_test_util.h"
#include "scratchlm/kernels/blocked_weight.h"
#include "scratchlm/kernels/cross_entropy.h"
#include "scratchlm/kernels/matmul_bf16.h"
#include "scratchlm/model/gpt.h"
#include "scratchlm/util/cpu_features.h"

using namespace slm;
using namespace slm::test;

TEST(BlockedWeight, TheLayoutIsOneDnnsAndGivesThePlainWeightsProducts) {
  // pack_blocked_weight writes oneDNN's BA16a64b2a layout (K = 131 and N = 72 off its 32 x 64
  // blocks: the padding zero); the input gradient on it equals the one on the plain weight, and
  // a head of 7 chunks gives the loss and dx of a head in one chunk.
  const int64_t M = 21, C = 72, V = 131;
  const auto x = randn(static_cast<size_t>(M * C), 20), Wt = randn(static_cast<size_t>(V * C), 21, 0.2f);
  const auto Wt16 = to_bf16(Wt);
  std::vector<bf16_t> packed(static_cast<size_t>(blocked_weight_size(V, C)), 0x7777);
  ASSERT_EQ(packed.size(), 160u * 128u);
  pack_blocked_weight(packed.data(), Wt16.data(), V, C);
  for (int64_t k = 0; k < 160; ++k)
    for (int64_t n = 0; n < 128; ++n) {
      const size_t at =
          static_cast<size_t>((n / 64) * 160 * 64 + (k / 32) * 2048 + ((k % 32) / 2) * 128 + (n % 64) * 2 + k % 2);
      ASSERT_EQ(packed[at], k < V && n < C ? Wt16[static_cast<size_t>(k * C + n)] : bf16_t{0}) << k << ", " << n;
    }
  // The logits' weight, Wt16^T [C, V], from Wt16: the layout of the transposed matrix, and the same
  // logits on it.
  std::vector<bf16_t> W16(Wt16.size()), packed_t(static_cast<size_t>(blocked_weight_size(C, V)), 0x7777),
      want_t(packed_t.size(), 0x5555);
  for (int64_t v = 0; v < V; ++v)
    for (int64_t k = 0; k < C; ++k) W16[static_cast<size_t>(k * V + v)] = Wt16[static_cast<size_t>(v * C + k)];
  pack_blocked_weight_t(packed_t.data(), Wt16.data(), C, V);
  pack_blocked_weight(want_t.data(), W16.data(), C, V);
  EXPECT_EQ(packed_t, want_t);
  const auto g = to_bf16(randn(static_cast<size_t>(M * V), 22, 0.01f));
  std::vector<int32_t> t(static_cast<size_t>(M));
  for (int64_t i = 0; i < M; ++i) t[i] = static_cast<int32_t>((i * 53) % V);
  PathGuard guard;
  for (Bf16Path path : paths()) {
    set_bf16_path(path);
    std::vector<float> plain(static_cast<size_t>(M * C)), blocked(plain.size());
    matmul_backward_wt_bf16_rounded(plain.data(), nullptr, g.data(), V, x.data(), Wt16.data(), M, C, V);
    matmul_backward_wt_bf16_rounded(blocked.data(), nullptr, g.data(), V, x.data(), Wt16.data(), M, C, V, false,
                                    packed.data());
    EXPECT_EQ(blocked, plain) << bf16_path_name(path);
    std::vector<bf16_t> l_plain(static_cast<size_t>(M * V)), l_blocked(l_plain.size());
    matmul_forward_wt_bf16_out16(l_plain.data(), x.data(), Wt16.data(), M, C, V);
    matmul_forward_wt_bf16_out16(l_blocked.data(), x.data(), Wt16.data(), M, C, V, packed_t.data());
    EXPECT_EQ(l_blocked, l_plain) << bf16_path_name(path);
    std::vector<float> one(plain.size()), seven(plain.size());
    std::vector<float> scratch(static_cast<size_t>(M * V)), dW1(static_cast<size_t>(V * C)), dW7(dW1.size());
    std::vector<float> loss1(static_cast<size_t>(M)), loss7(loss1.size());
    head_cross_entropy(x.data(), Wt.data(), t.data(), M, C, V, one.data(), dW1.data(), 0.05f, scratch.data(), M,
                       loss1.data(), Precision::Bf16);
    head_cross_entropy(x.data(), Wt.data(), t.data(), M, C, V, seven.data(), dW7.data(), 0.05f, scratch.data(), 3,
                       loss7.data(), Precision::Bf16);
    EXPECT_EQ(seven, one) << bf16_path_name(path);
    EXPECT_EQ(loss7, loss1) << bf16_path_name(path);
  }
}

TEST(BlockedWeight, TheHeadsOnePassPackingRoundsAndLaysOutBothWeights) {
  // pack_blocked_weight_both from fp32 gives the two packings of the rounded copy (ties,
  // subnormals, inf and NaN included), on shapes off the 64 x 64 tiles; w may be left out.
  if (!cpu_features().avx512bw) GTEST_SKIP() << "needs AVX-512";
  for (auto [N, K] : {std::pair<int64_t, int64_t>{131, 72}, {64, 64}, {97, 40}, {200, 96}}) {
    auto Wt = randn(static_cast<size_t>(N * K), 30);
    const float specials[] = {std::numeric_limits<float>::infinity(),
                              -std::numeric_limits<float>::infinity(),
                              std::numeric_limits<float>::quiet_NaN(),
                              std::bit_cast<float>(0x00008000u),
                              std::bit_cast<float>(0x3f808000u),
                              std::bit_cast<float>(0x3f818000u),
                              -0.0f};
    for (size_t i = 0; i < std::size(specials); ++i) Wt[i * 53 % Wt.size()] = specials[i];
    const auto Wt16 = to_bf16(Wt);
    // (the outputs 64-byte aligned, as it requires)
    std::vector<bf16_t> t_mem(static_cast<size_t>(blocked_weight_size(K, N) + 32), 1),
        w_mem(blocked_weight_size(N, K) + 32, 2), to_mem(t_mem.size(), 5);
    auto at64 = [](std::vector<bf16_t>& v) {
      return v.data() + (64 - reinterpret_cast<uintptr_t>(v.data()) % 64) % 64 / 2;
    };
    bf16_t *t = at64(t_mem), *w = at64(w_mem), *t_only = at64(to_mem);
    std::vector<bf16_t> want_t(static_cast<size_t>(blocked_weight_size(K, N)), 3), want_w(blocked_weight_size(N, K), 4);
    pack_blocked_weight_both(t, w, Wt.data(), N, K);
    pack_blocked_weight_t(want_t.data(), Wt16.data(), K, N);
    pack_blocked_weight(want_w.data(), Wt16.data(), N, K);
    EXPECT_EQ(std::vector<bf16_t>(t, t + want_t.size()), want_t) << N << " x " << K;
    EXPECT_EQ(std::vector<bf16_t>(w, w + want_w.size()), want_w) << N << " x " << K;
    pack_blocked_weight_both(t_only, nullptr, Wt.data(), N, K);
    EXPECT_EQ(std::vector<bf16_t>(t_only, t_only + want_t.size()), want_t) << N << " x " << K;
  }
}

TEST(BlockedWeight, AWeightGradientOnThePackedOutputGradientIsTheGemmsOwn) {
  // matmul_backward_bf16_rounded packs dY (rows ldd apart) for dW += X^T dY on the native path:
  // the same sums as the GEMM on the plain dY, accumulated onto what dW held, down to one token,
  // all on oneDNN's AVX-512 kernels.
  const int64_t before = gemm_reference_primitives();
  for (const int64_t M : {1, 7, 45}) {
    const int64_t K = 40, N = 72, ldd = 80;
    const auto x16 = to_bf16(randn(static_cast<size_t>(M * K), 31));
    const auto d16 = to_bf16(randn(static_cast<size_t>(M * ldd), 32, 0.1f));
    const auto W16 = to_bf16(randn(static_cast<size_t>(K * N), 33, 0.2f));
    const auto start = randn(static_cast<size_t>(K * N), 34);
    PathGuard guard;
    for (Bf16Path path : paths()) {
      set_bf16_path(path);
      std::vector<float> dW = start, want = start, dx(static_cast<size_t>(M * K)), want_dx(dx.size());
      matmul_backward_bf16_rounded(dx.data(), dW.data(), d16.data(), ldd, x16.data(), W16.data(), M, K, N);
      gemm_bf16(true, false, K, N, M, x16.data(), K, d16.data(), ldd, true, want.data(), N, path);
      gemm_bf16(false, true, M, K, N, d16.data(), ldd, W16.data(), N, false, want_dx.data(), K, path);
      EXPECT_EQ(dW, want) << bf16_path_name(path) << ", M = " << M;
      EXPECT_EQ(dx, want_dx) << bf16_path_name(path) << ", M = " << M;
    }
  }
  EXPECT_EQ(gemm_reference_primitives(), before);
}

TEST(BlockedWeight, LargeProductsOnThePackedWeightGiveTheSameSums) {
  // From 256 rows the native path packs the weight (of the forward product, and transposed of the
  // input gradient's); the rows of a large product equal those of the same rows multiplied 100 at
  // a time, which take the GEMM's own copy. (The fallback's sgemm may sum differently for another
  // row count.)
  if (paths().back() != Bf16Path::Native) GTEST_SKIP() << "no native bf16 path on this CPU";
  const int64_t M = 300, K = 72, N = 136;
  const auto x16 = to_bf16(randn(static_cast<size_t>(M * K), 40));
  const auto d16 = to_bf16(randn(static_cast<size_t>(M * N), 41, 0.1f));
  const auto W16 = to_bf16(randn(static_cast<size_t>(K * N), 42, 0.2f));
  const auto bias = randn(static_cast<size_t>(N), 43);
  PathGuard guard;
  const int64_t before = gemm_reference_primitives();
  for (Bf16Path path : {Bf16Path::Native}) {
    set_bf16_path(path);
    std::vector<float> y(static_cast<size_t>(M * N)), y_rows(y.size()), dx(static_cast<size_t>(M * K)),
        dx_rows(dx.size());
    std::vector<bf16_t> y16(y.size()), y16_rows(y.size());
    matmul_forward_bf16_in16(y.data(), x16.data(), W16.data(), bias.data(), M, K, N);
    matmul_forward_bf16_in16_out16(y16.data(), x16.data(), W16.data(), bias.data(), M, K, N);
    matmul_backward_bf16_rounded(dx.data(), nullptr, d16.data(), N, x16.data(), W16.data(), M, K, N);
    for (int64_t r0 = 0; r0 < M; r0 += 100) {
      matmul_forward_bf16_in16(y_rows.data() + r0 * N, x16.data() + r0 * K, W16.data(), bias.data(), 100, K, N);
      matmul_forward_bf16_in16_out16(y16_rows.data() + r0 * N, x16.data() + r0 * K, W16.data(), bias.data(), 100, K, N);
      matmul_backward_bf16_rounded(dx_rows.data() + r0 * K, nullptr, d16.data() + r0 * N, N, x16.data(), W16.data(),
                                   100, K, N);
    }
    EXPECT_EQ(y, y_rows) << bf16_path_name(path);
    EXPECT_EQ(y16, y16_rows) << bf16_path_name(path);
    EXPECT_EQ(dx, dx_rows) << bf16_path_name(path);
  }
  EXPECT_EQ(gemm_reference_primitives(), before);
}

TEST(BlockedWeight, ATrainingStepRunsNoReferenceGemm) {
  // A bf16 step of 256 rows packs its weights, output gradients and head weight for oneDNN; every
  // product it then asks for runs on oneDNN's AVX-512 kernels, none on its reference code (which
  // takes, for one, a strided A with a blocked B: c_fc's input gradient reads rows 8C apart).
  if (paths().back() != Bf16Path::Native) GTEST_SKIP() << "no native bf16 path on this CPU";
  PathGuard guard;
  set_bf16_path(Bf16Path::Native);
  GPTConfig c;
  c.vocab_size = 97;
  c.context_length = 64;
  c.emb_dim = 64;
  c.n_heads = 4;
  c.n_layers = 2;
  c.drop_rate = 0.0f;
  GPT m(c);
  m.init_weights(3);
  m.set_precision(Precision::Bf16);
  m.enable_grads();
  const int64_t B = 4, T = 64;
  std::vector<int32_t> tok(static_cast<size_t>(B * T));
  for (size_t i = 0; i < tok.size(); ++i) tok[i] = static_cast<int32_t>(i * 31 % 97);
  const int64_t before = gemm_reference_primitives();
  const float loss = m.forward(tok.data(), tok.data(), B, T, true);
  m.backward();
  EXPECT_TRUE(std::isfinite(loss));
  EXPECT_EQ(gemm_reference_primitives(), before);
}
