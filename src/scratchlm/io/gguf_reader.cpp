// gguf_reader.cpp — opening and validating GGUF files (see gguf.h; access to the parts: gguf_access.cpp): a
// bounds-checked cursor over the mapped bytes, so no length or count from the file is used before it is checked against
// what remains.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <utility>

#include "scratchlm/io/gguf.h"
#include "scratchlm/io/gguf_scalar.h"
#include "scratchlm/tensor/q8_0.h"
#include "scratchlm/tokenizer/printable.h"
#include "scratchlm/util/error.h"

namespace slm {

namespace {

using gguf_scalar::scalar_size;

constexpr uint32_t kMagic = 0x46554747;  // "GGUF" read as a little-endian u32
constexpr uint32_t kMaxDims = 4;         // GGML_MAX_DIMS

// Bounds-checked reads from the mapped file.
class Cursor {
 public:
  Cursor(const uint8_t* p, size_t size, const std::string& path) : p_(p), size_(size), path_(path) {}
  size_t pos() const { return pos_; }
  size_t remaining() const { return size_ - pos_; }
  void need(uint64_t n, std::string_view what) const {
    if (n > remaining())
      fail("{}: truncated file: {} needs {} bytes at offset {}, only {} remain", path_, what, n, pos_, remaining());
  }
  template <typename T>
  T read(std::string_view what) {
    need(sizeof(T), what);
    T v;
    std::memcpy(&v, p_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }
  const uint8_t* take(uint64_t n, std::string_view what) {
    need(n, what);
    const uint8_t* at = p_ + pos_;
    pos_ += n;
    return at;
  }
  std::string_view string(std::string_view what) {
    const uint64_t n = read<uint64_t>(what);
    return {reinterpret_cast<const char*>(take(n, what)), static_cast<size_t>(n)};
  }

 private:
  const uint8_t* p_;
  size_t size_, pos_ = 0;
  const std::string& path_;
};

}  // namespace

GgufFile::GgufFile(GgufFile&& o) noexcept { *this = std::move(o); }

GgufFile& GgufFile::operator=(GgufFile&& o) noexcept {
  if (this != &o) {
    if (map_) ::munmap(map_, map_size_);
    path_ = std::move(o.path_);
    map_ = std::exchange(o.map_, nullptr);
    map_size_ = std::exchange(o.map_size_, 0);
    data_ = o.data_;
    data_size_ = o.data_size_;
    version_ = o.version_;
    alignment_ = o.alignment_;
    kv_ = std::move(o.kv_);
    tensors_ = std::move(o.tensors_);
    kv_index_ = std::move(o.kv_index_);
    tensor_index_ = std::move(o.tensor_index_);
  }
  return *this;
}

GgufFile::~GgufFile() {
  if (map_) ::munmap(map_, map_size_);
}

bool GgufFile::is_gguf(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return false;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  uint32_t magic = 0;
  const bool ok = ::read(fd, &magic, 4) == 4 && magic == kMagic;
  ::close(fd);
  return ok;
}

GgufFile GgufFile::open(const std::string& path) {
  GgufFile f;
  f.path_ = path;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail("cannot open '{}': {}", path, std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    fail("'{}' is not a regular file, expected a GGUF file", path);
  }
  const size_t size = static_cast<size_t>(st.st_size);
  if (size < 24) {
    ::close(fd);
    fail("{}: file is {} bytes, too short for a GGUF file (the header alone is 24)", path, size);
  }
  void* p = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  const int e = errno;
  ::close(fd);
  if (p == MAP_FAILED) fail("cannot map '{}': {}", path, std::strerror(e));
  f.map_ = p;
  f.map_size_ = size;
  f.parse(static_cast<const uint8_t*>(p), size);  // on throw, ~GgufFile unmaps
  return f;
}

GgufFile GgufFile::from_buffer(const void* data, size_t size, const std::string& name) {
  GgufFile f;
  f.path_ = name;
  if (size > 0 && data == nullptr) fail("{}: null buffer of {} bytes", name, size);
  f.parse(static_cast<const uint8_t*>(data), size);
  return f;
}

void GgufFile::parse(const uint8_t* data, size_t size) {
  const std::string& path = path_;
  Cursor c(data, size, path);
  const uint32_t magic = c.read<uint32_t>("the magic");
  if (magic != kMagic) fail("{}: not a GGUF file (it does not start with \"GGUF\")", path);
  version_ = c.read<uint32_t>("the version");
  if (version_ == 0x03000000u || version_ == 0x02000000u)
    fail("{}: a big-endian GGUF file, which is not supported", path);
  if (version_ != 2 && version_ != 3) fail("{}: GGUF version {} (ScratchLM reads versions 2 and 3)", path, version_);
  const uint64_t n_tensors = c.read<uint64_t>("the tensor count");
  const uint64_t n_kv = c.read<uint64_t>("the metadata count");
  // Each key/value pair takes at least 13 bytes and each tensor info at least 28: counts beyond
  // what the file can hold are refused before anything is allocated for them.
  if (n_kv > c.remaining() / 13) fail("{}: metadata count {} is more than the file can hold", path, n_kv);
  if (n_tensors > c.remaining() / 28) fail("{}: tensor count {} is more than the file can hold", path, n_tensors);

  kv_.reserve(n_kv);
  for (uint64_t i = 0; i < n_kv; ++i) {
    const std::string what = fmt::format("metadata key {}", i);
    const std::string_view key = c.string(what);
    if (key.empty()) fail("{}: metadata key {} is empty", path, i);
    if (find(key)) fail("{}: metadata key {} appears twice", path, in_quotes(key));
    const std::string qkey = in_quotes(key);
    GgufValue v;
    const uint32_t type = c.read<uint32_t>(qkey);
    if (type > static_cast<uint32_t>(GgufType::F64))
      fail("{}: metadata {} has unknown value type {}", path, qkey, type);
    v.type = static_cast<GgufType>(type);
    if (v.type == GgufType::String) {
      v.strings.push_back(c.string(qkey));
    } else if (v.type == GgufType::Array) {
      const uint32_t et = c.read<uint32_t>(qkey);
      if (et > static_cast<uint32_t>(GgufType::F64))
        fail("{}: metadata {} is an array of unknown type {}", path, qkey, et);
      v.elem = static_cast<GgufType>(et);
      if (v.elem == GgufType::Array)
        fail("{}: metadata {} is an array of arrays, which GGUF readers refuse", path, qkey);
      v.count = c.read<uint64_t>(qkey);
      const size_t es = v.elem == GgufType::String ? 8 : scalar_size(v.elem);
      if (v.count > c.remaining() / es)
        fail("{}: metadata {} claims {} elements, more than the file can hold", path, qkey, v.count);
      if (v.elem == GgufType::String) {
        v.strings.reserve(v.count);
        for (uint64_t k = 0; k < v.count; ++k) v.strings.push_back(c.string(qkey));
      } else {
        v.data = c.take(v.count * es, qkey);
      }
    } else {
      v.data = c.take(scalar_size(v.type), qkey);
      if (v.type == GgufType::Bool && *v.data > 1) fail("{}: metadata {} is a bool of value {}", path, qkey, *v.data);
    }
    kv_index_.emplace(std::string(key), kv_.size());
    kv_.emplace_back(std::string(key), std::move(v));
  }

  if (const GgufValue* a = find("general.alignment")) {
    if (a->type != GgufType::U32) fail("{}: general.alignment is {}, expected u32", path, gguf_type_name(a->type));
    std::memcpy(&alignment_, a->data, 4);
    if (alignment_ == 0 || !std::has_single_bit(alignment_))
      fail("{}: general.alignment {} is not a power of two", path, alignment_);
  }

  tensors_.reserve(n_tensors);
  for (uint64_t i = 0; i < n_tensors; ++i) {
    const std::string what = fmt::format("tensor info {}", i);
    GgufTensorInfo t;
    t.name = std::string(c.string(what));
    if (t.name.empty()) fail("{}: tensor {} has an empty name", path, i);
    const std::string qn = in_quotes(t.name);
    if (find_tensor(t.name)) fail("{}: tensor {} appears twice", path, qn);
    const uint32_t nd = c.read<uint32_t>(qn);
    if (nd == 0 || nd > kMaxDims) fail("{}: tensor {} has {} dimensions (1 to {} allowed)", path, qn, nd, kMaxDims);
    uint64_t numel = 1;
    for (uint32_t d = 0; d < nd; ++d) {
      const uint64_t n = c.read<uint64_t>(qn);
      if (n > static_cast<uint64_t>(INT64_MAX) || (n && numel > (uint64_t{1} << 62) / n))
        fail("{}: tensor {} has absurd dimensions (dimension {} is {})", path, qn, d, n);
      numel *= n;
      t.dims.push_back(static_cast<int64_t>(n));
    }
    t.numel = numel;
    const uint32_t type = c.read<uint32_t>(qn);
    t.type = static_cast<GgmlType>(type);
    if (type != 0 && type != 1 && type != 8 && type != 30)
      fail("{}: tensor {} has type {} (ggml type {}); ScratchLM reads F32, F16, BF16 and Q8_0", path, qn,
           ggml_type_name(t.type), type);
    if (t.type == GgmlType::Q8_0 && t.dims[0] % kQ8_0Block != 0)
      fail("{}: tensor {} is Q8_0 with rows of {} values, not a multiple of {}", path, qn, t.dims[0], kQ8_0Block);
    t.nbytes = ggml_row_bytes(t.type, static_cast<uint64_t>(t.dims[0])) * (t.dims[0] ? numel / t.dims[0] : 0);
    t.offset = c.read<uint64_t>(qn);
    if (t.offset % alignment_ != 0)
      fail("{}: tensor {} is at offset {}, not a multiple of the alignment {}", path, qn, t.offset, alignment_);
    tensor_index_.emplace(t.name, tensors_.size());
    tensors_.push_back(std::move(t));
  }

  // The data section starts at the next multiple of the alignment.
  const uint64_t start = (c.pos() + alignment_ - 1) / alignment_ * alignment_;
  if (start > size) {
    if (!tensors_.empty()) fail("{}: truncated file: the data section would start at {}, past its end", path, start);
    data_ = data + size;
    data_size_ = 0;
  } else {
    data_ = data + start;
    data_size_ = size - start;
  }
  std::vector<const GgufTensorInfo*> by_offset;
  for (const auto& t : tensors_) {
    if (t.offset > data_size_ || t.nbytes > data_size_ - t.offset)
      fail("{}: tensor {} ({} bytes at offset {}) lies past the end of the data section ({} bytes)", path,
           in_quotes(t.name), t.nbytes, t.offset, data_size_);
    by_offset.push_back(&t);
  }
  std::sort(by_offset.begin(), by_offset.end(), [](auto* a, auto* b) { return a->offset < b->offset; });
  for (size_t i = 1; i < by_offset.size(); ++i)
    if (by_offset[i - 1]->offset + by_offset[i - 1]->nbytes > by_offset[i]->offset)
      fail("{}: tensors {} and {} overlap", path, in_quotes(by_offset[i - 1]->name), in_quotes(by_offset[i]->name));
}

}  // namespace slm
