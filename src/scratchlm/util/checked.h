// checked.h — size arithmetic that cannot overflow silently (chapter 4.6: counting parameters and
// memory): a product or sum that does not fit in 64 bits is a BadInput error naming what was
// being computed, never a wrapped count.
#pragma once

#include <cstdint>
#include <string_view>

#include "scratchlm/util/error.h"

namespace slm {

inline int64_t checked_mul(int64_t a, int64_t b, std::string_view what) {
  int64_t r = 0;
  if (__builtin_mul_overflow(a, b, &r)) fail("{} overflows 64-bit arithmetic ({} x {})", what, a, b);
  return r;
}

inline int64_t checked_add(int64_t a, int64_t b, std::string_view what) {
  int64_t r = 0;
  if (__builtin_add_overflow(a, b, &r)) fail("{} overflows 64-bit arithmetic ({} + {})", what, a, b);
  return r;
}

}  // namespace slm
