// metrics.h — the training metrics log (metrics.jsonl) and SVG plots of it: chapter 5.2's
// plot_losses (training and validation loss against tokens seen, a second axis for steps), and
// the general series plot that chapter 6's accuracy-per-epoch plot also uses.
//
// metrics.jsonl holds one compact JSON object per line, each with a "type":
//   {"type":"step","step","epoch","tokens_seen","loss","lr","grad_norm","tokens_per_second","elapsed_s"}
//   {"type":"eval","step","tokens_seen","train_loss","val_loss","train_perplexity","val_perplexity"}
//   {"type":"sample","step","text"}
// A crash can leave a torn last line (no newline); readers skip it and MetricsLog cuts it off
// before appending. NaN/inf numbers are written as null (JSON has neither).
#pragma once

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

namespace slm {

class MetricsLog {
 public:
  // Opens (creating if needed) `path` for appending. Records already in the file are loaded
  // (see records()); a torn last line is cut off first so the next record starts on a fresh line.
  // An empty path keeps the records in memory only (a data-parallel rank other than rank 0).
  explicit MetricsLog(std::string path);
  ~MetricsLog();
  MetricsLog(const MetricsLog&) = delete;
  MetricsLog& operator=(const MetricsLog&) = delete;
  MetricsLog(MetricsLog&&) noexcept;
  MetricsLog& operator=(MetricsLog&&) noexcept;

  // Appends `record` as one compact JSON line and flushes it. The record must be an object with
  // a string "type" (BadInput otherwise). Invalid UTF-8 in strings is replaced by U+FFFD.
  void write(const nlohmann::json& record);
  // Closes the file, reloads the records from `path` and opens it again for appending; for use
  // after the file was replaced on disk (e.g. rewritten atomically on resume).
  void reopen();
  // Atomically rewrites the file without the records whose "step" is greater than `step` (those a
  // resumed run will redo), then reopens it. Records without a numeric "step" are kept.
  void truncate_after_step(int64_t step);

  const std::vector<nlohmann::json>& records() const { return records_; }
  const std::string& path() const { return path_; }

  // Parses a metrics.jsonl. Blank lines are skipped, as is a torn last line without a newline; a
  // malformed line (or one that is not a JSON object) anywhere else is a BadInput error naming the
  // path and the 1-based line number. A missing file is a BadInput error.
  static std::vector<nlohmann::json> read(const std::string& path);

 private:
  void open();
  std::string path_;
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> file_;
  std::vector<nlohmann::json> records_;
};

// ---------------------------------------------------------------------------------------- plots

struct PlotSeries {
  std::string name;          // legend label; series with no finite points get no legend entry
  std::vector<double> x, y;  // same length; points with a NaN/inf coordinate are skipped
  std::string color = "#1f77b4";
  bool dashed = false;
  bool markers = false;  // a dot on every point (for sparse series such as evals)
  double line_width = 1.5;
};

enum class LegendPos { Auto, TopRight, TopLeft, BottomRight, BottomLeft };

struct PlotOptions {
  std::string title, x_label, y_label;
  int width = 900, height = 500;
  // Fixed axis limits; NaN = from the data (y rounded out to the enclosing ticks).
  double x_min = NAN, x_max = NAN, y_min = NAN, y_max = NAN;
  // Optional secondary axis along the top: pairs (x, value) with x increasing, mapped piecewise
  // linearly (e.g. tokens seen -> step). Needs two distinct points, otherwise it is left out.
  std::vector<std::pair<double, double>> top_axis;
  std::string top_label;
  bool top_integer = true;             // top-axis ticks at whole numbers only
  LegendPos legend = LegendPos::Auto;  // Auto: the corner that covers the fewest points
};

// A self-contained SVG document (no scripts, no external fonts or images) of line series, with
// 1-2-5 ticks, grid, axis labels, a legend and a title. Copes with no points, a single point,
// NaN/inf values and huge ranges (tick labels use k/M/G/T suffixes or scientific notation).
std::string plot_series_svg(const std::vector<PlotSeries>& series, const PlotOptions& options);

// What plot_metric_svg draws from metrics records: the train_key and val_key values of the
// records of eval_types (dots and lines) and, with a step_key, the step records' value (a thin
// line), against tokens or examples seen (when every record has them, else the step) with steps on
// a second axis at the top. Later records for the same step win (a resumed run redoes steps).
struct MetricPlot {
  std::string title, y_label;
  std::string train_key, train_label, val_key, val_label;
  std::string step_key, step_label;                // "": no per-step line
  std::vector<std::string> eval_types = {"eval"};  // record types holding train_key / val_key
  LegendPos legend = LegendPos::Auto;
};
std::string plot_metric_svg(const std::vector<nlohmann::json>& records, const MetricPlot& what);

// Chapter 5's plot_losses over metrics records: per-step training loss (thin line), and the eval
// records' train_loss and val_loss (dots and lines), against tokens seen, with steps on a second
// axis at the top. Later records for the same step win (a resumed run redoes steps). Without
// tokens_seen the x axis is the step.
std::string plot_losses_svg(const std::vector<nlohmann::json>& records, const std::string& title);
// plot_losses_svg written atomically to svg_path.
void write_loss_plot(const std::vector<nlohmann::json>& records, const std::string& svg_path, const std::string& title);

}  // namespace slm
