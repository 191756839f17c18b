// loop_options.cpp — checks and trainer.json form of the trainers' shared options (see
// loop_options.h).
#include "scratchlm/train/loop_options.h"

#include "scratchlm/train/engine.h"
#include "scratchlm/train/loop_util.h"
#include "scratchlm/util/error.h"

namespace slm {

void LoopOptions::validate() const {
  require_non_negative("--epochs", epochs);
  require_non_negative("--steps", steps);
  require_non_negative("--stop-at", stop_at);
  if (!(max_time_s >= 0)) fail("--max-time must not be negative");
  require_positive("--batch", batch);
  require_positive("--grad-accum", grad_accum);
  require_positive_finite("--lr", lr);
  if (min_lr != -1.0f) require_non_negative_finite("--min-lr", min_lr);
  require_non_negative_finite("--weight-decay", weight_decay);
  require_fraction("--betas (first)", beta1);
  require_fraction("--betas (second)", beta2);
  require_non_negative_finite("--grad-clip", grad_clip);
  require_non_negative("--warmup", warmup);
  if (dropout != -1.0f) require_fraction("--dropout", dropout);
  require_non_negative("--eval-every", eval_every);
  require_non_negative("--eval-batches", eval_batches);
  require_non_negative("--save-every", save_every);
  if (zero != 0 && zero != 1) fail("--zero must be 0 or 1, not {}", zero);
}

AdamWConfig LoopOptions::adamw() const {
  AdamWConfig c;
  c.lr = lr;
  c.beta1 = beta1;
  c.beta2 = beta2;
  c.weight_decay = weight_decay;
  c.decay = decay;
  return c;
}

nlohmann::json LoopOptions::to_json() const {
  return {{"epochs", epochs},
          {"steps", steps},
          {"max_time_s", max_time_s},
          {"batch", global_batch(batch)},
          {"grad_accum", grad_accum},
          {"lr", lr},
          {"min_lr", min_lr},
          {"warmup", warmup},
          {"schedule", schedule_name(schedule)},
          {"weight_decay", weight_decay},
          {"betas", {beta1, beta2}},
          {"grad_clip", grad_clip},
          {"decay", decay == DecayMode::All ? "all" : "matrices"},
          {"dropout", dropout},
          {"eval_every", eval_every},
          {"eval_batches", eval_batches},
          {"save_every", save_every},
          {"seed", seed},
          {"precision", precision_name(precision)}};
}

void LoopOptions::read_json(const nlohmann::json& j, const std::string& source) {
  auto take = [&](const char* key, auto& field) {
    if (j.contains(key)) j.at(key).get_to(field);
  };
  take("epochs", epochs);
  take("max_steps", steps);  // the finetuners' name before the options were shared
  take("steps", steps);
  take("max_time_s", max_time_s);
  if (j.contains("batch")) batch = per_rank_batch(j.at("batch").get<int64_t>(), source);
  take("grad_accum", grad_accum);
  take("lr", lr);
  take("min_lr", min_lr);
  take("warmup", warmup);
  if (j.contains("schedule")) schedule = parse_schedule(j.at("schedule").get<std::string>());
  take("weight_decay", weight_decay);
  if (j.contains("betas")) {
    beta1 = j.at("betas").at(0).get<float>();
    beta2 = j.at("betas").at(1).get<float>();
  }
  take("grad_clip", grad_clip);
  if (j.contains("decay")) {
    const std::string d = j.at("decay").get<std::string>();
    if (d != "all" && d != "matrices") fail("{}: \"decay\" must be all or matrices, not '{}'", source, d);
    decay = d == "all" ? DecayMode::All : DecayMode::Matrices;
  }
  take("dropout", dropout);
  take("eval_every", eval_every);
  take("eval_batches", eval_batches);
  take("save_every", save_every);
  take("seed", seed);
  if (j.contains("precision")) precision = parse_precision(j.at("precision").get<std::string>());
}

}  // namespace slm
