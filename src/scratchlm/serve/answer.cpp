// answer.cpp — a completion's text as the batch generator produces it (see answer.h).
#include "scratchlm/serve/answer.h"

#include "scratchlm/tokenizer/bpe.h"
#include "scratchlm/tokenizer/utf8.h"
#include "scratchlm/util/error.h"

namespace slm::serve {

Answer::Answer(const CompletionRequest& req, size_t index, PromptTemplate tmpl, const Tokenizer& tok)
    : state_(std::make_shared<State>()), job_(std::make_shared<GenerationJob>()) {
  auto stream = std::make_shared<ResponseStream>(req.stops, req.chat ? std::optional(tmpl) : std::nullopt);
  job_->prompt = req.prompts.at(index);
  job_->options = req.gen;
  job_->logprobs = req.logprobs;
  job_->score_prompt = req.echo && req.logprobs >= 0;
  if (req.echo) {
    const std::vector<uint32_t> ids(job_->prompt.begin(), job_->prompt.end());
    state_->result.prompt_text = utf8_lossy(tok.decode(ids));
  }
  job_->on_logprob = [st = state_](const TokenLogprob& t) {
    std::lock_guard lock(st->mu);
    st->result.logprobs.push_back(t);
    st->new_logprobs.push_back(t);
  };
  job_->on_prompt_logprobs = [st = state_](std::vector<TokenLogprob> lps) {
    std::lock_guard lock(st->mu);
    st->result.prompt_logprobs = std::move(lps);
  };
  const int64_t max_new = req.gen.max_new_tokens;
  // Both callbacks run on the generator's thread; the state is shared with the answering thread.
  job_->on_token = [st = state_, stream, &tok](int32_t id) {
    const bool more = stream->add(tok.token_bytes(static_cast<uint32_t>(id)));
    std::string piece = stream->take_ready();
    std::lock_guard lock(st->mu);
    if (st->result.completion_tokens++ == 0) st->first_token = std::chrono::steady_clock::now();
    if (!piece.empty()) {
      st->pieces.push_back(std::move(piece));
      st->cv.notify_all();
    }
    return more;
  };
  job_->on_done = [st = state_, stream, max_new](const std::string& error) {
    std::string rest = stream->take_rest();
    std::lock_guard lock(st->mu);
    if (!rest.empty()) st->pieces.push_back(std::move(rest));
    st->result.text = stream->final_text();
    st->result.finish_reason = !stream->stopped() && st->result.completion_tokens >= max_new ? "length" : "stop";
    st->error = error;
    st->done = true;
    st->cv.notify_all();
  };
}

bool Answer::next_piece(std::string& piece) {
  std::unique_lock lock(state_->mu);
  state_->cv.wait(lock, [&] { return !state_->pieces.empty() || state_->done; });
  if (state_->pieces.empty()) {
    if (!state_->error.empty()) fail_internal("{}", state_->error);
    return false;
  }
  piece = std::move(state_->pieces.front());
  state_->pieces.pop_front();
  return true;
}

std::vector<TokenLogprob> Answer::take_logprobs() {
  std::lock_guard lock(state_->mu);
  std::vector<TokenLogprob> out;
  out.swap(state_->new_logprobs);
  return out;
}

bool Answer::wait_for(int ms) {
  std::unique_lock lock(state_->mu);
  return state_->cv.wait_for(lock, std::chrono::milliseconds(ms), [&] { return state_->done; });
}

std::chrono::steady_clock::time_point Answer::first_token_at() const {
  std::lock_guard lock(state_->mu);
  return state_->first_token;
}

CompletionResult Answer::wait() {
  std::unique_lock lock(state_->mu);
  state_->cv.wait(lock, [&] { return state_->done; });
  if (!state_->error.empty()) fail_internal("{}", state_->error);
  return state_->result;
}

}  // namespace slm::serve
