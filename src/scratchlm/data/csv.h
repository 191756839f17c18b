// csv.h — delimited text (CSV, TSV, the SMS Spam Collection) read and written the way the book's
// pandas code does (chapter 6.2: pd.read_csv / DataFrame.to_csv).
//
// Reading follows pandas' C tokenizer (pandas/_libs/src/parser/tokenizer.c, default options:
// quotechar '"', doublequote, no escape char, no comment char, skip_blank_lines), a superset of
// RFC 4180:
//   - a field that STARTS with '"' is quoted: the quotes are stripped, "" inside stands for one ",
//     and delimiters, CR and LF inside are data, so an unbalanced quote swallows the following
//     lines into the field until the next quote;
//   - after the closing quote, anything but a delimiter or a line end continues the field as
//     unquoted text (`"ab"cd` -> `abcd`); a '"' in the middle of an unquoted field is literal;
//   - lines end with LF, CRLF or a lone CR; empty lines and lines of only spaces are skipped;
//   - a UTF-8 byte order mark at the start is skipped;
//   - end of input inside a quoted field is an error (pandas: "EOF inside string").
// Bytes are passed through unchanged (no decoding).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace slm {

struct CsvRecord {
  size_t line = 0;                  // 1-based physical line where the record starts
  std::vector<std::string> fields;  // at least one field
};

// Split `data` into records. `what` names the input in errors (usually the file path).
std::vector<CsvRecord> parse_delimited(std::string_view data, char delimiter, const std::string& what);

// One field as RFC 4180 writes it: quoted (with "" for ") when it contains the delimiter, '"', CR or
// LF, or starts or ends with a space or tab; otherwise as is.
std::string csv_quote_field(std::string_view field, char delimiter = ',');

// A record: the quoted fields joined by the delimiter, plus "\n".
std::string format_csv_row(const std::vector<std::string>& fields, char delimiter = ',');

}  // namespace slm
