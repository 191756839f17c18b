// blocked_weight.cpp — bf16 weights in oneDNN's blocked layout (see blocked_weight.h).
#include "scratchlm/kernels/blocked_weight.h"

#include <algorithm>

#include "scratchlm/kernels/bf16_tile_gemm.h"
#include "scratchlm/kernels/matmul_bf16.h"
#include "scratchlm/util/cpu_features.h"

namespace slm {

bool blocked_weights_available() {
#ifdef SLM_HAVE_DNNL
  return bf16_path() == Bf16Path::Native;
#else
  return false;
#endif
}

int64_t blocked_weight_size(int64_t K, int64_t N) { return round_up(K, 32) * round_up(N, 64); }

void pack_blocked_weight(bf16_t* dst, const bf16_t* W, int64_t K, int64_t N) {
  const int64_t Kp = round_up(K, 32), kblocks = Kp / 32, nblocks = round_up(N, 64) / 64;
#pragma omp parallel for schedule(static)
  for (int64_t kb = 0; kb < kblocks; ++kb)
    for (int64_t nb = 0; nb < nblocks; ++nb) {
      const int64_t n0 = nb * 64, n = std::min<int64_t>(64, N - n0);
      for (int64_t p = 0; p < 16; ++p) {  // rows k0, k0 + 1 interleaved: element (k, j) at 2j + k % 2
        const int64_t k0 = kb * 32 + 2 * p;
        bf16_t* d = dst + nb * Kp * 64 + kb * 2048 + p * 128;
        const bf16_t* r0 = k0 < K ? W + k0 * N + n0 : nullptr;
        const bf16_t* r1 = k0 + 1 < K ? W + (k0 + 1) * N + n0 : nullptr;
        if (r0 && r1 && n == 64) {
#pragma omp simd
          for (int64_t j = 0; j < 64; ++j) d[2 * j] = r0[j], d[2 * j + 1] = r1[j];
        } else {
          for (int64_t j = 0; j < 64; ++j) {
            d[2 * j] = r0 && j < n ? r0[j] : bf16_t{0};
            d[2 * j + 1] = r1 && j < n ? r1[j] : bf16_t{0};
          }
        }
      }
    }
}

void pack_blocked_weight_t(bf16_t* dst, const bf16_t* Wt, int64_t K, int64_t N) {
  const int64_t Kp = round_up(K, 32), kblocks = Kp / 32, nblocks = round_up(N, 64) / 64;
  const bool native = cpu_features().avx512f;
#pragma omp parallel for schedule(static)
  for (int64_t nb = 0; nb < nblocks; ++nb)
    for (int64_t kb = 0; kb < kblocks; ++kb) {
      bf16_t* d = dst + nb * Kp * 64 + kb * 2048;
      const int64_t k0 = kb * 32, k1 = std::min<int64_t>(32, K - k0);
      if (native && k1 == 32 && nb * 64 + 64 <= N && K % 2 == 0) {  // a whole block: 4 transposes of 16 x 16 pairs
        for (int64_t j0 = 0; j0 < 64; j0 += 16)
          transpose_words16(reinterpret_cast<uint32_t*>(d) + j0, 64,
                            reinterpret_cast<const uint32_t*>(Wt + (nb * 64 + j0) * K + k0), K / 2);
        continue;
      }
      for (int64_t j = 0; j < 64; ++j) {  // column n of W: row n of Wt, its 32 values of this block
        const int64_t n = nb * 64 + j;
        const bf16_t* w = n < N ? Wt + n * K + k0 : nullptr;
        for (int64_t k = 0; k < 32; ++k) d[(k / 2) * 128 + 2 * j + k % 2] = w && k < k1 ? w[k] : bf16_t{0};
      }
    }
}

}  // namespace slm
