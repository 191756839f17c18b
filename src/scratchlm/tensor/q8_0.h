// q8_0.h — llama.cpp's Q8_0 weight format (GGUF type 8): a row is cut into blocks of 32 values,
// each stored as one fp16 scale d and 32 int8 quants q, value = q * d. Quantization is ggml's
// reference rule: d = max|x| / 127, q = round-half-away(x / d) (0 for an all-zero block). The
// block layout is the file's, so GGUF data is read in place; native int8 inference reuses it.
#pragma once

#include <cstddef>
#include <cstdint>

namespace slm {

inline constexpr int64_t kQ8_0Block = 32;  // values per block

struct BlockQ8_0 {
  uint16_t d;  // the scale, IEEE binary16 (tensor/half.h)
  int8_t qs[kQ8_0Block];
};
static_assert(sizeof(BlockQ8_0) == 34, "block_q8_0 is 34 bytes in GGUF files");

// Bytes of n values (n a multiple of kQ8_0Block).
inline constexpr size_t q8_0_row_bytes(int64_t n) { return static_cast<size_t>(n / kQ8_0Block) * sizeof(BlockQ8_0); }

// x[n] -> n / 32 blocks. n must be a multiple of kQ8_0Block (checked: internal error otherwise).
void quantize_row_q8_0(const float* x, BlockQ8_0* y, int64_t n);
// n / 32 blocks -> y[n].
void dequantize_row_q8_0(const BlockQ8_0* x, float* y, int64_t n);

}  // namespace slm
