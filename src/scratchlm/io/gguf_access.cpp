// gguf_access.cpp — reading a validated GGUF file (see gguf.h): type names, typed metadata access,
// tensors converted to float32 (F16, BF16, Q8_0 dequantized).
#include <bit>
#include <cstring>
#include <iterator>

#include "scratchlm/io/gguf.h"
#include "scratchlm/io/gguf_scalar.h"
#include "scratchlm/tensor/half.h"
#include "scratchlm/tensor/q8_0.h"
#include "scratchlm/tokenizer/printable.h"
#include "scratchlm/util/error.h"

namespace slm {

using gguf_scalar::is_integer;
using gguf_scalar::load_integer;
using gguf_scalar::scalar_size;

const char* gguf_type_name(GgufType t) {
  static const char* const names[] = {"u8",   "i8",     "u16",   "i16", "u32", "i32", "f32",
                                      "bool", "string", "array", "u64", "i64", "f64"};
  const auto i = static_cast<uint32_t>(t);
  return i < std::size(names) ? names[i] : "unknown";
}

const char* ggml_type_name(GgmlType t) {
  switch (static_cast<uint32_t>(t)) {
    case 0:
      return "F32";
    case 1:
      return "F16";
    case 2:
      return "Q4_0";
    case 3:
      return "Q4_1";
    case 6:
      return "Q5_0";
    case 7:
      return "Q5_1";
    case 8:
      return "Q8_0";
    case 9:
      return "Q8_1";
    case 10:
      return "Q2_K";
    case 11:
      return "Q3_K";
    case 12:
      return "Q4_K";
    case 13:
      return "Q5_K";
    case 14:
      return "Q6_K";
    case 15:
      return "Q8_K";
    case 24:
      return "I8";
    case 25:
      return "I16";
    case 26:
      return "I32";
    case 27:
      return "I64";
    case 28:
      return "F64";
    case 30:
      return "BF16";
    default:
      return "an unknown type";
  }
}

uint64_t ggml_row_bytes(GgmlType t, uint64_t n) {
  switch (t) {
    case GgmlType::F32:
      return n * 4;
    case GgmlType::F16:
    case GgmlType::BF16:
      return n * 2;
    case GgmlType::Q8_0:
      return q8_0_row_bytes(static_cast<int64_t>(n));
  }
  return 0;
}

const GgufValue* GgufFile::find(std::string_view key) const {
  auto it = kv_index_.find(key);
  return it == kv_index_.end() ? nullptr : &kv_[it->second].second;
}

const GgufValue& GgufFile::require(std::string_view key, std::string_view want) const {
  const GgufValue* v = find(key);
  if (!v) fail("{}: metadata {} is missing (expected {})", path_, in_quotes(key), want);
  return *v;
}

uint64_t GgufFile::get_uint(std::string_view key) const {
  const GgufValue& v = require(key, "an integer");
  int64_t out = 0;
  if (!is_integer(v.type))
    fail("{}: metadata {} is {}, expected an integer", path_, in_quotes(key), gguf_type_name(v.type));
  if (!load_integer(v.type, v.data, out) || out < 0)
    fail("{}: metadata {} is out of range (negative or above 2^63)", path_, in_quotes(key));
  return static_cast<uint64_t>(out);
}

double GgufFile::get_float(std::string_view key) const {
  const GgufValue& v = require(key, "a number");
  if (v.type == GgufType::F32) {
    float f;
    std::memcpy(&f, v.data, 4);
    return f;
  }
  if (v.type == GgufType::F64) {
    double d;
    std::memcpy(&d, v.data, 8);
    return d;
  }
  fail("{}: metadata {} is {}, expected f32 or f64", path_, in_quotes(key), gguf_type_name(v.type));
}

bool GgufFile::get_bool(std::string_view key) const {
  const GgufValue& v = require(key, "a bool");
  if (v.type != GgufType::Bool)
    fail("{}: metadata {} is {}, expected bool", path_, in_quotes(key), gguf_type_name(v.type));
  return *v.data != 0;
}

std::string_view GgufFile::get_string(std::string_view key) const {
  const GgufValue& v = require(key, "a string");
  if (v.type != GgufType::String)
    fail("{}: metadata {} is {}, expected string", path_, in_quotes(key), gguf_type_name(v.type));
  return v.strings[0];
}

const std::vector<std::string_view>& GgufFile::get_string_array(std::string_view key) const {
  const GgufValue& v = require(key, "an array of strings");
  if (v.type != GgufType::Array || v.elem != GgufType::String)
    fail("{}: metadata {} is not an array of strings", path_, in_quotes(key));
  return v.strings;
}

std::vector<int64_t> GgufFile::get_int_array(std::string_view key) const {
  const GgufValue& v = require(key, "an array of integers");
  if (v.type != GgufType::Array || !is_integer(v.elem))
    fail("{}: metadata {} is not an array of integers", path_, in_quotes(key));
  std::vector<int64_t> out(v.count);
  const size_t es = scalar_size(v.elem);
  for (uint64_t i = 0; i < v.count; ++i)
    if (!load_integer(v.elem, v.data + i * es, out[i]))
      fail("{}: metadata {} element {} is above 2^63", path_, in_quotes(key), i);
  return out;
}

const GgufTensorInfo* GgufFile::find_tensor(std::string_view name) const {
  auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

std::span<const uint8_t> GgufFile::bytes(const GgufTensorInfo& t) const {
  return {data_ + t.offset, static_cast<size_t>(t.nbytes)};
}

void GgufFile::read_f32(const GgufTensorInfo& t, std::span<float> dest) const {
  if (dest.size() != t.numel)
    fail("{}: tensor {} holds {} values, the destination {}", path_, in_quotes(t.name), t.numel, dest.size());
  const uint8_t* p = data_ + t.offset;
  const size_t n = dest.size();
  switch (t.type) {
    case GgmlType::F32:
      if (n) std::memcpy(dest.data(), p, n * 4);
      break;
    case GgmlType::F16:
    case GgmlType::BF16:
      for (size_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, p + 2 * i, 2);
        dest[i] = t.type == GgmlType::F16 ? f16_to_f32(h) : std::bit_cast<float>(static_cast<uint32_t>(h) << 16);
      }
      break;
    case GgmlType::Q8_0: {
      // A block at a time through an aligned copy (the buffer need not be 2-byte aligned).
      BlockQ8_0 b;
      for (size_t i = 0; i < n / kQ8_0Block; ++i) {
        std::memcpy(&b, p + i * sizeof(BlockQ8_0), sizeof b);
        dequantize_row_q8_0(&b, dest.data() + i * kQ8_0Block, kQ8_0Block);
      }
      break;
    }
  }
}

}  // namespace slm
