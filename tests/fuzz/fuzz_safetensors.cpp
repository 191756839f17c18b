// fuzz_safetensors.cpp — libFuzzer harness for the safetensors reader (src/scratchlm/io/safetensors.cpp).
//
// Every input goes through SafetensorsFile::from_buffer; when it validates, every tensor is read
// back (read_f32 for float dtypes, read_int for integer ones, bytes() for all). The only allowed
// failure is slm::Error; anything else — a crash, an ASan/UBSan report, another exception type
// (libFuzzer reports uncaught exceptions as crashes via abort) — is a bug. Not part of the CMake
// build (the tests glob only tests/*.cpp); build and run with tests/fuzz/build_and_run.sh.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "scratchlm/io/safetensors.h"
#include "scratchlm/util/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Copy into an exactly-sized heap buffer so ASan catches any read past the end.
  std::vector<uint8_t> buf(data, data + size);
  try {
    auto f = slm::SafetensorsFile::from_buffer(buf.data(), buf.size(), "fuzz");
    volatile uint64_t sink = 0;
    for (const auto& t : f.tensors()) {
      auto b = f.bytes(t);
      if (!b.empty()) sink = sink + b.front() + b.back();
      // Reads are bounded by the input size (validated byte ranges), so allocating numel is safe.
      try {
        switch (t.dtype) {
          case slm::DType::F32:
          case slm::DType::F16:
          case slm::DType::BF16:
          case slm::DType::F64: {
            std::vector<float> out(t.numel());
            f.read_f32(t.name, out);
            for (float v : out) sink = sink + static_cast<uint64_t>(v == v);
            slm::Tensor tt = f.load_f32(t.name);
            sink = sink + tt.numel();
            break;
          }
          default: {
            auto v = f.read_int(t.name);
            for (int64_t x : v) sink = sink + static_cast<uint64_t>(x);
            break;
          }
        }
      } catch (const slm::Error&) {}
      if (f.find(t.name) != &t) __builtin_trap();  // find() must locate every listed tensor
    }
    for (const auto& [k, v] : f.metadata()) sink = sink + k.size() + v.size();
  } catch (const slm::Error& e) {
    // Errors must be one line.
    if (std::strchr(e.what(), '\n')) __builtin_trap();
  }
  return 0;
}
