// safetensors_values.cpp — reading a tensor's values out of a parsed safetensors file (see
// safetensors.h), converting its stored dtype: F32/F16/BF16/F64 to float, the integer dtypes and
// BOOL to int64. The byte ranges were validated by the parser (safetensors.cpp); bytes() checks
// them again for a TensorInfo that did not come from this file. Chapter 5 (loading weights).
#include <cstring>

#include "scratchlm/io/safetensors.h"
#include "scratchlm/tensor/bf16.h"
#include "scratchlm/tensor/half.h"
#include "scratchlm/tokenizer/printable.h"
#include "scratchlm/util/error.h"

namespace slm {

namespace {

std::string qname(std::string_view s) { return in_quotes(s); }

bool is_float_dtype(DType d) { return d == DType::F64 || d == DType::F32 || d == DType::F16 || d == DType::BF16; }

template <typename T>
T load_le(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

}  // namespace

std::span<const uint8_t> SafetensorsFile::bytes(const TensorInfo& t) const {
  // Guard against a TensorInfo that did not come from this file.
  if (t.begin > t.end || t.end > data_size_)
    fail("{}: tensor {}: byte range [{}, {}] is outside the data section", path_, qname(t.name), t.begin, t.end);
  if (t.end == t.begin) return {};
  return {data_ + t.begin, t.end - t.begin};
}

std::span<const float> SafetensorsFile::f32_view(std::string_view name) const {
  const TensorInfo& t = require(name);
  if (t.dtype != DType::F32) fail("{}: tensor {} is {}, expected F32", path_, qname(name), dtype_name(t.dtype));
  auto b = bytes(t);
  if (b.empty()) return {};
  return {reinterpret_cast<const float*>(b.data()), b.size() / sizeof(float)};
}

void SafetensorsFile::read_f32(std::string_view name, std::span<float> dest) const {
  const TensorInfo& t = require(name);
  if (!is_float_dtype(t.dtype))
    fail("{}: tensor {} is {}, expected a float tensor (F32, F16, BF16 or F64)", path_, qname(name),
         dtype_name(t.dtype));
  size_t n = t.numel();
  if (dest.size() != n)
    fail("{}: tensor {} has shape {} ({} elements), but the destination holds {} elements", path_, qname(name),
         shape_to_string(t.shape), n, dest.size());
  auto b = bytes(t);
  const uint8_t* p = b.data();
  switch (t.dtype) {
    case DType::F32:
      if (n) std::memcpy(dest.data(), p, n * sizeof(float));
      break;
    case DType::F16:
      for (size_t i = 0; i < n; ++i) dest[i] = f16_to_f32(load_le<uint16_t>(p + 2 * i));
      break;
    case DType::BF16:
      for (size_t i = 0; i < n; ++i) dest[i] = bf16_to_f32(load_le<uint16_t>(p + 2 * i));
      break;
    case DType::F64:
      for (size_t i = 0; i < n; ++i) dest[i] = static_cast<float>(load_le<double>(p + 8 * i));
      break;
    default:
      break;
  }
}

Tensor SafetensorsFile::load_f32(std::string_view name) const {
  const TensorInfo& t = require(name);
  if (!is_float_dtype(t.dtype))
    fail("{}: tensor {} is {}, expected a float tensor (F32, F16, BF16 or F64)", path_, qname(name),
         dtype_name(t.dtype));
  Tensor out(t.shape);
  read_f32(name, std::span<float>(out.data(), out.numel()));
  return out;
}

std::vector<int64_t> SafetensorsFile::read_int(std::string_view name) const {
  const TensorInfo& t = require(name);
  size_t n = t.numel();
  auto b = bytes(t);
  const uint8_t* p = b.data();
  std::vector<int64_t> out(n);
  switch (t.dtype) {
    case DType::I64:
      for (size_t i = 0; i < n; ++i) out[i] = load_le<int64_t>(p + 8 * i);
      break;
    case DType::I32:
      for (size_t i = 0; i < n; ++i) out[i] = load_le<int32_t>(p + 4 * i);
      break;
    case DType::I16:
      for (size_t i = 0; i < n; ++i) out[i] = load_le<int16_t>(p + 2 * i);
      break;
    case DType::I8:
      for (size_t i = 0; i < n; ++i) out[i] = static_cast<int8_t>(p[i]);
      break;
    case DType::U8:
      for (size_t i = 0; i < n; ++i) out[i] = p[i];
      break;
    case DType::BOOL:
      for (size_t i = 0; i < n; ++i) {
        if (p[i] > 1)
          fail("{}: tensor {}: BOOL element {} has byte value {}, expected 0 or 1", path_, qname(name), i, p[i]);
        out[i] = p[i];
      }
      break;
    default:
      fail("{}: tensor {} is {}, expected an integer tensor (I64, I32, I16, I8, U8 or BOOL)", path_, qname(name),
           dtype_name(t.dtype));
  }
  return out;
}

}  // namespace slm
