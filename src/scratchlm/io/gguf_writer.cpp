// gguf_writer.cpp — writing GGUF v3 files (see gguf.h): the header is encoded as keys are set, the
// tensors are produced one at a time while the file is written, and the file appears by rename.

#include <algorithm>
#include <cstring>
#include <utility>
#include <vector>

#include "scratchlm/io/gguf.h"
#include "scratchlm/tensor/q8_0.h"
#include "scratchlm/util/error.h"
#include "scratchlm/util/file.h"

namespace slm {

namespace {

template <typename T>
void put(std::string& out, T v) {
  char b[sizeof(T)];
  std::memcpy(b, &v, sizeof(T));
  out.append(b, sizeof(T));
}

void put_string(std::string& out, std::string_view s) {
  put<uint64_t>(out, s.size());
  out.append(s);
}

}  // namespace

void GgufWriter::key(const std::string& k, GgufType t) {
  if (std::find(keys_.begin(), keys_.end(), k) != keys_.end()) fail_internal("GGUF key '{}' set twice", k);
  keys_.push_back(k);
  put_string(header_, k);
  put<uint32_t>(header_, static_cast<uint32_t>(t));
}

void GgufWriter::set_u32(const std::string& k, uint32_t v) {
  key(k, GgufType::U32);
  put(header_, v);
}

void GgufWriter::set_i32(const std::string& k, int32_t v) {
  key(k, GgufType::I32);
  put(header_, v);
}

void GgufWriter::set_f32(const std::string& k, float v) {
  key(k, GgufType::F32);
  put(header_, v);
}

void GgufWriter::set_bool(const std::string& k, bool v) {
  key(k, GgufType::Bool);
  put<uint8_t>(header_, v ? 1 : 0);
}

void GgufWriter::set_string(const std::string& k, std::string_view v) {
  key(k, GgufType::String);
  put_string(header_, v);
}

void GgufWriter::set_string_array(const std::string& k, const std::vector<std::string>& v) {
  key(k, GgufType::Array);
  put<uint32_t>(header_, static_cast<uint32_t>(GgufType::String));
  put<uint64_t>(header_, v.size());
  for (const auto& s : v) put_string(header_, s);
}

void GgufWriter::set_i32_array(const std::string& k, const std::vector<int32_t>& v) {
  key(k, GgufType::Array);
  put<uint32_t>(header_, static_cast<uint32_t>(GgufType::I32));
  put<uint64_t>(header_, v.size());
  for (int32_t x : v) put(header_, x);
}

void GgufWriter::add_tensor(const std::string& name, GgmlType type, std::vector<int64_t> dims,
                            std::function<void(uint8_t*)> fill) {
  if (dims.empty() || dims.size() > 4) fail_internal("GGUF tensor '{}': {} dimensions", name, dims.size());
  if (type == GgmlType::Q8_0 && dims[0] % kQ8_0Block != 0)
    fail_internal("GGUF tensor '{}': Q8_0 rows of {} values", name, dims[0]);
  uint64_t rows = 1;
  for (size_t i = 1; i < dims.size(); ++i) rows *= static_cast<uint64_t>(dims[i]);
  const uint64_t nbytes = ggml_row_bytes(type, static_cast<uint64_t>(dims[0])) * rows;
  tensors_.push_back({name, type, std::move(dims), nbytes, std::move(fill)});
}

void GgufWriter::write(const std::string& path) const {
  constexpr uint64_t align = kGgufDefaultAlignment;
  std::string head;
  put<uint32_t>(head, 0x46554747);  // "GGUF"
  put<uint32_t>(head, 3);
  put<uint64_t>(head, tensors_.size());
  put<uint64_t>(head, keys_.size());
  head += header_;
  uint64_t offset = 0;
  for (const auto& t : tensors_) {
    put_string(head, t.name);
    put<uint32_t>(head, static_cast<uint32_t>(t.dims.size()));
    for (int64_t d : t.dims) put<uint64_t>(head, static_cast<uint64_t>(d));
    put<uint32_t>(head, static_cast<uint32_t>(t.type));
    put<uint64_t>(head, offset);
    offset += (t.nbytes + align - 1) / align * align;
  }
  head.append((align - head.size() % align) % align, '\0');

  AtomicFile out(path);
  out.write(head);
  std::vector<uint8_t> buf;
  for (const auto& t : tensors_) {
    const uint64_t padded = (t.nbytes + align - 1) / align * align;
    buf.assign(padded, 0);
    t.fill(buf.data());
    out.write(buf.data(), buf.size());
  }
  out.commit();
}

}  // namespace slm
