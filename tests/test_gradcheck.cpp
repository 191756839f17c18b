// test_gradcheck.cpp — finite-difference gradient checks of every kernel's backward pass at odd
// shapes, and of the whole GPT model with dropout on (which the PyTorch fixtures cannot cover).
//
// Method. For a kernel y = f(x...) and a fixed random R, the scalar loss is L = sum(y * R), summed
// in double, so dL/dy = R is what the kernel's backward receives. The analytic gradient is compared
// with the central difference (L(x + h) - L(x - h)) / (x_plus - x_minus), where x_plus/x_minus are
// the float-rounded perturbed values (so the step actually taken is exact). Only the outputs that
// depend on x change, and their float rounding error is the only noise: outputs that do not move
// are bit-identical in both evaluations and cancel exactly in the double sum.
//
// Tolerance (grad_mismatch): per element |a - n| <= rtol * |n| + afrac * max|n| + abs_floor,
// where max|n| is taken over all elements checked in that tensor.
//  * Linear maps (matmul, dropout, residual, embedding; LayerNorm's weight/bias) have no
//    truncation error, so they use a large step (h = 0.5) and rtol = afrac = 1e-4; the measured
//    error is ~1e-6 relative.
//  * Nonlinear kernels (LayerNorm input, GELU, attention, cross-entropy) use h = 1e-2, which
//    balances float32 rounding (~1e-7 |y| / h) against truncation (~h^2 |f'''| / 6);
//    rtol = afrac = 2e-3, 8x (LayerNorm dinp) to 100x above the measured worst case (printed with
//    GRADCHECK_VERBOSE=1 in the environment).
//  * The whole model (2 float32 layers; the loss recomputed in double from logits()) uses
//    h = 7e-3 (see kModelStep) and rtol = afrac = 3e-3; the measured worst case is 0.22x that.
// Sensitivity: every comparison is repeated with the analytic gradient scaled by 1.01 and must
// FAIL then (expect_grad asserts that), so no check here is too loose to see a 1% error. The
// GradCheckSensitivity tests show that plausible real bugs are caught with the same tolerances:
// attention backward without (or with another) dropout mask, LayerNorm dinp without the mean term,
// cross-entropy with a wrong one-hot or dscale 1% off, model gradients for another dropout step
// or with grad_scale 1.01.
// Mutation testing (each library file patched in a scratch copy, linked in place of the real one,
// and this file run against it; every mutant made at least one GradCheck test fail):
//   attention.cpp   ds = p * dp * scale (the "- D" term dropped); dv without the dropout mask;
//                   dk scaled by 1/scale; dq/dk skipping the diagonal key j = i
//   gelu.cpp        derivative without the cubic term (1 + 3*0.044715 x^2 -> 1); without the
//                   0.5 x sech^2 du term
//   matmul.cpp      dbias skipping the last row; accumulate_dinp ignored
//   layernorm.cpp   dinp without "- dnorm_mean"; without "- norm * dnorm_norm_mean"; that mean
//                   divided by C - 1
//   cross_entropy.cpp  one-hot term not scaled by dscale; ignored rows' logits not zeroed
//   embedding.cpp   dwpe indexed by bt / B; the last channel of each block skipped
//   dropout.cpp     backward without the 1/(1-p) scale
//   block.cpp       residual branch backward with the other site's mask; attention backward with
//                   another mask key; ln_1 gradients skipped in the lowest trainable block
//   gpt.cpp         embedding dropout backward removed; wpe-only training not treated as
//                   "embeddings trainable"
// Besides gradients: forward outputs against double-precision references, accumulate/overwrite
// semantics, aliasing, null outputs, frozen parameters and bitwise determinism.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <limits>
#include <numeric>
#include <sstream>
#include <string>
#include <vector>

#include "scratchlm/kernels/attention.h"
#include "scratchlm/kernels/cross_entropy.h"
#include "scratchlm/kernels/dropout.h"
#include "scratchlm/kernels/embedding.h"
#include "scratchlm/kernels/gelu.h"
#include "scratchlm/kernels/layernorm.h"
#include "scratchlm/kernels/matmul.h"
#include "scratchlm/model/gpt.h"
#include "scratchlm/tensor/parallel.h"
#include "scratchlm/tensor/rng.h"

namespace {

using Vec = std::vector<float>;
using Idx = std::vector<size_t>;
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

bool verbose() {
  static const bool v = std::getenv("GRADCHECK_VERBOSE") != nullptr;
  return v;
}

// Runs OpenMP loops on one thread while alive: the finite-difference loops make thousands of tiny
// forward calls, and on a loaded machine each parallel region's barrier can cost a time slice.
// Forward results do not depend on the thread count beyond double-precision rounding of the loss
// reduction.
class SingleThreaded {
 public:
  SingleThreaded() : saved_(slm::num_threads()) { slm::set_num_threads(1); }
  ~SingleThreaded() { slm::set_num_threads(saved_); }
  SingleThreaded(const SingleThreaded&) = delete;
  SingleThreaded& operator=(const SingleThreaded&) = delete;

 private:
  int saved_;
};

Vec randn(slm::Rng& rng, size_t n, float sd = 1.0f, float mean = 0.0f) {
  Vec v(n);
  for (auto& x : v) x = mean + sd * static_cast<float>(rng.normal());
  return v;
}

// sum(y * R) in double.
double dot_loss(const float* y, const float* R, size_t n) {
  double s = 0.0;
  for (size_t i = 0; i < n; ++i) s += static_cast<double>(y[i]) * static_cast<double>(R[i]);
  return s;
}
double dot_loss(const Vec& y, const Vec& R) { return dot_loss(y.data(), R.data(), y.size()); }

Idx all_indices(size_t n) {
  Idx v(n);
  std::iota(v.begin(), v.end(), size_t{0});
  return v;
}
// k distinct indices of [0, n) (all when n <= k), always including the first and the last.
Idx sample_indices(slm::Rng& rng, size_t n, size_t k) {
  if (n <= k) return all_indices(n);
  Idx v{0, n - 1};
  while (v.size() < k) {
    size_t i = static_cast<size_t>(rng.below(n));
    if (std::find(v.begin(), v.end(), i) == v.end()) v.push_back(i);
  }
  std::sort(v.begin(), v.end());
  return v;
}

// Central differences of f with respect to x[i], i in idx; x is restored afterwards.
std::vector<double> numeric_grad(float* x, const Idx& idx, double h, const std::function<double()>& f) {
  SingleThreaded one_thread;
  std::vector<double> g;
  g.reserve(idx.size());
  for (size_t i : idx) {
    const float x0 = x[i];
    const float xp = static_cast<float>(x0 + h), xm = static_cast<float>(x0 - h);
    x[i] = xp;
    const double fp = f();
    x[i] = xm;
    const double fm = f();
    x[i] = x0;
    g.push_back((fp - fm) / (static_cast<double>(xp) - static_cast<double>(xm)));
  }
  return g;
}

struct Tol {
  double rtol = 2e-3;       // relative to the element's own numeric gradient
  double afrac = 2e-3;      // relative to the largest numeric gradient of the tensor
  double abs_floor = 1e-6;  // for tensors whose gradient is (numerically) zero
};
constexpr Tol kLinearTol{1e-4, 1e-4, 1e-6};
constexpr Tol kSmoothTol{2e-3, 2e-3, 1e-6};
constexpr Tol kModelTol{3e-3, 3e-3, 1e-6};

// Empty when analytic a matches numeric n within tol, else a description of the worst element.
// worst_ratio (optional) receives max_i |a - n| / bound_i.
std::string grad_mismatch(const std::vector<double>& a, const std::vector<double>& n, const Tol& tol,
                          double* worst_ratio = nullptr, const Idx* idx = nullptr) {
  double scale = 0.0;
  for (double v : n) scale = std::max(scale, std::fabs(v));
  double worst = 0.0;
  size_t wi = 0;
  bool finite = true;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!std::isfinite(a[i])) finite = false;
    const double bound = tol.rtol * std::fabs(n[i]) + tol.afrac * scale + tol.abs_floor;
    const double r = std::fabs(a[i] - n[i]) / bound;
    if (!(r <= worst)) worst = r, wi = i;  // also catches NaN
  }
  if (worst_ratio) *worst_ratio = worst;
  if (finite && worst <= 1.0) return {};
  std::ostringstream os;
  os << "element " << (idx ? (*idx)[wi] : wi) << ": analytic " << a[wi] << " vs numeric " << n[wi] << " (|err| "
     << std::fabs(a[wi] - n[wi]) << ", " << worst << "x the tolerance; max|grad| " << scale << ")";
  return os.str();
}

// EXPECTs that analytic[idx] matches the numeric gradient, and that the same check rejects the
// analytic gradient scaled by 1.01 (so the tolerance is meaningful).
void expect_grad(const std::string& what, const float* analytic, const Idx& idx, const std::vector<double>& num,
                 const Tol& tol) {
  std::vector<double> a(idx.size());
  for (size_t k = 0; k < idx.size(); ++k) a[k] = analytic[idx[k]];
  double ratio = 0.0;
  const std::string msg = grad_mismatch(a, num, tol, &ratio, &idx);
  EXPECT_TRUE(msg.empty()) << what << ": " << msg;
  double scale = 0.0;
  for (double v : num) scale = std::max(scale, std::fabs(v));
  if (verbose()) std::printf("  %-40s n=%4zu max|g|=%.3e worst err/tol=%.4f\n", what.c_str(), idx.size(), scale, ratio);
  if (scale > 100 * tol.abs_floor) {
    for (auto& v : a) v *= 1.01;
    EXPECT_FALSE(grad_mismatch(a, num, tol).empty()) << what << ": the check cannot see a 1% error";
  }
}
// Whole-array variant.
void expect_grad(const std::string& what, const Vec& analytic, const std::vector<double>& num, const Tol& tol) {
  expect_grad(what, analytic.data(), all_indices(analytic.size()), num, tol);
}

// |a - b| <= tol * max|b| elementwise: for sums whose elements may be pure rounding noise (the key
// bias gradient is mathematically zero).
void expect_close_scaled(const std::string& what, const float* a, const float* b, size_t n, double tol) {
  double scale = 0.0;
  for (size_t i = 0; i < n; ++i) scale = std::max(scale, static_cast<double>(std::fabs(b[i])));
  for (size_t i = 0; i < n; ++i)
    if (!(std::fabs(static_cast<double>(a[i]) - b[i]) <= tol * scale + 1e-12)) {
      ADD_FAILURE() << what << ": element " << i << ": " << a[i] << " vs " << b[i] << " (max|b| " << scale << ")";
      return;
    }
}
void expect_bitwise(const std::string& what, const float* a, const float* b, size_t n) {
  for (size_t i = 0; i < n; ++i)
    if (std::memcmp(a + i, b + i, sizeof(float)) != 0) {
      ADD_FAILURE() << what << ": element " << i << " differs: " << a[i] << " vs " << b[i];
      return;
    }
}
Vec plus(const Vec& a, const Vec& b) {
  Vec r(a.size());
  for (size_t i = 0; i < a.size(); ++i) r[i] = a[i] + b[i];
  return r;
}

uint64_t shape_seed(std::initializer_list<int64_t> dims) {
  uint64_t s = 0x243F6A8885A308D3ULL;
  for (int64_t d : dims) s = slm::fmix64(s ^ static_cast<uint64_t>(d));
  return s;
}

// ================================================================== matmul

struct MatmulCase {
  int64_t M, K, N;
  bool bias;
};
std::ostream& operator<<(std::ostream& os, const MatmulCase& c) {
  return os << "M" << c.M << "_K" << c.K << "_N" << c.N << (c.bias ? "_bias" : "");
}

class GradCheckMatmul : public ::testing::TestWithParam<MatmulCase> {};

TEST_P(GradCheckMatmul, WeightKN) {
  const auto [M, K, N, use_bias] = GetParam();
  slm::Rng rng(shape_seed({M, K, N, use_bias}));
  Vec inp = randn(rng, M * K), W = randn(rng, K * N), b = randn(rng, N), R = randn(rng, M * N);
  const float* bias = use_bias ? b.data() : nullptr;
  auto loss = [&] {
    Vec out(M * N);
    slm::matmul_forward(out.data(), inp.data(), W.data(), bias, M, K, N);
    return dot_loss(out, R);
  };
  {  // forward against a double-precision reference
    Vec out(M * N, kNaN);
    slm::matmul_forward(out.data(), inp.data(), W.data(), bias, M, K, N);
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) {
        double s = bias ? b[j] : 0.0;
        for (int64_t k = 0; k < K; ++k) s += static_cast<double>(inp[i * K + k]) * W[k * N + j];
        ASSERT_NEAR(out[i * N + j], s, 1e-5 * (1 + std::fabs(s)));
      }
  }
  Vec dinp(M * K, kNaN), dW(K * N, 0.0f), db(N, 0.0f);  // dinp overwritten, dW/db accumulated
  slm::matmul_backward(dinp.data(), dW.data(), use_bias ? db.data() : nullptr, R.data(), inp.data(), W.data(), M, K, N);
  expect_grad("matmul dinp", dinp, numeric_grad(inp.data(), all_indices(inp.size()), 0.5, loss), kLinearTol);
  expect_grad("matmul dW", dW, numeric_grad(W.data(), all_indices(W.size()), 0.5, loss), kLinearTol);
  if (use_bias) expect_grad("matmul dbias", db, numeric_grad(b.data(), all_indices(b.size()), 0.5, loss), kLinearTol);

  // Accumulation: dW/dbias always add; dinp adds only with accumulate_dinp.
  const Vec G_inp = randn(rng, M * K), G_W = randn(rng, K * N), G_b = randn(rng, N);
  Vec ainp = G_inp, aW = G_W, ab = G_b;
  slm::matmul_backward(ainp.data(), aW.data(), ab.data(), R.data(), inp.data(), W.data(), M, K, N, true);
  expect_close_scaled("matmul dinp accumulate", ainp.data(), plus(G_inp, dinp).data(), ainp.size(), 1e-6);
  expect_close_scaled("matmul dW accumulate", aW.data(), plus(G_W, dW).data(), aW.size(), 1e-6);
  if (use_bias) expect_close_scaled("matmul dbias accumulate", ab.data(), plus(G_b, db).data(), ab.size(), 1e-6);
  // Null outputs are skipped; the others are unchanged.
  Vec only_dW(K * N, 0.0f), only_dinp = G_inp;
  slm::matmul_backward(nullptr, only_dW.data(), nullptr, R.data(), inp.data(), W.data(), M, K, N);
  expect_bitwise("matmul dW alone", only_dW.data(), dW.data(), dW.size());
  slm::matmul_backward(only_dinp.data(), nullptr, nullptr, R.data(), inp.data(), W.data(), M, K, N, false);
  expect_bitwise("matmul dinp alone (overwrite)", only_dinp.data(), dinp.data(), dinp.size());
}

TEST_P(GradCheckMatmul, WeightTransposedNK) {
  const auto [M, K, N, unused] = GetParam();
  slm::Rng rng(shape_seed({M, K, N, 77}));
  Vec inp = randn(rng, M * K), Wt = randn(rng, N * K), R = randn(rng, M * N);
  auto loss = [&] {
    Vec out(M * N);
    slm::matmul_forward_wt(out.data(), inp.data(), Wt.data(), M, K, N);
    return dot_loss(out, R);
  };
  {
    Vec out(M * N, kNaN);
    slm::matmul_forward_wt(out.data(), inp.data(), Wt.data(), M, K, N);
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) {
        double s = 0.0;
        for (int64_t k = 0; k < K; ++k) s += static_cast<double>(inp[i * K + k]) * Wt[j * K + k];
        ASSERT_NEAR(out[i * N + j], s, 1e-5 * (1 + std::fabs(s)));
      }
  }
  Vec dinp(M * K, kNaN), dWt(N * K, 0.0f);
  slm::matmul_backward_wt(dinp.data(), dWt.data(), R.data(), inp.data(), Wt.data(), M, K, N);
  expect_grad("matmul_wt dinp", dinp, numeric_grad(inp.data(), all_indices(inp.size()), 0.5, loss), kLinearTol);
  expect_grad("matmul_wt dWt", dWt, numeric_grad(Wt.data(), all_indices(Wt.size()), 0.5, loss), kLinearTol);

  const Vec G_inp = randn(rng, M * K), G_W = randn(rng, N * K);
  Vec ainp = G_inp, aW = G_W;
  slm::matmul_backward_wt(ainp.data(), aW.data(), R.data(), inp.data(), Wt.data(), M, K, N, true);
  expect_close_scaled("matmul_wt dinp accumulate", ainp.data(), plus(G_inp, dinp).data(), ainp.size(), 1e-6);
  expect_close_scaled("matmul_wt dWt accumulate", aW.data(), plus(G_W, dWt).data(), aW.size(), 1e-6);
  Vec only_dW(N * K, 0.0f), only_dinp = G_inp;
  slm::matmul_backward_wt(nullptr, only_dW.data(), R.data(), inp.data(), Wt.data(), M, K, N);
  expect_bitwise("matmul_wt dWt alone", only_dW.data(), dWt.data(), dWt.size());
  slm::matmul_backward_wt(only_dinp.data(), nullptr, R.data(), inp.data(), Wt.data(), M, K, N, false);
  expect_bitwise("matmul_wt dinp alone (overwrite)", only_dinp.data(), dinp.data(), dinp.size());
}

INSTANTIATE_TEST_SUITE_P(GradCheck, GradCheckMatmul,
                         ::testing::Values(MatmulCase{7, 5, 11, true}, MatmulCase{1, 12, 36, true},
                                           MatmulCase{7, 12, 1, false}, MatmulCase{3, 1, 4, true},
                                           MatmulCase{5, 48, 12, true}, MatmulCase{14, 12, 13, false},
                                           MatmulCase{70, 33, 65, true}),
                         [](const auto& info) {
                           std::ostringstream os;
                           os << info.param;
                           return os.str();
                         });

// ================================================================== layernorm

struct LnCase {
  int64_t rows, C;
};
std::ostream& operator<<(std::ostream& os, const LnCase& c) { return os << "R" << c.rows << "_C" << c.C; }
class GradCheckLayerNorm : public ::testing::TestWithParam<LnCase> {};

TEST_P(GradCheckLayerNorm, InputWeightBias) {
  const auto [rows, C] = GetParam();
  const float eps = 1e-5f;
  slm::Rng rng(shape_seed({rows, C, 5}));
  Vec inp(rows * C);
  for (int64_t r = 0; r < rows; ++r) {  // rows with different means and spreads
    const float mu = 3.0f * static_cast<float>(rng.normal()), sd = 0.5f + 2.0f * rng.uniform();
    for (int64_t i = 0; i < C; ++i) inp[r * C + i] = mu + sd * static_cast<float>(rng.normal());
  }
  Vec w = randn(rng, C, 0.5f, 1.0f), b = randn(rng, C), R = randn(rng, rows * C);
  Vec mean(rows), rstd(rows);
  auto loss = [&] {
    Vec out(rows * C);
    slm::layernorm_forward(out.data(), nullptr, nullptr, inp.data(), w.data(), b.data(), rows, C, eps);
    return dot_loss(out, R);
  };
  Vec out(rows * C);
  slm::layernorm_forward(out.data(), mean.data(), rstd.data(), inp.data(), w.data(), b.data(), rows, C, eps);
  for (int64_t r = 0; r < rows; ++r) {  // saved statistics against double precision
    double m = 0, v = 0;
    for (int64_t i = 0; i < C; ++i) m += inp[r * C + i];
    m /= C;
    for (int64_t i = 0; i < C; ++i) v += (inp[r * C + i] - m) * (inp[r * C + i] - m);
    v /= C;
    EXPECT_NEAR(mean[r], m, 1e-6 * (1 + std::fabs(m)));
    EXPECT_NEAR(rstd[r], 1.0 / std::sqrt(v + eps), 1e-5 / std::sqrt(v + eps));
  }
  Vec dinp(rows * C, kNaN), dw(C, 0.0f), db(C, 0.0f);
  slm::layernorm_backward(dinp.data(), dw.data(), db.data(), R.data(), inp.data(), w.data(), mean.data(), rstd.data(),
                          rows, C, false);
  expect_grad("layernorm dinp", dinp, numeric_grad(inp.data(), all_indices(inp.size()), 1e-2, loss), kSmoothTol);
  expect_grad("layernorm dweight", dw, numeric_grad(w.data(), all_indices(w.size()), 0.5, loss), kLinearTol);
  expect_grad("layernorm dbias", db, numeric_grad(b.data(), all_indices(b.size()), 0.5, loss), kLinearTol);

  // accumulate_dinp adds; dweight/dbias always add; null outputs are skipped.
  const Vec G_inp = randn(rng, rows * C), G_w = randn(rng, C), G_b = randn(rng, C);
  Vec ainp = G_inp, aw = G_w, ab = G_b;
  slm::layernorm_backward(ainp.data(), aw.data(), ab.data(), R.data(), inp.data(), w.data(), mean.data(), rstd.data(),
                          rows, C, true);
  expect_close_scaled("layernorm dinp accumulate", ainp.data(), plus(G_inp, dinp).data(), ainp.size(), 1e-6);
  expect_close_scaled("layernorm dweight accumulate", aw.data(), plus(G_w, dw).data(), C, 1e-6);
  expect_close_scaled("layernorm dbias accumulate", ab.data(), plus(G_b, db).data(), C, 1e-6);
}

// Each output of layernorm_backward must not depend on which other outputs are requested: the
// model passes dweight/dbias == nullptr for frozen LayerNorms (and dinp == nullptr for the lowest
// trainable block), and freezing a parameter should not change any other gradient.
TEST_P(GradCheckLayerNorm, OutputsIndependentOfWhichAreRequested) {
  const auto [rows, C] = GetParam();
  slm::Rng rng(shape_seed({rows, C, 6}));
  Vec inp = randn(rng, rows * C, 2.0f, 1.0f), w = randn(rng, C, 0.5f, 1.0f), b = randn(rng, C),
      R = randn(rng, rows * C);
  Vec out(rows * C), mean(rows), rstd(rows);
  slm::layernorm_forward(out.data(), mean.data(), rstd.data(), inp.data(), w.data(), b.data(), rows, C, 1e-5f);
  Vec dinp(rows * C), dw(C, 0.0f), db(C, 0.0f);
  slm::layernorm_backward(dinp.data(), dw.data(), db.data(), R.data(), inp.data(), w.data(), mean.data(), rstd.data(),
                          rows, C, false);
  Vec only_dw(C, 0.0f), only_db(C, 0.0f), only_dinp(rows * C, kNaN);
  slm::layernorm_backward(nullptr, only_dw.data(), nullptr, R.data(), inp.data(), w.data(), mean.data(), rstd.data(),
                          rows, C, false);
  slm::layernorm_backward(nullptr, nullptr, only_db.data(), R.data(), inp.data(), w.data(), mean.data(), rstd.data(),
                          rows, C, false);
  slm::layernorm_backward(only_dinp.data(), nullptr, nullptr, R.data(), inp.data(), w.data(), mean.data(), rstd.data(),
                          rows, C, false);
  expect_bitwise("layernorm dweight alone", only_dw.data(), dw.data(), C);
  expect_bitwise("layernorm dbias alone", only_db.data(), db.data(), C);
  expect_bitwise("layernorm dinp alone", only_dinp.data(), dinp.data(), dinp.size());
}

INSTANTIATE_TEST_SUITE_P(GradCheck, GradCheckLayerNorm,
                         ::testing::Values(LnCase{7, 12}, LnCase{1, 12}, LnCase{5, 7}, LnCase{3, 48}, LnCase{14, 3}),
                         [](const auto& info) {
                           std::ostringstream os;
                           os << info.param;
                           return os.str();
                         });

// ================================================================== gelu

TEST(GradCheckGelu, ElementwiseAndAliasing) {
  slm::Rng rng(11);
  Vec x;
  for (int i = 0; i <= 48; ++i) x.push_back(-6.0f + 0.25f * static_cast<float>(i));  // -6 .. 6, incl. 0
  for (float v : randn(rng, 29, 1.5f)) x.push_back(v);
  const int64_t n = static_cast<int64_t>(x.size());
  Vec R = randn(rng, n);
  auto loss = [&] {
    Vec out(n);
    slm::gelu_forward(out.data(), x.data(), n);
    return dot_loss(out, R);
  };
  {  // forward against the formula in double
    Vec out(n);
    slm::gelu_forward(out.data(), x.data(), n);
    for (int64_t i = 0; i < n; ++i) {
      const double v = x[i];
      const double want = 0.5 * v * (1 + std::tanh(std::sqrt(2.0 / M_PI) * (v + 0.044715 * v * v * v)));
      EXPECT_NEAR(out[i], want, 1e-6 * (1 + std::fabs(want))) << "x=" << v;
    }
  }
  Vec dinp(n, kNaN);
  slm::gelu_backward(dinp.data(), x.data(), R.data(), n);
  expect_grad("gelu dinp", dinp, numeric_grad(x.data(), all_indices(n), 1e-2, loss), kSmoothTol);
  Vec aliased = R;  // dinp may alias dout
  slm::gelu_backward(aliased.data(), x.data(), aliased.data(), n);
  expect_bitwise("gelu dinp aliased", aliased.data(), dinp.data(), n);
}

// ================================================================== attention

struct AttnCase {
  int64_t B, T, C, H;
  float p;
};
std::ostream& operator<<(std::ostream& os, const AttnCase& c) {
  return os << "B" << c.B << "_T" << c.T << "_C" << c.C << "_H" << c.H << "_p" << static_cast<int>(c.p * 100);
}
constexpr uint64_t kAttnKey = 0xA77E0DD5EEDULL;

// Double-precision causal attention with the same dropout masks; out[B,T,C], lse[B,H,T].
void attention_reference(std::vector<double>& out, std::vector<double>& lse, const Vec& qkv, int64_t B, int64_t T,
                         int64_t C, int64_t H, float p, uint64_t key) {
  const int64_t hd = C / H, C3 = 3 * C;
  const uint32_t th = slm::dropout_threshold(p);
  out.assign(B * T * C, 0.0);
  lse.assign(B * H * T, 0.0);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t i = 0; i < T; ++i) {
        std::vector<double> s(i + 1);
        double m = -INFINITY;
        for (int64_t j = 0; j <= i; ++j) {
          double d = 0;
          for (int64_t e = 0; e < hd; ++e)
            d += static_cast<double>(qkv[(b * T + i) * C3 + h * hd + e]) * qkv[(b * T + j) * C3 + C + h * hd + e];
          s[j] = d / std::sqrt(static_cast<double>(hd));
          m = std::max(m, s[j]);
        }
        double sum = 0;
        for (double v : s) sum += std::exp(v - m);
        const int64_t row = (b * H + h) * T + i;
        lse[row] = m + std::log(sum);
        for (int64_t j = 0; j <= i; ++j) {
          double pj = std::exp(s[j] - lse[row]);
          if (p > 0) pj = slm::dropout_keep(key, static_cast<uint64_t>(row * T + j), th) ? pj / (1.0 - p) : 0.0;
          for (int64_t e = 0; e < hd; ++e)
            out[(b * T + i) * C + h * hd + e] += pj * qkv[(b * T + j) * C3 + 2 * C + h * hd + e];
        }
      }
}

class GradCheckAttention : public ::testing::TestWithParam<AttnCase> {};

TEST_P(GradCheckAttention, Dqkv) {
  const auto [B, T, C, H, p] = GetParam();
  slm::Rng rng(shape_seed({B, T, C, H, static_cast<int64_t>(p * 100)}));
  Vec qkv = randn(rng, B * T * 3 * C), R = randn(rng, B * T * C);
  Vec out(B * T * C), lse(B * H * T);
  auto loss = [&] {
    Vec o(B * T * C), l(B * H * T);
    slm::attention_forward(o.data(), l.data(), qkv.data(), B, T, C, H, p, kAttnKey);
    return dot_loss(o, R);
  };
  slm::attention_forward(out.data(), lse.data(), qkv.data(), B, T, C, H, p, kAttnKey);
  std::vector<double> want_out, want_lse;
  attention_reference(want_out, want_lse, qkv, B, T, C, H, p, kAttnKey);
  for (size_t i = 0; i < out.size(); ++i) ASSERT_NEAR(out[i], want_out[i], 1e-5 * (1 + std::fabs(want_out[i]))) << i;
  for (size_t i = 0; i < lse.size(); ++i) ASSERT_NEAR(lse[i], want_lse[i], 1e-5 * (1 + std::fabs(want_lse[i]))) << i;
  if (p > 0 && T > 1) {  // the mask really drops some causal pairs and keeps others
    const uint32_t th = slm::dropout_threshold(p);
    int kept = 0, dropped = 0;
    for (int64_t row = 0; row < B * H * T; ++row)
      for (int64_t j = 0; j <= row % T; ++j) (slm::dropout_keep(kAttnKey, row * T + j, th) ? kept : dropped)++;
    EXPECT_GT(kept, 0);
    EXPECT_GT(dropped, 0);
  }
  Vec dqkv(B * T * 3 * C, kNaN);  // overwritten
  slm::attention_backward(dqkv.data(), R.data(), qkv.data(), out.data(), lse.data(), B, T, C, H, p, kAttnKey);
  const std::vector<double> num = numeric_grad(qkv.data(), all_indices(qkv.size()), 1e-2, loss);
  expect_grad("attention dqkv", dqkv, num, kSmoothTol);
  // Without the output (a bf16 run keeps only its rounding) each row's rowsum(dO o O) is summed
  // from the recomputed probabilities instead: the same gradient.
  Vec dqkv_p(B * T * 3 * C, kNaN);
  slm::attention_backward(dqkv_p.data(), R.data(), qkv.data(), nullptr, lse.data(), B, T, C, H, p, kAttnKey);
  expect_grad("attention dqkv, D from the probabilities", dqkv_p, num, kSmoothTol);
  // Also the q, k and v parts separately, so a small part cannot hide behind a large one.
  for (int part = 0; part < 3; ++part) {
    Idx idx;
    for (int64_t bt = 0; bt < B * T; ++bt)
      for (int64_t c = 0; c < C; ++c) idx.push_back(static_cast<size_t>(bt * 3 * C + part * C + c));
    std::vector<double> n;
    for (size_t i : idx) n.push_back(num[i]);
    Tol tol = kSmoothTol;
    if (T == 1 && part < 2) tol.abs_floor = 1e-5;  // dq, dk are exactly zero for a single key
    expect_grad(std::string("attention d") + "qkv"[part], dqkv.data(), idx, n, tol);
  }
}

INSTANTIATE_TEST_SUITE_P(GradCheck, GradCheckAttention,
                         ::testing::Values(AttnCase{1, 1, 12, 1, 0.0f}, AttnCase{2, 1, 12, 3, 0.3f},
                                           AttnCase{1, 5, 12, 1, 0.0f}, AttnCase{2, 5, 12, 3, 0.0f},
                                           AttnCase{2, 5, 12, 3, 0.3f}, AttnCase{1, 7, 12, 1, 0.3f},
                                           AttnCase{2, 7, 12, 3, 0.3f}, AttnCase{2, 7, 12, 3, 0.0f}),
                         [](const auto& info) {
                           std::ostringstream os;
                           os << info.param;
                           return os.str();
                         });

// ================================================================== dropout / residual

TEST(GradCheckDropout, DropoutAndResidual) {
  const int64_t n = 101;
  const uint64_t key = slm::dropout_key(42, 7, 1, 2);
  slm::Rng rng(3);
  Vec x = randn(rng, n), y = randn(rng, n), R = randn(rng, n);
  for (float p : {0.25f, 0.0f}) {
    SCOPED_TRACE(p);
    // The mask: some dropped, some kept, kept ones scaled by 1/(1-p).
    Vec dx_ = x;
    slm::dropout_forward(dx_.data(), n, p, key);
    int dropped = 0;
    for (int64_t i = 0; i < n; ++i) {
      if (dx_[i] == 0.0f) {
        ++dropped;
      } else {
        EXPECT_FLOAT_EQ(dx_[i], x[i] / (1.0f - p));
      }
    }
    if (p > 0) {
      EXPECT_GT(dropped, 10);
      EXPECT_LT(dropped, 45);
    } else {
      EXPECT_EQ(dropped, 0);
    }

    auto drop_loss = [&] {
      Vec t = x;
      slm::dropout_forward(t.data(), n, p, key);
      return dot_loss(t, R);
    };
    Vec gx(n, kNaN);
    slm::dropout_backward(gx.data(), R.data(), n, p, key);
    expect_grad("dropout dx", gx, numeric_grad(x.data(), all_indices(n), 0.5, drop_loss), kLinearTol);
    Vec alias = R;
    slm::dropout_backward(alias.data(), alias.data(), n, p, key);
    expect_bitwise("dropout dx aliased", alias.data(), gx.data(), n);

    auto res_loss = [&] {
      Vec out(n);
      slm::residual_forward(out.data(), x.data(), y.data(), n, p, key);
      return dot_loss(out, R);
    };
    Vec gy(n, kNaN);
    slm::residual_backward_branch(gy.data(), R.data(), n, p, key);
    expect_grad("residual dy", gy, numeric_grad(y.data(), all_indices(n), 0.5, res_loss), kLinearTol);
    expect_grad("residual dx (= dout)", R, numeric_grad(x.data(), all_indices(n), 0.5, res_loss), kLinearTol);
    Vec alias2 = R;
    slm::residual_backward_branch(alias2.data(), alias2.data(), n, p, key);
    expect_bitwise("residual dy aliased", alias2.data(), gy.data(), n);
  }
}

// ================================================================== embedding

TEST(GradCheckEmbedding, RepeatedTokens) {
  const int64_t B = 2, T = 7, C = 37, V = 11, ctx = 9;  // C > 32: more than one channel block
  const std::vector<int32_t> tokens = {3, 3, 5, 3, 0, 10, 5, 10, 1, 1, 3, 7, 7, 0};
  slm::Rng rng(21);
  Vec wte = randn(rng, V * C), wpe = randn(rng, ctx * C), R = randn(rng, B * T * C);
  auto loss = [&] {
    Vec out(B * T * C);
    slm::embedding_forward(out.data(), tokens.data(), wte.data(), wpe.data(), B, T, C);
    return dot_loss(out, R);
  };
  Vec dwte(V * C, 0.0f), dwpe(ctx * C, 0.0f);
  slm::embedding_backward(dwte.data(), dwpe.data(), R.data(), tokens.data(), B, T, C);
  expect_grad("embedding dwte", dwte, numeric_grad(wte.data(), all_indices(wte.size()), 0.5, loss), kLinearTol);
  expect_grad("embedding dwpe", dwpe, numeric_grad(wpe.data(), all_indices(wpe.size()), 0.5, loss), kLinearTol);
  for (int64_t i = T * C; i < ctx * C; ++i) ASSERT_EQ(dwpe[i], 0.0f) << "unused position rows stay zero";
  for (int64_t i = 2 * C; i < 3 * C; ++i) ASSERT_EQ(dwte[i], 0.0f) << "token 2 does not occur";

  const Vec G_te = randn(rng, V * C), G_pe = randn(rng, ctx * C);
  Vec ate = G_te, ape = G_pe, only_te = G_te, only_pe = G_pe;
  slm::embedding_backward(ate.data(), ape.data(), R.data(), tokens.data(), B, T, C);
  expect_close_scaled("embedding dwte accumulate", ate.data(), plus(G_te, dwte).data(), ate.size(), 1e-6);
  expect_close_scaled("embedding dwpe accumulate", ape.data(), plus(G_pe, dwpe).data(), ape.size(), 1e-6);
  slm::embedding_backward(only_te.data(), nullptr, R.data(), tokens.data(), B, T, C);
  slm::embedding_backward(nullptr, only_pe.data(), R.data(), tokens.data(), B, T, C);
  expect_bitwise("embedding dwte alone", only_te.data(), ate.data(), ate.size());
  expect_bitwise("embedding dwpe alone", only_pe.data(), ape.data(), ape.size());
}

// ================================================================== head + cross-entropy

struct CeCase {
  int64_t M, C, V, chunk;
  std::vector<int64_t> ignored;  // rows whose target is -100
};
std::ostream& operator<<(std::ostream& os, const CeCase& c) {
  os << "M" << c.M << "_C" << c.C << "_V" << c.V << "_chunk" << c.chunk << "_ignored";
  for (int64_t r : c.ignored) os << "_" << r;
  return os;
}
class GradCheckCrossEntropy : public ::testing::TestWithParam<CeCase> {};

TEST_P(GradCheckCrossEntropy, DxDWtAndLoss) {
  const CeCase& tc = GetParam();
  const int64_t M = tc.M, C = tc.C, V = tc.V, chunk = tc.chunk;
  slm::Rng rng(shape_seed({M, C, V, chunk, static_cast<int64_t>(tc.ignored.size())}));
  Vec x = randn(rng, M * C), Wt = randn(rng, V * C, 0.5f);
  std::vector<int32_t> targets(M);
  for (auto& t : targets) t = static_cast<int32_t>(rng.below(V));
  for (int64_t r : tc.ignored) targets[r] = slm::kIgnoreIndex;
  const int64_t count = slm::count_targets(targets.data(), M, V);
  ASSERT_EQ(count, M - static_cast<int64_t>(tc.ignored.size()));
  const float dscale = 1.0f / static_cast<float>(count);
  Vec scratch(chunk * V);

  // Loss against a naive double-precision log-softmax.
  Vec row_loss(M, kNaN);
  const slm::CrossEntropyResult res = slm::head_cross_entropy(x.data(), Wt.data(), targets.data(), M, C, V, nullptr,
                                                              nullptr, dscale, scratch.data(), chunk, row_loss.data());
  EXPECT_EQ(res.count, count);
  double want_sum = 0.0;
  for (int64_t r = 0; r < M; ++r) {
    if (targets[r] == slm::kIgnoreIndex) {
      EXPECT_EQ(row_loss[r], 0.0f);
      continue;
    }
    std::vector<double> logit(V);
    double mx = -INFINITY;
    for (int64_t v = 0; v < V; ++v) {
      double s = 0;
      for (int64_t c = 0; c < C; ++c) s += static_cast<double>(x[r * C + c]) * Wt[v * C + c];
      logit[v] = s;
      mx = std::max(mx, s);
    }
    double sum = 0;
    for (double l : logit) sum += std::exp(l - mx);
    const double loss = mx + std::log(sum) - logit[targets[r]];
    EXPECT_NEAR(row_loss[r], loss, 1e-5 * (1 + loss)) << "row " << r;
    want_sum += loss;
  }
  EXPECT_NEAR(res.loss_sum, want_sum, 1e-5 * (1 + want_sum));

  auto loss = [&] {
    auto r = slm::head_cross_entropy(x.data(), Wt.data(), targets.data(), M, C, V, nullptr, nullptr, dscale,
                                     scratch.data(), chunk);
    return r.loss_sum * static_cast<double>(dscale);  // the mean loss
  };
  Vec dx(M * C, kNaN), dWt(V * C, 0.0f);  // dx overwritten (ignored rows too), dWt accumulated
  const auto res2 = slm::head_cross_entropy(x.data(), Wt.data(), targets.data(), M, C, V, dx.data(), dWt.data(), dscale,
                                            scratch.data(), chunk);
  EXPECT_EQ(res2.loss_sum, res.loss_sum) << "computing gradients must not change the loss";
  for (int64_t r : tc.ignored)
    for (int64_t c = 0; c < C; ++c) ASSERT_EQ(dx[r * C + c], 0.0f) << "ignored row " << r;
  expect_grad("cross_entropy dx", dx, numeric_grad(x.data(), all_indices(x.size()), 1e-2, loss), kSmoothTol);
  expect_grad("cross_entropy dWt", dWt, numeric_grad(Wt.data(), all_indices(Wt.size()), 1e-2, loss), kSmoothTol);

  // dWt accumulates; dx alone / dWt alone give the same values.
  const Vec G = randn(rng, V * C);
  Vec acc = G, only_dW(V * C, 0.0f), only_dx(M * C, kNaN);
  slm::head_cross_entropy(x.data(), Wt.data(), targets.data(), M, C, V, nullptr, acc.data(), dscale, scratch.data(),
                          chunk);
  expect_close_scaled("cross_entropy dWt accumulate", acc.data(), plus(G, dWt).data(), acc.size(), 1e-6);
  slm::head_cross_entropy(x.data(), Wt.data(), targets.data(), M, C, V, nullptr, only_dW.data(), dscale, scratch.data(),
                          chunk);
  slm::head_cross_entropy(x.data(), Wt.data(), targets.data(), M, C, V, only_dx.data(), nullptr, dscale, scratch.data(),
                          chunk);
  expect_bitwise("cross_entropy dWt alone", only_dW.data(), dWt.data(), dWt.size());
  expect_bitwise("cross_entropy dx alone", only_dx.data(), dx.data(), dx.size());
}

INSTANTIATE_TEST_SUITE_P(GradCheck, GradCheckCrossEntropy,
                         ::testing::Values(CeCase{7, 12, 11, 4, {1, 4}},     // 2 chunks, the last partial
                                           CeCase{7, 12, 11, 1, {0, 6}},     // one row per chunk
                                           CeCase{7, 12, 11, 16, {3}},       // one chunk larger than M
                                           CeCase{7, 12, 11, 4, {4, 5, 6}},  // a chunk of ignored rows only
                                           CeCase{1, 12, 11, 4, {}},         // a single row
                                           CeCase{10, 7, 13, 3, {2, 9}}),
                         [](const auto& info) {
                           std::ostringstream os;
                           os << info.param;
                           return os.str();
                         });

// ================================================================== sensitivity

// Plausible real bugs must be caught by the same tolerances.
TEST(GradCheckSensitivity, CatchesWrongGradients) {
  slm::Rng rng(99);
  {  // attention backward that forgets the dropout mask
    const int64_t B = 2, T = 5, C = 12, H = 3;
    const float p = 0.3f;
    Vec qkv = randn(rng, B * T * 3 * C), R = randn(rng, B * T * C), out(B * T * C), lse(B * H * T);
    slm::attention_forward(out.data(), lse.data(), qkv.data(), B, T, C, H, p, kAttnKey);
    auto loss = [&] {
      Vec o(B * T * C), l(B * H * T);
      slm::attention_forward(o.data(), l.data(), qkv.data(), B, T, C, H, p, kAttnKey);
      return dot_loss(o, R);
    };
    const std::vector<double> num = numeric_grad(qkv.data(), all_indices(qkv.size()), 1e-2, loss);
    Vec wrong(qkv.size());
    slm::attention_backward(wrong.data(), R.data(), qkv.data(), out.data(), lse.data(), B, T, C, H, 0.0f, kAttnKey);
    std::vector<double> a(wrong.begin(), wrong.end());
    EXPECT_FALSE(grad_mismatch(a, num, kSmoothTol).empty()) << "attention backward without the mask passed";
    // ... and with a different mask key
    slm::attention_backward(wrong.data(), R.data(), qkv.data(), out.data(), lse.data(), B, T, C, H, p, kAttnKey + 1);
    a.assign(wrong.begin(), wrong.end());
    EXPECT_FALSE(grad_mismatch(a, num, kSmoothTol).empty()) << "attention backward with another mask passed";
  }
  {  // LayerNorm dinp without the "- mean(dnorm)" term
    const int64_t rows = 5, C = 12;
    Vec inp = randn(rng, rows * C, 2.0f, 1.0f), w = randn(rng, C, 0.5f, 1.0f), b = randn(rng, C),
        R = randn(rng, rows * C);
    Vec mean(rows), rstd(rows), out(rows * C);
    slm::layernorm_forward(out.data(), mean.data(), rstd.data(), inp.data(), w.data(), b.data(), rows, C, 1e-5f);
    auto loss = [&] {
      Vec o(rows * C);
      slm::layernorm_forward(o.data(), nullptr, nullptr, inp.data(), w.data(), b.data(), rows, C, 1e-5f);
      return dot_loss(o, R);
    };
    const std::vector<double> num = numeric_grad(inp.data(), all_indices(inp.size()), 1e-2, loss);
    Vec good(rows * C);
    slm::layernorm_backward(good.data(), nullptr, nullptr, R.data(), inp.data(), w.data(), mean.data(), rstd.data(),
                            rows, C, false);
    std::vector<double> a(good.begin(), good.end());
    EXPECT_TRUE(grad_mismatch(a, num, kSmoothTol).empty());
    for (int64_t r = 0; r < rows; ++r) {
      double dm = 0;
      for (int64_t i = 0; i < C; ++i) dm += w[i] * R[r * C + i];
      for (int64_t i = 0; i < C; ++i) a[r * C + i] += dm / C * rstd[r];  // drop the mean term
    }
    EXPECT_FALSE(grad_mismatch(a, num, kSmoothTol).empty()) << "LayerNorm dinp without the mean term passed";
  }
  {  // cross-entropy with a wrong one-hot (target of one row off by one) and with dscale 1% off
    const int64_t M = 7, C = 12, V = 11, chunk = 4;
    Vec x = randn(rng, M * C), Wt = randn(rng, V * C, 0.5f), scratch(chunk * V);
    std::vector<int32_t> targets = {1, -100, 5, 10, 0, 3, 3};
    const float dscale = 1.0f / 6.0f;
    auto loss = [&] {
      return slm::head_cross_entropy(x.data(), Wt.data(), targets.data(), M, C, V, nullptr, nullptr, dscale,
                                     scratch.data(), chunk)
                 .loss_sum *
             dscale;
    };
    const std::vector<double> num = numeric_grad(x.data(), all_indices(x.size()), 1e-2, loss);
    Vec dx(M * C);
    std::vector<int32_t> wrong_t = targets;
    wrong_t[5] = 4;
    slm::head_cross_entropy(x.data(), Wt.data(), wrong_t.data(), M, C, V, dx.data(), nullptr, dscale, scratch.data(),
                            chunk);
    std::vector<double> a(dx.begin(), dx.end());
    EXPECT_FALSE(grad_mismatch(a, num, kSmoothTol).empty()) << "cross-entropy with a wrong one-hot passed";
    slm::head_cross_entropy(x.data(), Wt.data(), targets.data(), M, C, V, dx.data(), nullptr, dscale * 1.01f,
                            scratch.data(), chunk);
    a.assign(dx.begin(), dx.end());
    EXPECT_FALSE(grad_mismatch(a, num, kSmoothTol).empty()) << "cross-entropy with dscale 1% off passed";
  }
}

// ================================================================== whole model

slm::GPTConfig tiny_config(bool qkv_bias, bool tie) {
  slm::GPTConfig c;
  c.vocab_size = 13;
  c.context_length = 9;
  c.emb_dim = 12;
  c.n_heads = 3;
  c.n_layers = 2;
  c.drop_rate = 0.2f;
  c.qkv_bias = qkv_bias;
  c.tie_word_embeddings = tie;
  return c;
}

struct Batch {
  int64_t B = 2, T = 7;
  std::vector<int32_t> tokens, targets;
};
// B x T random tokens and targets (vocabulary 13), every fifth target ignored (-100); the
// first target is always counted.
Batch random_batch(int64_t B, int64_t T, uint64_t seed) {
  Batch b;
  b.B = B, b.T = T;
  slm::Rng rng(seed);
  for (int64_t i = 0; i < B * T; ++i) {
    b.tokens.push_back(static_cast<int32_t>(rng.below(13)));
    b.targets.push_back(i % 5 == 3 ? slm::kIgnoreIndex : static_cast<int32_t>(rng.below(13)));
  }
  return b;
}
Batch tiny_batch() {  // B = 2, T = 7, repeated tokens, two ignored targets
  Batch b;
  b.tokens = {3, 3, 5, 12, 0, 5, 3, 7, 1, 1, 9, 12, 4, 0};
  b.targets = {3, 5, -100, 0, 5, 3, 2, 1, 1, 9, 12, -100, 0, 8};
  return b;
}

constexpr uint64_t kDropSeed = 1234, kDropStep = 5;
// Finite-difference step for model parameters. Measured worst error / tolerance over all checked
// elements of all GradCheckModel cases: 0.96 at h = 2e-3 and 0.29 at 4e-3 (rounding-dominated,
// falling as 1/h), 0.22 at 7e-3, 0.33 at 1e-2 and 1.3 at 2e-2 (truncation-dominated, growing as h^2).
constexpr double kModelStep = 7e-3;

// init_weights, then noise on every parameter (LayerNorm weights away from 1, biases nonzero, and
// weights large enough that GELU and softmax are in their nonlinear ranges); dropout on, fixed masks.
void prepare(slm::GPT& m, uint64_t seed) {
  m.init_weights(seed);
  slm::Rng rng(seed ^ 0xDEADBEEFULL);
  for (const auto& p : m.params().params()) {
    float* d = m.params().data(p.name);
    for (size_t i = 0; i < p.numel; ++i) d[i] += 0.25f * static_cast<float>(rng.normal());
  }
  m.set_training(true);
  m.set_dropout_seed(kDropSeed, kDropStep);
}

// Gradients of every trainable parameter after one forward(with_grad) + backward, by name.
std::vector<std::pair<std::string, Vec>> run_grads(slm::GPT& m, const Batch& b, float* loss_out = nullptr,
                                                   float grad_scale = 1.0f) {
  m.zero_grad();
  const float loss = m.forward(b.tokens.data(), b.targets.data(), b.B, b.T, true, grad_scale);
  if (loss_out) *loss_out = loss;
  m.backward();
  std::vector<std::pair<std::string, Vec>> g;
  for (const auto& p : m.params().params()) {
    const float* gp = m.params().grad(p.name);
    if (gp) g.emplace_back(p.name, Vec(gp, gp + p.numel));
  }
  return g;
}

// The model's mean cross-entropy recomputed in double from its logits (with the same dropout
// masks, since logits() runs the training-mode forward). GPT::forward returns the loss as a float,
// whose rounding (half an ulp of ~3, i.e. ~1.2e-7) would dominate the finite differences of small
// gradients; this loss has only the rounding of the float activations.
double loss_from_logits(slm::GPT& m, const Batch& b) {
  const int64_t V = m.config().vocab_size;
  std::vector<float> logits(static_cast<size_t>(b.B * b.T * V));
  m.logits(b.tokens.data(), b.B, b.T, logits.data(), false);
  double sum = 0.0;
  int64_t count = 0;
  for (int64_t r = 0; r < b.B * b.T; ++r) {
    if (b.targets[r] == slm::kIgnoreIndex) continue;
    const float* l = logits.data() + r * V;
    double mx = -INFINITY, se = 0.0;
    for (int64_t v = 0; v < V; ++v) mx = std::max(mx, static_cast<double>(l[v]));
    for (int64_t v = 0; v < V; ++v) se += std::exp(l[v] - mx);
    sum += mx + std::log(se) - l[b.targets[r]];
    ++count;
  }
  return sum / static_cast<double>(count);
}

struct ModelCase {
  bool qkv_bias, tie;
  int64_t B = 2, T = 7;  // 2 x 7: tiny_batch(); otherwise random_batch()
};
class GradCheckModel : public ::testing::TestWithParam<ModelCase> {};

TEST_P(GradCheckModel, AllParametersWithDropout) {
  const bool qkv_bias = GetParam().qkv_bias, tie = GetParam().tie;
  slm::GPT m(tiny_config(qkv_bias, tie));
  prepare(m, 2024);
  m.enable_grads();
  const ModelCase& mc = GetParam();
  const Batch b = (mc.B == 2 && mc.T == 7) ? tiny_batch() : random_batch(mc.B, mc.T, 4242);
  auto loss = [&] { return loss_from_logits(m, b); };

  float loss_grad = 0;
  const auto grads = run_grads(m, b, &loss_grad);
  // Same loss without gradients (same masks), and dropout really is on and keyed by the step.
  const float loss_plain = m.forward(b.tokens.data(), b.targets.data(), b.B, b.T, false);
  EXPECT_EQ(loss_plain, loss_grad);
  m.set_dropout_seed(kDropSeed, kDropStep + 1);
  EXPECT_NE(m.forward(b.tokens.data(), b.targets.data(), b.B, b.T, false), loss_grad);
  m.set_training(false);
  const float loss_eval = m.forward(b.tokens.data(), b.targets.data(), b.B, b.T, false);
  EXPECT_NE(loss_eval, loss_grad);
  m.set_training(true);
  m.set_dropout_seed(kDropSeed, kDropStep);
  ASSERT_EQ(m.forward(b.tokens.data(), b.targets.data(), b.B, b.T, false), loss_grad);
  EXPECT_NEAR(loss(), loss_grad, 1e-6 * loss_grad) << "the loss recomputed from logits()";

  ASSERT_EQ(grads.size(), m.params().params().size());
  slm::Rng rng(7);
  for (const auto& [name, g] : grads) {
    const Idx idx = sample_indices(rng, g.size(), 30);
    const std::vector<double> num = numeric_grad(m.params().data(name), idx, kModelStep, loss);
    expect_grad("model " + name, g.data(), idx, num, kModelTol);
  }
  const float* gpe = m.params().grad("wpe.weight");  // position rows past T get no gradient
  for (int64_t i = b.T * 12; i < 9 * 12; ++i) ASSERT_EQ(gpe[i], 0.0f);
}

INSTANTIATE_TEST_SUITE_P(GradCheck, GradCheckModel,
                         ::testing::Values(ModelCase{true, false}, ModelCase{true, true}, ModelCase{false, true},
                                           ModelCase{false, false, 1, 9}, ModelCase{true, true, 1, 1},
                                           ModelCase{true, false, 2, 5}),
                         [](const auto& info) {
                           std::ostringstream os;
                           os << (info.param.qkv_bias ? "qkvbias" : "noqkvbias")
                              << (info.param.tie ? "_tied" : "_untied") << "_B" << info.param.B << "_T" << info.param.T;
                           return os.str();
                         });

TEST(GradCheckModelSensitivity, WrongMaskOrScaleFails) {
  slm::GPT m(tiny_config(true, false));
  prepare(m, 31);
  m.enable_grads();
  const Batch b = tiny_batch();
  auto loss = [&] { return loss_from_logits(m, b); };
  m.set_dropout_seed(kDropSeed, kDropStep + 1);
  const auto other_mask = run_grads(m, b);  // gradients for another step's masks
  m.set_dropout_seed(kDropSeed, kDropStep);
  const auto scaled = run_grads(m, b, nullptr, 1.01f);  // all gradients 1% too large
  int caught_mask = 0, caught_scale = 0, checked = 0;
  slm::Rng rng(8);
  for (size_t k = 0; k < other_mask.size(); ++k) {
    const std::string& name = other_mask[k].first;
    const Idx idx = sample_indices(rng, other_mask[k].second.size(), 10);
    const std::vector<double> num = numeric_grad(m.params().data(name), idx, kModelStep, loss);
    std::vector<double> a1, a2;
    for (size_t i : idx) a1.push_back(other_mask[k].second[i]), a2.push_back(scaled[k].second[i]);
    ++checked;
    caught_mask += !grad_mismatch(a1, num, kModelTol).empty();
    caught_scale += !grad_mismatch(a2, num, kModelTol).empty();
  }
  // Every hidden state changes with the masks, so every tensor's gradient must be flagged.
  EXPECT_EQ(caught_mask, checked);
  EXPECT_EQ(caught_scale, checked);
}

// Frozen parameters get no gradient memory; trainable ones get exactly the full model's gradients.
TEST(GradCheckModelFrozen, MatchesFullModel) {
  const Batch b = tiny_batch();
  for (bool tie : {false, true}) {
    slm::GPT full(tiny_config(true, tie));
    prepare(full, 555);
    full.enable_grads();
    float full_loss = 0;
    const auto full_grads = run_grads(full, b, &full_loss);

    using Pred = std::function<bool(const std::string&)>;
    const std::vector<std::pair<std::string, Pred>> schemes = {
        {"last block + ln_f + head",
         [](const std::string& n) { return n.starts_with("h.1.") || n.starts_with("ln_f.") || n == "lm_head.weight"; }},
        {"head only", [](const std::string& n) { return n == "lm_head.weight"; }},
        {"ln_f only", [](const std::string& n) { return n.starts_with("ln_f."); }},
        {"first block only", [](const std::string& n) { return n.starts_with("h.0."); }},
        {"mlp of the last block", [](const std::string& n) { return n.starts_with("h.1.mlp."); }},
        {"ln_1 of the first block", [](const std::string& n) { return n.starts_with("h.0.ln_1."); }},
        {"wpe only", [](const std::string& n) { return n == "wpe.weight"; }},
        {"wte only (the head too, when tied)", [](const std::string& n) { return n == "wte.weight"; }},
        {"nothing", [](const std::string&) { return false; }},
    };
    for (const auto& [label, trainable] : schemes) {
      SCOPED_TRACE(label + (tie ? " (tied)" : " (untied)"));
      slm::GPT m(tiny_config(true, tie));
      prepare(m, 555);
      for (const auto& p : m.params().params()) m.params().set_trainable(p.name, trainable(p.name));
      m.enable_grads();
      size_t want_numel = 0;
      for (const auto& p : m.params().params()) {
        if (trainable(p.name)) {
          EXPECT_NE(m.params().grad(p.name), nullptr) << p.name;
          want_numel += p.numel;
        } else {
          EXPECT_EQ(m.params().grad(p.name), nullptr) << p.name;
        }
      }
      EXPECT_EQ(m.params().trainable_numel(), want_numel);
      float loss = 0;
      const auto grads = run_grads(m, b, &loss);
      EXPECT_EQ(loss, full_loss);
      for (const auto& [name, g] : grads) {
        auto it = std::find_if(full_grads.begin(), full_grads.end(), [&](const auto& e) { return e.first == name; });
        ASSERT_NE(it, full_grads.end());
        // Bit-identical: the same operations run whether or not other parameters train (this
        // needs layernorm_backward's dinp not to depend on whether dweight/dbias are requested;
        // see GradCheckLayerNorm.OutputsIndependentOfWhichAreRequested).
        expect_bitwise(name, g.data(), it->second.data(), g.size());
      }
    }
  }
}

TEST(GradCheckModelDeterminism, BitIdenticalAccumulatingAndScaled) {
  const Batch b = tiny_batch();
  auto make = [] {
    auto m = std::make_unique<slm::GPT>(tiny_config(true, false));
    prepare(*m, 77);
    m->enable_grads();
    return m;
  };
  auto m1 = make(), m2 = make();
  float l1 = 0, l2 = 0;
  const auto g1 = run_grads(*m1, b, &l1);
  const auto g2 = run_grads(*m2, b, &l2);
  EXPECT_EQ(l1, l2);
  ASSERT_EQ(m1->params().grad_numel(), m2->params().grad_numel());
  expect_bitwise("two models", m1->params().grad_all(), m2->params().grad_all(), m1->params().grad_numel());
  // The same model again.
  const auto g3 = run_grads(*m1, b);
  for (size_t k = 0; k < g1.size(); ++k)
    expect_bitwise("rerun " + g1[k].first, g3[k].second.data(), g1[k].second.data(), g1[k].second.size());
  // grad_scale 0.5 halves every gradient exactly (scaling by a power of two is exact).
  const auto gh = run_grads(*m1, b, nullptr, 0.5f);
  for (size_t k = 0; k < g1.size(); ++k) {
    Vec twice(gh[k].second.size());
    for (size_t i = 0; i < twice.size(); ++i) twice[i] = 2.0f * gh[k].second[i];
    expect_bitwise("grad_scale 0.5 " + g1[k].first, twice.data(), g1[k].second.data(), twice.size());
  }
  // Without zero_grad, a second forward/backward adds the same gradients again.
  m1->zero_grad();
  for (int rep = 0; rep < 2; ++rep) {
    m1->forward(b.tokens.data(), b.targets.data(), b.B, b.T, true);
    m1->backward();
  }
  for (size_t k = 0; k < g1.size(); ++k) {
    const float* acc = m1->params().grad(g1[k].first);
    Vec twice(g1[k].second.size());
    for (size_t i = 0; i < twice.size(); ++i) twice[i] = 2.0f * g1[k].second[i];
    expect_close_scaled("accumulated " + g1[k].first, acc, twice.data(), twice.size(), 1e-5);
  }
}

}  // namespace
