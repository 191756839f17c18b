// gguf_scalar.h — GGUF's fixed-size metadata types, shared by the reader's parser and its accessors.
#pragma once

#include <cstddef>
#include <cstdint>

#include "scratchlm/io/gguf.h"

namespace slm::gguf_scalar {

// Fixed size of a scalar metadata type; 0 for String and Array.
inline size_t scalar_size(GgufType t) {
  switch (t) {
    case GgufType::U8:
    case GgufType::I8:
    case GgufType::Bool:
      return 1;
    case GgufType::U16:
    case GgufType::I16:
      return 2;
    case GgufType::U32:
    case GgufType::I32:
    case GgufType::F32:
      return 4;
    case GgufType::U64:
    case GgufType::I64:
    case GgufType::F64:
      return 8;
    default:
      return 0;
  }
}

inline bool is_integer(GgufType t) {
  return t == GgufType::U8 || t == GgufType::I8 || t == GgufType::U16 || t == GgufType::I16 || t == GgufType::U32 ||
         t == GgufType::I32 || t == GgufType::U64 || t == GgufType::I64;
}

// An integer value of type t at p, widened; false when it does not fit in int64.
inline bool load_integer(GgufType t, const uint8_t* p, int64_t& out) {
  auto get = [&]<typename T>(T) {
    T v;
    std::memcpy(&v, p, sizeof(T));
    return v;
  };
  switch (t) {
    case GgufType::U8:
      out = get(uint8_t{});
      return true;
    case GgufType::I8:
      out = get(int8_t{});
      return true;
    case GgufType::U16:
      out = get(uint16_t{});
      return true;
    case GgufType::I16:
      out = get(int16_t{});
      return true;
    case GgufType::U32:
      out = get(uint32_t{});
      return true;
    case GgufType::I32:
      out = get(int32_t{});
      return true;
    case GgufType::I64:
      out = get(int64_t{});
      return true;
    case GgufType::U64: {
      uint64_t v = get(uint64_t{});
      out = static_cast<int64_t>(v);
      return v <= static_cast<uint64_t>(INT64_MAX);
    }
    default:
      return false;
  }
}

}  // namespace slm::gguf_scalar
