// linear_dispatch.cpp — packed or fp32 linear layers (see linear_dispatch.h).
#include "scratchlm/kernels/linear_dispatch.h"

#include "scratchlm/kernels/bf16_weight_matmul.h"
#include "scratchlm/kernels/matmul.h"
#include "scratchlm/kernels/matmul_bf16.h"
#include "scratchlm/kernels/matmul_panels.h"
#include "scratchlm/kernels/q8_0_matmul.h"
#include "scratchlm/util/error.h"

namespace slm {

namespace {

void packed_forward(float* out, const float* in, const PackedLinear& p, const float* bias, int64_t M, int64_t K,
                    int64_t N) {
  if (p.N != N || p.K != K) fail_internal("packed weight {} x {} used as {} x {}", p.N, p.K, N, K);
  switch (p.format) {
    case WeightFormat::BF16:
      if (p.panels)
        matmul_panels(out, in, static_cast<const bf16_t*>(p.data), bias, M, K, N);
      else
        matmul_bf16_weights(out, in, static_cast<const bf16_t*>(p.data), bias, M, K, N);
      return;
    case WeightFormat::Q8_0:
      matmul_q8_0(out, in, static_cast<const BlockQ8_0*>(p.data), bias, M, K, N);
      return;
    case WeightFormat::F32:  // always in panels
      matmul_panels(out, in, static_cast<const float*>(p.data), bias, M, K, N);
      return;
  }
}

}  // namespace

void linear_forward(float* out, const float* in, const float* W, const PackedLinear* packed, const bf16_t* W16,
                    const float* bias, int64_t M, int64_t K, int64_t N) {
  if (packed)
    packed_forward(out, in, *packed, bias, M, K, N);
  else if (W16)
    matmul_forward_bf16(out, in, W16, bias, M, K, N);
  else
    matmul_forward(out, in, W, bias, M, K, N);
}

void linear_forward_wt(float* out, const float* in, const float* Wt, const PackedLinear* packed, int64_t M, int64_t K,
                       int64_t N) {
  if (packed)
    packed_forward(out, in, *packed, nullptr, M, K, N);
  else
    matmul_forward_wt(out, in, Wt, M, K, N);
}

}  // namespace slm
