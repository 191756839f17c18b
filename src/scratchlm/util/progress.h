// progress.h — the one progress reporter for long work (training loops of chapter 5, fine-tuning of
// chapters 6–7, tokenizing a corpus, downloads): a live bar on a terminal, plain log lines otherwise.
//
// On a TTY, update() redraws one line in place ("\r\033[K" + text, cut to the terminal width):
//   [####................] 1234/5000  24.7% | loss 3.21 | lr 4.0e-04 | 812 tok/s | elapsed 1m02s | eta 3m10s
// at most every 0.1 s and always for the last update (done >= total); a line too wide for the terminal loses the bar,
// then the end of the fields. Off a TTY
// it prints the same text without the bar as whole lines, at most every min_interval_s seconds
// (0 = every update) and always for the last; finish() prints a suppressed final state.
// The ETA comes from the average rate since the start: (done - initial) / elapsed. With total <= 0
// (unknown) there is no bar, percentage or ETA.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>

namespace slm {

// "12s", "4m05s", "1h02m03s"; "?" for a negative or non-finite duration.
std::string format_duration(double seconds);
// Time left at the average rate so far: format_duration((total - done) / rate), where
// rate = (done - initial) / elapsed_s. "?" when it cannot be estimated yet (no progress, no
// time elapsed, unknown total); "0s" when done >= total.
std::string format_eta(int64_t done, int64_t total, double elapsed_s, int64_t initial = 0);

class Progress {
 public:
  // Reports to `out`; tty selects the live line (default: whether stderr is a terminal).
  explicit Progress(int64_t total, bool tty = ::isatty(STDERR_FILENO) != 0, std::FILE* out = stderr);
  ~Progress();  // finish()
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  // Sets the progress and redraws / logs. `fields` is shown after the counts, e.g.
  // "loss 3.21 | lr 4.0e-04 | 812 tok/s" (may be empty).
  void update(int64_t done, const std::string& fields = "");
  // Prints a whole line without breaking the live bar (clears it, prints, redraws).
  void message(const std::string& line);
  // Ends the live line with a newline (TTY) or prints the final state if it was throttled away.
  // Idempotent; update() after finish() starts a new line.
  void finish();

  // Off-TTY: the least time between printed lines (default 0: every update).
  void set_min_interval(double seconds) { min_interval_s_ = seconds; }
  // A word before the counts, e.g. "step" -> "step 1234/5000".
  void set_label(std::string label) { label_ = std::move(label); }
  // Where the work starts (a resumed run): only progress beyond it counts toward the rate.
  void set_initial(int64_t done) { initial_ = done; }
  // The total, when it becomes known later (a download learns it from the response's headers).
  void set_total(int64_t total) { total_ = total; }
  // How counts are written (default: the number), e.g. format_bytes for a download.
  void set_count_format(std::function<std::string(int64_t)> format) { count_format_ = std::move(format); }
  // Off-TTY: print nothing before min_interval_s has passed since the start, so short work leaves
  // no log lines (its caller reports it), and no final line unless a line was printed.
  void set_quiet_when_short(bool quiet) { quiet_when_short_ = quiet; }
  // Terminal columns for the live line (default: asked from the terminal, else 100).
  void set_width(int columns) { width_ = columns; }
  // For tests: a clock in seconds (default: steady_clock). Resets the start time to now().
  void set_clock(std::function<double()> now);

  // The status text for the current state, without the bar (the off-TTY line) or with it.
  std::string line(bool with_bar) const;

 private:
  void draw();
  std::string compose(bool with_bar, const std::string& fields) const;
  int columns() const;

  int64_t total_, done_ = 0, initial_ = 0;
  bool tty_;
  std::FILE* out_;
  std::function<double()> now_;
  double start_ = 0, last_print_ = -1e300;
  double min_interval_s_ = 0;
  std::string label_, fields_;
  int width_ = 0;
  bool drawn_ = false;    // a live line is on screen (TTY)
  bool pending_ = false;  // the latest update was not printed (off-TTY)
  bool updated_ = false;  // update() was called since the last finish()
  bool printed_ = false;  // a line was printed since the start
  bool quiet_when_short_ = false;
  std::function<std::string(int64_t)> count_format_;
};

}  // namespace slm
