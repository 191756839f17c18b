// email_decode.cpp — the decoders behind email_to_text (see email.h; chapter 6.2's data
// preparation for e-mail): quoted-printable, base64, RFC 2047 encoded-words, HTML -> text.
#include <array>
#include <cstdint>

#include "scratchlm/data/charset.h"
#include "scratchlm/data/email.h"
#include "scratchlm/tokenizer/utf8.h"
#include "scratchlm/util/ascii.h"

namespace slm {

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_alnum(char c) { return is_alpha(c) || (c >= '0' && c <= '9'); }
bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

bool iequals_prefix(std::string_view s, size_t at, std::string_view prefix) {
  if (at + prefix.size() > s.size()) return false;
  for (size_t k = 0; k < prefix.size(); ++k)
    if (ascii_lower(s[at + k]) != prefix[k]) return false;
  return true;
}

// Position of `needle` (lower-case) in s from `from`, ASCII case-insensitively; npos if none.
size_t ifind(std::string_view s, std::string_view needle, size_t from) {
  for (size_t k = from; k + needle.size() <= s.size(); ++k)
    if (ascii_lower(s[k]) == needle[0] && iequals_prefix(s, k, needle)) return k;
  return std::string_view::npos;
}

// Q encoding (RFC 2047 4.2): '_' is a space, =XX a byte.
std::string decode_q(std::string_view s) {
  std::string out;
  for (size_t k = 0; k < s.size(); ++k) {
    if (s[k] == '_') {
      out.push_back(' ');
    } else if (s[k] == '=' && k + 2 < s.size() && hex_value(s[k + 1]) >= 0 && hex_value(s[k + 2]) >= 0) {
      out.push_back(static_cast<char>(hex_value(s[k + 1]) * 16 + hex_value(s[k + 2])));
      k += 2;
    } else {
      out.push_back(s[k]);
    }
  }
  return out;
}

// Parse an encoded-word at s[at] ("=?charset?E?text?="): its text (converted from its charset to
// UTF-8) and its end.
bool parse_encoded_word(std::string_view s, size_t at, std::string* decoded, size_t* end) {
  if (s.compare(at, 2, "=?") != 0) return false;
  s = s.substr(0, at + 4096);  // RFC 2047 words are short (75); bounding the search keeps this linear
  size_t q1 = s.find('?', at + 2);
  if (q1 == std::string_view::npos || q1 == at + 2 || q1 + 3 >= s.size() || s[q1 + 2] != '?') return false;
  char enc = ascii_lower(s[q1 + 1]);
  if (enc != 'b' && enc != 'q') return false;
  size_t close = s.find("?=", q1 + 3);
  if (close == std::string_view::npos) return false;
  std::string_view text = s.substr(q1 + 3, close - (q1 + 3));
  if (text.find_first_of(" \t\r\n") != std::string_view::npos) return false;
  std::string_view charset = s.substr(at + 2, q1 - (at + 2));
  charset = charset.substr(0, charset.find('*'));  // RFC 2231 language suffix: "us-ascii*en"
  *decoded = to_utf8(enc == 'b' ? decode_base64(text) : decode_q(text), charset);
  *end = close + 2;
  return true;
}

struct Entity {
  std::string_view name;
  uint32_t cp;
};
constexpr std::array<Entity, 22> kEntities = {{
    {"amp", '&'},      {"lt", '<'},       {"gt", '>'},       {"quot", '"'},      {"apos", '\''},   {"nbsp", ' '},
    {"copy", 0xA9},    {"reg", 0xAE},     {"trade", 0x2122}, {"pound", 0xA3},    {"euro", 0x20AC}, {"cent", 0xA2},
    {"yen", 0xA5},     {"mdash", 0x2014}, {"ndash", 0x2013}, {"hellip", 0x2026}, {"bull", 0x2022}, {"lsquo", 0x2018},
    {"rsquo", 0x2019}, {"ldquo", 0x201C}, {"rdquo", 0x201D}, {"middot", 0xB7},
}};

// Decode the entity at html[at] ('&'); append its text and return the length consumed, or 0.
size_t decode_entity(std::string_view html, size_t at, std::string& out) {
  size_t k = at + 1;
  if (k < html.size() && html[k] == '#') {
    ++k;
    bool hex = k < html.size() && (html[k] == 'x' || html[k] == 'X');
    if (hex) ++k;
    size_t digits = k;
    uint64_t cp = 0;
    while (k < html.size() && k - digits < 8 && (hex ? hex_value(html[k]) >= 0 : (html[k] >= '0' && html[k] <= '9'))) {
      cp = cp * (hex ? 16 : 10) + static_cast<uint64_t>(hex_value(html[k]));
      ++k;
    }
    if (k == digits) return 0;
    if (k < html.size() && html[k] == ';') ++k;
    if (cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) cp = 0xFFFD;
    utf8_append(out, static_cast<uint32_t>(cp));
    return k - at;
  }
  size_t name_end = k;
  while (name_end < html.size() && name_end - k < 8 && is_alnum(html[name_end])) ++name_end;
  std::string_view name = html.substr(k, name_end - k);
  for (const auto& e : kEntities) {
    if (name != e.name) continue;
    if (name_end < html.size() && html[name_end] == ';') ++name_end;
    utf8_append(out, e.cp);
    return name_end - at;
  }
  return 0;
}

bool is_block_tag(std::string_view name) {
  static constexpr std::string_view kBlock[] = {
      "br",      "p",       "div",    "tr",     "li",    "ul",      "ol",         "table", "h1",     "h2",
      "h3",      "h4",      "h5",     "h6",     "hr",    "title",   "blockquote", "pre",   "center", "dl",
      "dt",      "dd",      "form",   "tbody",  "thead", "tfoot",   "body",       "html",  "head",   "address",
      "section", "article", "header", "footer", "nav",   "caption", "option"};
  for (auto b : kBlock)
    if (name == b) return true;
  return false;
}

// Collapse whitespace runs to one space, trim lines, keep at most one blank line in a row, and no
// blank lines at the start or end.
std::string tidy_lines(std::string_view s) {
  std::string out;
  bool pending_blank = false;
  size_t pos = 0;
  while (pos <= s.size()) {
    size_t nl = s.find('\n', pos);
    if (nl == std::string_view::npos) nl = s.size();
    std::string line;
    bool space = false;
    for (size_t k = pos; k < nl; ++k) {
      if (is_space(s[k])) {
        space = true;
      } else {
        if (space && !line.empty()) line.push_back(' ');
        space = false;
        line.push_back(s[k]);
      }
    }
    if (line.empty()) {
      pending_blank = !out.empty();
    } else {
      if (!out.empty()) out += pending_blank ? "\n\n" : "\n";
      pending_blank = false;
      out += line;
    }
    pos = nl + 1;
  }
  return out;
}

}  // namespace

std::string decode_quoted_printable(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t k = 0; k < s.size(); ++k) {
    char c = s[k];
    if (c != '=') {
      out.push_back(c);
      continue;
    }
    if (k + 2 < s.size() && hex_value(s[k + 1]) >= 0 && hex_value(s[k + 2]) >= 0) {
      out.push_back(static_cast<char>(hex_value(s[k + 1]) * 16 + hex_value(s[k + 2])));
      k += 2;
      continue;
    }
    size_t j = k + 1;
    while (j < s.size() && (s[j] == ' ' || s[j] == '\t')) ++j;
    if (j >= s.size()) {
      k = j;  // '=' (and blanks) at the very end: a soft break
    } else if (s[j] == '\n') {
      k = j;  // soft line break
    } else if (s[j] == '\r' && j + 1 < s.size() && s[j + 1] == '\n') {
      k = j + 1;
    } else {
      out.push_back('=');  // not an escape: literal
    }
  }
  return out;
}

std::string decode_base64(std::string_view s) {
  static const std::array<int8_t, 256> table = [] {
    std::array<int8_t, 256> t{};
    t.fill(-1);
    const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (int k = 0; k < 64; ++k) t[static_cast<unsigned char>(alphabet[k])] = static_cast<int8_t>(k);
    return t;
  }();
  std::string out;
  out.reserve(s.size() / 4 * 3);
  uint32_t acc = 0;
  int bits = 0;
  for (char c : s) {
    if (c == '=') {  // padding: the quantum ends here
      acc = 0;
      bits = 0;
      continue;
    }
    int v = table[static_cast<unsigned char>(c)];
    if (v < 0) continue;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xFF));
      acc &= (1u << bits) - 1;
    }
  }
  return out;
}

std::string decode_header_words(std::string_view value) {
  std::string out;
  std::string raw;          // text outside encoded-words, undeclared: converted when a word or the end comes
  bool after_word = false;  // the last thing appended was an encoded-word
  size_t k = 0;
  while (k < value.size()) {
    std::string decoded;
    size_t end = 0;
    if (value[k] == '=' && parse_encoded_word(value, k, &decoded, &end)) {
      out += to_utf8(raw, "");
      raw.clear();
      out += decoded;
      after_word = true;
      k = end;
      continue;
    }
    if (after_word && is_space(value[k])) {  // whitespace between two encoded-words is dropped
      size_t j = k;
      while (j < value.size() && is_space(value[j])) ++j;
      if (j < value.size() && value[j] == '=' && parse_encoded_word(value, j, &decoded, &end)) {
        k = j;
        continue;
      }
      raw.append(value.substr(k, j - k));
      k = j;
      after_word = false;
      continue;
    }
    raw.push_back(value[k++]);
    after_word = false;
  }
  return out + to_utf8(raw, "");
}

std::string html_to_text(std::string_view html) {
  std::string text;
  text.reserve(html.size() / 2);
  size_t k = 0;
  const size_t n = html.size();
  bool no_gt = false;
  while (k < n) {
    char c = html[k];
    if (c == '&') {
      size_t used = decode_entity(html, k, text);
      if (used) {
        k += used;
      } else {
        text.push_back('&');
        ++k;
      }
      continue;
    }
    if (c != '<') {
      text.push_back(is_space(c) ? ' ' : c);
      ++k;
      continue;
    }
    if (html.compare(k, 4, "<!--") == 0) {  // comment
      size_t end = html.find("-->", k + 4);
      k = end == std::string_view::npos ? n : end + 3;
      continue;
    }
    char next = k + 1 < n ? html[k + 1] : '\0';
    bool closing = next == '/';
    char first = closing ? (k + 2 < n ? html[k + 2] : '\0') : next;
    if (!(next == '!' || next == '?' || is_alpha(first))) {
      text.push_back('<');  // not a tag: literal
      ++k;
      continue;
    }
    size_t gt = no_gt ? std::string_view::npos : html.find('>', k + 1);
    if (gt == std::string_view::npos) {
      no_gt = true;         // none further on either: later '<'s need not search again
      text.push_back('<');  // unterminated: keep it as text
      ++k;
      continue;
    }
    std::string name;
    for (size_t j = k + (closing ? 2 : 1); j < gt && is_alnum(html[j]); ++j) name.push_back(ascii_lower(html[j]));
    k = gt + 1;
    if (!closing && (name == "script" || name == "style")) {  // drop the contents
      size_t end = ifind(html, name == "script" ? "</script" : "</style", k);
      if (end == std::string_view::npos) {
        k = n;
      } else {
        size_t close_gt = html.find('>', end);
        k = close_gt == std::string_view::npos ? n : close_gt + 1;
      }
      continue;
    }
    if (is_block_tag(name)) {
      text.push_back('\n');
    } else if (name == "td" || name == "th") {
      text.push_back(' ');
    }
  }
  return tidy_lines(text);
}

}  // namespace slm
