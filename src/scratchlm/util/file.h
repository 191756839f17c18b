// file.h — whole-file and chunked reads and atomic writes (temp file + fsync + rename), so that nothing that
// existed before is ever lost to a crash or a failed write.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace slm {

// Read a whole file as bytes. Missing or unreadable files are BadInput errors naming the path.
std::string read_file(const std::string& path);

// Read a file in pieces of at most `chunk` bytes, calling fn on each in order (memory: one chunk).
// Returns the number of bytes read. Errors as read_file.
uint64_t read_file_chunks(const std::string& path, size_t chunk, const std::function<void(std::string_view)>& fn);

// Write bytes to `path` atomically: a temp file in the same directory, fsync, then rename over
// the destination. On any failure the temp file is removed and the old file is untouched.
void write_file_atomic(const std::string& path, std::string_view bytes);

bool file_exists(const std::string& path);

}  // namespace slm
