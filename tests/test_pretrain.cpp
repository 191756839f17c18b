// test_pretrain.cpp — `slm pretrain`, `slm eval` and `slm generate` end to end on a tiny model:
// the loss falls, resume is bit-exact, NaN stops cleanly, a crash during a save never damages
// the previous checkpoint, SIGINT saves and exits 0, and bad arguments give clear errors.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "scratchlm/data/window_dataset.h"
#include "scratchlm/io/checkpoint.h"
#include "scratchlm/io/hf_gpt2.h"
#include "scratchlm/tensor/rng.h"
#include "scratchlm/tokenizer/bpe.h"
#include "scratchlm/train/metrics.h"
#include "test_util.h"

namespace fs = std::filesystem;
using slm::test::run_slm;

namespace {

// A small synthetic corpus with plenty of structure for a tiny model to learn.
std::string corpus_file(const slm::test::TempDir& t) {
  const char* subj[] = {"The cat", "A dog", "My friend", "The old sailor", "Every whale"};
  const char* verb[] = {"sees", "follows", "remembers", "likes", "watches"};
  const char* obj[] = {"the sea.", "a small boat.", "the harbor lights.", "the long road.", "its shadow."};
  slm::Rng rng(5);
  std::string text;
  for (int i = 0; i < 1500; ++i)
    text += std::string(subj[rng.below(5)]) + " " + verb[rng.below(5)] + " " + obj[rng.below(5)] +
            (i % 7 == 6 ? "\n" : " ");
  std::string path = t.file("corpus.txt");
  slm::test::write_text(path, text);
  return path;
}

const std::string kTiny =
    "--config gpt2-tiny --emb-dim 64 --n-heads 2 --context-length 64 --seq 32 --batch 4 --threads 2 --quiet";

}  // namespace

TEST(Pretrain, TinyModelLearnsAndWritesEverything) {
  slm::test::TempDir t;
  std::string data = corpus_file(t), out = t.file("run");
  auto r = run_slm("pretrain " + kTiny + " --data " + data + " --out " + out +
                   " --steps 40 --lr 2e-3 --warmup 4 --eval-every 20 --eval-batches 4 --sample-every 40 --dropout 0");
  ASSERT_EQ(r.rc, 0) << r.err;
  for (const char* f : {"config.json", "model.safetensors", "vocab.json", "merges.txt", "optimizer.safetensors",
                        "trainer.json", "metrics.jsonl", "loss.svg"})
    EXPECT_TRUE(fs::exists(out + "/" + f)) << f;
  std::vector<double> val;
  int samples = 0;
  for (const auto& rec : slm::MetricsLog::read(out + "/metrics.jsonl")) {
    if (rec["type"] == "eval") val.push_back(rec["val_loss"]);
    if (rec["type"] == "sample") {
      ++samples;
      EXPECT_EQ(rec["text"].get<std::string>().rfind("Every effort moves you", 0), 0u);
    }
    if (rec["type"] == "step") {
      for (const char* k :
           {"step", "epoch", "tokens_seen", "loss", "lr", "grad_norm", "tokens_per_second", "elapsed_s"})
        EXPECT_TRUE(rec.contains(k)) << k;
    }
  }
  ASSERT_GE(val.size(), 3u);  // step 0, 20, 40
  EXPECT_LT(val.back(), val.front() - 2.0) << "val loss should fall clearly";
  // Bits per byte: the val loss in bits over the bytes of text per token of the validation split
  // (the last 10% of the tokens).
  const slm::Tokenizer& tok = slm::test::gpt2_tokenizer();
  const auto ids = tok.encode(slm::test::read_text(data), slm::SpecialMode::Text);
  const size_t first_val = slm::split_index(ids.size(), 0.1);
  const double bytes_per_token =
      static_cast<double>(tok.decode(std::span<const uint32_t>(ids).subspan(first_val)).size()) /
      (ids.size() - first_val);
  for (const auto& rec : slm::MetricsLog::read(out + "/metrics.jsonl")) {
    if (rec["type"] != "eval") continue;
    EXPECT_NEAR(rec["val_bits_per_byte"].get<double>(), rec["val_loss"].get<double>() / std::log(2.0) / bytes_per_token,
                1e-9);
  }
  EXPECT_EQ(samples, 1);
  EXPECT_EQ(slm::test::read_text(out + "/loss.svg").rfind("<svg", 0), 0u);
  auto st = nlohmann::json::parse(slm::test::read_text(out + "/trainer.json"));
  EXPECT_EQ(st["step"], 40);
  // The model directory works with the other commands.
  r = run_slm("eval --model " + out + " --data " + data + " --seq 32 --json");
  ASSERT_EQ(r.rc, 0) << r.err;
  auto ev = nlohmann::json::parse(r.out);
  EXPECT_LT(ev["loss"].get<double>(), val.front());
  EXPECT_NEAR(ev["perplexity"].get<double>(), std::exp(ev["loss"].get<double>()),
              1e-6 * ev["perplexity"].get<double>());
  r = run_slm("generate --model " + out + " --prompt 'The cat' --max-new-tokens 8 --json");
  ASSERT_EQ(r.rc, 0) << r.err;
  auto g = nlohmann::json::parse(r.out);
  EXPECT_LE(g["ids"].size(), 8u);
  // A fresh run into a directory that holds a checkpoint is refused.
  r = run_slm("pretrain " + kTiny + " --data " + data + " --out " + out + " --steps 2");
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("--resume"), std::string::npos);
}

TEST(Pretrain, ResumeIsBitExact) {
  slm::test::TempDir t;
  std::string data = corpus_file(t);
  const std::string common = kTiny + " --data " + data + " --lr 1e-3 --dropout 0.1 --grad-accum 2";
  // Constant schedule: 6 steps + resume to 12 == 12 straight.
  ASSERT_EQ(run_slm("pretrain " + common + " --schedule constant --steps 12 --out " + t.file("straight")).rc, 0);
  ASSERT_EQ(run_slm("pretrain " + common + " --schedule constant --steps 6 --out " + t.file("split")).rc, 0);
  // What the checkpoint fixes cannot change (the finetuners' rule: train/loop_options.h).
  auto r = run_slm("pretrain --resume " + t.file("split") + " --steps 12 --lr 1");
  EXPECT_EQ(r.rc, 2);
  EXPECT_HAS(r.err, "--lr cannot be changed when resuming");
  r = run_slm("pretrain --resume " + t.file("split") + " --steps 12 --quiet --threads 2");
  ASSERT_EQ(r.rc, 0) << r.err;
  auto a = slm::test::step_values(t.file("straight")), b = slm::test::step_values(t.file("split"));
  ASSERT_EQ(a.size(), 12u);
  EXPECT_EQ(a, b);
  // Cosine schedule interrupted at step 5 of 12 and resumed == 12 straight.
  ASSERT_EQ(run_slm("pretrain " + common + " --warmup 2 --steps 12 --out " + t.file("cos")).rc, 0);
  r = run_slm("pretrain " + common + " --warmup 2 --steps 12 --out " + t.file("cos2"));
  ASSERT_EQ(r.rc, 0);
  fs::remove_all(t.file("cos2"));
  ASSERT_EQ(run_slm("pretrain " + common + " --warmup 2 --steps 12 --stop-at 5 --out " + t.file("cos2")).rc, 0);
  EXPECT_EQ(slm::test::step_values(t.file("cos2")).size(), 5u);
  ASSERT_EQ(run_slm("pretrain --resume " + t.file("cos2") + " --quiet --threads 2").rc, 0);
  EXPECT_EQ(slm::test::step_values(t.file("cos")), slm::test::step_values(t.file("cos2")));
  auto m1 = slm::load_hf_model(t.file("cos"), true), m2 = slm::load_hf_model(t.file("cos2"), true);
  EXPECT_TRUE(
      std::equal(m1->params().data_all(), m1->params().data_all() + m1->params().numel(), m2->params().data_all()));
}

TEST(Pretrain, TextColumnOfATableAndItsResume) {
  // --text-column: each CSV row's text is a document; trainer.json keeps the column, so a resume
  // reads the same token stream (a resume that read the raw CSV would see other tokens and losses).
  slm::test::TempDir t;
  const std::string text = slm::test::read_text(corpus_file(t));
  std::string csv = "Label,Text\n";
  for (size_t i = 0; i + 400 <= text.size(); i += 400) csv += "x,\"" + text.substr(i, 400) + "\"\n";
  slm::test::write_text(t.file("rows.csv"), csv);
  const std::string common =
      kTiny + " --data " + t.file("rows.csv") + " --text-column Text --lr 1e-3 --schedule constant";
  ASSERT_EQ(run_slm("pretrain " + common + " --steps 4 --out " + t.file("straight")).rc, 0);
  ASSERT_EQ(run_slm("pretrain " + common + " --steps 2 --out " + t.file("split")).rc, 0);
  auto st = nlohmann::json::parse(slm::test::read_text(t.file("split") + "/trainer.json"));
  EXPECT_EQ(st["args"]["text_column"], "Text");
  auto r = run_slm("pretrain --resume " + t.file("split") + " --steps 4 --quiet --threads 2");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(slm::test::step_values(t.file("straight")), slm::test::step_values(t.file("split")));
  r = run_slm("eval --model " + t.file("straight") + " --data " + t.file("rows.csv") +
              " --text-column Text --seq 32 --json");
  ASSERT_EQ(r.rc, 0) << r.err;
  auto rows = nlohmann::json::parse(r.out);
  r = run_slm("eval --model " + t.file("straight") + " --data " + t.file("rows.csv") + " --seq 32 --json");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(rows["tokens"], nlohmann::json::parse(r.out)["tokens"]);  // the raw file is another stream
  r = run_slm("pretrain " + kTiny + " --data " + t.file("rows.csv") + " --text-column Body --steps 1 --out " +
              t.file("x"));
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.err.find("no text column 'Body'"), std::string::npos) << r.err;
}

TEST(Pretrain, NanLossStopsAndKeepsTheLastCheckpoint) {
  slm::test::TempDir t;
  std::string data = corpus_file(t), out = t.file("run");
  std::string cmd = std::string("env SLM_TEST_NAN_AT_STEP=5 ") + SLM_BINARY + " pretrain " + kTiny + " --data " + data +
                    " --out " + out + " --steps 8 --save-every 2 2>" + t.file("err");
  int st = std::system(cmd.c_str());
  EXPECT_NE(st, 0);
  std::string err = slm::test::read_text(t.file("err"));
  EXPECT_NE(err.find("at step 5"), std::string::npos) << err;
  auto state = nlohmann::json::parse(slm::test::read_text(out + "/trainer.json"));
  EXPECT_EQ(state["step"], 4);
  EXPECT_NO_THROW(slm::load_hf_model(out, true));
}

TEST(Pretrain, KillDuringSaveKeepsThePreviousCheckpoint) {
  slm::test::TempDir t;
  std::string data = corpus_file(t);
  for (const char* point : {"after_model", "before_commit", "mid_commit"}) {
    std::string out = t.file(std::string("run_") + point);
    std::string cmd = std::string("env SLM_TEST_CRASH_IN_SAVE=") + point + ":2 " + SLM_BINARY + " pretrain " + kTiny +
                      " --data " + data + " --out " + out + " --steps 6 --save-every 2 >/dev/null 2>&1";
    int st = std::system(cmd.c_str());
    EXPECT_NE(st, 0) << point;  // killed
    // Killed during the 2nd save (step 4): DIR holds step 2, or step 4 once the save was committed
    // (the next load finishes moving its files in).
    const bool committed = std::string(point) == "mid_commit";
    EXPECT_EQ(fs::exists(out + "/.slm-commit"), committed) << point;
    auto state = slm::load_trainer_state(out);
    EXPECT_EQ(state["step"], committed ? 4 : 2) << point;
    EXPECT_FALSE(fs::exists(out + "/.slm-commit")) << point;
    EXPECT_NO_THROW(slm::load_hf_model(out, true)) << point;
    // Resuming cleans up the interrupted save's leftovers and finishes the run.
    auto r = run_slm("pretrain --resume " + out + " --quiet --threads 2");
    EXPECT_EQ(r.rc, 0) << r.err;
    EXPECT_EQ(slm::load_trainer_state(out)["step"], 6) << point;
    for (const auto& e : fs::directory_iterator(out))
      EXPECT_EQ(e.path().filename().string().rfind(".slm-", 0), std::string::npos) << e.path();
  }
}

TEST(Pretrain, SigintSavesAndExitsZero) {
  slm::test::TempDir t;
  std::string data = corpus_file(t), out = t.file("run");
  std::string cmd = "bash -c '" + std::string(SLM_BINARY) + " pretrain " + kTiny + " --data " + data + " --out " + out +
                    " --steps 100000 >/dev/null 2>&1 & pid=$!; "
                    // SIGINT once the first step is logged: a background job ignores SIGINT until slm
                    // installs its handler (before step 1), so an early signal would be lost.
                    "for i in $(seq 600); do grep -qs step " +
                    out +
                    "/metrics.jsonl && break; sleep 0.1; done; "
                    "kill -INT $pid; wait $pid'";
  EXPECT_EQ(std::system(cmd.c_str()), 0);
  auto state = nlohmann::json::parse(slm::test::read_text(out + "/trainer.json"));
  EXPECT_GT(state["step"].get<int64_t>(), 0);
  EXPECT_LT(state["step"].get<int64_t>(), 100000);
}

TEST(Pretrain, BadArguments) {
  slm::test::TempDir t;
  std::string data = corpus_file(t);
  auto r = run_slm("pretrain --config gpt2-tiny --data " + data + " --out " + t.file("x") + " --seq 500");
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("context length"), std::string::npos);
  r = run_slm("pretrain --config gpt2-tiny --data " + t.file("missing.txt") + " --out " + t.file("x"));
  EXPECT_EQ(r.rc, 2);
  r = run_slm("pretrain --data " + data + " --out " + t.file("x"));
  EXPECT_EQ(r.rc, 2);
  r = run_slm("pretrain --config gpt2-tiny --data " + data + " --out " + t.file("x") + " --max-time 10q");
  EXPECT_EQ(r.rc, 2);
  r = run_slm("pretrain --config gpt2-tiny --data " + data + " --out " + t.file("x") + " --schedule wavy");
  EXPECT_EQ(r.rc, 2);
  r = run_slm("pretrain --config gpt2-tiny --data " + data + " --out " + t.file("x") + " --batch 4000 --steps 1");
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("not enough training tokens"), std::string::npos);
}

TEST(Generate, ArgumentErrorsAndGreedyDeterminism) {
  const std::string m = std::string(SLM_SOURCE_DIR) + "/tests/fixtures/torch/tiny_qkvbias";
  slm::test::TempDir t;
  auto r = run_slm("generate --model " + m + " --prompt hi --top-p 0");
  EXPECT_EQ(r.rc, 2);
  r = run_slm("generate --model " + m + " --prompt hi --top-p 1.5");
  EXPECT_EQ(r.rc, 2);
  r = run_slm("generate --model " + m + " --prompt hi --temperature -1");
  EXPECT_EQ(r.rc, 2);
  r = run_slm("generate --model " + t.file("nope") + " --prompt hi");
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("does not exist"), std::string::npos);
}
