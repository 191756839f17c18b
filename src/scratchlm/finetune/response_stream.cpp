// response_stream.cpp — streaming a generated answer with stop strings and the book's cleaning
// (see response_stream.h; chapter 7.7).
#include "scratchlm/finetune/response_stream.h"

#include <algorithm>
#include <utility>

#include "scratchlm/finetune/responses.h"
#include "scratchlm/tokenizer/utf8.h"
#include "scratchlm/util/error.h"

namespace slm {

namespace {

// Length of the longest suffix of s that is a proper prefix of `word`.
size_t partial_suffix(std::string_view s, std::string_view word) {
  for (size_t n = std::min(s.size(), word.empty() ? 0 : word.size() - 1); n > 0; --n)
    if (s.substr(s.size() - n) == word.substr(0, n)) return n;
  return 0;
}

}  // namespace

ResponseStream::ResponseStream(std::vector<std::string> stops, std::optional<PromptTemplate> clean) : clean_(clean) {
  for (auto& s : stops)
    if (!s.empty()) stops_.push_back(std::move(s));
}

bool ResponseStream::add(std::string_view bytes) {
  if (stopped_) return false;
  size_t longest = 0;
  for (const auto& s : stops_) longest = std::max(longest, s.size());
  const size_t from = raw_.size() > longest ? raw_.size() - longest : 0;  // a stop may begin in older bytes
  raw_.append(bytes);
  size_t cut = std::string::npos;
  for (const auto& s : stops_) cut = std::min(cut, raw_.find(s, from));
  if (cut != std::string::npos) {
    raw_.resize(cut);
    stopped_ = true;
  }
  return !stopped_;
}

std::string ResponseStream::visible(bool final) const {
  std::string_view part = raw_;
  if (!final && !stopped_) {
    part = part.substr(0, complete_utf8_prefix(part));
    size_t hold = 0;
    for (const auto& s : stops_) hold = std::max(hold, partial_suffix(part, s));
    if (clean_) hold = std::max(hold, partial_suffix(part, response_marker(*clean_)));
    part.remove_suffix(hold);
  }
  const std::string text = utf8_lossy(part);
  // clean_response strips the end too: before the end that is exactly "hold back trailing
  // whitespace until text follows it".
  return clean_ ? clean_response(text, *clean_) : text;
}

std::string ResponseStream::take(bool final) {
  const std::string v = visible(final);
  if (v.compare(0, shown_.size(), shown_) != 0) fail_internal("ResponseStream: text already shown changed");
  std::string out = v.substr(shown_.size());
  shown_ = v;
  return out;
}

std::string ResponseStream::take_ready() { return take(false); }
std::string ResponseStream::take_rest() { return take(true); }
std::string ResponseStream::final_text() const { return visible(true); }

}  // namespace slm
