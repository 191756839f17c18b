// email.cpp — RFC 822 / MIME message structure for email_to_text (see email.h; chapter 6.2's data
// preparation, for the SpamAssassin corpus): headers, unfolding, Content-Type, multipart walking.
#include "scratchlm/data/email.h"

#include <utility>
#include <vector>

#include "scratchlm/data/charset.h"
#include "scratchlm/tokenizer/utf8.h"
#include "scratchlm/util/ascii.h"

namespace slm {

namespace {

constexpr int kMaxDepth = 32;  // nesting limit for multiparts and message/rfc822 parts

bool is_blank(char c) { return c == ' ' || c == '\t'; }
std::string_view trim(std::string_view s) { return ascii_trim(s); }

struct Header {
  std::string name;   // lower-case
  std::string value;  // unfolded, trimmed
};

struct Entity {
  std::vector<Header> headers;
  std::string_view body;

  const std::string* get(std::string_view name) const {
    for (const auto& h : headers)
      if (h.name == name) return &h.value;
    return nullptr;
  }
};

// One line of s starting at pos: [pos, content_end) without its line end; *next = after it.
std::string_view next_line(std::string_view s, size_t pos, size_t* next) {
  size_t nl = s.find('\n', pos);
  size_t end = nl == std::string_view::npos ? s.size() : nl;
  *next = nl == std::string_view::npos ? s.size() : nl + 1;
  std::string_view line = s.substr(pos, end - pos);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return line;
}

// A header field line: a name of printable ASCII other than ':' followed by ':'.
bool is_header_line(std::string_view line) {
  size_t k = 0;
  while (k < line.size() && line[k] > ' ' && line[k] < 127 && line[k] != ':') ++k;
  return k > 0 && k < line.size() && line[k] == ':';
}

// Split an entity into headers and body. The body starts after the first empty line, or at the
// first line that is neither a header nor a continuation (as Python's email parser does). An mbox
// "From " line at the very start is skipped.
Entity parse_entity(std::string_view raw) {
  Entity e;
  size_t pos = 0;
  if (raw.substr(0, 5) == "From ") next_line(raw, 0, &pos);
  while (pos < raw.size()) {
    size_t next = 0;
    std::string_view line = next_line(raw, pos, &next);
    if (line.empty()) {
      pos = next;
      break;
    }
    if (is_blank(line.front())) {
      if (!e.headers.empty()) {  // a folded continuation: unfold (the line end goes, one space stays)
        std::string& v = e.headers.back().value;
        std::string_view rest = trim(line);
        if (!rest.empty()) {
          if (!v.empty()) v.push_back(' ');
          v.append(rest);
        }
      }
      pos = next;
      continue;
    }
    if (!is_header_line(line)) break;  // the body starts here, without a blank line
    size_t colon = line.find(':');
    e.headers.push_back({ascii_lower(trim(line.substr(0, colon))), std::string(trim(line.substr(colon + 1)))});
    pos = next;
  }
  e.body = raw.substr(std::min(pos, raw.size()));
  return e;
}

struct ContentType {
  std::string type = "text/plain";  // lower-case "type/subtype"
  std::string boundary;             // empty: none given
  std::string charset;              // empty: none given
};

// The parameter `name` (lower-case) of a structured header value such as
// `multipart/mixed; boundary="abc"`, or "" when absent.
std::string header_param(std::string_view value, std::string_view name) {
  size_t k = value.find(';');
  while (k != std::string_view::npos && k < value.size()) {
    ++k;
    while (k < value.size() && ascii_space(value[k])) ++k;
    size_t eq = value.find('=', k);
    if (eq == std::string_view::npos) return "";
    std::string key = ascii_lower(trim(value.substr(k, eq - k)));
    size_t v = eq + 1;
    while (v < value.size() && ascii_space(value[v])) ++v;
    std::string val;
    if (v < value.size() && value[v] == '"') {
      for (++v; v < value.size() && value[v] != '"'; ++v) {
        if (value[v] == '\\' && v + 1 < value.size()) ++v;
        val.push_back(value[v]);
      }
      k = value.find(';', v);
    } else {
      size_t end = value.find(';', v);
      val = std::string(trim(value.substr(v, (end == std::string_view::npos ? value.size() : end) - v)));
      k = end;
    }
    if (key == name) return val;
  }
  return "";
}

ContentType content_type(const Entity& e) {
  ContentType ct;
  const std::string* v = e.get("content-type");
  if (!v) return ct;
  std::string_view s = *v;
  size_t end = 0;
  while (end < s.size() && s[end] != ';' && !ascii_space(s[end])) ++end;
  std::string type = ascii_lower(s.substr(0, end));
  if (type.find('/') != std::string::npos) ct.type = type;
  ct.boundary = header_param(s, "boundary");
  ct.charset = header_param(s, "charset");
  return ct;
}

bool is_attachment(const Entity& e) {
  const std::string* d = e.get("content-disposition");
  return d && ascii_lower(d->substr(0, 10)) == "attachment";
}

// The body decoded per Content-Transfer-Encoding, CRLF made LF.
std::string decoded_body(const Entity& e) {
  const std::string* cte = e.get("content-transfer-encoding");
  std::string enc = cte ? ascii_lower(trim(*cte)) : "";
  std::string out;
  if (enc == "quoted-printable")
    out = decode_quoted_printable(e.body);
  else if (enc == "base64")
    out = decode_base64(e.body);
  else
    out = std::string(e.body);
  std::string lf;
  lf.reserve(out.size());
  for (size_t k = 0; k < out.size(); ++k)
    if (!(out[k] == '\r' && k + 1 < out.size() && out[k + 1] == '\n')) lf.push_back(out[k]);
  return lf;
}

// The parts between the boundary lines "--boundary" (closing "--boundary--"; trailing blanks
// allowed). Preamble and epilogue are dropped; without a closing line the last part runs to the end.
std::vector<std::string_view> split_multipart(std::string_view body, const std::string& boundary) {
  std::vector<std::string_view> parts;
  const std::string delim = "--" + boundary;
  size_t part_start = std::string_view::npos;  // npos: still in the preamble
  size_t pos = 0;
  while (pos < body.size()) {
    size_t next = 0;
    std::string_view line = next_line(body, pos, &next);
    if (line.size() >= delim.size() && line.compare(0, delim.size(), delim) == 0) {
      std::string_view rest = line.substr(delim.size());
      bool closing = rest.substr(0, 2) == "--";
      if (closing) rest.remove_prefix(2);
      if (trim(rest).empty()) {
        if (part_start != std::string_view::npos) {
          size_t end = pos;  // the line end before a boundary line belongs to the boundary
          if (end > part_start && body[end - 1] == '\n') --end;
          if (end > part_start && body[end - 1] == '\r') --end;
          parts.push_back(body.substr(part_start, end - part_start));
        }
        if (closing) return parts;
        part_start = next;
      }
    }
    pos = next;
  }
  if (part_start != std::string_view::npos && part_start <= body.size()) parts.push_back(body.substr(part_start));
  return parts;
}

bool has_text(std::string_view s) { return !trim(s).empty(); }

// A body without Content-Type that is an HTML document all the same (common in spam).
bool looks_like_html(std::string_view body) {
  std::string head = ascii_lower(trim(body).substr(0, 14));
  return head.rfind("<html", 0) == 0 || head.rfind("<!doctype html", 0) == 0;
}

// The readable text of an entity (see email.h for the rules); "" when it has none.
std::string entity_text(const Entity& e, int depth, std::string* type_out = nullptr) {
  ContentType ct = content_type(e);
  if (type_out) *type_out = ct.type;
  if (ct.type.rfind("multipart/", 0) == 0 && depth < kMaxDepth) {
    std::vector<std::string_view> parts;
    if (!ct.boundary.empty()) parts = split_multipart(e.body, ct.boundary);
    if (parts.empty()) return to_utf8(decoded_body(e), ct.charset);  // no usable boundary: plain text
    const bool alternative = ct.type == "multipart/alternative";
    std::string joined, first_any;
    for (std::string_view raw : parts) {
      Entity part = parse_entity(raw);
      if (is_attachment(part)) continue;
      std::string type;
      std::string t = entity_text(part, depth + 1, &type);
      if (!has_text(t)) continue;
      if (alternative) {
        if (type == "text/plain") return t;
        if (first_any.empty()) first_any = std::move(t);
      } else {
        if (!joined.empty()) joined += "\n\n";
        joined += trim(t);
      }
    }
    return alternative ? first_any : joined;
  }
  if (ct.type == "message/rfc822" && depth < kMaxDepth) {
    const std::string inner = decoded_body(e);  // the entities below point into it
    return entity_text(parse_entity(inner), depth + 1);
  }
  if (ct.type == "text/html" || (!e.get("content-type") && looks_like_html(e.body))) {
    std::string html = decoded_body(e);
    return html_to_text(to_utf8(html, ct.charset.empty() ? html_declared_charset(html) : ct.charset));
  }
  if (ct.type.rfind("text/", 0) == 0 || ct.type.rfind("multipart/", 0) == 0)
    return to_utf8(decoded_body(e), ct.charset);
  return "";  // image/*, application/*, ...
}

}  // namespace

std::string email_to_text(std::string_view raw_message) {
  Entity msg = parse_entity(raw_message);
  const std::string* subject = msg.get("subject");
  std::string out = "Subject: ";
  if (subject) {
    std::string s = decode_header_words(*subject);
    for (char& c : s)
      if (c == '\r' || c == '\n') c = ' ';  // decoded bytes may hold line breaks: keep it one line
    out += trim(s);
  }
  std::string body = entity_text(msg, 0);
  std::string_view b = body;
  while (!b.empty() && ascii_space(b.back())) b.remove_suffix(1);
  while (!b.empty() && (b.front() == '\n' || b.front() == '\r')) b.remove_prefix(1);
  if (has_text(b)) {
    out += "\n\n";
    out += b;
  }
  return utf8_lossy(out);
}

}  // namespace slm
