// test_engine_exact.cpp — the training engine's losses, bit for bit (chapters 5–7 and appendix E):
// short fixed-seed runs of every trainer — pretraining with dropout and gradient accumulation, the
// classifier, instruction finetuning full and with LoRA — must give exactly the step and evaluation
// losses recorded in tests/fixtures/engine_losses.json (one thread, so the sums run in one order).
// A refactor of the loop keeps them; a deliberate change of order re-records the affected run with
//   SLM_RECORD_ENGINE_FIXTURE=1 ./build/slm_tests --gtest_filter='EngineExact*'
// and says why in its commit. The numbers are those of the release build (-O3 -march=native) on
// this project's machine kind; other builds (the sanitizer's Debug build) skip the comparison.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "scratchlm/train/metrics.h"
#include "test_util.h"

namespace fs = std::filesystem;
using slm::test::run_slm;

namespace {

const std::string kFixture = slm::test::source_dir() + "/tests/fixtures/engine_losses.json";

// {run name, command (with {dir} for the suite's folder and {out} for the run's), metrics file}
struct EngineRun {
  const char* name;
  const char* args;
};

const EngineRun kRuns[] = {
    {"pretrain",
     "pretrain --config gpt2-tiny --emb-dim 32 --n-heads 2 --context-length 32 --vocab-size 300 "
     "--tokenizer {dir}/tok --data {dir}/corpus.txt --seq 16 --batch 2 --grad-accum 2 --dropout 0.1 "
     "--steps 8 --warmup 2 --lr 3e-3 --eval-every 3 --eval-batches 2 --save-every 4 --threads 1 --quiet "
     "--out {out}"},
    {"classifier",
     "finetune-classifier --init-from {dir}/base --train {dir}/train.csv --val {dir}/val.csv "
     "--test {dir}/val.csv --trainable all --dropout 0.1 --epochs 2 --batch 4 --eval-every 2 "
     "--eval-batches 2 --lr 1e-3 --threads 1 --quiet --out {out}"},
    {"instruct",
     "finetune-instruct --init-from {dir}/base --data {dir}/instr.json --batch 4 --epochs 2 --lr 1e-3 "
     "--dropout 0.1 --eval-every 2 --eval-batches 2 --save-every 3 --sample-tokens 4 --no-responses "
     "--threads 1 --quiet --out {out}"},
    {"instruct-lora",
     "finetune-instruct --init-from {dir}/base --data {dir}/instr.json --batch 4 --epochs 2 "
     "--lr 3e-3 --dropout 0.1 --lora-rank 4 --eval-every 2 --eval-batches 2 --save-every 3 "
     "--sample-tokens 4 --no-responses --threads 1 --quiet --out {out}"},
};

std::string expand(std::string s, const std::string& dir, const std::string& out) {
  for (const auto& [k, v] : {std::pair<std::string, std::string>{"{dir}", dir}, {"{out}", out}})
    for (size_t p; (p = s.find(k)) != std::string::npos;) s.replace(p, k.size(), v);
  return s;
}

// The losses of a run's metrics.jsonl: every record's loss-like numbers, in order.
nlohmann::json losses_of(const std::string& metrics) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& r : slm::MetricsLog::read(metrics)) {
    nlohmann::json keep = {{"type", r["type"]}};
    if (r.contains("step")) keep["step"] = r["step"];
    for (const char* k : {"loss", "train_loss", "val_loss", "test_loss", "train_accuracy", "val_accuracy", "grad_norm"})
      if (r.contains(k)) keep[k] = r[k];
    if (keep.size() > 2) out.push_back(keep);
  }
  return out;
}

}  // namespace

TEST(EngineExact, EveryTrainerGivesItsRecordedLossesBitForBit) {
#if !SLM_FIXTURE_BUILD
  GTEST_SKIP() << "the fixture is the release build's (-O3 -march=native); this build compiles float math differently";
#endif
  slm::test::TempDir t;
  const std::string dir = t.path();
  std::string text;
  for (int i = 0; i < 120; ++i)
    text += "The cat sees the sea. A dog likes the long road " + std::to_string(i * 7919 % 1000) + ". ";
  slm::test::write_text(dir + "/corpus.txt", text);
  auto r = run_slm("train-tokenizer --input " + dir + "/corpus.txt --vocab-size 300 --threads 1 --out " + dir + "/tok");
  ASSERT_EQ(r.rc, 0) << r.err;
  // The base of the finetuning runs has room for a whole alpaca prompt (about 150 tokens here).
  r = run_slm(
      "pretrain --config gpt2-tiny --emb-dim 32 --n-heads 2 --context-length 256 --vocab-size 300 --tokenizer " + dir +
      "/tok --data " + dir + "/corpus.txt --seq 16 --batch 2 --steps 2 --threads 1 --quiet --out " + dir + "/base");
  ASSERT_EQ(r.rc, 0) << r.err;
  std::string train = "label,text\n", val = "label,text\n";
  for (int i = 0; i < 24; ++i)
    train += (i % 2 ? "spam,win a prize now " : "ham,see you at the sea ") + std::to_string(i) + "\n";
  for (int i = 0; i < 8; ++i) val += (i % 2 ? "spam,win a cat prize\n" : "ham,the dog sees you\n");
  slm::test::write_text(dir + "/train.csv", train);
  slm::test::write_text(dir + "/val.csv", val);
  nlohmann::json instr = nlohmann::json::array();
  for (int i = 0; i < 24; ++i)
    instr.push_back({{"instruction", i % 2 ? "Say cat." : "Name the sea."},
                     {"input", std::to_string(i)},
                     {"output", i % 2 ? "cat" : "the sea"}});
  slm::test::write_text(dir + "/instr.json", instr.dump());

  const bool record = std::getenv("SLM_RECORD_ENGINE_FIXTURE") != nullptr;
  nlohmann::json expected = record ? nlohmann::json::object() : nlohmann::json::parse(slm::test::read_text(kFixture));
  for (const EngineRun& run : kRuns) {
    const std::string out = dir + "/" + run.name;
    r = run_slm(expand(run.args, dir, out));
    ASSERT_EQ(r.rc, 0) << run.name << ": " << r.err;
    const nlohmann::json got = losses_of(out + "/metrics.jsonl");
    ASSERT_GT(got.size(), 4u) << run.name;
    if (record) {
      expected[run.name] = got;
      continue;
    }
    ASSERT_TRUE(expected.contains(run.name)) << run.name;
    const nlohmann::json& want = expected[run.name];
    ASSERT_EQ(got.size(), want.size()) << run.name;
    for (size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i], want[i]) << run.name << " record " << i;
  }
  if (record) slm::test::write_text(kFixture, expected.dump(1) + "\n");
}
