// dropout.h — dropout (chapter 3.5.2) with counter-based masks, and the residual add (4.4).
//
// Masks are not stored: element i of a dropout site is kept when
//   fmix64(key + i * 0x9E3779B97F4A7C15) >> 40  >=  p * 2^24
// (murmur3's 64-bit finalizer), and scaled by 1/(1-p). The key is derived from the run seed, the
// step, the layer and the site, so backward regenerates the identical mask, a resumed run
// reproduces it, and attention dropout needs no T x T mask in memory.
#pragma once

#include <cstdint>

namespace slm {

inline uint64_t fmix64(uint64_t k) {
  k ^= k >> 33;
  k *= 0xff51afd7ed558ccdULL;
  k ^= k >> 33;
  k *= 0xc4ceb9fe1a85ec53ULL;
  k ^= k >> 33;
  return k;
}
inline uint64_t dropout_key(uint64_t seed, uint64_t step, uint64_t layer, uint64_t site) {
  return fmix64(fmix64(fmix64(seed ^ 0x5851f42d4c957f2dULL) + step) + layer * 16 + site);
}
// Threshold on 24 random bits: keep when bits >= threshold.
inline uint32_t dropout_threshold(float p) { return static_cast<uint32_t>(static_cast<double>(p) * 16777216.0); }
inline bool dropout_keep(uint64_t key, uint64_t i, uint32_t threshold) {
  return static_cast<uint32_t>(fmix64(key + i * 0x9E3779B97F4A7C15ULL) >> 40) >= threshold;
}

// x *= mask / (1 - p) in place.
void dropout_forward(float* x, int64_t n, float p, uint64_t key);
// dx = dout * mask / (1 - p) (dx may alias dout).
void dropout_backward(float* dx, const float* dout, int64_t n, float p, uint64_t key);

// out = x + dropout(y)   (p == 0: plain residual add)
void residual_forward(float* out, const float* x, const float* y, int64_t n, float p, uint64_t key);
// dy = dout * mask / (1 - p); the gradient to x is dout itself (the caller keeps it).
void residual_backward_branch(float* dy, const float* dout, int64_t n, float p, uint64_t key);

}  // namespace slm
