// q8_0.cpp — Q8_0 blocks (see q8_0.h).
#include "scratchlm/tensor/q8_0.h"

#include <cmath>

#include "scratchlm/tensor/half.h"
#include "scratchlm/util/error.h"

namespace slm {

void quantize_row_q8_0(const float* x, BlockQ8_0* y, int64_t n) {
  if (n % kQ8_0Block != 0) fail_internal("quantize_row_q8_0: {} values is not a whole number of blocks", n);
  for (int64_t b = 0; b < n / kQ8_0Block; ++b) {
    const float* xb = x + b * kQ8_0Block;
    float amax = 0.0f;
    for (int64_t j = 0; j < kQ8_0Block; ++j) {
      if (!std::isfinite(xb[j])) fail("cannot quantize to Q8_0: value {} of the row is {}", b * kQ8_0Block + j, xb[j]);
      amax = std::fmax(amax, std::fabs(xb[j]));
    }
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[b].d = f32_to_f16(d);
    for (int64_t j = 0; j < kQ8_0Block; ++j) y[b].qs[j] = static_cast<int8_t>(std::round(xb[j] * id));
  }
}

void dequantize_row_q8_0(const BlockQ8_0* x, float* y, int64_t n) {
  for (int64_t b = 0; b < n / kQ8_0Block; ++b) {
    const float d = f16_to_f32(x[b].d);
    for (int64_t j = 0; j < kQ8_0Block; ++j) y[b * kQ8_0Block + j] = static_cast<float>(x[b].qs[j]) * d;
  }
}

}  // namespace slm
