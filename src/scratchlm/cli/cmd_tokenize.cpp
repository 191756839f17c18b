// cmd_tokenize.cpp — `slm tokenize` and `slm detokenize` (chapter 2: text <-> token ids).
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <span>

#include "scratchlm/cli/commands.h"
#include "scratchlm/data/shards.h"
#include "scratchlm/io/gguf_model.h"
#include "scratchlm/kernels/threads.h"
#include "scratchlm/tokenizer/bpe.h"
#include "scratchlm/tokenizer/encode_stream.h"
#include "scratchlm/tokenizer/printable.h"
#include "scratchlm/tokenizer/utf8.h"
#include "scratchlm/util/error.h"
#include "scratchlm/util/file.h"
#include "scratchlm/util/paths.h"

namespace slm::cli {

namespace {

struct TokenizeOpts {
  std::string tokenizer_dir;
  std::string special = "error";
  bool json = false, count = false, lossy = false;
  int threads = 1;
  std::string text, file, out;  // out: an llm.c token file instead of printed ids
  bool text_given = false;
};

void write_all(std::string_view s) {
  if (!s.empty() && std::fwrite(s.data(), 1, s.size(), stdout) != s.size())
    fail_internal("cannot write to standard output");
}

// Prints ids as they come: "1 2 3" or "[1, 2, 3]" (--json), or only their number (--count); no ids print
// nothing, "[]" or "0".
class IdPrinter {
 public:
  explicit IdPrinter(const TokenizeOpts& o) : o_(o) {}
  void add(std::span<const uint32_t> ids) {
    if (o_.count) {
      n_ += ids.size();
      return;
    }
    for (uint32_t id : ids) {
      buf_ += n_++ ? (o_.json ? ", " : " ") : (o_.json ? "[" : "");
      buf_ += std::to_string(id);
    }
    if (buf_.size() >= (size_t{1} << 20)) flush();
  }
  void finish() {
    if (o_.count)
      buf_ = std::to_string(n_) + "\n";
    else if (o_.json)
      buf_ += n_ ? "]\n" : "[]\n";
    else if (n_)
      buf_ += "\n";  // no ids, no output (tiktoken encodes "" as [])
    flush();
  }

 private:
  void flush() {
    write_all(buf_);
    buf_.clear();
  }
  const TokenizeOpts& o_;
  size_t n_ = 0;
  std::string buf_;
};

// --out FILE: the ids go into an llm.c token file (data/shards.h) as llm.c's data scripts write a
// document: <|endoftext|> first, then the document's tokens.
class IdSink {
 public:
  IdSink(const TokenizeOpts& o, const Tokenizer& tok) : printer_(o) {
    if (o.out.empty()) return;
    const auto eot = tok.eot_id();
    if (!eot) fail("--out needs a tokenizer with <|endoftext|> (llm.c's files start each document with it)");
    file_ = std::make_unique<TokenShardWriter>(o.out, tok.vocab_size());
    const uint32_t first = *eot;
    file_->append(std::span<const uint32_t>(&first, 1));
  }
  void add(std::span<const uint32_t> ids) { file_ ? file_->append(ids) : printer_.add(ids); }
  void finish() { file_ ? file_->commit() : printer_.finish(); }

 private:
  IdPrinter printer_;
  std::unique_ptr<TokenShardWriter> file_;
};

void run_tokenize(const TokenizeOpts& o) {
  auto load = [&] { return load_model_tokenizer("", o.tokenizer_dir); };  // a directory or a GGUF file
  const SpecialMode mode = parse_special_mode(o.special);
  if (!o.file.empty() && mode == SpecialMode::Text) {
    // A file as plain text streams: bounded memory for any size (encode_stream.h).
    if (!file_exists(o.file)) read_file(o.file);  // its error message
    Tokenizer tok = load();
    IdSink out(o, tok);
    TextStreamEncoder enc(
        tok, [&](std::span<const uint32_t> ids) { out.add(ids); }, "input text", o.lossy, configure_threads(o.threads));
    read_file_chunks(o.file, size_t{1} << 20, [&](std::string_view part) { enc.feed(part); });
    enc.finish();
    out.finish();
    return;
  }
  std::string input;
  if (!o.file.empty())
    input = read_file(o.file);
  else if (o.text_given)
    input = o.text;
  else
    input = read_stdin();
  if (o.lossy) input = utf8_lossy(input);
  Tokenizer tok = load();
  IdSink out(o, tok);
  out.add(tok.encode_parallel(input, mode, configure_threads(o.threads)));
  out.finish();
}

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// One id: digits only, at most UINT32_MAX.
uint32_t parse_id(std::string_view s, size_t at) {
  uint64_t v = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] < '0' || s[i] > '9')
      fail("token ids must be non-negative integers separated by spaces, or one JSON array; found {} at byte offset {}",
           in_quotes(s.substr(i, 1)), at + i);
    v = v * 10 + static_cast<uint64_t>(s[i] - '0');
    if (v > UINT32_MAX) fail("token id {}... at byte offset {} is too large", in_quotes(s.substr(0, i + 1)), at);
  }
  return static_cast<uint32_t>(v);
}

// One JSON array of ids ("[1, 2]", as `slm tokenize --json` prints).
std::vector<uint32_t> parse_id_array(std::string_view s) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(s);
  } catch (const nlohmann::json::parse_error& e) {
    fail("token ids: malformed JSON array at byte {}", e.byte);
  }
  if (!j.is_array()) fail("token ids: expected one JSON array of ids");
  std::vector<uint32_t> ids;
  for (const auto& v : j) {
    if (!v.is_number_unsigned() || v.get<uint64_t>() > UINT32_MAX)
      fail("token ids: {} is not a token id (a non-negative integer below 2^32)", in_quotes(v.dump()));
    ids.push_back(v.get<uint32_t>());
  }
  return ids;
}

// Ids separated by whitespace, or one JSON array; nothing else (no stray commas or brackets).
std::vector<uint32_t> parse_ids(std::string_view s) {
  size_t first = 0;
  while (first < s.size() && is_space(s[first])) ++first;
  if (first < s.size() && s[first] == '[') return parse_id_array(s);
  std::vector<uint32_t> ids;
  for (size_t i = first; i < s.size();) {
    if (is_space(s[i])) {
      ++i;
      continue;
    }
    size_t end = i;
    while (end < s.size() && !is_space(s[end])) ++end;
    ids.push_back(parse_id(s.substr(i, end - i), i));
    i = end;
  }
  return ids;
}

}  // namespace

void register_tokenize(CLI::App& app) {
  auto o = std::make_shared<TokenizeOpts>();
  auto* c = app.add_subcommand("tokenize", "Encode text to GPT-2 BPE token ids (exact to tiktoken's gpt2 encoding)");
  c->add_option("text", o->text, "Text to encode (default: read --file, else standard input)");
  c->add_option("--file", o->file, "Read the text from this file");
  c->add_option("--tokenizer", o->tokenizer_dir,
                "Tokenizer directory (encoder.json + vocab.bpe or vocab.json + merges.txt) or GGUF file; default: "
                "data/gpt2");
  c->add_option("--special", o->special,
                "Special tokens such as <|endoftext|> in the text: error (refuse), text (encode as plain text), allow "
                "(encode as their id)")
      ->check(CLI::IsMember({"error", "text", "allow"}));
  c->add_option("--out", o->out,
                "Write the ids to this llm.c token file (<|endoftext|> first, as llm.c's data scripts write a "
                "document; uint16 tokens, or uint32 for vocabularies over 65536) instead of printing them");
  c->add_flag("--json", o->json, "Print the ids as a JSON array");
  c->add_flag("--count", o->count, "Print only the number of tokens");
  c->add_flag("--lossy", o->lossy,
              "Replace invalid UTF-8 with U+FFFD (as Python's errors=\"replace\") instead of failing");
  c->add_option("--threads", o->threads, "Encode big inputs with this many threads")->check(CLI::Range(1, 256));
  c->callback([c, o] {
    o->text_given = c->count("text") > 0;
    if (o->text_given && !o->file.empty()) fail("give either TEXT or --file, not both");
    if (!o->out.empty() && (o->json || o->count)) fail("--out writes a token file: --json and --count print ids");
    run_tokenize(*o);
  });
}

void register_detokenize(CLI::App& app) {
  struct Opts {
    std::string tokenizer_dir, file;
    std::vector<std::string> ids;
  };
  auto o = std::make_shared<Opts>();
  auto* c = app.add_subcommand("detokenize", "Decode token ids back to bytes");
  c->add_option("ids", o->ids,
                "Token ids (default: read --file, else standard input): separated by whitespace, or one JSON array");
  c->add_option("--file", o->file, "Read the ids from this file");
  c->add_option("--tokenizer", o->tokenizer_dir, "Tokenizer directory or GGUF file (default: data/gpt2)");
  c->callback([o] {
    std::string src;
    if (!o->ids.empty() && !o->file.empty()) fail("give either IDS or --file, not both");
    if (!o->ids.empty()) {
      for (const auto& s : o->ids) src += s + " ";
    } else if (!o->file.empty()) {
      src = read_file(o->file);
    } else {
      src = read_stdin();
    }
    std::vector<uint32_t> ids = parse_ids(src);
    if (ids.empty()) fail("no token ids given: nothing to decode");
    Tokenizer tok = load_model_tokenizer("", o->tokenizer_dir);
    std::string bytes = tok.decode(ids);
    // A terminal gets valid UTF-8 (invalid sequences shown as U+FFFD); pipes and files get the bytes.
    if (::isatty(STDOUT_FILENO)) bytes = utf8_lossy(bytes);
    write_all(bytes);
  });
}

}  // namespace slm::cli
