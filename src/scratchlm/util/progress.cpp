// progress.cpp — progress bar / log lines for long work (chapters 5–7, downloads; see progress.h).
#include "scratchlm/util/progress.h"

#include <sys/ioctl.h>

#include <algorithm>
#include <chrono>
#include <cmath>

#include <fmt/format.h>

namespace slm {

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  auto s = static_cast<int64_t>(std::llround(std::min(seconds, 3.6e11)));
  int64_t h = s / 3600, m = s / 60 % 60, sec = s % 60;
  if (h > 0) return fmt::format("{}h{:02}m{:02}s", h, m, sec);
  if (m > 0) return fmt::format("{}m{:02}s", m, sec);
  return fmt::format("{}s", sec);
}

std::string format_eta(int64_t done, int64_t total, double elapsed_s, int64_t initial) {
  if (total <= 0) return "?";
  if (done >= total) return "0s";
  if (done <= initial || !(elapsed_s > 0) || !std::isfinite(elapsed_s)) return "?";
  double rate = static_cast<double>(done - initial) / elapsed_s;
  return format_duration(static_cast<double>(total - done) / rate);
}

namespace {
double steady_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Cut `s` to at most `cols` code points (UTF-8 continuation bytes do not count).
std::string fit(const std::string& s, int cols) {
  int n = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    if ((static_cast<unsigned char>(s[i]) & 0xC0) == 0x80) continue;
    if (++n > cols) return s.substr(0, i);
  }
  return s;
}
}  // namespace

Progress::Progress(int64_t total, bool tty, std::FILE* out)
    : total_(total), tty_(tty), out_(out ? out : stderr), now_(steady_seconds) {
  start_ = now_();
}

Progress::~Progress() { finish(); }

void Progress::set_clock(std::function<double()> now) {
  now_ = std::move(now);
  start_ = now_();
  last_print_ = -1e300;
}

int Progress::columns() const {
  if (width_ > 0) return width_;
  struct winsize ws {};
  if (::ioctl(fileno(out_), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
  return 100;
}

std::string Progress::line(bool with_bar) const { return compose(with_bar, fields_); }

std::string Progress::compose(bool with_bar, const std::string& fields) const {
  std::string s;
  const bool known = total_ > 0;
  if (with_bar && known) {
    const int bar = 20;
    double frac = std::clamp(static_cast<double>(done_) / static_cast<double>(total_), 0.0, 1.0);
    int filled = static_cast<int>(frac * bar);
    s += '[';
    s.append(static_cast<size_t>(filled), '#').append(static_cast<size_t>(bar - filled), '.');
    s += "] ";
  }
  if (!label_.empty()) s += label_ + " ";
  auto count = [&](int64_t n) { return count_format_ ? count_format_(n) : std::to_string(n); };
  if (known) {
    std::string t = count(total_);
    s += fmt::format("{:>{}}/{} {:5.1f}%", count(done_), t.size(), t,
                     100.0 * static_cast<double>(done_) / static_cast<double>(total_));
  } else {
    s += count(done_);
  }
  if (!fields.empty()) s += " | " + fields;
  double elapsed = now_() - start_;
  s += " | elapsed " + format_duration(elapsed);
  if (known) s += " | eta " + format_eta(done_, total_, elapsed, initial_);
  return s;
}

void Progress::draw() {
  std::string text = line(tty_);
  if (tty_) {
    // Never wrap (a wrapped line cannot be redrawn): drop the bar, then shorten the fields.
    const size_t cols = static_cast<size_t>(std::max(columns() - 1, 10));
    if (text.size() > cols) text = line(false);
    if (text.size() > cols && !fields_.empty()) {
      size_t excess = text.size() - cols + 3;
      text = compose(false,
                     excess < fields_.size() ? fit(fields_, static_cast<int>(fields_.size() - excess)) + "..." : "");
    }
    text = "\r\033[K" + fit(text, static_cast<int>(cols));
    drawn_ = true;
  } else {
    text += "\n";
  }
  std::fputs(text.c_str(), out_);
  std::fflush(out_);
  last_print_ = now_();
  pending_ = false;
  printed_ = true;
}

void Progress::update(int64_t done, const std::string& fields) {
  done_ = done;
  fields_ = fields;
  updated_ = true;
  bool last = total_ > 0 && done >= total_;
  double interval = tty_ ? 0.1 : min_interval_s_;
  const bool held = !tty_ && quiet_when_short_ && !printed_ && now_() - start_ < min_interval_s_;
  if (!held && (last || now_() - last_print_ >= interval)) {
    draw();
  } else {
    pending_ = true;
  }
}

void Progress::message(const std::string& text) {
  if (tty_ && drawn_) {
    std::fputs(("\r\033[K" + text + "\n").c_str(), out_);
    drawn_ = false;
    draw();
  } else {
    std::fputs((text + "\n").c_str(), out_);
    std::fflush(out_);
  }
}

void Progress::finish() {
  if (!updated_) return;
  if (tty_) {
    if (pending_ || !drawn_) draw();
    std::fputs("\n", out_);
  } else if (pending_ && (printed_ || !quiet_when_short_)) {
    draw();
  }
  std::fflush(out_);
  drawn_ = pending_ = updated_ = false;
}

}  // namespace slm
