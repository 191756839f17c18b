// safetensors.h — reading and writing the safetensors format (Hugging Face's tensor container),
// the on-disk form of every ScratchLM model, optimizer state and reference fixture.
//
// Format: 8-byte little-endian header length N, N bytes of JSON header
//   {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ..., "__metadata__": {..}}
// (offsets relative to the data section that follows the header), then the raw little-endian data.
// The reader memory-maps the file and validates everything before handing out a byte: header
// length within the file, JSON well formed, dtypes known, shape x dtype size == byte range,
// ranges inside the data section and not overlapping. A corrupt file is a BadInput error naming
// the file and the problem, never a crash. F32 data is viewed zero-copy; F16 and BF16 are
// converted to F32 on read. The writer is atomic (temp file + rename).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "scratchlm/tensor/tensor.h"

namespace slm {

enum class DType { F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL };
// The header key of the string-to-string metadata (not a tensor name).
inline constexpr const char* kSafetensorsMetadataKey = "__metadata__";
const char* dtype_name(DType d);
size_t dtype_size(DType d);

struct TensorInfo {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  size_t begin = 0, end = 0;  // byte offsets within the data section
  size_t numel() const { return Tensor::numel_of(shape); }
};

class SafetensorsFile {
 public:
  // Map and validate the file; BadInput error on any problem.
  static SafetensorsFile open(const std::string& path);
  // Validate an in-memory buffer (used by the fuzzer and tests); the buffer must outlive the object.
  static SafetensorsFile from_buffer(const void* data, size_t size, const std::string& name = "<buffer>");

  SafetensorsFile(SafetensorsFile&&) noexcept;
  SafetensorsFile& operator=(SafetensorsFile&&) noexcept;
  ~SafetensorsFile();

  const std::string& path() const { return path_; }
  // Tensors sorted by name.
  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const TensorInfo* find(std::string_view name) const;
  bool contains(std::string_view name) const { return find(name) != nullptr; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

  // Raw bytes of a tensor.
  std::span<const uint8_t> bytes(const TensorInfo& t) const;
  // Zero-copy view of an F32 tensor (BadInput error if it is missing or not F32). Note: the view
  // may be unaligned for odd offsets; use read_f32 when alignment matters.
  std::span<const float> f32_view(std::string_view name) const;
  // Copy a float tensor (F32, F16, BF16, F64) into dest, converting to float32; dest.size() must
  // equal the element count (BadInput error otherwise, naming the tensor and both shapes).
  void read_f32(std::string_view name, std::span<float> dest) const;
  Tensor load_f32(std::string_view name) const;
  // Integer tensors (I32, I64 range-checked, U8...) as int64.
  std::vector<int64_t> read_int(std::string_view name) const;

 private:
  SafetensorsFile() = default;
  void parse(const uint8_t* data, size_t size);
  const TensorInfo& require(std::string_view name) const;

  std::string path_;
  void* map_ = nullptr;  // munmap on destruction when non-null
  size_t map_size_ = 0;
  const uint8_t* data_ = nullptr;  // start of the data section
  size_t data_size_ = 0;
  std::vector<TensorInfo> tensors_;
  std::map<std::string, std::string> metadata_;
};

// Collects tensors (by pointer: the data must stay alive until write()) and writes them as one
// safetensors file, tensors laid out in name order, header padded with spaces to 8 bytes.
class SafetensorsWriter {
 public:
  void add(const std::string& name, DType dtype, std::vector<int64_t> shape, const void* data);
  void add_f32(const std::string& name, std::vector<int64_t> shape, const float* data) {
    add(name, DType::F32, std::move(shape), data);
  }
  void add_i32(const std::string& name, std::vector<int64_t> shape, const int32_t* data) {
    add(name, DType::I32, std::move(shape), data);
  }
  // A float32 tensor produced while the file is written: fill(dst, first, count) puts elements
  // [first, first + count) into dst, called in order with at most kFillChunk elements at a time,
  // so the tensor is never whole in memory (a sharded optimizer state gathered piece by piece). An
  // exception from fill aborts the write, leaving no file.
  using FillF32 = std::function<void(float* dst, size_t first, size_t count)>;
  static constexpr size_t kFillChunk = size_t{1} << 20;
  void add_f32_fill(const std::string& name, std::vector<int64_t> shape, FillF32 fill);
  void set_metadata(const std::string& key, const std::string& value) { metadata_[key] = value; }
  // Atomic: temp file in the same directory, fsync, rename.
  void write(const std::string& path) const;

 private:
  struct Entry {
    DType dtype;
    std::vector<int64_t> shape;
    const void* data;
    FillF32 fill;  // instead of data
  };
  void check_new(const std::string& name, DType dtype, const std::vector<int64_t>& shape, size_t* nbytes) const;
  std::map<std::string, Entry> entries_;
  std::map<std::string, std::string> metadata_;
};

}  // namespace slm
