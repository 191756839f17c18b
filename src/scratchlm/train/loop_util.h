// loop_util.h — small pieces shared by the training loops (chapter 5.2's train_model_simple and
// its chapter 6/7 finetuning variants): a SIGINT/SIGTERM guard that asks a loop to save and stop,
// a monotonic clock, printf-style number formatting, duration parsing for --max-time, and the
// test hooks that make a loop stop or see a NaN loss at a given step.
#pragma once

#include <csignal>
#include <cstdint>
#include <string>

namespace slm {

// While alive, SIGINT/SIGTERM only record the signal (see stop_signal()); the loop saves a
// checkpoint and stops after its current step. The previous handlers come back on destruction.
class StopSignals {
 public:
  StopSignals();
  ~StopSignals();
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;

 private:
  struct sigaction old_int_ {
  }, old_term_{};
};
// The signal received since the last StopSignals was created (0: none).
int stop_signal();

// Seconds on a monotonic clock.
double now_s();

// snprintf(f, v) into a string, e.g. fmt_float("%.3f", loss).
std::string fmt_float(const char* f, double v);

// "10m", "90s", "1h30m", "2.5h", plain seconds; BadInput naming `option` otherwise.
double parse_duration(const std::string& s, const std::string& option = "--max-time");

// Option checks shared by the trainers: BadInput naming the option and the value.
void require_positive(const char* option, int64_t v);        // > 0
void require_non_negative(const char* option, int64_t v);    // >= 0
void require_positive_finite(const char* option, double v);  // finite and > 0 (learning rates)
void require_non_negative_finite(const char* option, double v);
void require_fraction(const char* option, double v);  // in [0, 1) (dropout, AdamW betas)

// The NaN stop of every trainer: a BadInput error "<what>; stopping without saving: the last good
// checkpoint (step N) in '<dir>' is kept (try a lower --lr)", or that no checkpoint was saved yet.
[[noreturn]] void fail_non_finite(const std::string& what, const std::string& dir);
// v for a message: NaN without a sign ("nan", never "-nan").
double unsigned_nan(double v);

// Test hooks: the step in the environment variable `name` (e.g. SLM_TEST_STOP_AT_STEP,
// SLM_TEST_NAN_AT_STEP), or 0 when it is not set.
int64_t test_hook_step(const char* name);

}  // namespace slm
