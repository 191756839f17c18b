// loop_util.cpp — small pieces shared by the training loops of chapters 5–7 (see loop_util.h).
#include "scratchlm/train/loop_util.h"

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "scratchlm/io/checkpoint.h"
#include "scratchlm/util/error.h"

namespace slm {

namespace {
std::atomic<int> g_signal{0};
extern "C" void on_stop_signal(int s) { g_signal.store(s); }
}  // namespace

StopSignals::StopSignals() {
  g_signal.store(0);
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, &old_int_);
  sigaction(SIGTERM, &sa, &old_term_);
}

StopSignals::~StopSignals() {
  sigaction(SIGINT, &old_int_, nullptr);
  sigaction(SIGTERM, &old_term_, nullptr);
}

int stop_signal() { return g_signal.load(); }

double now_s() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

std::string fmt_float(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), f, v);
  return buf;
}

double parse_duration(const std::string& s, const std::string& option) {
  if (s.empty()) fail("{} is empty", option);
  double total = 0.0, num = 0.0, frac = 0.0;
  bool have = false, in_frac = false;
  for (char c : s) {
    if (c >= '0' && c <= '9') {
      if (in_frac)
        num += (c - '0') * (frac /= 10.0);
      else
        num = num * 10 + (c - '0');
      have = true;
    } else if (c == '.' && !in_frac) {
      in_frac = true;
      frac = 1.0;
    } else if ((c == 'h' || c == 'm' || c == 's') && have) {
      total += num * (c == 'h' ? 3600.0 : c == 'm' ? 60.0 : 1.0);
      num = 0;
      have = false;
      in_frac = false;
    } else {
      fail("{} '{}' is not a duration like 10m, 90s or 1h30m", option, s);
    }
  }
  if (have) total += num;
  if (!(total > 0)) fail("{} '{}' must be positive", option, s);
  return total;
}

void require_positive(const char* option, int64_t v) {
  if (v <= 0) fail("{} must be positive, got {}", option, v);
}
void require_non_negative(const char* option, int64_t v) {
  if (v < 0) fail("{} must not be negative, got {}", option, v);
}
void require_positive_finite(const char* option, double v) {
  if (!(std::isfinite(v) && v > 0)) fail("{} must be a positive finite number, got {}", option, v);
}
void require_non_negative_finite(const char* option, double v) {
  if (!(std::isfinite(v) && v >= 0)) fail("{} must be a finite number >= 0, got {}", option, v);
}
void require_fraction(const char* option, double v) {
  if (!(v >= 0 && v < 1)) fail("{} must be in [0, 1), got {}", option, v);
}

double unsigned_nan(double v) { return std::isnan(v) ? std::fabs(v) : v; }

void fail_non_finite(const std::string& what, const std::string& dir) {
  std::string kept = "no checkpoint was saved yet";
  std::error_code ec;
  if (std::filesystem::exists(std::filesystem::path(dir) / "trainer.json", ec)) {
    try {
      kept = fmt::format("the last good checkpoint (step {}) in '{}' is kept",
                         load_trainer_state(dir)["step"].get<int64_t>(), dir);
    } catch (const Error&) {
      kept = fmt::format("the last checkpoint in '{}' is kept", dir);
    }
  }
  fail("{}; stopping without saving: {} (try a lower --lr)", what, kept);
}

int64_t test_hook_step(const char* name) {
  const char* v = std::getenv(name);
  return v ? std::atoll(v) : 0;
}

}  // namespace slm
