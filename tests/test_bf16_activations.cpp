// test_bf16_activations.cpp — the bf16 activations of mixed-precision training (issue 15 §3,
// chapter 5 "going further"): the LayerNorm, attention and GELU kernels that write their outputs as bf16
// matmul operands write exactly the fp32 outputs rounded, the matmuls on such an operand give
// bit for bit what they give on the fp32 input they used to round themselves (so forming only the
// operand changes no result), and a bf16 model's activation arena shrinks by what it stops
// holding (ln_1, ln_2 and the GELU output of every saved block; the attention output in bf16 only),
// with the estimate GPT::activation_bytes_for counting the same difference.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <vector>

#include "bf16_test_util.h"
#include "scratchlm/kernels/attention.h"
#include "scratchlm/kernels/cross_entropy.h"
#include "scratchlm/kernels/gelu.h"
#include "scratchlm/kernels/layernorm.h"
#include "scratchlm/kernels/matmul_bf16.h"
#include "scratchlm/model/gpt.h"
#include "scratchlm/model/kv_cache.h"
#include "scratchlm/model/lora.h"
#include "scratchlm/tensor/rng.h"

using namespace slm;
using namespace slm::test;

namespace {

GPTConfig tiny() {
  GPTConfig c;
  c.vocab_size = 97;
  c.context_length = 16;
  c.emb_dim = 32;
  c.n_heads = 4;
  c.n_layers = 3;
  c.drop_rate = 0.0f;
  return c;
}

}  // namespace

TEST(Bf16Activations, LayerNormAndGeluWriteTheirFp32OutputsRounded) {
  const int64_t rows = 37, C = 200;  // above the parallel threshold and not a multiple of the vector width
  auto x = randn(static_cast<size_t>(rows * C), 1, 3.0f);
  x[5] = std::bit_cast<float>(0x7fc00001u);  // a NaN row stays NaN (rounded quietly, as f32_to_bf16)
  const auto w = randn(static_cast<size_t>(C), 2), b = randn(static_cast<size_t>(C), 3);
  std::vector<float> y(x.size()), m(rows), rs(rows), m16(rows), rs16(rows);
  std::vector<bf16_t> y16(x.size());
  layernorm_forward(y.data(), m.data(), rs.data(), x.data(), w.data(), b.data(), rows, C, 1e-5f);
  layernorm_forward_bf16(y16.data(), m16.data(), rs16.data(), x.data(), w.data(), b.data(), rows, C, 1e-5f);
  // The bf16 forward sums its statistics in vector lanes, the fp32 one in a single running double:
  // the floats they round to agree to the last bit or within one ulp. Where they agree (all rows
  // here), so does every output, rounded.
  int64_t same = 0;
  for (int64_t r = 0; r < rows; ++r) {
    const auto ulps = [](float a, float b) {
      return std::abs(static_cast<int64_t>(std::bit_cast<int32_t>(a)) - std::bit_cast<int32_t>(b));
    };
    if (r == 0) {  // the NaN row
      ASSERT_TRUE(std::isnan(m16[r]) && std::isnan(m[r]));
    } else {
      ASSERT_LE(ulps(m16[r], m[r]), 1) << r;
      ASSERT_LE(ulps(rs16[r], rs[r]), 1) << r;
      if (m16[r] != m[r] || rs16[r] != rs[r]) continue;
    }
    ++same;
    for (int64_t i = 0; i < C; ++i)
      ASSERT_EQ(y16[r * C + i], f32_to_bf16(y[r * C + i])) << "layernorm " << r << " " << i;
  }
  EXPECT_GE(same, rows - 2);
  // The backward pass's re-formed operand, from the saved mean and rstd: the same bits.
  std::vector<bf16_t> again(x.size(), 0x7777);
  layernorm_apply_bf16(again.data(), x.data(), m16.data(), rs16.data(), w.data(), b.data(), rows, C);
  EXPECT_EQ(again, y16);
  const int64_t n = int64_t{1} << 16;  // the parallel loop
  // The GELU reads c_fc's bf16 output: the fp32 GELU of those values, rounded.
  auto u = randn(static_cast<size_t>(n), 4, 4.0f);
  u[7] = std::bit_cast<float>(0x7f800000u);
  const auto u16 = to_bf16(u);
  for (size_t i = 0; i < u.size(); ++i) u[i] = bf16_to_f32(u16[i]);
  std::vector<float> g(u.size());
  std::vector<bf16_t> g16(u.size());
  gelu_forward(g.data(), u.data(), n);
  gelu_forward_bf16(g16.data(), u16.data(), n);
  for (size_t i = 0; i < g.size(); ++i) ASSERT_EQ(g16[i], f32_to_bf16(g[i])) << "gelu " << i;
}

TEST(Bf16Activations, TheLaneSummedLayerNormBackwardAgreesWithTheRunningSums) {
  // layernorm_backward_bf16 adds each row's two sums in vector lanes: dinp within float rounding of
  // layernorm_backward's, dweight and dbias (the same loops) bit for bit.
  const int64_t rows = 41, C = 300;
  const auto x = randn(static_cast<size_t>(rows * C), 11, 2.0f), dy = randn(x.size(), 12);
  const auto w = randn(static_cast<size_t>(C), 13), b = randn(static_cast<size_t>(C), 14);
  std::vector<float> y(x.size()), m(rows), rs(rows);
  layernorm_forward(y.data(), m.data(), rs.data(), x.data(), w.data(), b.data(), rows, C, 1e-5f);
  std::vector<float> dx(x.size(), 0.5f), dx2(dx), dw(C, 0.25f), dw2(dw), db(C, -1.0f), db2(db);
  layernorm_backward(dx.data(), dw.data(), db.data(), dy.data(), x.data(), w.data(), m.data(), rs.data(), rows, C,
                     true);
  layernorm_backward_bf16(dx2.data(), dw2.data(), db2.data(), dy.data(), x.data(), w.data(), m.data(), rs.data(), rows,
                          C, true);
  EXPECT_EQ(dw2, dw);
  EXPECT_EQ(db2, db);
  double worst = 0.0;
  for (size_t i = 0; i < dx.size(); ++i) worst = std::max(worst, std::abs(static_cast<double>(dx2[i]) - dx[i]));
  EXPECT_LT(worst, 2e-5);  // (0 where the compiler leaves the lanes unvectorized: the ASan build)
}

TEST(Bf16Activations, TheFusedGeluBackwardWritesTheSeparatePassesValues) {
  // gelu_backward_bf16 on bf16 pre-activations: the GELU output's operand (= gelu_forward_bf16), the
  // gradient rounded into
  // each row's first half (= gelu_backward's values rounded) and the bias gradient (the column
  // sums, to fp32 rounding; the same bits again for the same thread count), with and without act16.
  const int64_t M = 203, N = 96;  // rows over the parallel split, N off the vector width's multiples
  const auto x16 = to_bf16(randn(static_cast<size_t>(M * N), 21, 3.0f));
  const auto dy = randn(x16.size(), 22);
  std::vector<float> x(x16.size()), want(x.size());
  for (size_t i = 0; i < x.size(); ++i) x[i] = bf16_to_f32(x16[i]);
  std::vector<bf16_t> act_want(x.size());
  gelu_backward(want.data(), x.data(), dy.data(), M * N);
  gelu_forward_bf16(act_want.data(), x16.data(), M * N);
  std::vector<float> bias_first;
  for (const bool with_act : {true, false}) {
    std::vector<float> g = dy, dbias(static_cast<size_t>(N), 0.5f);
    std::vector<bf16_t> act(x.size(), 0x7777);
    gelu_backward_bf16(with_act ? act.data() : nullptr, g.data(), dbias.data(), x16.data(), M, N);
    if (with_act) {
      EXPECT_EQ(act, act_want);
    }
    for (int64_t r = 0; r < M; ++r) {
      bf16_t row[96];
      std::memcpy(row, g.data() + r * N, sizeof row);
      for (int64_t i = 0; i < N; ++i) ASSERT_EQ(row[i], f32_to_bf16(want[r * N + i])) << r << ", " << i;
    }
    for (int64_t i = 0; i < N; ++i) {
      double sum = 0.5;
      for (int64_t r = 0; r < M; ++r) sum += want[r * N + i];
      ASSERT_NEAR(dbias[i], sum, 1e-5 * (1.0 + std::fabs(sum))) << i;
    }
    if (bias_first.empty())
      bias_first = dbias;
    else
      EXPECT_EQ(dbias, bias_first);
  }
}

TEST(Bf16Activations, AttentionWritesItsFp32OutputRounded) {
  const int64_t B = 2, T = 19, C = 48, H = 3;
  const auto qkv = randn(static_cast<size_t>(B * T * 3 * C), 12);
  for (const float p : {0.0f, 0.2f}) {
    std::vector<float> out(static_cast<size_t>(B * T * C)), lse(static_cast<size_t>(B * H * T)), lse16(lse.size());
    std::vector<bf16_t> out16(out.size());
    attention_forward(out.data(), lse.data(), qkv.data(), B, T, C, H, p, 77);
    attention_forward_bf16(out16.data(), lse16.data(), qkv.data(), B, T, C, H, p, 77);
    for (size_t i = 0; i < out.size(); ++i) ASSERT_EQ(out16[i], f32_to_bf16(out[i])) << "p " << p << " at " << i;
    EXPECT_EQ(lse16, lse);
  }
}

TEST(Bf16Activations, MatmulsOnTheRoundedInputEqualThoseThatRoundItThemselves) {
  PathGuard guard;
  for (Bf16Path path : paths()) {
    set_bf16_path(path);
    const int64_t M = 48, K = 96, N = 80;
    const auto x = randn(static_cast<size_t>(M * K), 5), W = randn(static_cast<size_t>(K * N), 6, 0.1f);
    const auto bias = randn(static_cast<size_t>(N), 7), dy = randn(static_cast<size_t>(M * N), 8);
    const auto x16 = to_bf16(x), W16 = to_bf16(W);
    std::vector<float> out(static_cast<size_t>(M * N)), out16(out.size());
    matmul_forward_bf16(out.data(), x.data(), W16.data(), bias.data(), M, K, N);
    matmul_forward_bf16_in16(out16.data(), x16.data(), W16.data(), bias.data(), M, K, N);
    EXPECT_EQ(out16, out) << bf16_path_name(path);
    const auto dW0 = randn(static_cast<size_t>(K * N), 9);
    std::vector<float> dx(static_cast<size_t>(M * K)), dx16(dx.size()), dW = dW0, dW16 = dW0;
    std::vector<float> db(static_cast<size_t>(N), 0.25f), db16 = db;
    matmul_backward_bf16(dx.data(), dW.data(), db.data(), dy.data(), x.data(), W16.data(), M, K, N);
    matmul_backward_bf16_in16(dx16.data(), dW16.data(), db16.data(), dy.data(), x16.data(), W16.data(), M, K, N);
    EXPECT_EQ(dx16, dx) << bf16_path_name(path);
    EXPECT_EQ(dW16, dW) << bf16_path_name(path);
    EXPECT_EQ(db16, db) << bf16_path_name(path);
  }
}

TEST(Bf16Activations, TheHeadsLogitsAreBf16AndTheirGradientTakesTheirPlace) {
  // In bf16 runs the head writes its logits in bf16 (the fp32 sums rounded, as autocast's bf16
  // head gives them), takes the softmax and loss of those in fp32, and rounds each logit's
  // gradient into the logit's place (rows V apart); dx and dWt are the products on that gradient.
  // C = 48: the weight gradient on the tiles (bf16_tile_gemm_at); C = 40: on oneDNN.
  PathGuard guard;
  for (Bf16Path path : paths()) {
    set_bf16_path(path);
    for (const int64_t C : {48, 40}) {
      const int64_t M = 21, V = 131;
      const auto x = randn(static_cast<size_t>(M * C), 10), Wt = randn(static_cast<size_t>(V * C), 11, 0.2f);
      const auto Wt16 = to_bf16(Wt);
      std::vector<int32_t> t(static_cast<size_t>(M));
      for (int64_t i = 0; i < M; ++i) t[i] = static_cast<int32_t>((i * 37) % V);
      t[3] = kIgnoreIndex;
      const float dscale = 1.0f / 20.0f;
      // The logits: the fp32 products rounded, bit for bit.
      std::vector<float> l32(static_cast<size_t>(M * V));
      std::vector<bf16_t> l16(l32.size());
      matmul_forward_wt_bf16(l32.data(), x.data(), Wt16.data(), M, C, V);
      matmul_forward_wt_bf16_out16(l16.data(), x.data(), Wt16.data(), M, C, V);
      for (size_t i = 0; i < l16.size(); ++i) ASSERT_EQ(l16[i], f32_to_bf16(l32[i])) << bf16_path_name(path) << i;

      std::vector<float> scratch(static_cast<size_t>(M * V + 1) / 2), dx(static_cast<size_t>(M * C)),
          loss(static_cast<size_t>(M));
      std::vector<float> dWt(static_cast<size_t>(V * C), 0.0f);
      head_cross_entropy(x.data(), Wt.data(), t.data(), M, C, V, dx.data(), dWt.data(), dscale, scratch.data(), M,
                         loss.data(), Precision::Bf16);
      std::vector<bf16_t> g(static_cast<size_t>(M * V));
      std::memcpy(g.data(), scratch.data(), sizeof(bf16_t) * g.size());
      for (int64_t i = 0; i < M; ++i) {
        if (t[i] == kIgnoreIndex) {
          EXPECT_EQ(loss[i], 0.0f);
          for (int64_t v = 0; v < V; ++v) ASSERT_EQ(bf16_to_f32(g[i * V + v]), 0.0f) << "ignored row " << i;
          continue;
        }
        double mx = -1e30, sum = 0.0;
        for (int64_t v = 0; v < V; ++v) mx = std::max(mx, double(bf16_to_f32(l16[i * V + v])));
        for (int64_t v = 0; v < V; ++v) sum += std::exp(double(bf16_to_f32(l16[i * V + v])) - mx);
        const double lse = mx + std::log(sum);
        // the loss of the rounded logits (the unrounded ones are ~1e-2 away here)
        ASSERT_NEAR(loss[i], lse - bf16_to_f32(l16[i * V + t[i]]), 2e-5) << "row " << i;
        for (int64_t v = 0; v < V; ++v) {
          const double want = (std::exp(double(bf16_to_f32(l16[i * V + v])) - lse) - (v == t[i])) * dscale;
          ASSERT_NEAR(bf16_to_f32(g[i * V + v]), want, std::fabs(want) / 256 + 1e-9) << i << ", " << v;
        }
      }
      std::vector<float> rdx(dx.size()), rdWt(dWt.size(), 0.0f);
      matmul_backward_wt_bf16_rounded(rdx.data(), rdWt.data(), g.data(), V, x.data(), Wt16.data(), M, C, V);
      EXPECT_EQ(rdx, dx) << bf16_path_name(path);
      EXPECT_EQ(rdWt, dWt) << bf16_path_name(path);
      for (int64_t v = 0; v < V; v += 13)  // and dWt is g^T x16
        for (int64_t k = 0; k < C; k += 7) {
          double want = 0.0;
          for (int64_t i = 0; i < M; ++i) want += double(bf16_to_f32(g[i * V + v])) * round_to_bf16(x[i * C + k]);
          ASSERT_NEAR(dWt[v * C + k], want, 1e-6) << v << ", " << k;
        }
    }
  }
}

TEST(Bf16Activations, ATrainingModelsCachedPassesGiveTheLogitsOfAnInferenceModel) {
  // A bf16 run samples text as it trains (the model's arena then keeps c_attn's output in bf16):
  // prefill and decode with a KV cache give the same logits as the same model without gradients.
  const GPTConfig c = tiny();
  GPT t(c), g(c);
  t.init_weights(7);
  g.init_weights(7);
  t.set_precision(Precision::Bf16);
  g.set_precision(Precision::Bf16);
  t.enable_grads();
  const int64_t B = 2, T = 16, V = c.vocab_size;
  const std::vector<int32_t> tok(static_cast<size_t>(B * T), 5);
  t.forward(tok.data(), tok.data(), B, T, true);  // the training arena
  t.set_training(false);
  const std::vector<int32_t> prompt = {1, 2, 3, 4, 5};
  KVCache ct(c), cg(c);
  std::vector<float> lt(static_cast<size_t>(V)), lg(lt.size());
  t.prefill(prompt.data(), 5, ct, lt.data());
  g.prefill(prompt.data(), 5, cg, lg.data());
  EXPECT_EQ(lt, lg);
  for (const int32_t next : {7, 9}) {
    t.decode_step(next, ct, lt.data());
    g.decode_step(next, cg, lg.data());
    EXPECT_EQ(lt, lg) << next;
  }
}

TEST(Bf16Activations, ABf16ModelsArenaDropsTheFp32CopiesOfTheMatmulOnlyActivations) {
  const GPTConfig c = tiny();
  const int64_t B = 2, T = 16, M = B * T, C = c.emb_dim, L = c.n_layers;
  const std::vector<int32_t> tok(static_cast<size_t>(M), 5);
  auto arena = [&](GPT& g) {
    g.enable_grads();
    g.forward(tok.data(), tok.data(), B, T, true);
    return static_cast<int64_t>(g.activation_bytes());
  };
  GPT f(c), h(c);
  h.set_precision(Precision::Bf16);
  const int64_t fp32 = arena(f), bf16 = arena(h);
  // Per block ln_1 (M x C), ln_2 (M x C) and the GELU output (M x 4C) no longer kept (their bf16
  // operands live in the backward pass's scratch), the attention output (M x C), the GELU's input
  // (M x 4C) and c_attn's output (M x 3C) in 2 bytes, not 4; and the head's logits (all M rows fit
  // one chunk here) in 2 bytes, not 4.
  const int64_t V = c.vocab_size, logits = M * V * 2;
  // (Less one fp32 c_attn output that every block shares, for passes with KV caches.)
  const int64_t saved =
      L * (M * C + M * C + M * 4 * C) * 4 + L * (M * C + M * 4 * C + M * 3 * C) * 2 + logits - M * 3 * C * 4;
  EXPECT_EQ(fp32 - bf16, saved);
  EXPECT_EQ(static_cast<int64_t>(GPT::activation_bytes_for(c, B, T, true)) -
                static_cast<int64_t>(GPT::activation_bytes_for(c, B, T, true, Precision::Bf16)),
            saved);
  // Back in fp32 the arena is laid out as before.
  h.set_precision(Precision::Fp32);
  h.forward(tok.data(), tok.data(), B, T, true);
  EXPECT_EQ(static_cast<int64_t>(h.activation_bytes()), fp32);
  // With LoRA adapters the layers read their fp32 inputs: no bf16 activations, only the logits.
  GPTConfig lc = c;
  lc.lora = parse_lora_targets("attn,mlp", 2, 4.0f);
  GPT lf(lc), lh(lc);
  lh.set_precision(Precision::Bf16);
  EXPECT_EQ(arena(lf) - arena(lh), logits);
}
