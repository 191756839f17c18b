// gguf.h — the GGUF v3 container (llama.cpp's model file): reading and writing, independent of what
// model the file holds (gguf_model.h maps ScratchLM's GPT onto llama.cpp's "gpt2" architecture).
//
// Layout (all little-endian): "GGUF", version u32 (3), tensor count u64, key/value count u64;
// the key/value pairs (key: u64 length + bytes; value type u32; value: a scalar, a string, or an
// array: element type u32 + count u64 + elements); the tensor infos (name, n_dims u32, dims u64
// x n_dims with dims[0] the row length, ggml type u32, offset u64 into the data section); padding
// to general.alignment (32 when absent); the data section, each tensor at an aligned offset.
// The reader memory-maps the file and trusts nothing: every count, length, dimension, offset and
// size is checked against the bytes that remain before it is used, so a corrupt or hostile file is
// a one-line BadInput error naming the file and the problem, never a crash or a huge allocation.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace slm {

// Metadata value types (GGUF's gguf_type).
enum class GgufType : uint32_t { U8, I8, U16, I16, U32, I32, F32, Bool, String, Array, U64, I64, F64 };
const char* gguf_type_name(GgufType t);

// Tensor element types ScratchLM reads and writes (ggml_type ids); others are refused by name.
enum class GgmlType : uint32_t { F32 = 0, F16 = 1, Q8_0 = 8, BF16 = 30 };
const char* ggml_type_name(GgmlType t);
// Bytes of a row of n elements (n a multiple of the type's block size).
uint64_t ggml_row_bytes(GgmlType t, uint64_t n);

inline constexpr uint32_t kGgufDefaultAlignment = 32;

struct GgufValue {
  GgufType type = GgufType::U8;
  GgufType elem = GgufType::U8;           // arrays: the element type
  uint64_t count = 0;                     // arrays: the element count
  const uint8_t* data = nullptr;          // scalars: the value's bytes; numeric arrays: the first element
  std::vector<std::string_view> strings;  // String: one; arrays of strings: every element (views into the file)
};

struct GgufTensorInfo {
  std::string name;
  GgmlType type = GgmlType::F32;
  std::vector<int64_t> dims;  // GGUF order: dims[0] is the row length (numpy shape reversed)
  uint64_t offset = 0;        // within the data section
  uint64_t nbytes = 0;
  uint64_t numel = 0;
  // numpy / PyTorch order: [rows..., row length].
  std::vector<int64_t> shape() const { return {dims.rbegin(), dims.rend()}; }
};

class GgufFile {
 public:
  // Map and validate; BadInput error on any problem.
  static GgufFile open(const std::string& path);
  // Validate an in-memory buffer that outlives the object (tests, the fuzzer).
  static GgufFile from_buffer(const void* data, size_t size, const std::string& name = "<buffer>");
  // The file starts with the GGUF magic (false for directories and unreadable or short files).
  static bool is_gguf(const std::string& path);

  GgufFile(GgufFile&&) noexcept;
  GgufFile& operator=(GgufFile&&) noexcept;
  ~GgufFile();

  const std::string& path() const { return path_; }
  uint32_t version() const { return version_; }
  uint32_t alignment() const { return alignment_; }
  // Keys in file order.
  const std::vector<std::pair<std::string, GgufValue>>& metadata() const { return kv_; }
  const GgufValue* find(std::string_view key) const;

  // Typed access: a missing key or a value of another type is a BadInput error naming the key.
  uint64_t get_uint(std::string_view key) const;  // any integer type, >= 0
  double get_float(std::string_view key) const;   // F32 or F64
  bool get_bool(std::string_view key) const;
  std::string_view get_string(std::string_view key) const;
  const std::vector<std::string_view>& get_string_array(std::string_view key) const;
  std::vector<int64_t> get_int_array(std::string_view key) const;  // arrays of any integer type

  // Tensors in file order.
  const std::vector<GgufTensorInfo>& tensors() const { return tensors_; }
  const GgufTensorInfo* find_tensor(std::string_view name) const;
  std::span<const uint8_t> bytes(const GgufTensorInfo& t) const;
  // Convert (F16, BF16) or dequantize (Q8_0) a tensor to float32; dest.size() must be its element count.
  void read_f32(const GgufTensorInfo& t, std::span<float> dest) const;

 private:
  GgufFile() = default;
  void parse(const uint8_t* data, size_t size);
  const GgufValue& require(std::string_view key, std::string_view want) const;

  std::string path_;
  void* map_ = nullptr;  // munmap on destruction when non-null
  size_t map_size_ = 0;
  const uint8_t* data_ = nullptr;  // the data section
  size_t data_size_ = 0;
  uint32_t version_ = 0, alignment_ = kGgufDefaultAlignment;
  std::vector<std::pair<std::string, GgufValue>> kv_;
  std::vector<GgufTensorInfo> tensors_;
  std::map<std::string, size_t, std::less<>> kv_index_, tensor_index_;  // name -> position
};

// Builds a GGUF v3 file: metadata in the order set, tensors in the order added, each tensor's
// bytes produced by its fill callback only while the file is written (one tensor in memory at a
// time). Atomic: temp file in the same directory, fsync, rename.
class GgufWriter {
 public:
  void set_u32(const std::string& key, uint32_t v);
  void set_i32(const std::string& key, int32_t v);
  void set_f32(const std::string& key, float v);
  void set_bool(const std::string& key, bool v);
  void set_string(const std::string& key, std::string_view v);
  void set_string_array(const std::string& key, const std::vector<std::string>& v);
  void set_i32_array(const std::string& key, const std::vector<int32_t>& v);
  // dims in GGUF order (dims[0] the row length); fill writes exactly the tensor's byte size.
  void add_tensor(const std::string& name, GgmlType type, std::vector<int64_t> dims,
                  std::function<void(uint8_t* dst)> fill);
  void write(const std::string& path) const;

 private:
  struct Tensor {
    std::string name;
    GgmlType type;
    std::vector<int64_t> dims;
    uint64_t nbytes;
    std::function<void(uint8_t*)> fill;
  };
  void key(const std::string& k, GgufType t);
  std::string header_;  // the key/value section, encoded as it is set
  std::vector<std::string> keys_;
  std::vector<Tensor> tensors_;
};

}  // namespace slm
