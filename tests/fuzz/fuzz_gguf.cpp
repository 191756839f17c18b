// fuzz_gguf.cpp — libFuzzer harness for the GGUF reader (src/scratchlm/io/gguf_reader.cpp).
//
// Every input goes through GgufFile::from_buffer (copied into an exactly-sized heap buffer, so ASan
// sees any read past the end); when it validates, every metadata value is read through the typed
// accessors and every tensor is converted to float32. The only allowed failure is a one-line
// slm::Error. Not part of the CMake build; build and run with tests/fuzz/fuzz_gguf.sh.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "scratchlm/io/gguf.h"
#include "scratchlm/util/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<uint8_t> buf(data, data + size);
  try {
    const auto f = slm::GgufFile::from_buffer(buf.data(), buf.size(), "fuzz");
    for (const auto& [key, v] : f.metadata()) {
      try {  // each accessor either answers or refuses the type with an slm::Error
        if (v.type == slm::GgufType::Array) {
          if (v.elem == slm::GgufType::String)
            (void)f.get_string_array(key).size();
          else
            (void)f.get_int_array(key);
        } else if (v.type == slm::GgufType::String) {
          (void)f.get_string(key);
        } else if (v.type == slm::GgufType::F32 || v.type == slm::GgufType::F64) {
          (void)f.get_float(key);
        } else if (v.type == slm::GgufType::Bool) {
          (void)f.get_bool(key);
        } else {
          (void)f.get_uint(key);
        }
      } catch (const slm::Error& e) {
        if (std::strchr(e.what(), '\n')) std::abort();
      }
    }
    for (const auto& t : f.tensors()) {
      if (t.numel > (1u << 22)) continue;  // the bytes are in the input, but keep the allocation small
      std::vector<float> v(t.numel);
      f.read_f32(t, v);
    }
  } catch (const slm::Error& e) {
    if (std::strchr(e.what(), '\n')) std::abort();  // messages are one line
  }
  return 0;
}
