// test_few_rows.cpp — the few-rows head (kernels/matmul_few_rows.h): each path (paths this CPU
// lacks are skipped, by name) gives exactly the documented order of sums, for every row count and
// for shapes off the vector width, so a row's result does not depend on its batch.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "scratchlm/kernels/matmul_few_rows.h"

namespace slm {
namespace {

std::vector<float> randn(size_t n, uint32_t seed) {
  std::mt19937 g(seed);
  std::normal_distribution<float> d(0.0f, 1.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = d(g);
  return v;
}

bool same_bits(float a, float b) { return std::memcmp(&a, &b, sizeof a) == 0; }

// The documented order, in scalar code.
float dot_ref(const float* w, const float* x, int64_t K) {
  float lane[16] = {};
  const int64_t K16 = K / 16 * 16;
  for (int64_t k = 0; k < K16; ++k) lane[k % 16] = std::fma(w[k], x[k], lane[k % 16]);
  float v[8];
  for (int l = 0; l < 8; ++l) v[l] = lane[l] + lane[l + 8];
  const float t0 = v[0] + v[4], t1 = v[1] + v[5], t2 = v[2] + v[6], t3 = v[3] + v[7];
  float r = (t0 + t2) + (t1 + t3);
  for (int64_t k = K16; k < K; ++k) r = std::fma(w[k], x[k], r);
  return r;
}

const char* name(FewRowsPath p) { return p == FewRowsPath::Avx512 ? "avx512" : "avx2"; }

}  // namespace

TEST(FewRows, EveryPathSumsInTheDocumentedOrderForAnyRowCount) {
  const int64_t K = 83, N = 75;  // K not a multiple of 16
  const auto W = randn(static_cast<size_t>(K * N), 1);
  const auto x = randn(static_cast<size_t>(kFewRowsMax * K), 3);
  for (FewRowsPath p : {FewRowsPath::Avx2, FewRowsPath::Avx512}) {
    if (!few_rows_path_available(p)) {
      std::printf("[ skipped  ] path %s: not on this CPU\n", name(p));
      continue;
    }
    for (int64_t M = 1; M <= kFewRowsMax; ++M) {
      std::vector<float> outt(static_cast<size_t>(M * N));
      matmul_few_rows_wt(outt.data(), x.data(), W.data(), M, K, N, p);  // W as Wt[N=75][K=83]
      for (int64_t m = 0; m < M; ++m)
        for (int64_t n = 0; n < N; ++n) {
          const float want_t = dot_ref(W.data() + n * K, x.data() + m * K, K);
          ASSERT_TRUE(same_bits(outt[m * N + n], want_t)) << name(p) << " wt M=" << M << " row " << m << " col " << n;
        }
    }
  }
}

}  // namespace slm
