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

// A file written atomically, piece by piece: the bytes go to a temp file beside `path`; commit()
// fsyncs it, renames it over `path` and fsyncs the directory. Destroyed without commit() (an error,
// an exception), the temp file is removed and the old file is untouched. Write errors are Internal
// errors naming `path`; a temp file that cannot be created is a BadInput error.
class AtomicFile {
 public:
  explicit AtomicFile(std::string path);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  void write(const void* data, size_t n);
  void write(std::string_view bytes) { write(bytes.data(), bytes.size()); }
  void commit();

 private:
  std::string path_, tmp_;
  int fd_ = -1;
  bool committed_ = false;
};

// Write bytes to `path` atomically (an AtomicFile with one write).
void write_file_atomic(const std::string& path, std::string_view bytes);

bool file_exists(const std::string& path);

}  // namespace slm
