// labeled_data.h — labeled text for classification finetuning (chapter 6.2–6.3): loading the SMS
// Spam Collection, the SpamAssassin corpus or any CSV/TSV/JSON(L) file into (text, label) rows,
// the book's balancing by undersampling, its 70/10/20 split, and its CSV files.
//
// load_labeled(spec, opts) — what `spec` is, checked in this order:
//   1. an existing directory: the SpamAssassin layout. Subdirectories easy-ham-1, easy-ham-2,
//      hard-ham-1 are "ham", spam-1, spam-2 "spam"; any other subdirectory whose name contains
//      "spam" is spam, else one containing "ham" is ham; others (and hidden ones) are ignored. The
//      groups are read in name order, each group's *.txt files in name order, each message through
//      email_to_text (email.h). No known group: an error.
//   2. an existing file, by opts.format, or when "auto": named SMSSpamCollection -> sms; by
//      extension .csv / .tsv / .jsonl / .json; anything else is an error asking for a format.
//        sms   the UCI file: label<TAB>text, no header, read exactly as the book's
//              pd.read_csv(sep="\t", header=None) reads it (csv.h: a text starting with '"' is
//              quoted, so the real file gives 5,572 rows, not 5,574 lines).
//        csv / tsv  a header row, then rows (csv.h rules: RFC 4180 quoting, LF/CRLF); the columns
//              opts.text_column / opts.label_column, matched exactly, else case-insensitively.
//        jsonl one JSON object per non-blank line; json: an array of objects. Same column rules;
//              a label may be a string or an integer (-> its decimal string).
//   3. a built-in name, under opts.data_dir (empty: default_data_dir()):
//        sms-spam       <data>/sms_spam/SMSSpamCollection (`slm download-data sms-spam`)
//        spam-assassin  <data>/spam-assassin (scripts/setup)
// Bytes are kept, but ill-formed UTF-8 is replaced with U+FFFD (utf8_lossy), so every text can
// be tokenized. Labels are trimmed of surrounding whitespace. An empty (all-whitespace) text or
// label, a missing column, a malformed row and a missing file are BadInput errors naming the file
// and the row.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace slm {

struct LabeledExample {
  std::string text;
  std::string label;
};

struct LoadOptions {
  std::string format = "auto";                               // auto | sms | csv | tsv | jsonl | json | spam-assassin
  std::string text_column = "Text", label_column = "Label";  // label_column "": texts only
  bool lossy = true;     // false: ill-formed UTF-8 in a table file (csv/tsv/jsonl/json) is an error
  std::string data_dir;  // "" = default_data_dir()
};

std::vector<LabeledExample> load_labeled(const std::string& spec, const LoadOptions& opts = {});

// Only the texts of a table file (.csv / .tsv / .jsonl / .json by extension, read as above): one
// per row, from `column`; no label column is needed. Used to pretrain on a column of a table
// (`slm pretrain --text-column`). BadInput for other files, a missing column or an empty text, and
// without `lossy` for ill-formed UTF-8 (naming the byte offset; with it, U+FFFD replaces it).
bool is_table_file(const std::string& path);
std::vector<std::string> load_text_column(const std::string& path, const std::string& column, bool lossy);

// The names load_labeled knows without a path, for help text: "sms-spam", "spam-assassin".
const std::vector<std::string>& builtin_labeled_names();

// The book's balancing: every class undersampled to the size of the smallest class, then all rows
// shuffled. Deterministic for a seed: one slm::Rng(seed); classes in label_set order; per class, a
// Fisher–Yates shuffle of its row indices keeps the first n; the kept rows, in their original
// order, are then Fisher–Yates shuffled with the same Rng. With `left_out`, the rows it does not
// keep are stored there in their original order (never in any split: e.g. text to pretrain on).
std::vector<LabeledExample> balance_undersample(const std::vector<LabeledExample>& rows, uint64_t seed,
                                                std::vector<LabeledExample>* left_out = nullptr);

struct LabeledSplit {
  std::vector<LabeledExample> train, val, test;
  std::vector<LabeledExample> unused;  // rows that balancing left out (finetune-classifier's unused.csv)
};

// The book's random_split: shuffle (Fisher–Yates with slm::Rng(seed)) when `shuffle`; then
// train = the first int(n * train_frac) rows, val = the next int(n * val_frac), test = the rest
// (1,494 rows -> 1,045 / 149 / 300). BadInput when a fraction is negative or not finite, or
// train_frac + val_frac > 1.
LabeledSplit split_labeled(const std::vector<LabeledExample>& rows, double train_frac = 0.7, double val_frac = 0.1,
                           uint64_t seed = 123, bool shuffle = true);

// The book's train.csv / validation.csv / test.csv: header "Label,Text", one row per example,
// RFC 4180 quoting (csv_quote_field), LF line ends; written atomically.
void write_labeled_csv(const std::string& path, const std::vector<LabeledExample>& rows);

// The distinct labels in std::string order (ham < spam, "0" < "1").
std::vector<std::string> label_set(const std::vector<LabeledExample>& rows);

}  // namespace slm
