// plot_precision_curves.cpp — the fp32 vs bf16 comparison of issue 15 §2: reads the metrics.jsonl of
// two pretraining runs from the same seed (fp32 and --precision bf16), draws both validation-loss
// curves (and the training-loss evaluations, dashed) in one SVG, and prints each evaluation's
// relative gap |bf16 - fp32| / fp32 and the largest.
//
//   build/bench/plot_precision_curves FP32_DIR BF16_DIR OUT.svg [TITLE]
#include <cmath>
#include <cstdio>
#include <string>

#include "scratchlm/train/metrics.h"
#include "scratchlm/train/plot.h"
#include "scratchlm/util/file.h"

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: plot_precision_curves FP32_DIR BF16_DIR OUT.svg [TITLE]\n");
    return 2;
  }
  slm::PlotSeries s[4];
  const char* names[2] = {"fp32", "bf16"};
  const char* colors[2] = {"#1f77b4", "#d62728"};
  for (int k = 0; k < 2; ++k) {
    for (const auto& r : slm::MetricsLog::read(std::string(argv[1 + k]) + "/metrics.jsonl")) {
      if (r.value("type", "") != "eval" || !r.contains("val_loss")) continue;
      const double step = r["step"].get<double>();
      s[k].x.push_back(step), s[k].y.push_back(r["val_loss"].get<double>());
      s[2 + k].x.push_back(step), s[2 + k].y.push_back(r["train_loss"].get<double>());
    }
    s[k].name = std::string(names[k]) + " val loss";
    s[k].color = s[2 + k].color = colors[k];
    s[k].markers = true;
    s[2 + k].name = std::string(names[k]) + " train loss (evaluation)";
    s[2 + k].dashed = true;
  }
  double worst = 0.0;
  for (size_t i = 0; i < s[0].y.size() && i < s[1].y.size(); ++i) {
    const double gap = std::fabs(s[1].y[i] - s[0].y[i]) / s[0].y[i];
    worst = std::max(worst, gap);
    std::printf("step %5.0f  val fp32 %.4f  bf16 %.4f  gap %.3f%%\n", s[0].x[i], s[0].y[i], s[1].y[i], 100 * gap);
  }
  std::printf("largest relative gap: %.3f%% over %zu evaluations\n", 100 * worst, s[0].y.size());
  slm::PlotOptions o;
  o.title = argc > 4 ? argv[4] : "fp32 vs bf16 mixed precision: validation loss";
  o.x_label = "step";
  o.y_label = "loss";
  slm::write_file_atomic(argv[3], slm::plot_series_svg({s[0], s[1], s[2], s[3]}, o));
  return 0;
}
