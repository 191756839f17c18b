// safetensors.cpp — reading the safetensors format (see safetensors.h).
//
// The reader trusts nothing: every field of the header is type-checked, every size computation
// is overflow-checked, and every byte range is checked against the data section before any data
// is touched. Errors are BadInput, one line, "<path>: <problem>", naming the tensor when there
// is one. Reading a tensor's values (the dtype conversions) is safetensors_values.cpp; the writer
// is safetensors_writer.cpp.
#include "scratchlm/io/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>

#include "scratchlm/tokenizer/printable.h"
#include "scratchlm/util/error.h"
#include "scratchlm/util/file.h"

static_assert(std::endian::native == std::endian::little, "safetensors I/O assumes a little-endian host");

namespace slm {

namespace {

using json = nlohmann::json;

// A header longer than this is rejected outright (the same limit as the reference implementation).
constexpr uint64_t kMaxHeaderBytes = 100'000'000;
constexpr const char* kMetadataKey = kSafetensorsMetadataKey;

struct DTypeEntry {
  DType dtype;
  const char* name;
  size_t size;
};
constexpr DTypeEntry kDTypes[] = {
    {DType::F64, "F64", 8}, {DType::F32, "F32", 4},   {DType::F16, "F16", 2}, {DType::BF16, "BF16", 2},
    {DType::I64, "I64", 8}, {DType::I32, "I32", 4},   {DType::I16, "I16", 2}, {DType::I8, "I8", 1},
    {DType::U8, "U8", 1},   {DType::BOOL, "BOOL", 1},
};

const DTypeEntry* dtype_lookup(std::string_view s) {
  for (const auto& e : kDTypes)
    if (s == e.name) return &e;
  return nullptr;
}

std::string qname(std::string_view s) { return in_quotes(s); }

// Non-ASCII bytes are escaped too (nlohmann's messages may quote raw, possibly invalid, input).
std::string ascii_only(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (c < 0x20 || c >= 0x7F)
      out += fmt::format("\\x{:02x}", c);
    else
      out += static_cast<char>(c);
  }
  return out;
}

const char* json_type(const json& j) {
  switch (j.type()) {
    case json::value_t::null:
      return "null";
    case json::value_t::object:
      return "an object";
    case json::value_t::array:
      return "an array";
    case json::value_t::string:
      return "a string";
    case json::value_t::boolean:
      return "a boolean";
    case json::value_t::number_integer:
      return j.get<int64_t>() < 0 ? "a negative integer" : "an integer";
    case json::value_t::number_unsigned:
      return "an integer";
    case json::value_t::number_float:
      return "a non-integer number";
    case json::value_t::binary:
      return "binary";
    case json::value_t::discarded:
      return "discarded";
  }
  return "unknown";
}

// A JSON integer that is >= 0 and fits in int64 (dims) or uint64 (offsets). Returns false for
// negatives, floats, non-numbers.
bool json_nonneg(const json& j, uint64_t max, uint64_t& out) {
  if (j.is_number_unsigned()) {
    out = j.get<uint64_t>();
    return out <= max;
  }
  if (j.is_number_integer()) {
    int64_t v = j.get<int64_t>();
    if (v < 0) return false;
    out = static_cast<uint64_t>(v);
    return out <= max;
  }
  return false;
}

}  // namespace

const char* dtype_name(DType d) {
  for (const auto& e : kDTypes)
    if (e.dtype == d) return e.name;
  return "?";
}

size_t dtype_size(DType d) {
  for (const auto& e : kDTypes)
    if (e.dtype == d) return e.size;
  return 0;
}

// ------------------------------------------------------------------------------------- reader

SafetensorsFile::SafetensorsFile(SafetensorsFile&& o) noexcept
    : path_(std::move(o.path_)),
      map_(std::exchange(o.map_, nullptr)),
      map_size_(std::exchange(o.map_size_, 0)),
      data_(std::exchange(o.data_, nullptr)),
      data_size_(std::exchange(o.data_size_, 0)),
      tensors_(std::move(o.tensors_)),
      metadata_(std::move(o.metadata_)) {}

SafetensorsFile& SafetensorsFile::operator=(SafetensorsFile&& o) noexcept {
  if (this != &o) {
    if (map_) ::munmap(map_, map_size_);
    path_ = std::move(o.path_);
    map_ = std::exchange(o.map_, nullptr);
    map_size_ = std::exchange(o.map_size_, 0);
    data_ = std::exchange(o.data_, nullptr);
    data_size_ = std::exchange(o.data_size_, 0);
    tensors_ = std::move(o.tensors_);
    metadata_ = std::move(o.metadata_);
  }
  return *this;
}

SafetensorsFile::~SafetensorsFile() {
  if (map_) ::munmap(map_, map_size_);
}

SafetensorsFile SafetensorsFile::open(const std::string& path) {
  SafetensorsFile f;
  f.path_ = path;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail("cannot open '{}': {}", path, std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    int e = errno;
    ::close(fd);
    fail("cannot stat '{}': {}", path, std::strerror(e));
  }
  if (S_ISDIR(st.st_mode)) {
    ::close(fd);
    fail("'{}' is a directory, expected a safetensors file", path);
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    fail("'{}' is not a regular file, expected a safetensors file", path);
  }
  size_t size = static_cast<size_t>(st.st_size);
  if (size < 8) {
    ::close(fd);
    fail("{}: file is {} bytes, too short for a safetensors file (the header length alone is 8)", path, size);
  }
  void* p = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  int e = errno;
  ::close(fd);
  if (p == MAP_FAILED) fail("cannot map '{}': {}", path, std::strerror(e));
  f.map_ = p;
  f.map_size_ = size;
  f.parse(static_cast<const uint8_t*>(p), size);  // on throw, ~SafetensorsFile unmaps
  return f;
}

SafetensorsFile SafetensorsFile::from_buffer(const void* data, size_t size, const std::string& name) {
  SafetensorsFile f;
  f.path_ = name;
  if (size > 0 && data == nullptr) fail("{}: null buffer of {} bytes", name, size);
  f.parse(static_cast<const uint8_t*>(data), size);
  return f;
}

void SafetensorsFile::parse(const uint8_t* data, size_t size) {
  const std::string& path = path_;
  if (size < 8)
    fail("{}: file is {} bytes, too short for a safetensors file (the header length alone is 8)", path, size);
  uint64_t n;
  std::memcpy(&n, data, sizeof n);  // little-endian, as the static_assert above requires
  if (n > kMaxHeaderBytes)
    fail("{}: header length {} is absurd (limit {} bytes); not a safetensors file?", path, n, kMaxHeaderBytes);
  if (n > size - 8)
    fail("{}: header length {} runs past the end of the file ({} bytes after the length field)", path, n, size - 8);
  if (n < 2) fail("{}: header length {} is too short for a JSON object", path, n);
  const char* hbeg = reinterpret_cast<const char*>(data + 8);
  const char* hend = hbeg + n;
  // nlohmann treats a NUL byte as the end of input, which would let garbage hide behind it.
  if (const void* z = std::memchr(hbeg, 0, n))
    fail("{}: header contains a NUL byte at header offset {}", path, static_cast<const char*>(z) - hbeg);

  // Parse, recording the first duplicate key of any object (nlohmann silently keeps the last).
  std::vector<std::set<std::string>> key_stack;
  std::string duplicate;
  bool depth_limit_hit = false;
  json::parser_callback_t cb = [&](int depth, json::parse_event_t ev, json& parsed) -> bool {
    switch (ev) {
      case json::parse_event_t::object_start:
        key_stack.emplace_back();
        break;
      case json::parse_event_t::object_end:
        if (!key_stack.empty()) key_stack.pop_back();
        break;
      case json::parse_event_t::key:
        if (!key_stack.empty() && duplicate.empty() && parsed.is_string()) {
          const auto& k = parsed.get_ref<const std::string&>();
          if (!key_stack.back().insert(k).second) duplicate = k;
        }
        break;
      default:
        break;
    }
    if (depth > 64) depth_limit_hit = true;
    return true;
  };
  json root;
  try {
    root = json::parse(hbeg, hend, cb, /*allow_exceptions=*/true, /*ignore_comments=*/false);
  } catch (const json::parse_error& e) {
    std::string what = e.what();
    // Drop nlohmann's "[json.exception.parse_error.101] " prefix.
    if (auto pos = what.find("] "); what.rfind("[json.exception", 0) == 0 && pos != std::string::npos)
      what = what.substr(pos + 2);
    fail("{}: header is not valid JSON (error at header byte {}): {}", path, e.byte, ascii_only(what));
  } catch (const json::exception& e) {
    fail("{}: header is not valid JSON: {}", path, ascii_only(e.what()));
  }
  if (!root.is_object()) fail("{}: header is {}, expected a JSON object", path, json_type(root));
  if (!duplicate.empty()) fail("{}: header has the key {} more than once", path, qname(duplicate));
  if (depth_limit_hit) fail("{}: header JSON is nested more than 64 levels deep, which no valid header is", path);

  data_ = data + 8 + n;
  data_size_ = size - 8 - static_cast<size_t>(n);
  tensors_.clear();
  metadata_.clear();
  tensors_.reserve(root.size());

  for (const auto& [key, val] : root.items()) {
    if (key == kMetadataKey) {
      if (!val.is_object()) fail("{}: {} is {}, expected an object of strings", path, kMetadataKey, json_type(val));
      for (const auto& [mk, mv] : val.items()) {
        if (!mv.is_string())
          fail("{}: {} entry {} is {}, expected a string", path, kMetadataKey, qname(mk), json_type(mv));
        metadata_.emplace(mk, mv.get<std::string>());
      }
      continue;
    }
    const std::string tn = qname(key);
    if (!val.is_object()) fail("{}: tensor {}: entry is {}, expected an object", path, tn, json_type(val));
    for (const auto& [field, _] : val.items()) {
      if (field != "dtype" && field != "shape" && field != "data_offsets")
        fail("{}: tensor {}: unknown field {}", path, tn, qname(field));
    }
    TensorInfo t;
    t.name = key;

    auto dt = val.find("dtype");
    if (dt == val.end()) fail("{}: tensor {}: missing \"dtype\"", path, tn);
    if (!dt->is_string()) fail("{}: tensor {}: \"dtype\" is {}, expected a string", path, tn, json_type(*dt));
    const DTypeEntry* de = dtype_lookup(dt->get_ref<const std::string&>());
    if (!de)
      fail("{}: tensor {}: unknown dtype {} (known: F64 F32 F16 BF16 I64 I32 I16 I8 U8 BOOL)", path, tn,
           qname(dt->get_ref<const std::string&>()));
    t.dtype = de->dtype;

    auto sh = val.find("shape");
    if (sh == val.end()) fail("{}: tensor {}: missing \"shape\"", path, tn);
    if (!sh->is_array()) fail("{}: tensor {}: \"shape\" is {}, expected an array", path, tn, json_type(*sh));
    size_t numel = 1;
    bool overflow = false;
    for (size_t i = 0; i < sh->size(); ++i) {
      const json& d = (*sh)[i];
      uint64_t v = 0;
      if (!json_nonneg(d, static_cast<uint64_t>(std::numeric_limits<int64_t>::max()), v)) {
        if (d.is_number_integer() && !d.is_number_unsigned())
          fail("{}: tensor {}: shape dimension {} is negative ({})", path, tn, i, d.get<int64_t>());
        if (d.is_number_unsigned())
          fail("{}: tensor {}: shape dimension {} is too large ({})", path, tn, i, d.get<uint64_t>());
        fail("{}: tensor {}: shape dimension {} is {}, expected a non-negative integer", path, tn, i, json_type(d));
      }
      t.shape.push_back(static_cast<int64_t>(v));
      if (!overflow && __builtin_mul_overflow(numel, static_cast<size_t>(v), &numel)) overflow = true;
    }
    // A zero dimension makes the product 0 even if other dimensions overflowed; still reject.
    size_t nbytes = 0;
    if (overflow || __builtin_mul_overflow(numel, de->size, &nbytes))
      fail("{}: tensor {}: shape {} overflows the element count", path, tn, shape_to_string(t.shape));

    auto off = val.find("data_offsets");
    if (off == val.end()) fail("{}: tensor {}: missing \"data_offsets\"", path, tn);
    if (!off->is_array() || off->size() != 2)
      fail("{}: tensor {}: \"data_offsets\" must be an array of two integers [begin, end]", path, tn);
    uint64_t b = 0, e = 0;
    if (!json_nonneg((*off)[0], std::numeric_limits<uint64_t>::max(), b) ||
        !json_nonneg((*off)[1], std::numeric_limits<uint64_t>::max(), e))
      fail("{}: tensor {}: \"data_offsets\" must be two non-negative integers, got {} and {}", path, tn,
           json_type((*off)[0]), json_type((*off)[1]));
    if (b > e) fail("{}: tensor {}: data_offsets [{}, {}] end before they begin (begin > end)", path, tn, b, e);
    if (e > data_size_)
      fail("{}: tensor {}: data_offsets [{}, {}] run past the end of the data section ({} bytes)", path, tn, b, e,
           data_size_);
    if (e - b != nbytes)
      fail("{}: tensor {}: data_offsets [{}, {}] hold {} bytes, but {} {} needs {}", path, tn, b, e, e - b, de->name,
           shape_to_string(t.shape), nbytes);
    t.begin = static_cast<size_t>(b);
    t.end = static_cast<size_t>(e);
    tensors_.push_back(std::move(t));
  }

  // No two non-empty byte ranges may overlap.
  std::vector<const TensorInfo*> by_offset;
  by_offset.reserve(tensors_.size());
  for (const auto& t : tensors_)
    if (t.end > t.begin) by_offset.push_back(&t);
  std::sort(by_offset.begin(), by_offset.end(), [](const TensorInfo* a, const TensorInfo* b) {
    return a->begin != b->begin ? a->begin < b->begin : a->name < b->name;
  });
  for (size_t i = 1; i < by_offset.size(); ++i) {
    const TensorInfo* a = by_offset[i - 1];
    const TensorInfo* b = by_offset[i];
    if (b->begin < a->end)
      fail("{}: tensors {} [{}, {}] and {} [{}, {}] overlap", path, qname(a->name), a->begin, a->end, qname(b->name),
           b->begin, b->end);
  }

  std::sort(tensors_.begin(), tensors_.end(), [](const TensorInfo& a, const TensorInfo& b) { return a.name < b.name; });
}

const TensorInfo* SafetensorsFile::find(std::string_view name) const {
  auto it = std::lower_bound(tensors_.begin(), tensors_.end(), name,
                             [](const TensorInfo& t, std::string_view n) { return t.name < n; });
  if (it != tensors_.end() && it->name == name) return &*it;
  return nullptr;
}

const TensorInfo& SafetensorsFile::require(std::string_view name) const {
  const TensorInfo* t = find(name);
  if (!t) fail("{}: no tensor named {}", path_, qname(name));
  return *t;
}

}  // namespace slm
