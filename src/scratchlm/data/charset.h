// charset.h — text in a declared charset -> UTF-8 (chapter 6.2's data preparation: e-mail arrives
// in many charsets, GPT-2's byte-level tokenizer should see the characters, not their Latin-1 or
// GB2312 bytes). The conversion itself is glibc's iconv; this file only picks the charset.
//
// to_utf8(bytes, label): `label` as written in a MIME Content-Type charset parameter, an RFC 2047
// encoded-word or an HTML <meta> (case-insensitive, quotes and blanks ignored).
//   - Common labels resolve as the WHATWG Encoding Standard (what browsers do) says: iso-8859-1,
//     latin1 -> windows-1252; gb2312, gbk, chinese -> GB18030; ks_c_5601-1987, euc-kr -> CP949;
//     big5 -> BIG5-HKSCS; iso-8859-9 -> windows-1254; tis-620, iso-8859-11 -> windows-874. Any
//     other label is handed to iconv by name (koi8-r, iso-2022-jp, windows-1251, ...).
//   - utf-8 is kept, its ill-formed bytes replaced by U+FFFD (as utf8_lossy).
//   - No label, us-ascii, or a label iconv does not know ("default", "unknown-8bit", ...): bytes
//     that are valid UTF-8 stay as they are (mislabeled UTF-8 is common), anything else is read as
//     windows-1252, the WHATWG default for unlabeled Western text.
//   - A byte that is invalid in its charset becomes one U+FFFD and the conversion goes on.
// The result is always valid UTF-8.
#pragma once

#include <string>
#include <string_view>

namespace slm {

std::string to_utf8(std::string_view bytes, std::string_view label);

// The charset an HTML document declares in its first 4 KiB (<meta charset=...> or the charset
// parameter of <meta http-equiv="Content-Type" content="...">), or "" when none.
std::string html_declared_charset(std::string_view html);

}  // namespace slm
