// schedule.h — learning-rate schedules: linear warmup followed by cosine decay, a linear decay or a
// constant rate (book appendix D.1 "learning rate warmup" and D.2 "cosine decay").
//
// The book's appendix D ramps from a separate initial_lr up to peak_lr; ScratchLM follows nanoGPT
// instead, which needs no extra knob. With step s counted from 1 (the step about to be taken),
// W = warmup_steps and T = total_steps:
//   warmup   (s <= W):  lr * s / W                     (so step W runs at the full lr)
//   after    (s >  W):  progress p = (s - W) / (T - W), clamped to [0, 1]
//     Cosine:    min_lr + 0.5 * (lr - min_lr) * (1 + cos(pi * p))
//     Linear:    lr - (lr - min_lr) * p
//     Constant:  lr
// Edge cases: W = 0 means no warmup; T <= W means the decay phase is empty, so every step past
// the warmup runs at min_lr (Cosine, Linear) or lr (Constant); steps past T stay at min_lr; a
// step < 1 is treated as step 1.
#pragma once

#include <cstdint>
#include <string_view>

namespace slm {

enum class ScheduleKind { Cosine, Constant, Linear };

// "cosine", "constant" or "linear" (case-sensitive); anything else is a BadInput error.
ScheduleKind parse_schedule(std::string_view name);
const char* schedule_name(ScheduleKind kind);

struct LrSchedule {
  float lr = 4e-4f;     // peak learning rate
  float min_lr = 0.0f;  // floor reached at total_steps (Cosine, Linear)
  int64_t warmup_steps = 0;
  int64_t total_steps = 1;
  ScheduleKind kind = ScheduleKind::Cosine;

  // The learning rate for 1-based step `step`.
  float at(int64_t step) const;
};

}  // namespace slm
