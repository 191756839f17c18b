// csv.cpp — pandas-compatible delimited text reader and RFC 4180 writer (see csv.h; chapter 6.2).
#include "scratchlm/data/csv.h"

#include "scratchlm/util/error.h"

namespace slm {

namespace {

// The states of pandas' tokenizer that default options can reach (same names, CamelCase).
enum class State {
  StartRecord,
  WhitespaceLine,
  StartField,
  InField,
  InQuotedField,
  QuoteInQuotedField,
  EatCrnl,
  EatCrnlNop
};

// 1-based line numbers of positions, counted incrementally (positions asked for never go back past
// a line end). LF, CRLF and a lone CR each end one line.
class LineCounter {
 public:
  explicit LineCounter(std::string_view s) : s_(s) {}
  size_t at(size_t pos) {
    for (; pos_ < pos && pos_ < s_.size(); ++pos_) {
      char c = s_[pos_];
      if (c == '\n' || (c == '\r' && (pos_ + 1 >= s_.size() || s_[pos_ + 1] != '\n'))) ++line_;
    }
    return line_;
  }

 private:
  std::string_view s_;
  size_t pos_ = 0, line_ = 1;
};

}  // namespace

std::vector<CsvRecord> parse_delimited(std::string_view data, char delimiter, const std::string& what) {
  std::vector<CsvRecord> out;
  LineCounter lines(data);
  CsvRecord cur;
  std::string field;
  State st = State::StartRecord;
  size_t i = 0, ws_start = 0, quote_pos = 0;
  const size_t n = data.size();
  if (data.substr(0, 3) == "\xEF\xBB\xBF") i = 3;
  const char specials[] = {delimiter, '\n', '\r', '\0'};
  const std::string_view field_ends(specials, 3);

  auto end_field = [&] {
    cur.fields.push_back(std::move(field));
    field.clear();
  };
  auto end_line = [&] {
    out.push_back(std::move(cur));
    cur = CsvRecord{};
  };
  auto blank = [&](char c) { return (c == ' ' || c == '\t') && c != delimiter; };

  while (i < n) {
    const char c = data[i];
    switch (st) {
      case State::StartRecord:
        if (c == '\n') {
          ++i;  // empty line: skipped
        } else if (c == '\r') {
          ++i;
          st = State::EatCrnlNop;
        } else if (blank(c)) {
          ws_start = i++;
          st = State::WhitespaceLine;
        } else {
          cur.line = lines.at(i);
          st = State::StartField;  // this character again, as the start of a field
        }
        break;

      case State::WhitespaceLine:  // only blanks so far: skipped if the line ends now
        if (c == '\n') {
          ++i;
          st = State::StartRecord;
        } else if (c == '\r') {
          ++i;
          st = State::EatCrnlNop;
        } else if (blank(c)) {
          ++i;
        } else {
          i = ws_start;  // not blank after all: read the line from its start
          cur.line = lines.at(i);
          st = State::StartField;
        }
        break;

      case State::StartField:
        ++i;
        if (c == '\n') {
          end_field();
          end_line();
          st = State::StartRecord;
        } else if (c == '\r') {
          end_field();
          st = State::EatCrnl;
        } else if (c == '"') {
          quote_pos = i - 1;
          st = State::InQuotedField;
        } else if (c == delimiter) {
          end_field();  // an empty field
        } else {
          field.push_back(c);
          st = State::InField;
        }
        break;

      case State::InField: {
        size_t end = data.find_first_of(field_ends, i);
        if (end == std::string_view::npos) end = n;
        field.append(data.substr(i, end - i));  // a '"' in here is literal
        i = end;
        if (i >= n) break;
        const char e = data[i++];
        end_field();
        if (e == '\n') {
          end_line();
          st = State::StartRecord;
        } else if (e == '\r') {
          st = State::EatCrnl;
        } else {
          st = State::StartField;
        }
        break;
      }

      case State::InQuotedField: {
        size_t end = data.find('"', i);
        if (end == std::string_view::npos) end = n;
        field.append(data.substr(i, end - i));  // delimiters and line ends are data here
        i = end;
        if (i < n) {
          ++i;
          st = State::QuoteInQuotedField;
        }
        break;
      }

      case State::QuoteInQuotedField:
        ++i;
        if (c == '"') {
          field.push_back('"');  // "" stands for "
          st = State::InQuotedField;
        } else if (c == delimiter) {
          end_field();
          st = State::StartField;
        } else if (c == '\n') {
          end_field();
          end_line();
          st = State::StartRecord;
        } else if (c == '\r') {
          end_field();
          st = State::EatCrnl;
        } else {
          field.push_back(c);  // text after the closing quote continues the field unquoted
          st = State::InField;
        }
        break;

      case State::EatCrnl:  // a CR ended a field
        if (c == '\n') {
          ++i;
          end_line();
          st = State::StartRecord;
        } else if (c == delimiter) {  // pandas: a CR line end followed by a delimiter
          ++i;
          end_line();
          cur.line = lines.at(i - 1);
          end_field();
          st = State::StartField;
        } else {
          end_line();  // a lone CR ended the line; this character starts the next record
          st = State::StartRecord;
        }
        break;

      case State::EatCrnlNop:  // a CR ended a skipped line
        st = State::StartRecord;
        if (c == '\n' || c == delimiter) ++i;
        break;
    }
  }

  switch (st) {
    case State::InQuotedField:
      fail(
          "'{}': unbalanced quote: the quoted field starting on line {} is never closed (end of file inside "
          "quotes)",
          what, lines.at(quote_pos));
    case State::StartField:
    case State::InField:
    case State::QuoteInQuotedField:
      end_field();
      end_line();
      break;
    case State::EatCrnl:
      end_line();
      break;
    default:
      break;
  }
  return out;
}

std::string csv_quote_field(std::string_view field, char delimiter) {
  bool quote = field.find_first_of(std::string{delimiter, '"', '\r', '\n'}) != std::string_view::npos;
  if (!field.empty()) {
    auto edge = [](char c) { return c == ' ' || c == '\t'; };
    quote = quote || edge(field.front()) || edge(field.back());
  }
  if (!quote) return std::string(field);
  std::string out;
  out.reserve(field.size() + 2);
  out.push_back('"');
  for (char c : field) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

std::string format_csv_row(const std::vector<std::string>& fields, char delimiter) {
  std::string out;
  for (size_t k = 0; k < fields.size(); ++k) {
    if (k) out.push_back(delimiter);
    out += csv_quote_field(fields[k], delimiter);
  }
  out.push_back('\n');
  return out;
}

}  // namespace slm
