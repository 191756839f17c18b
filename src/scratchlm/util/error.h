// error.h — ScratchLM's error type and the exit-code convention of the CLI.
//
// Library code throws slm::Error. Its kind says whose fault it is:
//   BadInput  — the user's input (missing file, malformed JSON, invalid UTF-8, bad id ...): exit code 2
//   Internal  — a bug or an environment failure (out of memory, I/O error mid-write): exit code 1
// The CLI catches it at the top, prints "slm: error: <message>" as one line to stderr and exits
// with exit_code(kind). Messages are one line, start lower-case and name the offending thing.
#pragma once

#include <fmt/format.h>

#include <stdexcept>
#include <string>

namespace slm {

enum class ErrorKind { BadInput, Internal };

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, const std::string& message) : std::runtime_error(message), kind_(kind) {}
  ErrorKind kind() const { return kind_; }

 private:
  ErrorKind kind_;
};

inline int exit_code(ErrorKind kind) { return kind == ErrorKind::BadInput ? 2 : 1; }

// Throw a BadInput error with a fmt-style message.
template <typename... Args>
[[noreturn]] void fail(fmt::format_string<Args...> f, Args&&... args) {
  throw Error(ErrorKind::BadInput, fmt::format(f, std::forward<Args>(args)...));
}

// Throw an Internal error with a fmt-style message.
template <typename... Args>
[[noreturn]] void fail_internal(fmt::format_string<Args...> f, Args&&... args) {
  throw Error(ErrorKind::Internal, fmt::format(f, std::forward<Args>(args)...));
}

}  // namespace slm
