// fastmath.h — exp and tanh for float that the compiler can vectorize (no libm calls, no
// branches), used by softmax, cross-entropy and GELU. Relative error of fast_expf is below
// 2e-7 over its range (measured in tests/test_kernels.cpp); fast_tanhf's absolute error is
// below 3e-7.
#pragma once

#include <cstdint>
#include <cstring>

namespace slm {

// exp(x) for x in roughly [-87, 88]; smaller x gives ~1e-38 (not 0), larger x is clamped.
inline float fast_expf(float x) {
  x = x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x);
  const float log2e = 1.44269504088896341f;
  // Round x*log2(e) to the nearest integer with the 1.5 * 2^23 trick (vectorizes, no libm).
  const float shifter = 12582912.0f;
  float n = (x * log2e + shifter) - shifter;
  // r = x - n*ln2 in two parts (Cody–Waite) for accuracy.
  float r = x - n * 0.693145751953125f;
  r = r - n * 1.428606765330187045e-06f;
  // exp(r) on [-ln2/2, ln2/2]: degree-6 Taylor/minimax-like polynomial (Horner).
  float p = 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  int32_t e = static_cast<int32_t>(n) + 127;
  uint32_t bits = static_cast<uint32_t>(e) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof(scale));
  return p * scale;
}

// tanh(x) = 1 - 2 / (exp(2x) + 1), saturating cleanly for large |x|.
inline float fast_tanhf(float x) {
  x = x < -9.0f ? -9.0f : (x > 9.0f ? 9.0f : x);
  return 1.0f - 2.0f / (fast_expf(2.0f * x) + 1.0f);
}

}  // namespace slm
