// schedule.cpp — learning-rate schedules (book appendix D.1–D.2; see schedule.h).
#include "scratchlm/train/schedule.h"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "scratchlm/util/error.h"

namespace slm {

ScheduleKind parse_schedule(std::string_view name) {
  if (name == "cosine") return ScheduleKind::Cosine;
  if (name == "constant") return ScheduleKind::Constant;
  if (name == "linear") return ScheduleKind::Linear;
  fail("unknown learning-rate schedule '{}' (expected cosine, constant or linear)", name);
}

const char* schedule_name(ScheduleKind kind) {
  switch (kind) {
    case ScheduleKind::Cosine:
      return "cosine";
    case ScheduleKind::Constant:
      return "constant";
    case ScheduleKind::Linear:
      return "linear";
  }
  return "?";
}

float LrSchedule::at(int64_t step) const {
  step = std::max<int64_t>(step, 1);
  const int64_t warmup = std::max<int64_t>(warmup_steps, 0);
  const double peak = lr, floor = min_lr;
  if (step <= warmup) return static_cast<float>(peak * static_cast<double>(step) / static_cast<double>(warmup));
  if (kind == ScheduleKind::Constant) return lr;
  const int64_t span = total_steps - warmup;
  double p = span <= 0 ? 1.0 : static_cast<double>(step - warmup) / static_cast<double>(span);
  p = std::clamp(p, 0.0, 1.0);
  if (kind == ScheduleKind::Linear) return static_cast<float>(peak - (peak - floor) * p);
  return static_cast<float>(floor + 0.5 * (peak - floor) * (1.0 + std::cos(std::numbers::pi * p)));
}

}  // namespace slm
