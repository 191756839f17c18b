// answer.h — one completion request's answer while the batch generator (generate/
// batch_generator.h) produces it: the generator's thread turns tokens into text as ResponseStream
// makes it final (stop strings, chapter 7's response cleaning), the thread that answers the client
// takes the pieces as they come (a stream) or waits for the whole text. No HTTP in here.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>

#include "scratchlm/finetune/response_stream.h"
#include "scratchlm/generate/batch_generator.h"
#include "scratchlm/serve/api.h"

namespace slm::serve {

class Answer {
 public:
  // The answer to prompt `index` of the request.
  Answer(const CompletionRequest& req, size_t index, PromptTemplate tmpl, const Tokenizer& tok);

  // The job to submit (its callbacks feed this answer; it keeps the answer alive).
  std::shared_ptr<GenerationJob> job() const { return job_; }
  // The next text piece, waiting for it; false once the answer is complete (then result()).
  bool next_piece(std::string& piece);
  // The log-probabilities of the tokens generated since the last call (streams: sent with a piece).
  std::vector<TokenLogprob> take_logprobs();
  // Waits up to `ms` for the end; whether it came.
  bool wait_for(int ms);
  // Waits for the end; the whole answer. An error of the generator becomes an Internal error.
  CompletionResult wait();
  // When the first token was generated (the epoch when none was yet).
  std::chrono::steady_clock::time_point first_token_at() const;
  // The client went away: the generator frees the slot at its next step.
  void cancel() { job_->cancelled = true; }

 private:
  struct State {
    std::mutex mu;
    std::condition_variable cv;
    std::deque<std::string> pieces;
    std::vector<TokenLogprob> new_logprobs;
    bool done = false;
    std::string error;
    CompletionResult result;
    std::chrono::steady_clock::time_point first_token;
  };
  std::shared_ptr<State> state_;
  std::shared_ptr<GenerationJob> job_;
};

}  // namespace slm::serve
