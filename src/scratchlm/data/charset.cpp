// charset.cpp — declared charset -> UTF-8 through iconv (see charset.h; chapter 6.2's data
// preparation for e-mail).
#include "scratchlm/data/charset.h"

#include <iconv.h>

#include <cctype>
#include <cerrno>
#include <utility>

#include "scratchlm/tokenizer/utf8.h"
#include "scratchlm/util/ascii.h"

namespace slm {

namespace {

std::string normalize_label(std::string_view label) {
  std::string out;
  for (char c : label)
    if (c != '"' && c != '\'' && c != ' ' && c != '\t') out.push_back(ascii_lower(c));
  return out;
}

// The iconv name for a (normalized) label, following the WHATWG Encoding Standard where it
// differs from the label's literal meaning. "" means: no usable declaration.
std::string iconv_name(const std::string& label) {
  static constexpr std::pair<std::string_view, std::string_view> kAliases[] = {
      {"iso-8859-1", "WINDOWS-1252"},
      {"iso8859-1", "WINDOWS-1252"},
      {"iso_8859-1", "WINDOWS-1252"},
      {"latin1", "WINDOWS-1252"},
      {"l1", "WINDOWS-1252"},
      {"cp1252", "WINDOWS-1252"},
      {"gb2312", "GB18030"},
      {"gbk", "GB18030"},
      {"x-gbk", "GB18030"},
      {"chinese", "GB18030"},
      {"gb_2312-80", "GB18030"},
      {"csgb2312", "GB18030"},
      {"ks_c_5601-1987", "CP949"},
      {"euc-kr", "CP949"},
      {"korean", "CP949"},
      {"big5", "BIG5-HKSCS"},
      {"chinesebig5", "BIG5-HKSCS"},
      {"x-x-big5", "BIG5-HKSCS"},
      {"iso-8859-9", "WINDOWS-1254"},
      {"latin5", "WINDOWS-1254"},
      {"tis-620", "WINDOWS-874"},
      {"iso-8859-11", "WINDOWS-874"},
  };
  if (label.empty() || label == "us-ascii" || label == "ascii" || label == "utf-8" || label == "utf8") return "";
  for (const auto& [from, to] : kAliases)
    if (label == from) return std::string(to);
  return label;
}

// Convert with iconv; false when iconv does not know `from`. Invalid or truncated input bytes
// become U+FFFD, one per byte, and the conversion goes on after them.
bool iconv_to_utf8(std::string_view in, const std::string& from, std::string* out) {
  iconv_t cd = iconv_open("UTF-8", from.c_str());
  if (cd == reinterpret_cast<iconv_t>(-1)) return false;
  out->clear();
  out->reserve(in.size() + in.size() / 2);
  char* ip = const_cast<char*>(in.data());  // iconv's signature; it does not write the input
  size_t il = in.size();
  char buf[4096];
  while (il > 0) {
    char* op = buf;
    size_t ol = sizeof buf;
    size_t r = iconv(cd, &ip, &il, &op, &ol);
    out->append(buf, static_cast<size_t>(op - buf));
    if (r == static_cast<size_t>(-1) && errno != E2BIG) {  // EILSEQ or EINVAL: skip one byte
      out->append("\xEF\xBF\xBD");
      ++ip;
      --il;
    }
  }
  char* op = buf;
  size_t ol = sizeof buf;
  iconv(cd, nullptr, nullptr, &op, &ol);  // a stateful charset's closing shift sequence
  out->append(buf, static_cast<size_t>(op - buf));
  iconv_close(cd);
  return true;
}

// Undeclared text: UTF-8 if it is valid UTF-8, else windows-1252.
std::string undeclared_to_utf8(std::string_view bytes) {
  if (utf8_find_invalid(bytes) == std::string_view::npos) return std::string(bytes);
  std::string out;
  if (iconv_to_utf8(bytes, "WINDOWS-1252", &out)) return utf8_lossy(out);
  return utf8_lossy(bytes);  // no gconv modules at all
}

}  // namespace

std::string to_utf8(std::string_view bytes, std::string_view label) {
  std::string norm = normalize_label(label);
  if (norm == "utf-8" || norm == "utf8") return utf8_lossy(bytes);
  std::string name = iconv_name(norm);
  if (name.empty()) return undeclared_to_utf8(bytes);
  std::string out;
  if (iconv_to_utf8(bytes, name, &out)) return utf8_lossy(out);
  return undeclared_to_utf8(bytes);
}

std::string html_declared_charset(std::string_view html) {
  const std::string head = ascii_lower(html.substr(0, 4096));
  size_t meta = head.find("<meta");
  while (meta != std::string::npos) {
    size_t end = head.find('>', meta);
    if (end == std::string::npos) end = head.size();
    size_t at = head.find("charset", meta);
    if (at != std::string::npos && at < end) {
      at += 7;
      while (at < end && (head[at] == ' ' || head[at] == '=' || head[at] == '"' || head[at] == '\'')) ++at;
      size_t stop = at;
      while (stop < end && (std::isalnum(static_cast<unsigned char>(head[stop])) || head[stop] == '-' ||
                            head[stop] == '_' || head[stop] == '.' || head[stop] == ':'))
        ++stop;
      if (stop > at) return head.substr(at, stop - at);
    }
    meta = head.find("<meta", end);
  }
  return "";
}

}  // namespace slm
