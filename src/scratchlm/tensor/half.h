// half.h — IEEE 754 binary16 ("fp16", ggml_half) <-> float32, bit-exact and portable: GGUF's F16
// tensors and the scale of every Q8_0 block (q8_0.h) are stored this way. float -> half rounds to
// nearest, ties to even (as the F16C instruction and ggml's reference conversion do); overflow
// gives infinity, NaN stays NaN.
#pragma once

#include <bit>
#include <cstdint>

namespace slm {

inline float f16_to_f32(uint16_t h) {
  const uint32_t sign = (static_cast<uint32_t>(h) & 0x8000u) << 16;
  const uint32_t e = (h >> 10) & 0x1fu, m = h & 0x3ffu;
  if (e == 0) {  // zero or subnormal: m * 2^-24, exact in float
    const float v = static_cast<float>(m) * 0x1p-24f;
    return sign ? -v : v;
  }
  if (e == 31) return std::bit_cast<float>(sign | 0x7f800000u | (m << 13));  // inf / NaN
  return std::bit_cast<float>(sign | ((e + 112) << 23) | (m << 13));
}

inline uint16_t f32_to_f16(float f) {
  const uint32_t x = std::bit_cast<uint32_t>(f);
  const uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000u);
  const uint32_t ax = x & 0x7fffffffu;
  if (ax > 0x7f800000u) return sign | 0x7e00u;   // NaN
  if (ax >= 0x47800000u) return sign | 0x7c00u;  // >= 65536 or inf
  if (ax >= 0x38800000u) {                       // a normal half (>= 2^-14): rebias, round 13 bits away
    uint32_t m = ax - 0x38000000u;
    m += 0x0fffu + ((m >> 13) & 1u);  // a carry into the exponent is right, up to infinity
    return sign | static_cast<uint16_t>(m >> 13);
  }
  const uint32_t e = ax >> 23;  // a subnormal half or zero: round(value / 2^-24)
  if (e < 102) return sign;     // below 2^-25
  const uint32_t mant = (ax & 0x7fffffu) | 0x800000u, shift = 126 - e;
  uint32_t q = mant >> shift;
  const uint32_t rem = mant & ((1u << shift) - 1), half = 1u << (shift - 1);
  if (rem > half || (rem == half && (q & 1u))) ++q;
  return sign | static_cast<uint16_t>(q);
}

}  // namespace slm
