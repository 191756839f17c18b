// bf16.h — bfloat16 <-> float32, bit-exact and portable: the upper 16 bits of an IEEE binary32
// (same exponent range, 8 bits of significand). Mixed precision (chapter 5 "going further") keeps
// matmul operands and inference weights in bf16 and everything else in fp32.
//
// float -> bf16 rounds to nearest, ties to even (as PyTorch's c10::BFloat16 and AVX512_BF16's
// vcvtneps2bf16 do for normal numbers). Subnormal floats round the same way (bf16 has subnormals
// too; vcvtneps2bf16 flushes them to zero instead — a kernel that uses it says so). Infinities
// stay infinities, a value that rounds past the largest bf16 becomes infinity, and NaN stays a
// (quiet) NaN with its sign, never rounding into infinity.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>

namespace slm {

using bf16_t = uint16_t;

inline float bf16_to_f32(bf16_t h) { return std::bit_cast<float>(static_cast<uint32_t>(h) << 16); }

inline bf16_t f32_to_bf16(float f) {
  const uint32_t x = std::bit_cast<uint32_t>(f);
  if ((x & 0x7fffffffu) > 0x7f800000u) return static_cast<bf16_t>((x >> 16) | 0x0040u);  // NaN: keep it quiet
  const uint32_t rounded = x + 0x7fffu + ((x >> 16) & 1u);  // ties to even; a carry moves the exponent up
  return static_cast<bf16_t>(rounded >> 16);
}

// f32_to_bf16 without a branch, so that loops over arrays vectorize (the same result for every
// input): kernels that produce a bf16 matmul operand round their outputs with it as they write them.
inline bf16_t f32_to_bf16_vec(float f) {
  const uint32_t b = std::bit_cast<uint32_t>(f);
  const uint32_t rounded = (b + 0x7fffu + ((b >> 16) & 1u)) >> 16;
  const uint32_t nan = (b >> 16) | 0x0040u;
  return static_cast<bf16_t>((b & 0x7fffffffu) > 0x7f800000u ? nan : rounded);
}

// The float nearest to f that bf16 can hold (f rounded through bf16).
inline float round_to_bf16(float f) { return bf16_to_f32(f32_to_bf16(f)); }

inline void f32_to_bf16_row(const float* x, bf16_t* y, size_t n) {
  for (size_t i = 0; i < n; ++i) y[i] = f32_to_bf16(x[i]);
}
inline void bf16_to_f32_row(const bf16_t* x, float* y, size_t n) {
  for (size_t i = 0; i < n; ++i) y[i] = bf16_to_f32(x[i]);
}

}  // namespace slm
