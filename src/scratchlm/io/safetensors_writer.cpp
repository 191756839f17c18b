// safetensors_writer.cpp — writing the safetensors format (see safetensors.h): the header and the
// tensor bytes stream to a temp file next to the destination, which is fsynced and renamed over it
// (util/file's AtomicFile), so a failed write never damages an old file.
#include "scratchlm/io/safetensors.h"

#include <algorithm>
#include <cstring>
#include <nlohmann/json.hpp>

#include "scratchlm/tensor/tensor.h"
#include "scratchlm/tokenizer/printable.h"
#include "scratchlm/util/error.h"
#include "scratchlm/util/file.h"

namespace slm {

void SafetensorsWriter::check_new(const std::string& name, DType dtype, const std::vector<int64_t>& shape,
                                  size_t* nbytes_out) const {
  if (name == kSafetensorsMetadataKey)
    fail("cannot add a tensor named {}: the name is reserved", kSafetensorsMetadataKey);
  if (entries_.count(name)) fail("cannot add tensor {} twice", in_quotes(name));
  if (dtype_size(dtype) == 0) fail("cannot add tensor {}: invalid dtype", in_quotes(name));
  size_t numel = 1;
  for (int64_t d : shape) {
    if (d < 0) fail("cannot add tensor {}: negative dimension in shape {}", in_quotes(name), shape_to_string(shape));
    if (__builtin_mul_overflow(numel, static_cast<size_t>(d), &numel))
      fail("cannot add tensor {}: shape {} overflows", in_quotes(name), shape_to_string(shape));
  }
  size_t nbytes = 0;
  if (__builtin_mul_overflow(numel, dtype_size(dtype), &nbytes))
    fail("cannot add tensor {}: shape {} overflows", in_quotes(name), shape_to_string(shape));
  *nbytes_out = nbytes;
}

void SafetensorsWriter::add(const std::string& name, DType dtype, std::vector<int64_t> shape, const void* data) {
  size_t nbytes = 0;
  check_new(name, dtype, shape, &nbytes);
  if (nbytes > 0 && data == nullptr) fail("cannot add tensor {}: null data for {} bytes", in_quotes(name), nbytes);
  entries_[name] = Entry{dtype, std::move(shape), data, nullptr};
}

void SafetensorsWriter::add_f32_fill(const std::string& name, std::vector<int64_t> shape, FillF32 fill) {
  size_t nbytes = 0;
  check_new(name, DType::F32, shape, &nbytes);
  if (!fill) fail("cannot add tensor {}: no fill function", in_quotes(name));
  entries_[name] = Entry{DType::F32, std::move(shape), nullptr, std::move(fill)};
}

void SafetensorsWriter::write(const std::string& path) const {
  // Header: tensors in name order, contiguous offsets; __metadata__ first when present.
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata_.empty()) {
    nlohmann::ordered_json md = nlohmann::ordered_json::object();
    for (const auto& [k, v] : metadata_) md[k] = v;
    header[kSafetensorsMetadataKey] = std::move(md);
  }
  size_t offset = 0;
  std::vector<std::pair<const Entry*, size_t>> chunks;  // entry, byte count
  for (const auto& [name, e] : entries_) {
    size_t nbytes = Tensor::numel_of(e.shape) * dtype_size(e.dtype);  // overflow checked in add()
    nlohmann::ordered_json t = nlohmann::ordered_json::object();
    t["dtype"] = dtype_name(e.dtype);
    t["shape"] = e.shape;
    t["data_offsets"] = {offset, offset + nbytes};
    header[name] = std::move(t);
    chunks.emplace_back(&e, nbytes);
    offset += nbytes;
  }
  std::string hjson;
  try {
    hjson = header.dump();
  } catch (const nlohmann::json::exception&) {
    fail("cannot write '{}': a tensor name or metadata string is not valid UTF-8", path);
  }
  hjson.append((8 - hjson.size() % 8) % 8, ' ');
  uint64_t hlen = hjson.size();
  uint8_t lenbuf[8];
  std::memcpy(lenbuf, &hlen, 8);

  AtomicFile out(path);
  out.write(lenbuf, 8);
  out.write(hjson);
  std::vector<float> buf;
  for (const auto& [e, nbytes] : chunks) {
    if (!e->fill) {
      if (nbytes) out.write(e->data, nbytes);
      continue;
    }
    const size_t n = nbytes / sizeof(float);
    buf.resize(std::min(n, kFillChunk));
    for (size_t first = 0; first < n; first += kFillChunk) {
      const size_t count = std::min(kFillChunk, n - first);
      e->fill(buf.data(), first, count);
      out.write(buf.data(), count * sizeof(float));
    }
  }
  out.commit();
}

}  // namespace slm
