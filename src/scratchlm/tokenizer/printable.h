// printable.h — untrusted bytes (file content, tensor and token names) made safe to quote in a
// one-line error message (chapter 2: text is bytes; a message must stay one readable line).
#pragma once

#include <string>
#include <string_view>

namespace slm {

// s with control characters (NUL, newline ...), DEL, backslashes and bytes that are not part of
// well-formed UTF-8 written as \xNN, cut after about `max_bytes` bytes (at a character boundary)
// with "..." appended. Well-formed non-ASCII characters pass unchanged.
std::string printable(std::string_view s, size_t max_bytes = 200);

// printable(s) between single quotes: 'name'.
std::string in_quotes(std::string_view s, size_t max_bytes = 200);

}  // namespace slm
