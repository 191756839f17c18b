// test_train_utils.cpp — learning-rate schedules and gradient clipping (appendix D), the metrics
// log and loss plot (chapter 5), and the progress reporter.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <regex>

#include "scratchlm/io/download.h"
#include "scratchlm/tensor/parallel.h"
#include "scratchlm/tensor/rng.h"
#include "scratchlm/train/adamw.h"
#include "scratchlm/train/metrics.h"
#include "scratchlm/train/plot.h"
#include "scratchlm/train/schedule.h"
#include "scratchlm/util/error.h"
#include "scratchlm/util/progress.h"
#include "test_util.h"

using nlohmann::json;
using slm::test::read_text;
using slm::test::TempDir;
using slm::test::write_text;

namespace {

size_t count(const std::string& s, const std::string& needle) {
  size_t n = 0;
  for (size_t p = s.find(needle); p != std::string::npos; p = s.find(needle, p + 1)) ++n;
  return n;
}

// Everything written to a FILE*, read back.
struct Capture {
  std::FILE* f = std::tmpfile();
  ~Capture() { std::fclose(f); }
  std::string text() {
    std::fflush(f);
    std::rewind(f);
    std::string s;
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) s.append(buf, n);
    return s;
  }
};

}  // namespace

// --------------------------------------------------------------------------------- schedules

TEST(Schedule, Parse) {
  EXPECT_EQ(slm::parse_schedule("cosine"), slm::ScheduleKind::Cosine);
  EXPECT_EQ(slm::parse_schedule("constant"), slm::ScheduleKind::Constant);
  EXPECT_EQ(slm::parse_schedule("linear"), slm::ScheduleKind::Linear);
  try {
    slm::parse_schedule("cosin");
    FAIL() << "no error";
  } catch (const slm::Error& e) {
    EXPECT_EQ(e.kind(), slm::ErrorKind::BadInput);
    EXPECT_NE(std::string(e.what()).find("cosin"), std::string::npos);
  }
}

TEST(Schedule, CosineWithWarmup) {
  slm::LrSchedule s{1e-3f, 1e-4f, 10, 110, slm::ScheduleKind::Cosine};
  EXPECT_FLOAT_EQ(s.at(1), 1e-4f);  // lr * 1/10
  EXPECT_FLOAT_EQ(s.at(5), 5e-4f);
  EXPECT_FLOAT_EQ(s.at(10), 1e-3f);  // peak at the end of the warmup
  EXPECT_LT(s.at(11), 1e-3f);
  EXPECT_NEAR(s.at(60), (1e-3f + 1e-4f) / 2, 1e-9);  // midpoint of the decay
  EXPECT_FLOAT_EQ(s.at(110), 1e-4f);
  EXPECT_FLOAT_EQ(s.at(1000), 1e-4f);  // stays at min_lr past the end
  for (int64_t t = 11; t < 110; ++t) EXPECT_LE(s.at(t + 1), s.at(t)) << t;
}

TEST(Schedule, LinearAndConstant) {
  slm::LrSchedule lin{1e-3f, 0.0f, 0, 100, slm::ScheduleKind::Linear};
  EXPECT_FLOAT_EQ(lin.at(50), 5e-4f);
  EXPECT_FLOAT_EQ(lin.at(100), 0.0f);
  EXPECT_FLOAT_EQ(lin.at(25), 7.5e-4f);
  slm::LrSchedule con{1e-3f, 1e-5f, 4, 100, slm::ScheduleKind::Constant};
  EXPECT_FLOAT_EQ(con.at(2), 5e-4f);
  EXPECT_FLOAT_EQ(con.at(4), 1e-3f);
  EXPECT_FLOAT_EQ(con.at(50), 1e-3f);
  EXPECT_FLOAT_EQ(con.at(500), 1e-3f);
}

TEST(Schedule, EdgeCases) {
  // No warmup: step 1 is already (almost) the peak.
  slm::LrSchedule s{1e-3f, 0.0f, 0, 100, slm::ScheduleKind::Cosine};
  EXPECT_NEAR(s.at(1), 1e-3f, 1e-6);
  EXPECT_FLOAT_EQ(s.at(0), s.at(1));  // steps below 1 count as step 1
  // total <= warmup: warmup ramp, then min_lr (no decay phase), never NaN.
  slm::LrSchedule w{1e-3f, 1e-4f, 10, 5, slm::ScheduleKind::Cosine};
  EXPECT_FLOAT_EQ(w.at(10), 1e-3f);
  EXPECT_FLOAT_EQ(w.at(11), 1e-4f);
  slm::LrSchedule eq{1e-3f, 1e-4f, 10, 10, slm::ScheduleKind::Linear};
  EXPECT_FLOAT_EQ(eq.at(10), 1e-3f);
  EXPECT_FLOAT_EQ(eq.at(11), 1e-4f);
  slm::LrSchedule zero{1e-3f, 0.0f, 0, 0, slm::ScheduleKind::Cosine};
  EXPECT_TRUE(std::isfinite(zero.at(1)));
}

// ----------------------------------------------------------------------------------- metrics

// The gradient norm's sum: one order for every thread count (a resumed run repeats its norms bit for
// bit), the exact sum to double precision, and clipping only where the factor is below 1.
TEST(GradNorm, SumOfSquaresIsOneOrderForAnyThreadCount) {
  const int64_t n = 3 * (int64_t{1} << 16) + 77;  // three whole blocks and a tail off the lane width
  std::vector<float> g(static_cast<size_t>(n));
  slm::Rng rng(7);
  for (auto& x : g) x = static_cast<float>(rng.normal() * (rng.below(100) == 0 ? 1e3 : 1e-3));
  long double exact = 0;
  for (float x : g) exact += static_cast<long double>(x) * x;
  const int threads = slm::num_threads();
  std::vector<double> got;
  for (int t : {1, 2, 3}) {
    slm::set_num_threads(t);
    got.push_back(slm::sum_of_squares(g.data(), n));
  }
  slm::set_num_threads(threads);
  EXPECT_EQ(got[0], got[1]);
  EXPECT_EQ(got[0], got[2]);
  EXPECT_NEAR(got[0], static_cast<double>(exact), 1e-14 * static_cast<double>(exact));
  EXPECT_EQ(slm::sum_of_squares(g.data(), 0), 0.0);
  EXPECT_EQ(slm::sum_of_squares(g.data() + 5, 3),
            static_cast<double>(g[5]) * g[5] + static_cast<double>(g[6]) * g[6] + static_cast<double>(g[7]) * g[7]);

  EXPECT_EQ(slm::clip_factor(5.0, 10.0), 1.0f);          // factor above 1: no clipping
  EXPECT_EQ(slm::clip_factor(std::nan(""), 1.0), 1.0f);  // a NaN norm: left for the caller's error
  EXPECT_EQ(slm::clip_factor(5.0, 0.0), 1.0f);           // clipping off
  EXPECT_EQ(slm::clip_factor(5.0, 1.0), static_cast<float>(1.0 / (5.0 + 1e-6)));
}

TEST(Metrics, WriteReadRoundTrip) {
  TempDir dir;
  std::string path = dir.file("metrics.jsonl");
  {
    slm::MetricsLog log(path);
    log.write({{"type", "step"}, {"step", 1}, {"tokens_seen", 512}, {"loss", 10.5}});
    log.write({{"type", "eval"}, {"step", 1}, {"tokens_seen", 512}, {"train_loss", 9.0}, {"val_loss", 9.5}});
    log.write({{"type", "sample"}, {"step", 1}, {"text", std::string("caf\xc3")}});  // torn UTF-8
    EXPECT_EQ(log.records().size(), 3u);
    EXPECT_THROW(log.write({{"step", 2}}), slm::Error);
    EXPECT_THROW(log.write(json::array({1, 2})), slm::Error);
  }
  std::string text = read_text(path);
  EXPECT_EQ(count(text, "\n"), 3u);
  EXPECT_NE(text.find("{\"loss\":10.5,\"step\":1,\"tokens_seen\":512,\"type\":\"step\"}\n"), std::string::npos);
  auto recs = slm::MetricsLog::read(path);
  ASSERT_EQ(recs.size(), 3u);
  EXPECT_EQ(recs[1]["val_loss"], 9.5);
  EXPECT_EQ(recs[2]["text"], "caf\xef\xbf\xbd");
  // Opening again loads the records and appends after them.
  slm::MetricsLog again(path);
  EXPECT_EQ(again.records().size(), 3u);
  again.write({{"type", "step"}, {"step", 2}, {"loss", NAN}});
  recs = slm::MetricsLog::read(path);
  ASSERT_EQ(recs.size(), 4u);
  EXPECT_TRUE(recs[3]["loss"].is_null());
}

TEST(Metrics, TornLastLine) {
  TempDir dir;
  std::string path = dir.file("m.jsonl");
  write_text(path, "{\"type\":\"step\",\"step\":1}\n\n{\"type\":\"step\",\"step\":2}\n{\"type\":\"st");
  auto recs = slm::MetricsLog::read(path);
  ASSERT_EQ(recs.size(), 2u);
  EXPECT_EQ(recs[1]["step"], 2);
  // The log cuts the torn tail off before appending, so the file stays readable.
  {
    slm::MetricsLog log(path);
    EXPECT_EQ(log.records().size(), 2u);
    log.write({{"type", "step"}, {"step", 3}});
  }
  EXPECT_EQ(read_text(path),
            "{\"type\":\"step\",\"step\":1}\n\n{\"type\":\"step\",\"step\":2}\n{\"step\":3,\"type\":\"step\"}\n");
  // A complete last record without its newline is kept.
  write_text(path, "{\"type\":\"step\",\"step\":1}");
  EXPECT_EQ(slm::MetricsLog::read(path).size(), 1u);
  {
    slm::MetricsLog log(path);
    log.write({{"type", "step"}, {"step", 2}});
  }
  EXPECT_EQ(slm::MetricsLog::read(path).size(), 2u);
}

TEST(Metrics, MalformedMiddleLine) {
  TempDir dir;
  std::string path = dir.file("m.jsonl");
  write_text(path, "{\"type\":\"step\"}\n{\"type\":\"step\"}\n{\"type\": oops}\n{\"type\":\"step\"}\n");
  try {
    slm::MetricsLog::read(path);
    FAIL() << "no error";
  } catch (const slm::Error& e) {
    EXPECT_EQ(e.kind(), slm::ErrorKind::BadInput);
    EXPECT_NE(std::string(e.what()).find("line 3"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
  write_text(path, "{\"type\":\"step\"}\n[1,2]\n");
  EXPECT_THROW(slm::MetricsLog::read(path), slm::Error);
  EXPECT_THROW(slm::MetricsLog::read(dir.file("missing.jsonl")), slm::Error);
}

TEST(Metrics, ReopenAfterReplacement) {
  TempDir dir;
  std::string path = dir.file("m.jsonl");
  slm::MetricsLog log(path);
  for (int s = 1; s <= 5; ++s) log.write({{"type", "step"}, {"step", s}});
  // Replace the file (as a resume would, atomically), then reopen: writes go to the new file.
  std::string replacement = "{\"type\":\"step\",\"step\":1}\n";
  std::string tmp = dir.file("m.tmp");
  write_text(tmp, replacement);
  std::filesystem::rename(tmp, path);
  log.reopen();
  EXPECT_EQ(log.records().size(), 1u);
  log.write({{"type", "step"}, {"step", 2}});
  auto recs = slm::MetricsLog::read(path);
  ASSERT_EQ(recs.size(), 2u);
  EXPECT_EQ(recs[1]["step"], 2);
  // truncate_after_step drops the steps a resumed run redoes, keeps step-less records.
  log.write({{"type", "eval"}, {"step", 3}});
  log.write({{"type", "note"}});
  log.truncate_after_step(2);
  EXPECT_EQ(log.records().size(), 3u);
  log.write({{"type", "step"}, {"step", 3}});
  recs = slm::MetricsLog::read(path);
  ASSERT_EQ(recs.size(), 4u);
  EXPECT_EQ(recs[2]["type"], "note");
  EXPECT_EQ(recs[3]["step"], 3);
}

// -------------------------------------------------------------------------------------- plots

namespace {
std::vector<json> fake_run(int steps, int eval_every) {
  std::vector<json> r;
  for (int s = 1; s <= steps; ++s) {
    double loss = 2.0 + 8.0 * std::exp(-s / 40.0) + 0.2 * std::sin(s * 1.7);
    r.push_back({{"type", "step"}, {"step", s}, {"tokens_seen", s * 2048}, {"loss", loss}, {"lr", 4e-4}});
    if (s % eval_every == 0 || s == 1)
      r.push_back({{"type", "eval"},
                   {"step", s},
                   {"tokens_seen", s * 2048},
                   {"train_loss", loss - 0.1},
                   {"val_loss", loss + 0.3 + s / 200.0}});
  }
  r.push_back({{"type", "sample"}, {"step", steps}, {"text", "Every effort moves you"}});
  return r;
}

void expect_clean_svg(const std::string& svg) {
  EXPECT_EQ(svg.rfind("<svg", 0), 0u);
  EXPECT_EQ(svg.substr(svg.size() - 7), "</svg>\n");
  EXPECT_EQ(svg.find("nan"), std::string::npos);
  EXPECT_EQ(svg.find("inf"), std::string::npos);
  EXPECT_EQ(svg.find("<script"), std::string::npos);
  EXPECT_EQ(count(svg, "<text"), count(svg, "</text>"));
  EXPECT_EQ(count(svg, "<g"), count(svg, "</g>"));
}
}  // namespace

TEST(Plot, LossPlot) {
  std::string svg = slm::plot_losses_svg(fake_run(300, 25), "GPT-2 124M & <the-verdict>");
  expect_clean_svg(svg);
  EXPECT_NE(svg.find("GPT-2 124M &amp; &lt;the-verdict&gt;"), std::string::npos);
  for (const char* label : {"train loss (per step)", ">train loss<", ">val loss<", ">tokens seen<", ">loss<", ">step<"})
    EXPECT_NE(svg.find(label), std::string::npos) << label;
  EXPECT_EQ(count(svg, "<path"), 3u);
  EXPECT_GE(count(svg, "<circle"), 2u * 13);
  EXPECT_NE(svg.find(">400k<"), std::string::npos);  // tokens on a k scale
  EXPECT_NE(svg.find("stroke-dasharray"), std::string::npos);
  TempDir dir;
  slm::write_loss_plot(fake_run(10, 5), dir.file("loss.svg"), "t");
  expect_clean_svg(read_text(dir.file("loss.svg")));
}

TEST(Plot, DegenerateInputs) {
  expect_clean_svg(slm::plot_losses_svg({}, "empty"));
  EXPECT_NE(slm::plot_losses_svg({}, "empty").find("no data"), std::string::npos);
  // One point; NaN losses written as null; a missing tokens_seen falls back to steps.
  std::vector<json> one = {{{"type", "step"}, {"step", 1}, {"tokens_seen", 512}, {"loss", 10.9}}};
  expect_clean_svg(slm::plot_losses_svg(one, "one"));
  std::vector<json> bad = {{{"type", "step"}, {"step", 1}, {"loss", nullptr}},
                           {{"type", "step"}, {"step", 2}, {"loss", 5.0}},
                           {{"type", "step"}, {"step", 3}, {"loss", 4.0}}};
  std::string svg = slm::plot_losses_svg(bad, "x");
  expect_clean_svg(svg);
  EXPECT_NE(svg.find(">step<"), std::string::npos);
  // NaN/inf and huge values in a general plot.
  slm::PlotSeries s{"s", {0, 1, 2, 3, 4}, {1, NAN, INFINITY, 1e12, -1e12}};
  slm::PlotSeries t{"t", {1e300, 2e300, INFINITY}, {1, 2, 3}, "#d62728", true};
  slm::PlotOptions o;
  o.top_axis = {{0, 0}, {0, 0}};
  expect_clean_svg(slm::plot_series_svg({s}, o));
  expect_clean_svg(slm::plot_series_svg({s, t}, o));
  expect_clean_svg(slm::plot_series_svg({{"c", {5, 5, 5}, {2, 2, 2}}}, o));
  expect_clean_svg(slm::plot_series_svg({{"tiny", {0, 1e-9, 2e-9}, {1e-7, 3e-7, 2e-7}}}, o));
}

TEST(Plot, ManyPointsAreThinned) {
  std::string svg = slm::plot_losses_svg(fake_run(100000, 5000), "long");
  expect_clean_svg(svg);
  EXPECT_LT(svg.size(), 200000u);
}

TEST(Plot, AccuracySeries) {  // chapter 6: accuracy per epoch
  slm::PlotSeries train{"train accuracy", {1, 2, 3, 4, 5}, {0.6, 0.8, 0.9, 0.95, 0.97}, "#1f77b4", false, true};
  slm::PlotSeries val{"val accuracy", {1, 2, 3, 4, 5}, {0.55, 0.75, 0.85, 0.9, 0.92}, "#ff7f0e", true, true};
  slm::PlotOptions o;
  o.x_label = "epoch";
  o.y_label = "accuracy";
  o.y_min = 0, o.y_max = 1;
  std::string svg = slm::plot_series_svg({train, val}, o);
  expect_clean_svg(svg);
  EXPECT_NE(svg.find(">0.0<"), std::string::npos);
  EXPECT_NE(svg.find(">1.0<"), std::string::npos);
  EXPECT_NE(svg.find(">epoch<"), std::string::npos);
}

// A classifier's accuracy plot: every evaluation (and the epoch-end records, which win at their
// step) against examples seen, steps on the top axis; a one-epoch run is a curve, not two dots.
TEST(Plot, AccuracyFromTheEvaluations) {
  std::vector<json> recs;
  for (int step = 1; step <= 10; ++step)
    recs.push_back({{"type", "step"}, {"step", step}, {"examples_seen", 8 * step}, {"loss", 0.7}});
  for (int step : {0, 4, 8, 10})
    recs.push_back({{"type", "eval"},
                    {"step", step},
                    {"examples_seen", 8 * step},
                    {"train_accuracy", 0.5 + 0.04 * step},
                    {"val_accuracy", 0.45 + 0.04 * step},
                    {"train_loss", 0.7},
                    {"val_loss", 0.7}});
  recs.push_back(
      {{"type", "epoch"}, {"step", 10}, {"examples_seen", 80}, {"train_accuracy", 0.99}, {"val_accuracy", 0.98}});
  const std::string svg = slm::plot_accuracy_svg(recs);
  expect_clean_svg(svg);
  for (const char* label : {">examples seen<", ">step<", ">train accuracy<", ">validation accuracy<", ">accuracy<"})
    EXPECT_NE(svg.find(label), std::string::npos) << label;
  EXPECT_EQ(count(svg, "<path"), 2u);            // two lines, no per-step series
  EXPECT_EQ(count(svg, "<circle"), 2u * 4 + 2);  // 4 evaluations each (the epoch record replaces step 10's) + legend
  // The classifier's loss plot is against examples seen too.
  EXPECT_NE(slm::plot_losses_svg(recs, "loss").find(">examples seen<"), std::string::npos);
}

// ----------------------------------------------------------------------------------- progress

TEST(Progress, FormatDuration) {
  EXPECT_EQ(slm::format_duration(0), "0s");
  EXPECT_EQ(slm::format_duration(12.4), "12s");
  EXPECT_EQ(slm::format_duration(59.6), "1m00s");
  EXPECT_EQ(slm::format_duration(245), "4m05s");
  EXPECT_EQ(slm::format_duration(3723), "1h02m03s");
  EXPECT_EQ(slm::format_duration(100 * 3600.0), "100h00m00s");
  EXPECT_EQ(slm::format_duration(-1), "?");
  EXPECT_EQ(slm::format_duration(NAN), "?");
  EXPECT_EQ(slm::format_eta(0, 100, 5.0), "?");
  EXPECT_EQ(slm::format_eta(25, 100, 10.0), "30s");
  EXPECT_EQ(slm::format_eta(60, 100, 10.0, 50), "40s");  // resumed at 50: 10 per 10 s
  EXPECT_EQ(slm::format_eta(100, 100, 10.0), "0s");
  EXPECT_EQ(slm::format_eta(5, 0, 10.0), "?");
}

TEST(Progress, PlainLinesAreThrottled) {
  Capture cap;
  double now = 0;
  {
    slm::Progress p(100, /*tty=*/false, cap.f);
    p.set_clock([&] { return now; });
    p.set_min_interval(10);
    p.set_label("step");
    for (int i = 1; i <= 100; ++i) {
      now = i * 0.5;  // 2 steps per second
      p.update(i, "loss 3.21 | lr 4.0e-04");
    }
    p.message("saved checkpoint");
  }
  std::string out = cap.text();
  EXPECT_EQ(out.find('\r'), std::string::npos);
  EXPECT_EQ(out.find('\033'), std::string::npos);
  // Lines at t = 0.5, 10.5, 20.5, 30.5, 40.5, the last one (done == total), and the message.
  EXPECT_EQ(count(out, "\n"), 7u) << out;
  EXPECT_NE(out.find("step   1/100   1.0% | loss 3.21 | lr 4.0e-04 | elapsed 1s | eta 50s\n"), std::string::npos)
      << out;
  EXPECT_NE(out.find("step 100/100 100.0% | loss 3.21 | lr 4.0e-04 | elapsed 50s | eta 0s\n"), std::string::npos)
      << out;
  EXPECT_NE(out.find("\nsaved checkpoint\n"), std::string::npos);
}

TEST(Progress, FinishPrintsThrottledState) {
  Capture cap;
  double now = 0;
  slm::Progress p(0, false, cap.f);  // unknown total
  p.set_clock([&] { return now; });
  p.set_min_interval(60);
  p.update(10);
  now = 5;
  p.update(20);
  EXPECT_EQ(count(cap.text(), "\n"), 1u);
  p.finish();
  p.finish();
  std::string out = cap.text();
  EXPECT_EQ(out, "10 | elapsed 0s\n20 | elapsed 5s\n");
}

// A download's use: byte counts, a total learned later, and no log lines for short work.
TEST(Progress, ByteCountsAndQuietWhenShort) {
  auto bytes = [](int64_t n) { return slm::format_bytes(static_cast<uint64_t>(n)); };
  double now = 0;
  {
    Capture cap;
    slm::Progress p(0, false, cap.f);
    p.set_clock([&] { return now; });
    p.set_min_interval(10);
    p.set_quiet_when_short(true);
    p.set_count_format(bytes);
    p.set_total(3'000'000);
    for (int i = 1; i <= 3; ++i) {
      now = i;
      p.update(i * 1'000'000);
    }
    p.finish();
    EXPECT_EQ(cap.text(), "");  // over in 3 s: silent, the caller reports it
  }
  Capture cap;
  now = 0;
  slm::Progress p(0, false, cap.f);
  p.set_clock([&] { return now; });
  p.set_min_interval(10);
  p.set_quiet_when_short(true);
  p.set_count_format(bytes);
  p.set_label("model.safetensors");
  p.set_total(20'000'000);
  for (int i = 1; i <= 20; ++i) {
    now = i;
    p.update(i * 1'000'000, "1.0 MB/s");
  }
  p.finish();
  EXPECT_EQ(cap.text(),
            "model.safetensors 10.0 MB/20.0 MB  50.0% | 1.0 MB/s | elapsed 10s | eta 10s\n"
            "model.safetensors 20.0 MB/20.0 MB 100.0% | 1.0 MB/s | elapsed 20s | eta 0s\n");
}

TEST(Progress, LiveLine) {
  Capture cap;
  double now = 0;
  {
    slm::Progress p(10, /*tty=*/true, cap.f);
    p.set_clock([&] { return now; });
    p.set_width(100);
    now = 1;
    p.update(5, "loss 3.21");
    p.message("hello");
    now = 1.05;
    p.update(6, "loss 3.10");  // within 0.1 s of the last redraw: skipped
    now = 2;
    p.set_width(60);
    p.update(10, std::string(100, 'x'));
  }
  std::string out = cap.text();
  const std::string bar = "\r\033[K[##########..........]  5/10  50.0% | loss 3.21 | elapsed 1s | eta 1s";
  EXPECT_EQ(out.rfind(bar, 0), 0u) << out;
  EXPECT_NE(out.find(bar + "\r\033[Khello\n" + bar + "\r\033[K"), std::string::npos) << out;
  EXPECT_EQ(out.find("6/10"), std::string::npos) << out;
  // Too wide for 60 columns: no bar, fields shortened, elapsed/ETA kept, ends with a newline.
  size_t last = out.rfind("\r\033[K");
  std::string tail = out.substr(last + 4);
  EXPECT_EQ(tail, "10/10 100.0% | " + std::string(19, 'x') + "... | elapsed 2s | eta 0s\n") << out;
}
