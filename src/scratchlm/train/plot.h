// plot.h — SVG plots of a run's metrics: chapter 5.2's plot_losses (training and validation loss
// against tokens seen, a second axis for steps), chapter 6's accuracy plot, and the general series
// plot both are drawn with.
#pragma once

#include <cmath>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

namespace slm {

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
// Chapter 6's accuracy plot: the eval and epoch records' train_accuracy and val_accuracy (an
// epoch-end record wins at its step) against examples seen, steps on the top axis.
std::string plot_accuracy_svg(const std::vector<nlohmann::json>& records);
// plot_losses_svg written atomically to svg_path.
void write_loss_plot(const std::vector<nlohmann::json>& records, const std::string& svg_path, const std::string& title);

}  // namespace slm
