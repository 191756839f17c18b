// matmul_panels.h — fp32 (or bf16) inference weights packed in panels (chapter 5's generation, and
// chapter 7 "going further": serving several sequences at once). A linear layer's weight is
// copied once, at load, from the Conv1D layout W[K, N] into panels of 16 outputs: panel p holds,
// for every input k in order, the 16 weights of outputs 16p .. 16p+15 (zeros past N). A decode
// step of M rows then reads the weights once, front to back, as one stream: each 64-byte line
// is multiplied with all M rows while it is in the cache. OpenBLAS packs W on every call instead
// (sgemm) or walks it with a stride (sgemv); on GPT-2 124M's block matrices at 2 threads the
// panels took 11 ms per decode step at 1 row (sgemv 13), 12 at 8 rows (sgemm 30-39) and stay
// ahead of sgemm up to prompt chunks of 256 rows (bench/bench_few_rows.cpp).
//
// Order of the sums: out[m, n] = (in[m, 0]·w[n, 0] + in[m, 1]·w[n, 1] + ... + in[m, K-1]·w[n, K-1])
// + bias[n], one chain of fmas in increasing k starting from 0, then the bias. It depends on
// neither the number of rows, nor which rows share a step, nor the thread count, nor the
// instruction set: a sequence gets the same bits alone and batched with others.
#pragma once

#include <cstdint>

#include "scratchlm/tensor/bf16.h"

namespace slm {

inline constexpr int64_t kPanelWidth = 16;

// Values held by the panels of an N x K weight (N rounded up to whole panels).
int64_t panel_floats(int64_t N, int64_t K);
// Pack the Conv1D weight W[K, N] (output n's weight for input k at W[k * N + n]) into `panels`
// (panel_floats(N, K) values): as they are, or rounded to bf16 (nearest even; --precision bf16).
void pack_panels(float* panels, const float* W, int64_t K, int64_t N);
void pack_panels(bf16_t* panels, const float* W, int64_t K, int64_t N);

// The instruction sets the kernel comes in; Scalar is the reference the tests hold the others to.
enum class PanelPath { Scalar, Avx2, Avx512 };
bool panel_path_available(PanelPath p);  // by cpu_features() (SLM_CPU caps it)
// Whether the fast kernel runs here (AVX2 and FMA); without it inference keeps the fp32 Conv1D
// weights on BLAS and nothing is packed.
bool matmul_panels_available();
PanelPath panel_best_path();

// out[M, N] = in[M, K] · W + bias (bias may be null), W given as its panels (bf16 weights are
// widened to fp32 exactly, then summed as fp32 ones).
void matmul_panels(float* out, const float* in, const float* panels, const float* bias, int64_t M, int64_t K, int64_t N,
                   PanelPath path = panel_best_path());
void matmul_panels(float* out, const float* in, const bf16_t* panels, const float* bias, int64_t M, int64_t K,
                   int64_t N, PanelPath path = panel_best_path());

}  // namespace slm
