// instruct_task.h — chapter 7.5's instruction finetuning as a task of the training engine
// (train/engine.h): collated instruction batches (the book's custom_collate_fn), the losses of
// calc_loss_loader on the cadence, and generate_and_print_sample after every epoch.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "scratchlm/data/epoch_order.h"
#include "scratchlm/data/instruct_data.h"
#include "scratchlm/generate/generator.h"
#include "scratchlm/model/gpt.h"
#include "scratchlm/tokenizer/bpe.h"
#include "scratchlm/tokenizer/utf8.h"
#include "scratchlm/train/engine.h"

namespace slm {

// The book's calc_loss_loader over a split in order: the mean loss of its first `max_batches`
// batches (all when <= 0); drop_last as the book's train loader. Batches without any target
// (possible only with --mask-prompt and a prompt longer than --max-length) are skipped; NaN when
// none is left. Data-parallel: the batches hold ranks x `batch` examples, each rank computes its
// rows of every batch, and a batch's loss is the ranks' weighted by their target tokens.
double instruction_loss(GPT& model, const std::vector<TokenizedExample>& xs, int64_t batch, int32_t pad,
                        int64_t max_len, bool mask, int64_t max_batches, bool drop_last);

// Chapter 7.5's training on collated instruction batches; the book's sample after each epoch.
class InstructTask : public TrainingTask {
 public:
  struct Options {
    int64_t batch;
    int32_t pad;
    int64_t max_len;
    bool mask_prompt;
    int64_t eval_batches, sample_tokens;
    uint64_t seed;
  };
  InstructTask(GPT& model, const Tokenizer& tok, const std::vector<TokenizedExample>& train,
               const std::vector<TokenizedExample>& val, Options o, const std::string& sample_prompt)
      : model_(model), tok_(tok), train_(train), val_(val), o_(o), batches_(train, global_batch(o.batch), o.seed) {
    for (uint32_t id : tok.encode(sample_prompt, SpecialMode::Text)) prompt_.push_back(static_cast<int32_t>(id));
  }

  int64_t batches_per_epoch() const override { return batches_.batches_per_epoch(); }
  // Data-parallel: this rank's rows of the global batch (collated, padded, as one process collates
  // it), its share of the loss being its target tokens over the batch's (the loss is their mean).
  double train_batch(uint64_t epoch, uint64_t index, float grad_scale, int64_t& seen) override;
  std::optional<double> recheck_last_batch() override {
    if (b_.inputs.empty()) return std::nullopt;
    return model_.forward(b_.inputs.data(), b_.targets.data(), b_.B, b_.T);
  }
  Evaluation evaluate() override {
    Evaluation ev;
    ev.train_loss =
        instruction_loss(model_, train_, o_.batch, o_.pad, o_.max_len, o_.mask_prompt, o_.eval_batches, true);
    ev.val_loss = instruction_loss(model_, val_, o_.batch, o_.pad, o_.max_len, o_.mask_prompt, o_.eval_batches, false);
    ev.has_val = !val_.empty();
    return ev;
  }
  std::string sample() override {
    GenerateOptions g;
    g.max_new_tokens = o_.sample_tokens;
    g.sampler.temperature = 0.0f;
    g.stop_at_eos = false;
    std::vector<uint32_t> all(prompt_.begin(), prompt_.end());
    if (o_.sample_tokens > 0)
      for (int32_t id : generate(model_, prompt_, g)) all.push_back(static_cast<uint32_t>(id));
    return utf8_lossy(tok_.decode(all));
  }
  void end_epoch(TrainingEngine& engine, uint64_t) override { engine.sample(); }  // the book's sample per epoch
  nlohmann::json checkpoint_fields() const override { return fields_; }
  void set_checkpoint_fields(nlohmann::json fields) { fields_ = std::move(fields); }
  std::string data_digest() const override;

 private:
  GPT& model_;
  const Tokenizer& tok_;
  const std::vector<TokenizedExample>& train_;
  const std::vector<TokenizedExample>& val_;
  Options o_;
  std::vector<int32_t> prompt_;
  EpochBatches<TokenizedExample> batches_;
  CollatedBatch b_;
  nlohmann::json fields_ = nlohmann::json::object();
};

}  // namespace slm
