// test_robustness.cpp — the attack of issue 18 kept as a suite: a table of bad inputs to the
// training and inference commands, each with the exit code and the message fragment it must give
// (never a crash, a hang or a silent wrong result), and the faults a checkpoint must survive: an
// --out folder that holds other things, a learning rate that blows the weights up, a full disk,
// absurd thread counts under an address-space limit.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "scratchlm/io/checkpoint.h"
#include "scratchlm/io/hf_gpt2.h"
#include "scratchlm/train/metrics.h"
#include "test_util.h"

namespace fs = std::filesystem;
using slm::test::run_slm;

namespace {

// {name, arguments ({corpus}, {base}, {instr}, {out}, {file} are replaced), exit code, message fragment}
struct BadInputCase {
  const char* name;
  const char* args;
  int rc;
  const char* message;
};

const BadInputCase kBadInputs[] = {
    // pretrain: every option out of range is named, before any work starts
    {"seq negative", "pretrain {tiny} --seq -5", 2, "--seq must not be negative"},
    {"stride negative", "pretrain {tiny} --stride -1", 2, "--stride must not be negative"},
    {"steps negative", "pretrain {tiny} --steps -1", 2, "--steps must not be negative"},
    {"epochs negative", "pretrain {tiny} --epochs -2", 2, "--epochs must not be negative"},
    {"dropout negative", "pretrain {tiny} --dropout -0.5", 2, "--dropout must be in [0, 1)"},
    {"dropout one", "pretrain {tiny} --dropout 1", 2, "--dropout must be in [0, 1)"},
    {"lr inf", "pretrain {tiny} --lr inf", 2, "--lr must be a positive finite number"},
    {"lr nan", "pretrain {tiny} --lr nan", 2, "--lr must be a positive finite number"},
    {"lr zero", "pretrain {tiny} --lr 0", 2, "--lr must be a positive finite number"},
    {"betas one", "pretrain {tiny} --betas 1 1", 2, "--betas (first) must be in [0, 1)"},
    {"beta2 one", "pretrain {tiny} --betas 0.9 1", 2, "--betas (second) must be in [0, 1)"},
    {"weight decay inf", "pretrain {tiny} --weight-decay inf", 2, "--weight-decay must be a finite number"},
    {"grad clip negative", "pretrain {tiny} --grad-clip -1", 2, "--grad-clip must be a finite number"},
    {"batch zero", "pretrain {tiny} --batch 0", 2, "--batch must be positive"},
    {"val fraction one", "pretrain {tiny} --val-fraction 1", 2, "--val-fraction must be in [0, 1)"},
    {"threads negative", "pretrain {tiny} --threads -3", 2, "--threads must not be negative"},
    {"out is a file", "pretrain {tiny_no_out} --out {file}", 2, "exists and is not a directory"},
    {"out not creatable", "pretrain {tiny_no_out} --out /proc/slm-no-such/run", 2, "cannot create --out"},
    {"out holds other files", "pretrain {tiny_no_out} --out {foreign}", 2, "is not empty and not a ScratchLM run"},
    // finetune-instruct: options are checked before the (long) training, not after it
    {"instruct max-new-tokens", "finetune-instruct {instruct} --max-new-tokens -1", 2,
     "--max-new-tokens must not be negative"},
    {"instruct dropout", "finetune-instruct {instruct} --dropout 1.5", 2, "--dropout must be in [0, 1)"},
    {"instruct lr nan", "finetune-instruct {instruct} --lr nan", 2, "--lr must be a positive finite number"},
    {"instruct fractions", "finetune-instruct {instruct} --train-frac 0.9 --test-frac 0.2", 2,
     "--train-frac and --test-frac"},
    {"instruct foreign out", "finetune-instruct --init-from {base} --data {instr} --out {foreign}", 2,
     "is not empty and not a ScratchLM run"},
    // finetune-classifier
    {"classifier dropout", "finetune-classifier --init-from {base} --train {csv} --out {out} --dropout -0.5", 2,
     "--dropout must be in [0, 1)"},
    {"classifier lr inf", "finetune-classifier --init-from {base} --train {csv} --out {out} --lr inf", 2,
     "--lr must be a positive finite number"},
    // inference commands
    {"generate threads negative", "generate --model {base} --prompt hi --threads -1", 2,
     "--threads must not be negative"},
    {"eval threads negative", "eval --model {base} --data {corpus} --threads -1", 2, "--threads must not be negative"},
    // a damaged checkpoint
    {"resume damaged trainer.json", "pretrain --resume {damaged}", 2, "trainer.json"},
    {"resume trainer.json without args", "pretrain --resume {no_args}", 2, "no \"args\""},
    {"resume damaged instruct state", "finetune-instruct --resume {damaged_instr}", 2,
     "trainer.json: malformed \"args\""},
};

}  // namespace

// A tiny pretrained model (400-token vocabulary) and data, made once for the suite.
class Robustness : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = std::make_unique<slm::test::TempDir>();
    std::string text;  // varied enough that the tokenizer learns all 300 entries
    for (int i = 0; i < 120; ++i)
      text += "The cat sees the sea. A dog likes the long road " + std::to_string(i * 7919 % 1000) + ". ";
    slm::test::write_text(dir_->file("corpus.txt"), text);
    auto r = run_slm("train-tokenizer --input " + dir_->file("corpus.txt") + " --vocab-size 300 --threads 1 --out " +
                     dir_->file("tok"));
    ASSERT_EQ(r.rc, 0) << r.err;
    r = run_slm(tiny() + " --steps 1 --out " + dir_->file("base"));
    ASSERT_EQ(r.rc, 0) << r.err;
    nlohmann::json instr = nlohmann::json::array();
    for (int i = 0; i < 20; ++i) instr.push_back({{"instruction", "Say cat."}, {"input", ""}, {"output", "cat"}});
    slm::test::write_text(dir_->file("instr.json"), instr.dump());
    std::string csv = "label,text\n";
    for (int i = 0; i < 20; ++i) csv += (i % 2 ? "spam,win a prize now\n" : "ham,see you at the sea\n");
    slm::test::write_text(dir_->file("train.csv"), csv);
    slm::test::write_text(dir_->file("a-file"), "x");
    fs::create_directories(dir_->file("foreign/earlier-run"));
    slm::test::write_text(dir_->file("foreign/notes.txt"), "mine");
    fs::create_directories(dir_->file("damaged"));
    fs::copy(dir_->file("base"), dir_->file("damaged"),
             fs::copy_options::recursive | fs::copy_options::overwrite_existing);
    slm::test::write_text(dir_->file("damaged/trainer.json"), R"({"step": 1, "args": {"data": 7}})");
    fs::create_directories(dir_->file("no_args"));
    fs::copy(dir_->file("base"), dir_->file("no_args"),
             fs::copy_options::recursive | fs::copy_options::overwrite_existing);
    slm::test::write_text(dir_->file("no_args/trainer.json"), R"({"step": 1})");
    fs::create_directories(dir_->file("damaged_instr"));
    slm::test::write_text(dir_->file("damaged_instr/trainer.json"),
                          R"({"format": "scratchlm-instruct/1", "step": 1, "args": {"data": 3}})");
  }
  static void TearDownTestSuite() { dir_.reset(); }

  // the tiny model's pretrain options without --out, --seq, --batch and --threads
  static std::string tiny_core() {
    return "--config gpt2-tiny --emb-dim 32 --n-heads 2 --context-length 32 --vocab-size 300 --tokenizer " +
           dir_->file("tok") + " --quiet --data " + dir_->file("corpus.txt");
  }
  static std::string tiny() { return "pretrain " + tiny_core() + " --seq 16 --batch 2 --threads 1"; }
  static std::string expand(std::string args, const std::string& out) {
    const std::string tiny_opts = tiny_core();
    const std::pair<std::string, std::string> vars[] = {
        {"{tiny_no_out}", tiny_opts},
        {"{tiny}", tiny_opts + " --out " + out},
        {"{instruct}", "--init-from " + dir_->file("base") + " --data " + dir_->file("instr.json") + " --out " + out +
                           " --batch 2 --threads 1"},
        {"{corpus}", dir_->file("corpus.txt")},
        {"{base}", dir_->file("base")},
        {"{instr}", dir_->file("instr.json")},
        {"{csv}", dir_->file("train.csv")},
        {"{file}", dir_->file("a-file")},
        {"{foreign}", dir_->file("foreign")},
        {"{damaged}", dir_->file("damaged")},
        {"{no_args}", dir_->file("no_args")},
        {"{damaged_instr}", dir_->file("damaged_instr")},
        {"{out}", out}};
    for (const auto& [k, v] : vars)
      for (size_t p; (p = args.find(k)) != std::string::npos;) args.replace(p, k.size(), v);
    return args;
  }

  slm::test::TempDir t_;
  static std::unique_ptr<slm::test::TempDir> dir_;
};
std::unique_ptr<slm::test::TempDir> Robustness::dir_;

TEST_F(Robustness, BadInputsGiveOneLineErrors) {
  for (const BadInputCase& c : kBadInputs) {
    const std::string out = t_.file(std::string("out-") + std::to_string(&c - kBadInputs));
    const auto r = run_slm(expand(c.args, out));
    EXPECT_EQ(r.rc, c.rc) << c.name << ": " << r.err;
    EXPECT_HAS(r.err, c.message) << c.name;
    EXPECT_EQ(r.err.find("terminate called"), std::string::npos) << c.name;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << c.name << ": " << r.err;
    EXPECT_FALSE(fs::exists(out + "/model.safetensors")) << c.name << ": nothing is trained for a bad option";
  }
}

// A checkpoint touches only its own files: an --out folder of earlier runs keeps its
// subdirectories, symlinks and mode (with --force; without it the run is refused).
TEST_F(Robustness, OutputFolderKeepsEverythingElse) {
  const std::string runs = t_.file("runs");
  fs::create_directories(runs + "/earlier/sub");
  slm::test::write_text(runs + "/earlier/sub/model.bin", "precious");
  slm::test::write_text(runs + "/notes.txt", "mine");
  fs::create_symlink("notes.txt", runs + "/link");
  ::chmod(runs.c_str(), 0700);
  auto r = run_slm(tiny() + " --steps 4 --save-every 2 --out " + runs);
  EXPECT_EQ(r.rc, 2);
  EXPECT_HAS(r.err, "--force");
  r = run_slm(tiny() + " --steps 4 --save-every 2 --out " + runs + " --force");
  ASSERT_EQ(r.rc, 0) << r.err;
  r = run_slm(expand("finetune-instruct {instruct} --max-steps 2 --save-every 1 --no-responses --force", runs));
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(slm::test::read_text(runs + "/earlier/sub/model.bin"), "precious");
  EXPECT_EQ(slm::test::read_text(runs + "/notes.txt"), "mine");
  EXPECT_TRUE(fs::is_symlink(runs + "/link"));
  struct stat st {};
  ASSERT_EQ(::stat(runs.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  EXPECT_NO_THROW(slm::load_hf_model(runs, true));
  for (const auto& e : fs::directory_iterator(runs))
    EXPECT_EQ(e.path().filename().string().rfind(".slm-", 0), std::string::npos) << e.path();
  for (const auto& e : fs::directory_iterator(t_.path()))
    EXPECT_EQ(e.path().filename().string().find(".ckpt-"), std::string::npos) << e.path();
}

// A learning rate that blows the weights up stops the run without replacing the last good
// checkpoint: what is kept loads, generates and resumes to the same error, never to NaN weights.
TEST_F(Robustness, HugeLearningRateNeverPoisonsTheCheckpoint) {
  int kept = 0;
  for (const char* lr : {"1e6", "1e30", "1e38"}) {
    const std::string out = t_.file(std::string("lr") + lr);
    auto r = run_slm(tiny() + " --steps 6 --save-every 1 --schedule constant --lr " + lr + " --out " + out);
    EXPECT_NE(r.rc, 0) << lr;
    EXPECT_HAS(r.err, "stopping without saving");
    EXPECT_EQ(r.err.find("-nan"), std::string::npos) << r.err;
    if (!fs::exists(out + "/trainer.json")) {  // it failed before the first save: nothing kept, and it says so
      EXPECT_HAS(r.err, "no checkpoint was saved yet");
      continue;
    }
    ++kept;
    EXPECT_HAS(r.err, "the last good checkpoint (step ");
    r = run_slm("generate --model " + out + " --prompt The --max-new-tokens 4 --temperature 0 --threads 1");
    EXPECT_EQ(r.rc, 0) << lr << ": the kept checkpoint must generate: " << r.err;
  }
  EXPECT_GE(kept, 1) << "no run kept a checkpoint to check";
}

// A full disk (here: a file size limit) fails the save with one line and leaves no temp folder.
TEST_F(Robustness, FullDiskLeavesNoLeftovers) {
  const std::string out = t_.file("full");
  const std::string cmd = "bash -c 'trap \"\" XFSZ; ulimit -f 64; " + std::string(SLM_BINARY) + " " + tiny() +
                          " --steps 2 --out " + out + "' 2>" + t_.file("err");
  const int st = std::system(cmd.c_str());
  EXPECT_NE(st, 0);
  const std::string err = slm::test::read_text(t_.file("err"));
  EXPECT_HAS(err, "slm: error: ");
  EXPECT_HAS(err, "File too large");
  ASSERT_TRUE(fs::is_directory(out));
  for (const auto& e : fs::directory_iterator(out))
    EXPECT_EQ(e.path().filename().string().rfind(".slm-", 0), std::string::npos) << e.path();
  for (const auto& e : fs::directory_iterator(t_.path()))
    EXPECT_EQ(e.path().filename().string().find(".ckpt-"), std::string::npos) << e.path();
}

// Absurd thread counts are capped at the cores (with a warning) instead of hanging OpenBLAS under
// an address-space limit.
TEST_F(Robustness, ThreadsAreCappedAtTheCores) {
  const std::string base = dir_->file("base");
  for (const std::string& args :
       {"generate --model " + base + " --prompt The --max-new-tokens 3 --temperature 0 --threads 1000",
        "eval --model " + base + " --data " + dir_->file("corpus.txt") + " --threads 1000"}) {
    // (AddressSanitizer reserves terabytes of address space: no limit there)
    const std::string limit = slm::test::kSanitized ? "" : "ulimit -v 8000000; ";
    const std::string cmd = "bash -c '" + limit + "timeout 60 " + std::string(SLM_BINARY) + " " + args + "' >" +
                            t_.file("out") + " 2>" + t_.file("err");
    EXPECT_EQ(std::system(cmd.c_str()), 0) << args << ": " << slm::test::read_text(t_.file("err"));
    EXPECT_HAS(slm::test::read_text(t_.file("err")), "--threads 1000 is more than the");
  }
}

// A validation split shorter than one window is validated on a shorter window, not "nan".
TEST_F(Robustness, ShortValidationSplitGetsAShorterWindow) {
  const std::string out = t_.file("shortval");
  auto r = run_slm(tiny() + " --steps 2 --val-fraction 0.01 --out " + out);
  ASSERT_EQ(r.rc, 0) << r.err;
  bool saw_eval = false;
  for (const auto& rec : slm::MetricsLog::read(out + "/metrics.jsonl")) {
    if (rec["type"] != "eval") continue;
    saw_eval = true;
    ASSERT_TRUE(rec.contains("val_loss"));
    EXPECT_TRUE(rec["val_loss"].is_number()) << rec.dump();
  }
  EXPECT_TRUE(saw_eval);
  r = run_slm(tiny() + " --steps 1 --val-fraction 0 --out " + t_.file("noval"));
  ASSERT_EQ(r.rc, 0) << r.err;
  for (const auto& rec : slm::MetricsLog::read(t_.file("noval") + "/metrics.jsonl")) {
    if (rec["type"] == "eval") {
      EXPECT_FALSE(rec.contains("val_loss")) << rec.dump();
    }
  }
}

// --out on a read-only file system: one line naming it, exit 2, before any work (a private mount
// namespace makes one; skipped where the sandbox allows none).
TEST_F(Robustness, ReadOnlyOutputIsRefusedUpFront) {
  const std::string mnt = t_.file("ro");
  fs::create_directories(mnt);
  const std::string cmd = "unshare -rm sh -c 'mount -t tmpfs -o ro none " + mnt + " || exit 77; " +
                          std::string(SLM_BINARY) + " " + tiny() + " --steps 1 --out " + mnt + "/run' 2>" +
                          t_.file("err");
  const int st = std::system(cmd.c_str());
  if (WIFEXITED(st) && WEXITSTATUS(st) == 77) GTEST_SKIP() << "no private mount namespace here";
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 2) << st;
  const std::string err = slm::test::read_text(t_.file("err"));
  EXPECT_HAS(err, "cannot create --out");
  EXPECT_HAS(err, "Read-only file system");
}
