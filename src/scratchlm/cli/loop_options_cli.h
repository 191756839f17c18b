// loop_options_cli.h — the command-line options every trainer shares (train/loop_options.h:
// chapter 5.2's train_model_simple knobs), declared once for pretrain, finetune-classifier and
// finetune-instruct, and the one rule for what a resumed run may change.
#pragma once

#include <CLI/CLI.hpp>

#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "scratchlm/train/loop_options.h"

namespace slm::cli {

class LoopOptionsCli {
 public:
  // Adds --epochs, --steps (alias --max-steps), --max-time, --stop-at, --batch, --grad-accum, --lr,
  // --min-lr, --warmup, --schedule, --weight-decay, --decay, --betas, --grad-clip, --dropout,
  // --eval-every, --eval-batches, --save-every, --seed, --threads, --zero, --precision, --save-dtype,
  // --quiet and --force to
  // `c`, bound to `o`, whose values (the trainer's defaults) --help shows.
  LoopOptionsCli(CLI::App* c, LoopOptions& o);

  // The parsed options: `o` with --max-time, --schedule, --decay and --betas applied (BadInput on
  // a bad value).
  LoopOptions parsed() const;

  // Resuming: `saved` (the checkpoint's settings) with what a resumed run may change taken from
  // the command line — the run length (any of --epochs / --steps / --max-time given replaces it,
  // those not given are unset), --stop-at, the evaluation / checkpoint cadence, --threads, --zero,
  // --precision (else the checkpoint's), --save-dtype, --quiet. The options that change what is trained (the shared
  // ones above and the trainer's `fixed` ones) are refused: BadInput "--lr cannot be changed when resuming".
  void resume(LoopOptions& saved, std::initializer_list<const char*> fixed) const;

 private:
  CLI::App* c_;
  LoopOptions& o_;
  struct Text {
    std::string max_time, schedule, decay;
    std::vector<float> betas;
  };
  std::shared_ptr<Text> text_ = std::make_shared<Text>();
};

}  // namespace slm::cli
