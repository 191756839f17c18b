// test_attention_bf16.cpp — the tiled bf16 attention of a mixed-precision training run
// (kernels/attention_bf16.h) and its tile GEMMs (kernels/bf16_tile_gemm.h), on every bf16 path
// this CPU has (the fallback forced with set_bf16_path), against the fp32 attention of attention.h;
// and the packing and transposed-A tiles of the head's weight gradient.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <iterator>
#include <limits>
#include <vector>

#include "bf16_test_util.h"
#include "scratchlm/kernels/attention.h"
#include "scratchlm/kernels/attention_bf16.h"
#include "scratchlm/kernels/bf16_tile_gemm.h"

using namespace slm;
using namespace slm::test;

namespace {

struct Shape {
  int64_t B, T, C, H;
};
// Odd T (not a multiple of any tile), one head, batch 1, head sizes 64, 16, 30 and an odd 5.
const Shape kShapes[] = {{1, 37, 64, 1}, {2, 19, 48, 3}, {1, 70, 60, 2}, {2, 9, 10, 2}};
constexpr uint64_t kKey = 991;

std::vector<float> rounded(std::vector<float> v) {
  for (auto& x : v) x = round_to_bf16(x);
  return v;
}
float max_abs(const std::vector<float>& v) {
  float m = 0.0f;
  for (float x : v) m = std::max(m, std::fabs(x));
  return m;
}

// C[M, N] against the double sums of A (bf16, row-major [M, K]) times Bm rounded to bf16, plus
// `init`, for each row's first `cols(i)` columns.
template <class Cols>
void expect_products(const std::vector<float>& C, const std::vector<bf16_t>& A, const std::vector<float>& Bm, int64_t M,
                     int64_t N, int64_t K, double init, Cols cols, Bf16Path path, TileCausal c) {
  for (int64_t i = 0; i < M; ++i)
    for (int64_t n = 0; n < cols(i); ++n) {
      double want = init;
      for (int64_t k = 0; k < K; ++k) want += double(bf16_to_f32(A[i * K + k])) * round_to_bf16(Bm[k * N + n]);
      ASSERT_NEAR(C[i * N + n], want, 1e-4 * (1 + std::fabs(want)))
          << bf16_path_name(path) << " mode " << static_cast<int>(c) << " (" << i << ", " << n << ")";
    }
}

}  // namespace

TEST(AttentionTiledBf16, TileGemmEveryCausalModeAgainstDouble) {
  PathGuard guard;
  for (Bf16Path path : paths()) {
    set_bf16_path(path);
    const int64_t M = 13, N = 48, K = 22;
    const auto A = to_bf16(randn(static_cast<size_t>(M * K), 1));
    const auto Bm = randn(static_cast<size_t>(K * N), 2);
    std::vector<bf16_t> Bp(static_cast<size_t>(K * N));
    pack_pairs_rows(Bp.data(), N, Bm.data(), N, K, N);
    std::vector<bf16_t> Bt(Bp.size());  // the same B packed from its transpose
    std::vector<float> BT(Bm.size());
    for (int64_t k = 0; k < K; ++k)
      for (int64_t n = 0; n < N; ++n) BT[n * K + k] = Bm[k * N + n];
    pack_pairs_cols(Bt.data(), N, BT.data(), K, N, K);
    EXPECT_EQ(Bt, Bp);
    for (TileCausal c : {TileCausal::Full, TileCausal::ColsUpToRow}) {  // the sums' ranges: the test below
      for (bool acc : {false, true}) {
        std::vector<float> C(static_cast<size_t>(M * N), 0.5f);
        tile_gemm_bf16(M, N, K, A.data(), K, TileA::RowMajor, Bp.data(), N, C.data(), N, acc, c, path);
        expect_products(
            C, A, Bm, M, N, K, acc ? 0.5 : 0.0,
            [&](int64_t i) { return c == TileCausal::ColsUpToRow ? std::min(N, i + 1) : N; }, path, c);
      }
    }
  }
}

TEST(AttentionTiledBf16, TileGemmCausalSums) {
  // The causal sums as attention uses them: A lower (SumUpToRow) or upper (SumFromRow) triangular,
  // so skipping the k a row's tile does not need must not change the products; A row-major or
  // pair-packed (the same sums in the same order: equal).
  PathGuard guard;
  for (Bf16Path path : paths()) {
    set_bf16_path(path);
    const int64_t M = 21, N = 32, K = 22;
    auto Af = randn(static_cast<size_t>(M * K), 3);
    const auto Bm = randn(static_cast<size_t>(K * N), 4);
    std::vector<bf16_t> Bp(static_cast<size_t>(K * N));
    pack_pairs_rows(Bp.data(), N, Bm.data(), N, K, N);
    for (TileCausal c : {TileCausal::SumUpToRow, TileCausal::SumFromRow}) {
      std::vector<float> a = Af;
      for (int64_t i = 0; i < M; ++i)
        for (int64_t k = 0; k < K; ++k)
          if (c == TileCausal::SumUpToRow ? k > i : k < i) a[i * K + k] = 0.0f;
      const auto A = to_bf16(a);
      std::vector<float> C(static_cast<size_t>(M * N)), Cp(C.size());
      tile_gemm_bf16(M, N, K, A.data(), K, TileA::RowMajor, Bp.data(), N, C.data(), N, false, c, path);
      std::vector<bf16_t> Ap(static_cast<size_t>(K * M));  // the same A with its rows written in pairs
      for (int64_t i = 0; i < M; ++i)
        for (int64_t k = 0; k < K; ++k) Ap[static_cast<size_t>(((k / 2) * M + i) * 2 + k % 2)] = A[i * K + k];
      tile_gemm_bf16(M, N, K, Ap.data(), M, TileA::PairPacked, Bp.data(), N, Cp.data(), N, false, c, path);
      EXPECT_EQ(Cp, C) << bf16_path_name(path) << " mode " << static_cast<int>(c);
      expect_products(
          C, A, Bm, M, N, K, 0.0, [&](int64_t) { return N; }, path, c);
    }
  }
}

TEST(AttentionTiledBf16, PackingRoundsEveryValueIntoItsPlaceOnEveryPath) {
  // pack_pairs_cols and pack_pairs_rows: each value rounded as f32_to_bf16 (ties, subnormals, inf,
  // NaN among them) at its place; the padding (K odd, columns N..ldb) zero.
  // Shapes: K odd within one 16-pair block of the native transpose, and K over three blocks.
  PathGuard guard;
  for (auto [N, K, ldb, lds] : {std::array<int64_t, 4>{37, 13, 48, 15}, std::array<int64_t, 4>{40, 67, 48, 70}}) {
    auto v = randn(static_cast<size_t>(N * lds), 8);
    const float special[] = {1.00390625f,   1.01171875f, -0.0f,
                             1e-40f,        -3e-39f,     std::numeric_limits<float>::infinity(),
                             std::nanf(""), 65504.0f,    3.4e38f};
    for (size_t i = 0; i < std::size(special); ++i) v[i * 7] = special[i];
    for (Bf16Path path : paths()) {
      set_bf16_path(path);
      std::vector<bf16_t> cols(static_cast<size_t>((K + 1) * ldb), 0x7777), rows(cols.size(), 0x7777);
      pack_pairs_cols(cols.data(), ldb, v.data(), lds, N, K);  // B[k, n] = v[n, k]
      std::vector<float> vt(static_cast<size_t>(K * N));       // the same matrix as rows of k
      for (int64_t n = 0; n < N; ++n)
        for (int64_t k = 0; k < K; ++k) vt[k * N + n] = v[n * lds + k];
      pack_pairs_rows(rows.data(), ldb, vt.data(), N, K, N);
      for (int64_t k = 0; k < K + 1; ++k)
        for (int64_t n = 0; n < ldb; ++n) {
          const bf16_t want = k < K && n < N ? f32_to_bf16(v[n * lds + k]) : bf16_t{0};
          const size_t at = static_cast<size_t>(((k / 2) * ldb + n) * 2 + k % 2);
          ASSERT_EQ(cols[at], want) << bf16_path_name(path) << " cols k " << k << " n " << n;
          ASSERT_EQ(rows[at], want) << bf16_path_name(path) << " rows k " << k << " n " << n;
        }
    }
  }
}

TEST(AttentionTiledBf16, TransposedATileGemmAccumulatesTheProducts) {
  // tile_gemm_bf16_at: C += A^T B with A[K, M] row-major (rows lda apart), the head's weight
  // gradient. M off the 48-row panels and the 6-row tiles, K odd (a padding pair), lda > M.
  PathGuard guard;
  for (Bf16Path path : paths()) {
    set_bf16_path(path);
    const int64_t M = 103, N = 48, K = 15, lda = 110;
    const auto At = to_bf16(randn(static_cast<size_t>(K * lda), 5));
    const auto Bm = randn(static_cast<size_t>(K * N), 6);
    std::vector<bf16_t> Bp(static_cast<size_t>((K + 1) * N));
    pack_pairs_rows(Bp.data(), N, Bm.data(), N, K, N);
    std::vector<float> C(static_cast<size_t>(M * N), 0.25f);
    tile_gemm_bf16_at(M, N, K, At.data(), lda, Bp.data(), N, C.data(), N, path);
    std::vector<bf16_t> A(static_cast<size_t>(M * K));  // A = At^T, row-major
    for (int64_t i = 0; i < M; ++i)
      for (int64_t k = 0; k < K; ++k) A[i * K + k] = At[k * lda + i];
    expect_products(
        C, A, Bm, M, N, K, 0.25, [&](int64_t) { return N; }, path, TileCausal::Full);
  }
}

TEST(AttentionTiledBf16, ForwardAgainstFp32) {
  // Inputs already bf16 (tight): Q K^T is then exact products summed in fp32, so lse matches the
  // fp32 kernel to fp32 rounding; the output differs by P's and its own rounding to bf16, each at
  // most 2^-9 relative: |diff| <= 2^-9 (keep_scale * max|v| + |o|). Unrounded inputs (loose): the
  // scores move by the operands' rounding too; bound 2% of max|o| (measured: at most 0.55%,
  // also at gpt2-mini's B8 T256 C384 H6).
  PathGuard guard;
  for (Bf16Path path : paths()) {
    set_bf16_path(path);
    for (const Shape& s : kShapes) {
      for (const float p : {0.0f, 0.2f}) {
        for (const bool tight : {true, false}) {
          auto qkv = randn(static_cast<size_t>(s.B * s.T * 3 * s.C), 5 + static_cast<uint64_t>(s.T));
          if (tight) qkv = rounded(qkv);
          std::vector<float> out(static_cast<size_t>(s.B * s.T * s.C)), lse(static_cast<size_t>(s.B * s.H * s.T));
          std::vector<float> lse16(lse.size(), -1.0f);
          std::vector<bf16_t> out16(out.size());
          attention_forward(out.data(), lse.data(), qkv.data(), s.B, s.T, s.C, s.H, p, kKey);
          attention_forward_tiled_bf16(out16.data(), lse16.data(), qkv.data(), s.B, s.T, s.C, s.H, p, kKey);
          const float vmax = max_abs(qkv), omax = max_abs(out), keep = p > 0 ? 1.0f / (1.0f - p) : 1.0f;
          const auto where = [&] {
            return ::testing::Message() << bf16_path_name(path) << " B" << s.B << " T" << s.T << " C" << s.C << " H"
                                        << s.H << " p " << p << (tight ? " rounded inputs" : " fp32 inputs");
          };
          for (size_t i = 0; i < lse.size(); ++i)
            ASSERT_NEAR(lse16[i], lse[i], (tight ? 1e-5f : 2e-2f) * (1 + std::fabs(lse[i]))) << where() << " lse " << i;
          for (size_t i = 0; i < out.size(); ++i) {
            const float bound = tight ? std::ldexp(keep * vmax + std::fabs(out[i]), -9) + 1e-5f : 2e-2f * omax;
            ASSERT_NEAR(bf16_to_f32(out16[i]), out[i], bound) << where() << " out " << i;
          }
        }
      }
    }
  }
}

TEST(AttentionTiledBf16, BackwardAgainstFp32) {
  // The gradient of the tiled kernel against attention_backward's (fp32, itself gradchecked in
  // test_gradcheck.cpp) from the same qkv, lse and dout: bf16 operands and bf16 P, dS: within 2%
  // of the largest gradient of each part (q, k, v) with bf16 inputs, 3% with fp32 ones (measured:
  // at most 0.65% with fp32 inputs, also at gpt2-mini's shape).
  PathGuard guard;
  for (Bf16Path path : paths()) {
    set_bf16_path(path);
    for (const Shape& s : kShapes) {
      for (const float p : {0.0f, 0.2f}) {
        for (const bool tight : {true, false}) {
          auto qkv = randn(static_cast<size_t>(s.B * s.T * 3 * s.C), 7 + static_cast<uint64_t>(s.C));
          auto dout = randn(static_cast<size_t>(s.B * s.T * s.C), 8 + static_cast<uint64_t>(s.C));
          if (tight) {
            qkv = rounded(qkv);
            dout = rounded(dout);
          }
          std::vector<float> out(static_cast<size_t>(s.B * s.T * s.C)), lse(static_cast<size_t>(s.B * s.H * s.T));
          std::vector<float> lse16(lse.size());
          std::vector<bf16_t> out16(out.size());
          attention_forward(out.data(), lse.data(), qkv.data(), s.B, s.T, s.C, s.H, p, kKey);
          attention_forward_tiled_bf16(out16.data(), lse16.data(), qkv.data(), s.B, s.T, s.C, s.H, p, kKey);
          std::vector<float> want(qkv.size()), got(qkv.size(), NAN);  // overwritten
          attention_backward(want.data(), dout.data(), qkv.data(), out.data(), lse.data(), s.B, s.T, s.C, s.H, p, kKey);
          attention_backward_tiled_bf16(got.data(), dout.data(), qkv.data(), lse16.data(), s.B, s.T, s.C, s.H, p, kKey);
          for (int part = 0; part < 3; ++part) {
            float m = 0.0f;
            for (int64_t bt = 0; bt < s.B * s.T; ++bt)
              for (int64_t c = 0; c < s.C; ++c) m = std::max(m, std::fabs(want[bt * 3 * s.C + part * s.C + c]));
            ASSERT_GT(m, 0.0f);
            for (int64_t bt = 0; bt < s.B * s.T; ++bt)
              for (int64_t c = 0; c < s.C; ++c) {
                const size_t i = static_cast<size_t>(bt * 3 * s.C + part * s.C + c);
                ASSERT_NEAR(got[i], want[i], (tight ? 2e-2f : 3e-2f) * m)
                    << bf16_path_name(path) << " B" << s.B << " T" << s.T << " C" << s.C << " H" << s.H << " p " << p
                    << " part "
                    << "qkv"[part] << " row " << bt << " col " << c;
              }
          }
        }
      }
    }
  }
}

TEST(AttentionTiledBf16, Bf16QkvGivesTheSameBitsAsItsFp32Values) {
  // A training run keeps c_attn's output in bf16 (qkv16): forward and backward on it equal those on
  // the fp32 qkv it rounds, bit for bit, on both paths, with and without dropout (the kernels round
  // Q, K and V to bf16 either way; from qkv16 they copy and transpose them).
  PathGuard guard;
  for (Bf16Path path : paths()) {
    set_bf16_path(path);
    for (const Shape& s : kShapes) {
      for (const float p : {0.0f, 0.2f}) {
        const auto qkv = randn(static_cast<size_t>(s.B * s.T * 3 * s.C), 9 + static_cast<uint64_t>(s.T));
        const auto qkv16 = to_bf16(qkv);
        const auto dout = randn(static_cast<size_t>(s.B * s.T * s.C), 10 + static_cast<uint64_t>(s.C));
        std::vector<float> lse(static_cast<size_t>(s.B * s.H * s.T)), lse16(lse.size());
        std::vector<bf16_t> out(dout.size()), out16(dout.size());
        attention_forward_tiled_bf16(out.data(), lse.data(), qkv.data(), s.B, s.T, s.C, s.H, p, kKey);
        attention_forward_tiled_bf16(out16.data(), lse16.data(), qkv16.data(), s.B, s.T, s.C, s.H, p, kKey);
        EXPECT_EQ(out16, out) << bf16_path_name(path) << " T" << s.T << " C" << s.C << " p " << p;
        EXPECT_EQ(lse16, lse) << bf16_path_name(path) << " T" << s.T << " C" << s.C << " p " << p;
        std::vector<float> d(qkv.size(), NAN), d16(qkv.size(), NAN);
        attention_backward_tiled_bf16(d.data(), dout.data(), qkv.data(), lse.data(), s.B, s.T, s.C, s.H, p, kKey);
        attention_backward_tiled_bf16(d16.data(), dout.data(), qkv16.data(), lse.data(), s.B, s.T, s.C, s.H, p, kKey);
        EXPECT_EQ(std::memcmp(d16.data(), d.data(), d.size() * sizeof(float)), 0)
            << bf16_path_name(path) << " T" << s.T << " C" << s.C << " p " << p;
      }
    }
  }
}

TEST(AttentionTiledBf16, GradientAgainstFiniteDifferences) {
  // loss = sum(out . R) with the fp32 forward; central differences against the tiled gradient.
  PathGuard guard;
  for (Bf16Path path : paths()) {
    set_bf16_path(path);
    const int64_t B = 1, T = 7, C = 12, H = 2;
    for (const float p : {0.0f, 0.3f}) {
      auto qkv = randn(static_cast<size_t>(B * T * 3 * C), 21);
      const auto R = randn(static_cast<size_t>(B * T * C), 22);
      std::vector<float> out(static_cast<size_t>(B * T * C)), lse(static_cast<size_t>(B * H * T));
      std::vector<bf16_t> out16(out.size());
      const auto loss = [&] {
        attention_forward(out.data(), lse.data(), qkv.data(), B, T, C, H, p, kKey);
        double l = 0;
        for (size_t i = 0; i < out.size(); ++i) l += double(out[i]) * R[i];
        return l;
      };
      attention_forward_tiled_bf16(out16.data(), lse.data(), qkv.data(), B, T, C, H, p, kKey);
      std::vector<float> g(qkv.size());
      attention_backward_tiled_bf16(g.data(), R.data(), qkv.data(), lse.data(), B, T, C, H, p, kKey);
      std::vector<double> num(qkv.size());
      double gmax = 0;
      for (size_t i = 0; i < qkv.size(); ++i) {
        const float x = qkv[i], eps = 1e-2f;
        qkv[i] = x + eps;
        const double up = loss();
        qkv[i] = x - eps;
        const double down = loss();
        qkv[i] = x;
        num[i] = (up - down) / (2.0 * eps);
        gmax = std::max(gmax, std::fabs(num[i]));
      }
      for (size_t i = 0; i < qkv.size(); ++i)
        ASSERT_NEAR(g[i], num[i], 3e-2 * gmax) << bf16_path_name(path) << " p " << p << " at " << i;
    }
  }
}
