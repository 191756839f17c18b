// corpus.h — pretraining corpora: resolving corpus specs into an ordered list of documents,
// reading them as UTF-8 and encoding them into one token stream (chapter 2.6's raw text -> ids,
// generalized from the book's single the-verdict.txt to many files).
//
// A corpus spec is, checked in this order:
//   1. an existing path: a regular file is one document; a directory is every regular file under
//      it, recursively, sorted by path (byte order), skipping hidden entries (names starting
//      with '.') and everything below hidden directories;
//   2. a pattern with glob characters (* ? [): glob(3) matches in glob's sorted order, a matched
//      directory expanding as in 1;
//   3. a built-in name, resolved under the data directory (slm::default_data_dir()):
//        moby-dick        the 139 part files of <data>/moby-dick in file_list.json's order
//                         (contents, etymology, extracts, chapter_1..135, epilogue; data.txt,
//                         which repeats the whole book, is not used)
//        sotu             <data>/sotu/*.txt, sorted
//        the-verdict      <data>/the-verdict.txt      (fetched by `slm download-data`)
//        tinyshakespeare  <data>/tinyshakespeare.txt  (fetched by `slm download-data`)
// Anything else is a BadInput error. Documents of several specs are concatenated in spec order.
//
// Encoding (a decision, see encode_documents): each document's text is encoded with
// SpecialMode::Text — a literal "<|endoftext|>" inside a file stays ordinary text, so any corpus
// is encodable and no document can forge a boundary — and the tokenizer's <|endoftext|> id is
// inserted BETWEEN consecutive documents (not after the last). A single file is one document,
// so the-verdict encodes exactly like the book's tokenizer.encode(raw_text) (5,145 tokens).
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

namespace slm {

class Tokenizer;

// The built-in corpus names, in the order help text should list them.
const std::vector<std::string>& builtin_corpus_names();

// Resolve one spec / several specs into document paths. `data_dir` empty: default_data_dir().
std::vector<std::string> resolve_corpus_spec(const std::string& spec, const std::string& data_dir = "");
std::vector<std::string> resolve_corpus(const std::vector<std::string>& specs, const std::string& data_dir = "");

// A document's text: its bytes, which must be valid UTF-8 (else a BadInput error naming the file
// and the byte offset) unless `lossy`, which replaces ill-formed sequences with U+FFFD.
std::string read_document(const std::string& path, bool lossy);

// Encode documents as described above, with `threads` threads (<= 0: all). A BadInput error
// when there are two or more documents and the tokenizer has no <|endoftext|> token.
// With `text_column` set, a table file (.csv / .tsv / .jsonl / .json, labeled_data.h's readers)
// is not one document but one per row: the row's text in that column (`slm pretrain
// --text-column Text --data train.csv` pretrains on the texts of a classifier's split); other
// files stay one document each. Without `lossy` a table must be valid UTF-8 as a whole.
std::vector<uint32_t> encode_documents(const std::vector<std::string>& paths, const Tokenizer& tok, bool lossy,
                                       int threads, const std::string& text_column = "");
// The same ids, sent to `sink` in order as they are made, in bounded memory: small documents are
// read whole and encoded a batch of about `chunk` bytes at a time (one thread per document), a
// file larger than `chunk` is read and encoded in chunks (encode_stream.h); only a table file with
// `text_column` is held whole.
void encode_documents_to(const std::vector<std::string>& paths, const Tokenizer& tok, bool lossy, int threads,
                         const std::string& text_column, const std::function<void(std::span<const uint32_t>)>& sink,
                         size_t chunk = size_t{16} << 20);

}  // namespace slm
