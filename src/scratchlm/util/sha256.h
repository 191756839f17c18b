// sha256.h — SHA-256 over OpenSSL's EVP interface: incremental hashing, whole strings and files
// (checksums of downloads and data assets, token-cache keys).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

struct evp_md_ctx_st;

namespace slm {

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void update(std::string_view bytes);
  // Little-endian 8 bytes.
  void update_u64(uint64_t v);
  // Length-prefixed, so that the boundaries between fields are unambiguous.
  void update_field(std::string_view s) {
    update_u64(s.size());
    update(s);
  }
  // Lowercase hex digest (the object is finished afterwards).
  std::string hex();

 private:
  evp_md_ctx_st* ctx_;
};

std::string sha256_hex(std::string_view bytes);
// sha256 of a file as lowercase hex. Missing/unreadable files are BadInput errors naming the path.
std::string sha256_file(const std::string& path);

}  // namespace slm
