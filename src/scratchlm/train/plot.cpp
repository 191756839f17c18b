// plot.cpp — SVG plots of a run's metrics (chapter 5.2's plot_losses, chapter 6's accuracy plot;
// see plot.h).
#include "scratchlm/train/plot.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "scratchlm/util/error.h"
#include "scratchlm/util/file.h"

namespace slm {

using nlohmann::json;

namespace {

bool usable(double v) { return std::isfinite(v) && std::fabs(v) <= 1e300; }

std::string esc(const std::string& s) {
  std::string o;
  for (char c : s) {
    switch (c) {
      case '&':
        o += "&amp;";
        break;
      case '<':
        o += "&lt;";
        break;
      case '>':
        o += "&gt;";
        break;
      case '"':
        o += "&quot;";
        break;
      case '\'':
        o += "&apos;";
        break;
      default:
        o += c;
    }
  }
  return o;
}

// A coordinate: finite by construction, but never let "nan"/"inf" into the document.
std::string c(double v) { return fmt::format("{:.1f}", std::isfinite(v) ? std::clamp(v, -1e6, 1e6) : 0.0); }

double nice_step(double range, double target, bool integer) {
  double raw = range / std::max(target, 1.0);
  if (!(raw > 0) || !std::isfinite(raw)) return 1;
  double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double n = raw / mag;
  double step = (n <= 1 ? 1 : n <= 2 ? 2 : n <= 5 ? 5 : 10) * mag;
  return integer ? std::max(step, 1.0) : step;
}

std::vector<double> ticks(double lo, double hi, double step) {
  std::vector<double> t;
  double k0 = std::ceil(lo / step - 1e-9), k1 = std::floor(hi / step + 1e-9);
  for (double k = k0; k <= k1 && t.size() < 200; k += 1) t.push_back(k * step + 0.0);
  return t;
}

std::string trim_zeros(std::string s) {
  if (s.find('.') == std::string::npos) return s;
  while (s.back() == '0') s.pop_back();
  if (s.back() == '.') s.pop_back();
  return s;
}

// Tick labels share one format per axis, chosen from the tick step and the largest magnitude.
std::string tick_label(double v, double step, double maxabs) {
  if (std::fabs(v) < step * 1e-6) v = 0;
  auto decimals = [](double s) { return std::clamp(static_cast<int>(-std::floor(std::log10(s) + 1e-9)), 0, 12); };
  if (maxabs >= 1e4 && maxabs < 1e15) {
    int p = std::min(4, static_cast<int>(std::floor(std::log10(maxabs) / 3)));
    double unit = std::pow(1000.0, p);
    if (v == 0) return "0";
    return trim_zeros(fmt::format("{:.{}f}", v / unit, decimals(step / unit))) + "kMGT"[p - 1];
  }
  if (maxabs >= 1e15 || (maxabs > 0 && maxabs < 1e-3)) {
    if (v == 0) return "0";
    int d = std::clamp(static_cast<int>(std::floor(std::log10(std::fabs(v))) - std::floor(std::log10(step))), 0, 6);
    return fmt::format("{:.{}e}", v, d);
  }
  return fmt::format("{:.{}f}", v, decimals(step));
}

// Auto range: the data range, widened when (nearly) empty, padded by `pad` of the span.
std::pair<double, double> auto_range(double lo, double hi, double pad) {
  if (lo > hi) return {0, 1};
  if (hi - lo <= 1e-12 * std::max({std::fabs(lo), std::fabs(hi), 1e-300})) {
    double half = lo == 0 ? 1 : std::fabs(lo) * 0.05;
    return {lo - half, hi + half};
  }
  double span = hi - lo;
  return {lo - pad * span, hi + pad * span};
}

struct TopMap {  // piecewise-linear x -> value, with linear extrapolation
  std::vector<std::pair<double, double>> pts;
  double value(double x) const {
    size_t i = 1;
    while (i + 1 < pts.size() && x > pts[i].first) ++i;
    auto [x0, v0] = pts[i - 1];
    auto [x1, v1] = pts[i];
    return v0 + (v1 - v0) * (x - x0) / (x1 - x0);
  }
  std::optional<double> x_of(double v) const {
    size_t i = 1;
    while (i + 1 < pts.size() && v > pts[i].second) ++i;
    auto [x0, v0] = pts[i - 1];
    auto [x1, v1] = pts[i];
    if (v1 == v0) return std::nullopt;
    return x0 + (x1 - x0) * (v - v0) / (v1 - v0);
  }
};

}  // namespace

std::string plot_series_svg(const std::vector<PlotSeries>& series, const PlotOptions& o) {
  const double W = std::max(o.width, 200), H = std::max(o.height, 150);
  // Data ranges over the usable points.
  double xlo = INFINITY, xhi = -INFINITY, ylo = INFINITY, yhi = -INFINITY;
  size_t npoints = 0;
  for (const PlotSeries& s : series)
    for (size_t i = 0; i < std::min(s.x.size(), s.y.size()); ++i)
      if (usable(s.x[i]) && usable(s.y[i])) {
        xlo = std::min(xlo, s.x[i]);
        xhi = std::max(xhi, s.x[i]);
        ylo = std::min(ylo, s.y[i]);
        yhi = std::max(yhi, s.y[i]);
        ++npoints;
      }
  if (usable(o.x_min)) xlo = o.x_min;
  if (usable(o.x_max)) xhi = o.x_max;
  if (usable(o.y_min)) ylo = o.y_min;
  if (usable(o.y_max)) yhi = o.y_max;
  auto [x0, x1] = auto_range(xlo, xhi, usable(o.x_min) || usable(o.x_max) ? 0.0 : 0.03);
  if (usable(o.x_min)) x0 = o.x_min;
  if (usable(o.x_max)) x1 = o.x_max;
  auto [y0, y1] = auto_range(ylo, yhi, 0.03);

  // Top axis mapping (strictly increasing x, non-decreasing values).
  TopMap top;
  for (auto p : [&] {
         auto v = o.top_axis;
         std::sort(v.begin(), v.end());
         return v;
       }())
    if (usable(p.first) && usable(p.second) &&
        (top.pts.empty() || (p.first > top.pts.back().first && p.second >= top.pts.back().second)))
      top.pts.push_back(p);
  bool has_top = top.pts.size() >= 2 && top.pts.back().second > top.pts.front().second;

  const double left = 78, right = 24, bottom = 58;
  const double top_margin = (o.title.empty() ? 16 : 44) + (has_top ? 40 : 0);
  const double pw = W - left - right, ph = H - top_margin - bottom;

  double ystep = nice_step(y1 - y0, std::max(3.0, ph / 60), false);
  if (!usable(o.y_min)) y0 = std::floor(y0 / ystep) * ystep;
  if (!usable(o.y_max)) y1 = std::ceil(y1 / ystep) * ystep;
  if (usable(o.y_min)) y0 = o.y_min;
  if (usable(o.y_max)) y1 = o.y_max;
  if (!(y1 > y0)) y1 = y0 + 1;
  if (!(x1 > x0)) x1 = x0 + 1;
  double xstep = nice_step(x1 - x0, std::max(3.0, pw / 110), false);

  auto px = [&](double x) { return left + (x - x0) / (x1 - x0) * pw; };
  auto py = [&](double y) { return top_margin + ph - (y - y0) / (y1 - y0) * ph; };

  std::string svg = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" viewBox=\"0 0 {0} {1}\" "
      "font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\" font-size=\"12\">\n"
      "<rect width=\"{0}\" height=\"{1}\" fill=\"white\"/>\n"
      "<defs><clipPath id=\"plot-area\"><rect x=\"{2}\" y=\"{3}\" width=\"{4}\" height=\"{5}\"/></clipPath></defs>\n",
      W, H, c(left), c(top_margin), c(pw), c(ph));
  if (!o.title.empty())
    svg +=
        fmt::format("<text x=\"{}\" y=\"24\" text-anchor=\"middle\" font-size=\"16\" font-weight=\"bold\">{}</text>\n",
                    c(left + pw / 2), esc(o.title));

  // Grid, ticks and tick labels.
  std::vector<double> xt = ticks(x0, x1, xstep), yt = ticks(y0, y1, ystep);
  double xmax_abs = std::max(std::fabs(x0), std::fabs(x1)), ymax_abs = std::max(std::fabs(y0), std::fabs(y1));
  for (double v : xt)
    svg += fmt::format(
        "<line x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\" stroke=\"#e5e5e5\"/>"
        "<line x1=\"{0}\" y1=\"{2}\" x2=\"{0}\" y2=\"{3}\" stroke=\"#333\"/>"
        "<text x=\"{0}\" y=\"{4}\" text-anchor=\"middle\">{5}</text>\n",
        c(px(v)), c(top_margin), c(top_margin + ph), c(top_margin + ph + 5), c(top_margin + ph + 19),
        tick_label(v, xstep, xmax_abs));
  for (double v : yt)
    svg += fmt::format(
        "<line x1=\"{0}\" y1=\"{1}\" x2=\"{2}\" y2=\"{1}\" stroke=\"#e5e5e5\"/>"
        "<line x1=\"{3}\" y1=\"{1}\" x2=\"{0}\" y2=\"{1}\" stroke=\"#333\"/>"
        "<text x=\"{4}\" y=\"{5}\" text-anchor=\"end\">{6}</text>\n",
        c(left), c(py(v)), c(left + pw), c(left - 5), c(left - 8), c(py(v) + 4), tick_label(v, ystep, ymax_abs));
  if (has_top) {
    double v0 = top.value(x0), v1 = top.value(x1);
    double tstep = nice_step(v1 - v0, std::max(3.0, pw / 110), o.top_integer);
    double tmax_abs = std::max(std::fabs(v0), std::fabs(v1));
    for (double v : ticks(v0, v1, tstep)) {
      std::optional<double> x = top.x_of(v);
      if (!x || *x < x0 || *x > x1) continue;
      svg += fmt::format(
          "<line x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\" stroke=\"#333\"/>"
          "<text x=\"{0}\" y=\"{3}\" text-anchor=\"middle\">{4}</text>\n",
          c(px(*x)), c(top_margin - 5), c(top_margin), c(top_margin - 9), tick_label(v, tstep, tmax_abs));
    }
    svg += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" font-size=\"13\">{}</text>\n", c(left + pw / 2),
                       c(top_margin - 27), esc(o.top_label));
  }
  svg += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#333\"/>\n", c(left),
                     c(top_margin), c(pw), c(ph));
  svg += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" font-size=\"13\">{}</text>\n", c(left + pw / 2),
                     c(H - 14), esc(o.x_label));
  svg += fmt::format(
      "<text transform=\"translate({},{}) rotate(-90)\" text-anchor=\"middle\" font-size=\"13\">{}</text>\n", c(20),
      c(top_margin + ph / 2), esc(o.y_label));
  if (npoints == 0)
    svg += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" fill=\"#888\" font-size=\"14\">no data</text>\n",
                       c(left + pw / 2), c(top_margin + ph / 2));

  // Series: one <path> each (broken at skipped points), thinned to min/max per pixel column
  // when there are many more points than pixels; dots where asked for.
  std::vector<std::pair<double, double>> all_px;  // for the legend placement
  std::vector<const PlotSeries*> shown;
  svg += "<g clip-path=\"url(#plot-area)\" fill=\"none\" stroke-linejoin=\"round\">\n";
  for (const PlotSeries& s : series) {
    size_t n = std::min(s.x.size(), s.y.size());
    bool thin = n > 2 * static_cast<size_t>(pw);
    std::string d, dots;
    bool pen_up = true;
    size_t seg = 0;  // points in the current segment; a lone point between gaps gets a dot
    auto end_segment = [&] {
      if (seg == 1 && !s.markers)
        dots += fmt::format("<circle cx=\"{}\" cy=\"{}\" r=\"2.5\"/>", c(all_px.back().first), c(all_px.back().second));
      seg = 0;
      pen_up = true;
    };
    for (size_t i = 0; i < n;) {
      if (!usable(s.x[i]) || !usable(s.y[i])) {
        end_segment();
        ++i;
        continue;
      }
      size_t j = i + 1, lo = i, hi = i;
      if (thin) {  // the run of usable points in the same pixel column
        long col = std::lround(px(s.x[i]));
        for (; j < n && usable(s.x[j]) && usable(s.y[j]) && std::lround(px(s.x[j])) == col; ++j) {
          if (s.y[j] < s.y[lo]) lo = j;
          if (s.y[j] > s.y[hi]) hi = j;
        }
      }
      auto emit = [&](size_t k) {
        double X = px(s.x[k]), Y = py(s.y[k]);
        d += fmt::format("{}{},{} ", pen_up ? "M" : "L", c(X), c(Y));
        pen_up = false;
        ++seg;
        all_px.emplace_back(X, Y);
        if (s.markers) dots += fmt::format("<circle cx=\"{}\" cy=\"{}\" r=\"3\"/>", c(X), c(Y));
      };
      emit(std::min(lo, hi));
      if (lo != hi) emit(std::max(lo, hi));
      i = j;
    }
    end_segment();
    if (d.empty()) continue;
    shown.push_back(&s);
    d.pop_back();
    svg += fmt::format("<path d=\"{}\" stroke=\"{}\" stroke-width=\"{:.2f}\"{}/>\n", d, esc(s.color), s.line_width,
                       s.dashed ? " stroke-dasharray=\"7,4\"" : "");
    if (!dots.empty()) svg += fmt::format("<g fill=\"{}\" stroke=\"none\">{}</g>\n", esc(s.color), dots);
  }
  svg += "</g>\n";

  // Legend in the corner with the fewest points under it.
  if (!shown.empty()) {
    size_t chars = 0;
    for (const PlotSeries* s : shown) chars = std::max(chars, s->name.size());
    double bw = 48 + 7.0 * static_cast<double>(chars), bh = 8 + 20.0 * static_cast<double>(shown.size());
    auto corner = [&](LegendPos p) {
      bool r = p == LegendPos::TopRight || p == LegendPos::BottomRight;
      bool t = p == LegendPos::TopRight || p == LegendPos::TopLeft;
      return std::pair(r ? left + pw - 10 - bw : left + 10, t ? top_margin + 10 : top_margin + ph - 10 - bh);
    };
    LegendPos pos = o.legend;
    if (pos == LegendPos::Auto) {
      size_t best = SIZE_MAX;
      for (LegendPos p : {LegendPos::TopRight, LegendPos::TopLeft, LegendPos::BottomRight, LegendPos::BottomLeft}) {
        auto [bx, by] = corner(p);
        size_t hits = std::count_if(all_px.begin(), all_px.end(), [&](auto q) {
          return q.first >= bx - 4 && q.first <= bx + bw + 4 && q.second >= by - 4 && q.second <= by + bh + 4;
        });
        if (hits < best) {
          best = hits;
          pos = p;
        }
      }
    }
    auto [bx, by] = corner(pos);
    svg += fmt::format(
        "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" rx=\"3\" fill=\"white\" "
        "fill-opacity=\"0.85\" stroke=\"#bbb\"/>\n",
        c(bx), c(by), c(bw), c(bh));
    for (size_t i = 0; i < shown.size(); ++i) {
      const PlotSeries& s = *shown[i];
      double ly = by + 14 + 20.0 * static_cast<double>(i);
      svg += fmt::format("<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"{}\" stroke-width=\"{:.2f}\"{}/>",
                         c(bx + 8), c(ly), c(bx + 36), c(ly), esc(s.color), std::max(s.line_width, 1.5),
                         s.dashed ? " stroke-dasharray=\"7,4\"" : "");
      if (s.markers)
        svg += fmt::format("<circle cx=\"{}\" cy=\"{}\" r=\"3\" fill=\"{}\"/>", c(bx + 22), c(ly), esc(s.color));
      svg += fmt::format("<text x=\"{}\" y=\"{}\">{}</text>\n", c(bx + 42), c(ly + 4), esc(s.name));
    }
  }
  svg += "</svg>\n";
  return svg;
}

std::string plot_metric_svg(const std::vector<json>& records, const MetricPlot& what) {
  auto num = [](const json& r, const std::string& key) {
    auto it = r.find(key);
    return it != r.end() && it->is_number() ? it->get<double>() : NAN;
  };
  std::map<double, const json*> steps, evals;  // by step; later records win
  for (const json& r : records) {
    if (!r.is_object() || !std::isfinite(num(r, "step"))) continue;
    auto t = r.find("type");
    if (t == r.end() || !t->is_string()) continue;
    if (*t == "step" && !what.step_key.empty()) steps[num(r, "step")] = &r;
    if (std::find(what.eval_types.begin(), what.eval_types.end(), t->get<std::string>()) != what.eval_types.end() &&
        std::isfinite(num(r, what.train_key)))
      evals[num(r, "step")] = &r;
  }
  // x: what the run counts (tokens or examples seen) when every record has it, else the step.
  std::string seen;
  for (const char* key : {"tokens_seen", "examples_seen"}) {
    bool all = !steps.empty() || !evals.empty();
    for (const auto* m : {&steps, &evals})
      for (auto& [step, r] : *m) all = all && std::isfinite(num(*r, key));
    if (all && seen.empty()) seen = key;
  }
  PlotSeries per_step{what.step_label, {}, {}, "#9ecae1", false, false, 1.0};
  PlotSeries train{what.train_label, {}, {}, "#1f77b4", false, true, 2.0};
  PlotSeries val{what.val_label, {}, {}, "#ff7f0e", true, true, 2.0};
  PlotOptions o;
  o.title = what.title;
  o.x_label = seen.empty() ? "step" : seen == "tokens_seen" ? "tokens seen" : "examples seen";
  o.y_label = what.y_label;
  o.legend = what.legend;
  o.top_label = "step";
  auto add = [&](PlotSeries& s, double x, double step, double y) {
    s.x.push_back(x);
    s.y.push_back(y);
    if (!seen.empty()) o.top_axis.emplace_back(x, step);
  };
  for (auto& [step, r] : steps) add(per_step, seen.empty() ? step : num(*r, seen), step, num(*r, what.step_key));
  for (auto& [step, r] : evals) {
    const double x = seen.empty() ? step : num(*r, seen);
    add(train, x, step, num(*r, what.train_key));
    add(val, x, step, num(*r, what.val_key));
  }
  std::sort(o.top_axis.begin(), o.top_axis.end());
  if (what.step_key.empty()) return plot_series_svg({train, val}, o);
  return plot_series_svg({per_step, train, val}, o);
}

std::string plot_losses_svg(const std::vector<json>& records, const std::string& title) {
  MetricPlot what;
  what.title = title;
  what.y_label = "loss";
  what.step_key = "loss";
  what.step_label = "train loss (per step)";
  what.train_key = "train_loss";
  what.train_label = "train loss";
  what.val_key = "val_loss";
  what.val_label = "val loss";
  return plot_metric_svg(records, what);
}

std::string plot_accuracy_svg(const std::vector<json>& records) {
  MetricPlot what;
  what.title = "Classification accuracy";
  what.y_label = "accuracy";
  what.train_key = "train_accuracy";
  what.train_label = "train accuracy";
  what.val_key = "val_accuracy";
  what.val_label = "validation accuracy";
  what.eval_types = {"eval", "epoch"};
  what.legend = LegendPos::BottomRight;
  return plot_metric_svg(records, what);
}

void write_loss_plot(const std::vector<json>& records, const std::string& svg_path, const std::string& title) {
  write_file_atomic(svg_path, plot_losses_svg(records, title));
}

}  // namespace slm
