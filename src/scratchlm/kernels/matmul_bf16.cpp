// matmul_bf16.cpp — bf16 GEMMs with fp32 accumulation and the mixed-precision linear layers (see
// matmul_bf16.h).
#include "scratchlm/kernels/matmul_bf16.h"

#include <cblas.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cstdint>
#include <map>
#include <mutex>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "scratchlm/kernels/bf16_tile_gemm.h"
#include "scratchlm/kernels/blocked_weight.h"
#include "scratchlm/tensor/scratch_buffer.h"
#include "scratchlm/util/error.h"

#ifdef SLM_HAVE_DNNL
#include <oneapi/dnnl/dnnl.hpp>
#endif

namespace slm {

const char* precision_name(Precision p) { return p == Precision::Bf16 ? "bf16" : "fp32"; }

Precision parse_precision(std::string_view s) {
  if (s == "fp32" || s == "f32" || s == "float32") return Precision::Fp32;
  if (s == "bf16" || s == "bfloat16") return Precision::Bf16;
  fail("unknown precision '{}' (expected fp32 or bf16)", s);
}

const char* bf16_path_name(Bf16Path p) {
  return p == Bf16Path::Native ? "native (AVX512_BF16, oneDNN)" : "fallback (bf16 widened to fp32, sgemm)";
}

Bf16Path bf16_path_for(const CpuFeatures& f) {
#ifdef SLM_HAVE_DNNL
  if (f.avx512_bf16 && f.avx512f && f.avx512bw && f.avx512vl) return Bf16Path::Native;
#endif
  return Bf16Path::Fallback;
}

namespace {
std::atomic<int> g_path{-1};  // -1: from cpu_features()
}  // namespace

Bf16Path bf16_path() {
  const int p = g_path.load(std::memory_order_relaxed);
  if (p >= 0) return static_cast<Bf16Path>(p);
  const Bf16Path d = bf16_path_for(cpu_features());
  g_path.store(static_cast<int>(d), std::memory_order_relaxed);
  return d;
}

void set_bf16_path(Bf16Path p) {
  if (p == Bf16Path::Native && bf16_path_for(cpu_features()) != Bf16Path::Native)
    fail("the native bf16 path needs AVX512_BF16 (and oneDNN in the build); this CPU/build offers {}",
         cpu_features_summary(cpu_features()));
  g_path.store(static_cast<int>(p), std::memory_order_relaxed);
}

void f32_to_bf16_array(const float* x, bf16_t* y, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n >= (1 << 16))
  for (int64_t i = 0; i < n; ++i) y[i] = f32_to_bf16_vec(x[i]);
}

namespace {

void bf16_to_f32_array(const bf16_t* x, float* y, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n >= (1 << 16))
  for (int64_t i = 0; i < n; ++i) y[i] = std::bit_cast<float>(static_cast<uint32_t>(x[i]) << 16);
}

// Grow-only scratch for the operands rounded to bf16 (and the fallback's widened copies). The
// training step calls the GEMMs from one thread (they parallelize inside).
struct Scratch {
  std::vector<bf16_t> a, b;
  std::vector<bf16_t> dy;     // an output gradient in oneDNN's blocked layout (blocked_weight.h)
  std::vector<bf16_t> wpack;  // a weight in that layout
  std::vector<float> fa, fb, fc;
  std::vector<float> pad;  // oneDNN's scratchpad, shared by all the primitives (see gemm_dnnl)
};
Scratch& scratch() {
  thread_local Scratch s;
  return s;
}

void gemm_fallback(bool ta, bool tb, int64_t M, int64_t N, int64_t K, const bf16_t* A, int64_t lda, const bf16_t* B,
                   int64_t ldb, bool accumulate, float* C, int64_t ldc) {
  Scratch& s = scratch();
  const int64_t na = (ta ? K : M) * lda, nb = (tb ? N : K) * ldb;
  float* fa = grow(s.fa, na);
  float* fb = grow(s.fb, nb);
  bf16_to_f32_array(A, fa, na);
  bf16_to_f32_array(B, fb, nb);
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, N, K, 1.0f, fa, lda, fb,
              ldb, accumulate ? 1.0f : 0.0f, C, ldc);
}

#ifdef SLM_HAVE_DNNL
// One oneDNN matmul primitive per shape (finetuning batches change shape every step: the cache is
// emptied when it grows past a few hundred entries). The primitives take their scratchpad (the
// operand blocks they repack) from the calling thread's Scratch: left to the library, this oneDNN
// build (concurrent execution) gives every cached primitive a scratchpad of its own, held as long
// as the primitive, and a training step uses a few dozen shapes.
struct Dnnl {
  dnnl::engine eng{dnnl::engine::kind::cpu, 0};
  dnnl::stream strm{eng};
  using Key = std::tuple<bool, bool, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, bool, bool, bool, bool>;
  struct Prim {
    dnnl::matmul matmul;
    dnnl::memory::desc pad;  // its scratchpad
  };
  std::map<Key, Prim> cache;
  std::mutex mu;
  std::atomic<int64_t> reference_primitives{0};
};
Dnnl& dnnl_state() {
  static Dnnl d;
  return d;
}

// C is fp32, or bf16 (c16: the fp32 sums rounded to nearest even, no accumulate). bias (fp32, N;
// not with accumulate) is added to each row of the sums as they are written. b_blocked: B is in
// oneDNN's own blocked layout (pack_blocked_weight, pack_blocked_weight_t; tb and ldb unused).
void gemm_dnnl(bool ta, bool tb, int64_t M, int64_t N, int64_t K, const bf16_t* A, int64_t lda, const bf16_t* B,
               int64_t ldb, bool accumulate, void* C, bool c16, int64_t ldc, const float* bias = nullptr,
               bool b_blocked = false) {
  using dt = dnnl::memory::data_type;
  Dnnl& d = dnnl_state();
  const dnnl::memory::desc a_md({M, K}, dt::bf16, ta ? dnnl::memory::dims{1, lda} : dnnl::memory::dims{lda, 1});
  const dnnl::memory::desc b_md =
      b_blocked ? dnnl::memory::desc({K, N}, dt::bf16, dnnl::memory::format_tag::BA16a64b2a)
                : dnnl::memory::desc({K, N}, dt::bf16, tb ? dnnl::memory::dims{1, ldb} : dnnl::memory::dims{ldb, 1});
  const dnnl::memory::desc c_md({M, N}, c16 ? dt::bf16 : dt::f32, dnnl::memory::dims{ldc, 1});
  const dnnl::memory::desc bias_md({1, N}, dt::f32, dnnl::memory::dims{N, 1});
  const Dnnl::Key key{ta, tb, M, N, K, lda, ldb, ldc, accumulate, c16, bias != nullptr, b_blocked};
  Dnnl::Prim prim;
  {
    std::lock_guard<std::mutex> lock(d.mu);
    auto it = d.cache.find(key);
    if (it == d.cache.end()) {
      if (d.cache.size() > 512) d.cache.clear();
      dnnl::primitive_attr attr;
      attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
      if (accumulate) {
        dnnl::post_ops po;
        po.append_sum(1.0f);
        attr.set_post_ops(po);
      }
      const dnnl::matmul::desc desc =
          bias ? dnnl::matmul::desc(a_md, b_md, bias_md, c_md) : dnnl::matmul::desc(a_md, b_md, c_md);
      const dnnl::matmul::primitive_desc pd(desc, attr, d.eng);
      if (std::string_view(pd.impl_info_str()).substr(0, 3) == "ref") d.reference_primitives.fetch_add(1);
      it = d.cache.emplace(key, Dnnl::Prim{dnnl::matmul(pd), pd.scratchpad_desc()}).first;
    }
    prim = it->second;
  }
  // Grow-only, its start rounded up to 64 bytes.
  float* pad_base = grow_aligned64(scratch().pad, static_cast<int64_t>(prim.pad.get_size() + 3) / 4);
  dnnl::memory a_mem(a_md, d.eng, const_cast<bf16_t*>(A));
  dnnl::memory b_mem(b_md, d.eng, const_cast<bf16_t*>(B));
  dnnl::memory c_mem(c_md, d.eng, C);
  dnnl::memory pad_mem(prim.pad, d.eng, pad_base);
  std::unordered_map<int, dnnl::memory> args = {
      {DNNL_ARG_SRC, a_mem}, {DNNL_ARG_WEIGHTS, b_mem}, {DNNL_ARG_DST, c_mem}, {DNNL_ARG_SCRATCHPAD, pad_mem}};
  if (bias) args.emplace(DNNL_ARG_BIAS, dnnl::memory(bias_md, d.eng, const_cast<float*>(bias)));
  prim.matmul.execute(d.strm, args);
  d.strm.wait();
}

// out[M, N] = a[M, K] B (+ out when accumulate; + bias), B = W16[K, N], or W16^T for a W16[N, K]
// (transposed). A product of kPackWeightRows rows or more takes B packed by us into oneDNN's
// blocked layout (blocked_weight.h; the same sums, bit for bit) instead of the GEMM copying it
// inside the call. In a gpt2-124M bf16 step (DNNL_VERBOSE) the block GEMMs then take 5-10% less
// time, for packs of 0.06-0.28 ms per weight; alone, with the operands hot in cache
// (bench/bench_gemm_bf16, "packed"), it about breaks even. At 128 rows the pack costs more than it
// saves.
constexpr int64_t kPackWeightRows = 256;
void gemm_weight_dnnl(int64_t M, int64_t N, int64_t K, const bf16_t* a, int64_t lda, const bf16_t* W16, bool transposed,
                      bool accumulate, void* out, bool c16, int64_t ldc, const float* bias) {
  // (A strided A stays with the plain B: oneDNN multiplies it by a blocked B only in its reference
  // code, hundreds of times slower; see gemm_reference_primitives.)
  if (M < kPackWeightRows || lda != K) {
    gemm_dnnl(false, transposed, M, N, K, a, lda, W16, transposed ? K : N, accumulate, out, c16, ldc, bias);
    return;
  }
  bf16_t* p = grow(scratch().wpack, blocked_weight_size(K, N));
  if (transposed)
    pack_blocked_weight_t(p, W16, K, N);
  else
    pack_blocked_weight(p, W16, K, N);
  gemm_dnnl(false, false, M, N, K, a, lda, p, 0, accumulate, out, c16, ldc, bias, true);
}
#endif

}  // namespace

int64_t gemm_reference_primitives() {
#ifdef SLM_HAVE_DNNL
  return dnnl_state().reference_primitives.load();
#else
  return 0;
#endif
}

void gemm_bf16(bool ta, bool tb, int64_t M, int64_t N, int64_t K, const bf16_t* A, int64_t lda, const bf16_t* B,
               int64_t ldb, bool accumulate, float* C, int64_t ldc, Bf16Path path) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0) {
    if (!accumulate)
      for (int64_t i = 0; i < M; ++i)
        for (int64_t j = 0; j < N; ++j) C[i * ldc + j] = 0.0f;
    return;
  }
#ifdef SLM_HAVE_DNNL
  if (path == Bf16Path::Native) {
    gemm_dnnl(ta, tb, M, N, K, A, lda, B, ldb, accumulate, C, false, ldc);
    return;
  }
#endif
  gemm_fallback(ta, tb, M, N, K, A, lda, B, ldb, accumulate, C, ldc);
}

void matmul_forward_bf16(float* out, const float* inp, const bf16_t* W16, const float* bias, int64_t M, int64_t K,
                         int64_t N) {
  bf16_t* a = grow(scratch().a, M * K);
  f32_to_bf16_array(inp, a, M * K);
  matmul_forward_bf16_in16(out, a, W16, bias, M, K, N);
}

void matmul_forward_bf16_in16(float* out, const bf16_t* a, const bf16_t* W16, const float* bias, int64_t M, int64_t K,
                              int64_t N) {
#ifdef SLM_HAVE_DNNL
  if (bias && bf16_path() == Bf16Path::Native && K > 0) {  // the bias added as oneDNN writes the sums
    gemm_weight_dnnl(M, N, K, a, K, W16, false, false, out, false, N, bias);
    return;
  }
#endif
  if (bias) {
#pragma omp parallel for schedule(static) if (M * N >= (1 << 16))
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) out[i * N + j] = bias[j];
  }
  gemm_bf16(false, false, M, N, K, a, K, W16, N, bias != nullptr, out, N, bf16_path());
}

void matmul_forward_bf16_in16_out16(bf16_t* out, const bf16_t* a, const bf16_t* W16, const float* bias, int64_t M,
                                    int64_t K, int64_t N) {
  if (M <= 0 || N <= 0) return;
#ifdef SLM_HAVE_DNNL
  if (bf16_path() == Bf16Path::Native && K > 0) {  // the sums plus bias rounded as oneDNN writes them
    gemm_weight_dnnl(M, N, K, a, K, W16, false, false, out, true, N, bias);
    return;
  }
#endif
  // Fallback: a few rows at a time in fp32, rounded.
  constexpr int64_t kRows = 64;
  float* tmp = grow(scratch().fc, std::min(M, kRows) * N);
  for (int64_t i0 = 0; i0 < M; i0 += kRows) {
    const int64_t m = std::min(kRows, M - i0);
    matmul_forward_bf16_in16(tmp, a + i0 * K, W16, bias, m, K, N);
    f32_to_bf16_array(tmp, out + i0 * N, m * N);
  }
}

namespace {

// matmul_backward_bf16 on the input in fp32 (inp) or already rounded (inp16).
void backward_bf16(float* dinp, float* dW, float* dbias, const float* dout, const float* inp, const bf16_t* inp16,
                   const bf16_t* W16, int64_t M, int64_t K, int64_t N, bool accumulate_dinp) {
  Scratch& s = scratch();
  bf16_t* d = grow(s.b, M * N);
  if (dbias) {
    // The bias gradient as matmul_backward sums it (columns in parallel, rows in order: the same
    // bits), the output gradient rounded in the same pass over it.
#pragma omp parallel for schedule(static)
    for (int64_t j0 = 0; j0 < N; j0 += 64) {
      const int64_t j1 = std::min(j0 + 64, N);
      for (int64_t i = 0; i < M; ++i) {
        const float* g = dout + i * N;
        bf16_t* g16 = d + i * N;
#pragma omp simd
        for (int64_t j = j0; j < j1; ++j) {
          dbias[j] += g[j];
          g16[j] = f32_to_bf16_vec(g[j]);
        }
      }
    }
  } else if (dinp || dW) {
    f32_to_bf16_array(dout, d, M * N);
  }
  if (dW && !inp16) {
    bf16_t* a = grow(s.a, M * K);
    f32_to_bf16_array(inp, a, M * K);
    inp16 = a;
  }
  matmul_backward_bf16_rounded(dinp, dW, d, N, inp16, W16, M, K, N, accumulate_dinp);
}

}  // namespace

void matmul_backward_bf16_rounded(float* dinp, float* dW, const bf16_t* dout16, int64_t ldd, const bf16_t* inp16,
                                  const bf16_t* W16, int64_t M, int64_t K, int64_t N, bool accumulate_dinp) {
  const Bf16Path path = bf16_path();
#ifdef SLM_HAVE_DNNL
  if (path == Bf16Path::Native && M > 0 && K > 0 && N > 0) {
    if (dinp) gemm_weight_dnnl(M, K, N, dout16, ldd, W16, true, accumulate_dinp, dinp, false, K, nullptr);  // dY W^T
    if (dW) {  // dW += X^T dY, dY packed by us for the GEMM (the same sums, bit for bit)
      bf16_t* dy = grow(scratch().dy, blocked_weight_size(M, N));
      pack_blocked_weight(dy, dout16, M, N, ldd);
      gemm_dnnl(true, false, K, N, M, inp16, K, dy, 0, true, dW, false, N, nullptr, true);
    }
    return;
  }
#endif
  if (dinp) gemm_bf16(false, true, M, K, N, dout16, ldd, W16, N, accumulate_dinp, dinp, K, path);  // dY W^T
  if (dW) gemm_bf16(true, false, K, N, M, inp16, K, dout16, ldd, true, dW, N, path);               // dW += X^T dY
}

void matmul_backward_bf16(float* dinp, float* dW, float* dbias, const float* dout, const float* inp, const bf16_t* W16,
                          int64_t M, int64_t K, int64_t N, bool accumulate_dinp) {
  backward_bf16(dinp, dW, dbias, dout, inp, nullptr, W16, M, K, N, accumulate_dinp);
}

void matmul_backward_bf16_in16(float* dinp, float* dW, float* dbias, const float* dout, const bf16_t* inp16,
                               const bf16_t* W16, int64_t M, int64_t K, int64_t N, bool accumulate_dinp) {
  backward_bf16(dinp, dW, dbias, dout, nullptr, inp16, W16, M, K, N, accumulate_dinp);
}

void matmul_forward_wt_bf16(float* out, const float* inp, const bf16_t* Wt16, int64_t M, int64_t K, int64_t N) {
  bf16_t* a = grow(scratch().a, M * K);
  f32_to_bf16_array(inp, a, M * K);
  gemm_bf16(false, true, M, N, K, a, K, Wt16, K, false, out, N, bf16_path());
}

void matmul_forward_wt_bf16_out16(bf16_t* out, const float* inp, const bf16_t* Wt16, int64_t M, int64_t K, int64_t N,
                                  const bf16_t* Wt_blocked) {
  if (M <= 0 || N <= 0) return;
  Scratch& s = scratch();
  bf16_t* a = grow(s.a, M * K);
  f32_to_bf16_array(inp, a, M * K);
#ifdef SLM_HAVE_DNNL
  if (bf16_path() == Bf16Path::Native && K > 0) {
    if (Wt_blocked)
      gemm_dnnl(false, false, M, N, K, a, K, Wt_blocked, 0, false, out, true, N, nullptr, true);
    else
      gemm_dnnl(false, true, M, N, K, a, K, Wt16, K, false, out, true, N);
    return;
  }
#endif
  // Fallback: the operands widened once, the fp32 products of a few rows at a time rounded as
  // oneDNN rounds its bf16 output.
  constexpr int64_t kRows = 16;
  float* fa = grow(s.fa, M * K);
  float* fb = grow(s.fb, N * K);
  float* tmp = grow(s.fc, std::min(M, kRows) * N);
  bf16_to_f32_array(a, fa, M * K);
  bf16_to_f32_array(Wt16, fb, N * K);
  for (int64_t i0 = 0; i0 < M; i0 += kRows) {
    const int64_t m = std::min(kRows, M - i0);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, N, K, 1.0f, fa + i0 * K, K, fb, K, 0.0f, tmp, N);
    f32_to_bf16_array(tmp, out + i0 * N, m * N);
  }
}

void matmul_backward_wt_bf16(float* dinp, float* dWt, const float* dout, const float* inp, const bf16_t* Wt16,
                             int64_t M, int64_t K, int64_t N, bool accumulate_dinp) {
  bf16_t* d = grow(scratch().b, M * N);
  f32_to_bf16_array(dout, d, M * N);
  matmul_backward_wt_bf16_rounded(dinp, dWt, d, N, inp, Wt16, M, K, N, accumulate_dinp);
}

void matmul_backward_wt_bf16_rounded(float* dinp, float* dWt, const bf16_t* d, int64_t ldd, const float* inp,
                                     const bf16_t* Wt16, int64_t M, int64_t K, int64_t N, bool accumulate_dinp,
                                     const bf16_t* Wt_blocked) {
  const Bf16Path path = bf16_path();
#ifdef SLM_HAVE_DNNL
  if (dinp && Wt_blocked && path == Bf16Path::Native) {  // dY Wt, Wt already in oneDNN's layout
    gemm_dnnl(false, false, M, K, N, d, ldd, Wt_blocked, 0, accumulate_dinp, dinp, false, K, nullptr, true);
    dinp = nullptr;
  }
#endif
  if (dinp) gemm_bf16(false, false, M, K, N, d, ldd, Wt16, K, accumulate_dinp, dinp, K, path);  // dY Wt
  if (dWt && path == Bf16Path::Native && K % 16 == 0) {
    // dWt += dY^T X on bf16_tile_gemm's tiles, straight from dY's rows (oneDNN repacks dY^T on
    // every call: 293 vs 374 GFLOP/s for gpt2-124M's head, bench/bench_gemm_bf16).
    bf16_t* xp = grow(scratch().a, round_up(M, 2) * K);
    pack_pairs_rows(xp, K, inp, K, M, K);
    tile_gemm_bf16_at(N, K, M, d, ldd, xp, K, dWt, K, path);
  } else if (dWt) {
    bf16_t* a = grow(scratch().a, M * K);
    f32_to_bf16_array(inp, a, M * K);
    gemm_bf16(true, false, N, K, M, d, ldd, a, K, true, dWt, K, path);  // dWt += dY^T X
  }
}

}  // namespace slm
