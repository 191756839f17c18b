// file.cpp — whole-file reads and atomic writes (see file.h).
#include "scratchlm/util/file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <random>
#include <utility>

#include "scratchlm/util/error.h"

namespace slm {

bool file_exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

std::string read_file(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) fail("cannot open '{}': {}", path, std::strerror(errno));
  if (S_ISDIR(st.st_mode)) fail("'{}' is a directory, expected a file", path);
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("cannot open '{}': {}", path, std::strerror(errno));
  std::string data;
  in.seekg(0, std::ios::end);
  std::streamoff size = in.tellg();
  in.seekg(0, std::ios::beg);
  if (size > 0) {
    data.resize(static_cast<size_t>(size));
    in.read(data.data(), size);
    if (in.gcount() != size) fail("cannot read '{}': short read", path);
  } else {
    // Not seekable (a pipe, /dev/stdin): read in chunks.
    data.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  return data;
}

uint64_t read_file_chunks(const std::string& path, size_t chunk, const std::function<void(std::string_view)>& fn) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) fail("cannot open '{}': {}", path, std::strerror(errno));
  if (S_ISDIR(st.st_mode)) fail("'{}' is a directory, expected a file", path);
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("cannot open '{}': {}", path, std::strerror(errno));
  std::string buf(std::max<size_t>(chunk, 1), '\0');
  uint64_t total = 0;
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    const auto n = static_cast<size_t>(in.gcount());
    if (n == 0) break;
    total += n;
    fn(std::string_view(buf.data(), n));
  }
  if (in.bad()) fail("cannot read '{}': {}", path, std::strerror(errno));
  return total;
}

AtomicFile::AtomicFile(std::string path) : path_(std::move(path)) {
  std::random_device rd;
  tmp_ = path_ + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(rd());
  fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0) fail("cannot write '{}': {}", path_, std::strerror(errno));
}

AtomicFile::~AtomicFile() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_) ::unlink(tmp_.c_str());
}

void AtomicFile::write(const void* data, size_t n) {
  const auto* p = static_cast<const char*>(data);
  while (n > 0) {
    const ssize_t w = ::write(fd_, p, std::min<size_t>(n, size_t{1} << 30));
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) fail_internal("cannot write '{}': {}", path_, w < 0 ? std::strerror(errno) : "write returned 0");
    p += w;
    n -= static_cast<size_t>(w);
  }
}

void AtomicFile::commit() {
  if (::fsync(fd_) != 0) fail_internal("cannot write '{}': fsync: {}", path_, std::strerror(errno));
  if (::close(std::exchange(fd_, -1)) != 0) fail_internal("cannot write '{}': close: {}", path_, std::strerror(errno));
  if (::rename(tmp_.c_str(), path_.c_str()) != 0)
    fail_internal("cannot rename temp file onto '{}': {}", path_, std::strerror(errno));
  committed_ = true;
  // Best effort: make the rename itself durable.
  const auto slash = path_.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path_.substr(0, slash);
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

void write_file_atomic(const std::string& path, std::string_view bytes) {
  AtomicFile f(path);
  f.write(bytes);
  f.commit();
}

}  // namespace slm
