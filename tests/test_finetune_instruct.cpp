// test_finetune_instruct.cpp — `slm finetune-instruct` (chapter 7.5–7.7, LoRA of appendix E) end
// to end on a tiny model: the validation loss falls and every output is written, --mask-prompt
// changes the targets, resume is bit-exact, LoRA trains only the adapters and its merged and
// adapter outputs agree, SIGINT saves and exits 0, and bad arguments give clear errors.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>

#include "scratchlm/io/hf_gpt2.h"
#include "scratchlm/train/metrics.h"
#include "test_util.h"

namespace fs = std::filesystem;
using slm::test::run_slm;

namespace {

// A short, learnable instruction set: 40 entries, outputs of one or two words.
std::string write_instruction_data(const std::string& path) {
  const char* fruit[] = {"banana", "cherry", "lemon", "lime", "grape", "plum", "kiwi", "apple"};
  const char* color[] = {"yellow", "red", "yellow", "green", "purple", "purple", "brown", "red"};
  const char* word[] = {"cat", "dog", "sun", "tree", "book", "road", "ship", "lamp"};
  nlohmann::json arr = nlohmann::json::array();
  for (int i = 0; i < 40; ++i) {
    const int j = (i * 3) % 8;
    if (i % 2 == 0)
      arr.push_back({{"instruction", std::string("What color is a ") + fruit[j] + "?"},
                     {"input", ""},
                     {"output", std::string("It is ") + color[j] + "."}});
    else
      arr.push_back({{"instruction", "Repeat the word."}, {"input", word[j]}, {"output", word[j]}});
  }
  slm::test::write_text(path, arr.dump(1));
  return path;
}

std::vector<double> logits_of(const std::string& model_dir) {
  auto r = run_slm("logits --model " + model_dir + " --tokens '5 60 200 300 7 256 1' --json");
  EXPECT_EQ(r.rc, 0) << r.err;
  if (r.rc != 0) return {};
  return nlohmann::json::parse(r.out)["logits"].get<std::vector<double>>();
}

}  // namespace

// A tiny pretrained model and the data, made once for the suite.
class FinetuneInstruct : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = std::make_unique<slm::test::TempDir>();
    write_instruction_data(dir_->file("data.json"));
    // A small BPE vocabulary keeps the output head, and so every step, cheap.
    std::string text;
    for (int i = 0; i < 100; ++i) text += "The cat sees the sea. A dog likes the long road. ";
    slm::test::write_text(dir_->file("corpus.txt"), text);
    text += slm::test::read_text(dir_->file("data.json"));
    for (int i = 0; i < 20; ++i)
      text +=
          "Below is an instruction that describes a task. Write a response that appropriately completes the "
          "request.\n\n### Instruction:\n### Input:\n### Response:\n";
    slm::test::write_text(dir_->file("tok.txt"), text);
    auto r = run_slm("train-tokenizer --input " + dir_->file("tok.txt") + " --vocab-size 400 --threads 1 --out " +
                     dir_->file("tok"));
    ASSERT_EQ(r.rc, 0) << r.err;
    r = run_slm(
        "pretrain --config gpt2-tiny --emb-dim 32 --n-heads 2 --context-length 96 --vocab-size 400 --tokenizer " +
        dir_->file("tok") + " --seq 32 --batch 2 --steps 1 --threads 1 --quiet --data " + dir_->file("corpus.txt") +
        " --out " + dir_->file("base"));
    ASSERT_EQ(r.rc, 0) << r.err;
  }
  static void TearDownTestSuite() { dir_.reset(); }

  static std::string base() { return dir_->file("base"); }
  static std::string data() { return dir_->file("data.json"); }
  // The common options: tiny batches, no responses unless asked.
  static std::string common() {
    return "finetune-instruct --init-from " + base() + " --data " + data() + " --batch 4 --threads 1 ";
  }

  slm::test::TempDir t_;
  static std::unique_ptr<slm::test::TempDir> dir_;
};
std::unique_ptr<slm::test::TempDir> FinetuneInstruct::dir_;

TEST_F(FinetuneInstruct, LearnsAndWritesEverything) {
  const std::string out = t_.file("run");
  auto r = run_slm(common() + "--out " + out + " --epochs 4 --lr 3e-3 --eval-every 8 --max-new-tokens 6");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.err.find("step 8 (epoch 1): train loss"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("trainable parameters: "), std::string::npos);
  for (const char* f : {"config.json", "model.safetensors", "vocab.json", "merges.txt", "optimizer.safetensors",
                        "trainer.json", "metrics.jsonl", "loss.svg", "instruction-data-with-response.json"})
    EXPECT_TRUE(fs::exists(out + "/" + f)) << f;
  std::vector<double> val;
  int samples = 0, finals = 0, steps = 0;
  for (const auto& rec : slm::MetricsLog::read(out + "/metrics.jsonl")) {
    if (rec["type"] == "eval") val.push_back(rec["val_loss"]);
    if (rec["type"] == "step") ++steps;
    if (rec["type"] == "final") ++finals;
    if (rec["type"] == "sample") {  // the book's sample: format_input(val_data[0]) + 50 tokens
      ++samples;
      EXPECT_EQ(rec["text"].get<std::string>().rfind("Below is an instruction that describes a task.", 0), 0u);
    }
  }
  EXPECT_EQ(steps, 32);   // 34 train entries / batch 4 = 8 steps per epoch (drop_last), 4 epochs
  EXPECT_EQ(samples, 4);  // one per epoch
  EXPECT_EQ(finals, 1);
  ASSERT_GE(val.size(), 5u);  // before training, after steps 1, 9, 17, 25
  EXPECT_LT(val.back(), val.front() - 2.5) << "val loss should fall clearly";
  auto responses = nlohmann::json::parse(slm::test::read_text(out + "/instruction-data-with-response.json"));
  ASSERT_EQ(responses.size(), 4u);  // int(40 * 0.10) test entries
  for (const auto& e : responses) EXPECT_TRUE(e["model_response"].is_string());
  auto st = nlohmann::json::parse(slm::test::read_text(out + "/trainer.json"));
  EXPECT_EQ(st["format"], "scratchlm-instruct/1");
  EXPECT_EQ(st["step"], 32);
  // The result is a model directory for the other commands.
  EXPECT_EQ(logits_of(out).size(), 400u);
  // A fresh run into a directory that holds a checkpoint is refused.
  r = run_slm(common() + "--out " + out + " --max-steps 1");
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("--resume"), std::string::npos);
}

TEST_F(FinetuneInstruct, LearnsToAnswerWithPhi3AndMaskedPrompts) {
  // Longer training: the answers to the test split become right, and generation stops at the
  // tokenizer's own <|endoftext|> (id 256 here, not GPT-2's 50256).
  const std::string out = t_.file("run");
  auto r = run_slm(common() + "--out " + out +
                   " --template phi3 --mask-prompt --epochs 40 --lr 3e-3 "
                   "--eval-every 0 --max-new-tokens 8 --quiet");
  ASSERT_EQ(r.rc, 0) << r.err;
  auto responses = nlohmann::json::parse(slm::test::read_text(out + "/instruction-data-with-response.json"));
  ASSERT_EQ(responses.size(), 4u);
  int right = 0;
  for (const auto& e : responses) right += e["model_response"] == e["output"];
  EXPECT_GE(right, 3) << responses.dump(1);
  EXPECT_EQ(nlohmann::json::parse(slm::test::read_text(out + "/trainer.json"))["args"]["template"], "phi3");
}

TEST_F(FinetuneInstruct, MaxTimeEndsTheRun) {
  const std::string out = t_.file("run");
  auto r = run_slm(common() + "--out " + out +
                   " --epochs 1000000 --max-time 1s --eval-every 0 --sample-tokens 1 "
                   "--max-new-tokens 2 --quiet");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_TRUE(fs::exists(out + "/instruction-data-with-response.json"));  // a finished run
  const int64_t step = nlohmann::json::parse(slm::test::read_text(out + "/trainer.json"))["step"];
  EXPECT_GT(step, 0);
  EXPECT_LT(step, 8000000);
}

TEST_F(FinetuneInstruct, MaskPromptChangesTheTargets) {
  const std::string opts = "--max-steps 1 --eval-every 0 --no-responses --quiet --out ";
  ASSERT_EQ(run_slm(common() + opts + t_.file("plain")).rc, 0);
  auto r = run_slm(common() + "--mask-prompt " + opts + t_.file("masked"));
  ASSERT_EQ(r.rc, 0) << r.err;
  auto a = slm::test::step_values(t_.file("plain")), b = slm::test::step_values(t_.file("masked"));
  ASSERT_EQ(a.size(), 1u);
  ASSERT_EQ(b.size(), 1u);
  EXPECT_NE(a[0], b[0]);
}

TEST_F(FinetuneInstruct, ResumeIsBitExact) {
  // Dropout on, an eval cadence, and an epoch boundary (8 steps) between the stop and the end.
  const std::string opts = "--max-steps 11 --lr 1e-3 --dropout 0.1 --eval-every 3 --no-responses --quiet --out ";
  ASSERT_EQ(run_slm(common() + opts + t_.file("straight")).rc, 0);
  const std::string cmd =
      std::string(SLM_BINARY) + " " + common() + "--stop-at 5 " + opts + t_.file("split") + " >/dev/null 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  EXPECT_EQ(slm::test::step_values(t_.file("split")).size(), 5u);
  EXPECT_EQ(nlohmann::json::parse(slm::test::read_text(t_.file("split") + "/trainer.json"))["step"], 5);
  // Settings that the checkpoint fixes cannot change.
  auto r = run_slm("finetune-instruct --resume " + t_.file("split") + " --lr 1");
  EXPECT_EQ(r.rc, 2);
  r = run_slm("finetune-instruct --resume " + t_.file("split") + " --quiet --threads 1");
  ASSERT_EQ(r.rc, 0) << r.err;
  auto a = slm::test::step_values(t_.file("straight")), b = slm::test::step_values(t_.file("split"));
  ASSERT_EQ(a.size(), 11u);
  EXPECT_EQ(a, b);
  auto m1 = slm::load_hf_model(t_.file("straight"), true), m2 = slm::load_hf_model(t_.file("split"), true);
  EXPECT_TRUE(
      std::equal(m1->params().data_all(), m1->params().data_all() + m1->params().numel(), m2->params().data_all()));
}

// The options every trainer shares (train/loop_options.h) work here too, also those pretraining
// had first: a warmup and cosine decay change the learning rate of each step, and the checkpoint
// keeps them, so a resume cannot change them.
TEST_F(FinetuneInstruct, SharedScheduleOptionsAndTheirResume) {
  const std::string out = t_.file("sched");
  auto r = run_slm(common() +
                   "--max-steps 6 --lr 1e-3 --warmup 2 --schedule cosine --min-lr 0 --betas 0.8 0.9 "
                   "--eval-every 0 --no-responses --quiet --stop-at 4 --out " +
                   out);
  ASSERT_EQ(r.rc, 0) << r.err;
  const std::vector<double> lrs = slm::test::step_values(out, "lr");
  ASSERT_EQ(lrs.size(), 4u);
  EXPECT_NEAR(lrs[0], 5e-4, 1e-9);  // warmup: lr * 1/2
  EXPECT_NEAR(lrs[1], 1e-3, 1e-9);
  EXPECT_NEAR(lrs[2], 1e-3 * 0.5 * (1 + std::cos(M_PI * 1 / 4)), 1e-9);  // cosine to 0 over steps 3..6
  const auto args = nlohmann::json::parse(slm::test::read_text(out + "/trainer.json"))["args"];
  EXPECT_EQ(args["schedule"], "cosine");
  EXPECT_EQ(args["warmup"], 2);
  EXPECT_NEAR(args["betas"][0].get<double>(), 0.8, 1e-6);
  for (const char* opt : {"--warmup 3", "--schedule linear", "--betas 0.9 0.99", "--seed 5"}) {
    r = run_slm("finetune-instruct --resume " + out + " " + opt);
    EXPECT_EQ(r.rc, 2) << opt;
    EXPECT_NE(r.err.find("cannot be changed when resuming"), std::string::npos) << r.err;
  }
  r = run_slm("finetune-instruct --resume " + out + " --quiet");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(slm::test::read_text(out + "/trainer.json"))["step"], 6);
}

TEST_F(FinetuneInstruct, LoraTrainsOnlyTheAdaptersAndMergesExactly) {
  const std::string opts =
      "--lora-rank 4 --lora-alpha 8 --max-steps 4 --lr 1e-2 --eval-every 0 --max-new-tokens 3 --out ";
  auto r = run_slm(common() + "--no-merge " + opts + t_.file("adapter"));
  ASSERT_EQ(r.rc, 0) << r.err;
  const size_t at = r.err.find("trainable parameters: ");
  ASSERT_NE(at, std::string::npos) << r.err;
  long long n = 0, m = 0;
  ASSERT_EQ(std::sscanf(r.err.c_str() + at, "trainable parameters: %lld of %lld", &n, &m), 2);
  EXPECT_GT(n, 0);
  EXPECT_LT(n * 5, m);  // adapters are a small fraction
  EXPECT_TRUE(fs::exists(t_.file("adapter/adapter_config.json")));
  EXPECT_TRUE(fs::exists(t_.file("adapter/checkpoint/trainer.json")));
  EXPECT_TRUE(fs::exists(t_.file("adapter/instruction-data-with-response.json")));
  // The base weights are untouched; the adapters moved (B starts at zero).
  auto start = slm::load_hf_model(base(), true), tuned = slm::load_hf_model(t_.file("adapter"), true);
  bool adapters_moved = false;
  for (const auto& p : tuned->params().params()) {
    const float* v = tuned->params().data(p.name);
    if (start->params().find(p.name)) {
      EXPECT_TRUE(std::equal(v, v + p.numel, start->params().data(p.name))) << p.name;
    } else {
      for (size_t i = 0; i < p.numel; ++i) adapters_moved |= v[i] != 0.0f && p.name.find("lora_B") != std::string::npos;
    }
  }
  EXPECT_TRUE(adapters_moved);
  // The same run merged gives the same logits as base + adapter, and differs from the base.
  r = run_slm(common() + opts + t_.file("merged") + " --no-responses --quiet");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_FALSE(fs::exists(t_.file("merged/adapter_config.json")));
  const auto la = logits_of(t_.file("adapter")), lm = logits_of(t_.file("merged")), lb = logits_of(base());
  ASSERT_EQ(la.size(), lm.size());
  double diff = 0.0, moved = 0.0;
  for (size_t i = 0; i < la.size(); ++i)
    diff = std::max(diff, std::abs(la[i] - lm[i])), moved = std::max(moved, std::abs(lm[i] - lb[i]));
  EXPECT_LT(diff, 1e-4);
  EXPECT_GT(moved, 1e-3);
  // A LoRA run resumes exactly too.
  const std::string cmd = std::string(SLM_BINARY) + " " + common() + "--stop-at 2 " + opts + t_.file("lsplit") +
                          " --no-responses --quiet >/dev/null 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  r = run_slm("finetune-instruct --resume " + t_.file("lsplit") + " --quiet --threads 1");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(slm::test::step_values(t_.file("merged")), slm::test::step_values(t_.file("lsplit")));
}

TEST_F(FinetuneInstruct, SigintSavesAndExitsZero) {
  const std::string out = t_.file("run");
  const std::string cmd = "bash -c '" + std::string(SLM_BINARY) + " " + common() + "--out " + out +
                          " --epochs 100000 --eval-every 0 --sample-tokens 1 >/dev/null 2>&1 & pid=$!; "
                          // once the first step is logged (a background job ignores SIGINT until slm's handler is in)
                          "for i in $(seq 600); do grep -qs step " +
                          out +
                          "/metrics.jsonl && break; sleep 0.1; done; "
                          "kill -INT $pid; wait $pid'";
  EXPECT_EQ(std::system(cmd.c_str()), 0);
  auto state = nlohmann::json::parse(slm::test::read_text(out + "/trainer.json"));
  EXPECT_GT(state["step"].get<int64_t>(), 0);
  EXPECT_FALSE(fs::exists(out + "/instruction-data-with-response.json"));  // an interrupted run is not finished
}

TEST_F(FinetuneInstruct, NanLossStopsAndKeepsTheLastCheckpoint) {
  const std::string out = t_.file("run");
  const std::string cmd = std::string("env SLM_TEST_NAN_AT_STEP=3 ") + SLM_BINARY + " " + common() + "--out " + out +
                          " --max-steps 6 --save-every 2 --eval-every 0 2>" + t_.file("err");
  EXPECT_NE(std::system(cmd.c_str()), 0);
  EXPECT_NE(slm::test::read_text(t_.file("err")).find("at step 3"), std::string::npos);
  EXPECT_EQ(nlohmann::json::parse(slm::test::read_text(out + "/trainer.json"))["step"], 2);
}

TEST_F(FinetuneInstruct, BadArguments) {
  const std::string out = " --out " + t_.file("x");
  const std::string start = "finetune-instruct --init-from " + base();
  auto r = run_slm(start + " --data " + t_.file("missing.json") + out);
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("not found"), std::string::npos) << r.err;
  slm::test::write_text(t_.file("empty.json"), "[]");
  r = run_slm(start + " --data " + t_.file("empty.json") + out);
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("no entries"), std::string::npos) << r.err;
  r = run_slm(start + " --data " + data() + out + " --lora-alpha 16");
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("--lora-rank"), std::string::npos) << r.err;
  r = run_slm(start + " --data " + data() + out + " --lora-rank 4 --lora-targets attn,bogus");
  EXPECT_EQ(r.rc, 2);
  r = run_slm(start + " --data " + data() + out + " --max-length 0");
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("--max-length"), std::string::npos) << r.err;
  r = run_slm(start + " --data " + data() + out + " --no-merge");
  EXPECT_EQ(r.rc, 2);
  r = run_slm(start + " --data " + data() + out + " --template chatml");
  EXPECT_EQ(r.rc, 2);
  r = run_slm(start + " --data " + data() + out + " --batch 100");
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("fewer than one batch"), std::string::npos) << r.err;
  r = run_slm("finetune-instruct --data " + data() + out);
  EXPECT_EQ(r.rc, 2);
  r = run_slm("finetune-instruct --resume " + t_.file("nothing"));
  EXPECT_EQ(r.rc, 2);
  for (const char* f : {"x/model.safetensors", "x/trainer.json"}) EXPECT_FALSE(fs::exists(t_.file(f))) << f;
}
