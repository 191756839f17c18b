// test_mpi.cpp — data-parallel training over MPI (train/distributed.h, train/grad_sync.h), end to
// end through `mpirun -np 2 --oversubscribe slm ...`: 2 ranks x batch B train as one process with
// batch 2B (dropout on, with and without --zero 1, over shared memory and over TCP), as one
// process with batch B x --grad-accum 2 (dropout on too: masks are keyed by the step's rows, however
// the step is cut into micro-batches), both finetuners likewise; a
// 2-rank checkpoint resumes in one process; a rank killed with -9 ends the job; a rank that cannot
// read its data fails the job at start with its message. Skipped without mpirun or without MPI in
// the build. As root (CI), OpenMPI needs OMPI_ALLOW_RUN_AS_ROOT(_CONFIRM), set here.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "scratchlm/io/checkpoint.h"
#include "scratchlm/train/metrics.h"
#include "test_util.h"

namespace fs = std::filesystem;
using slm::test::run_slm;

namespace {

bool have_mpirun() {
#if !SLM_WITH_MPI
  return false;
#else
  return std::system("command -v mpirun >/dev/null 2>&1") == 0;
#endif
}

#define REQUIRE_MPI() \
  if (!have_mpirun()) GTEST_SKIP() << "no mpirun, or slm was built without MPI (-DSLM_MPI=OFF)"

// Under the sanitizer leg, OpenMPI's own allocations (and its dlopened components') are reported as
// leaks at exit: leak checking is off for the ranks, memory errors are still caught.
const std::string kMpiEnv =
    "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 ";

// `mpirun -np N [flags] slm ARGS`, or an MPMD line when args holds " : ".
slm::test::CliResult run_mpi(int np, const std::string& args, const std::string& flags = "") {
  slm::test::TempDir t;
  const std::string cmd = "env " + kMpiEnv + "timeout 120 mpirun -np " + std::to_string(np) + " --oversubscribe " +
                          flags + " " + SLM_BINARY + " " + args + " </dev/null >" + t.file("out") + " 2>" +
                          t.file("err");
  const int st = std::system(cmd.c_str());
  slm::test::CliResult r;
  r.rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  r.out = slm::test::read_text(t.file("out"));
  r.err = slm::test::read_text(t.file("err"));
  return r;
}

// The numbers of a run's metrics.jsonl that training decides: losses, accuracies, gradient norms.
struct Record {
  std::string type, key;
  int64_t step;
  double value;
};
std::vector<Record> records(const std::string& dir, bool steps_only = false) {
  std::vector<Record> out;
  for (const auto& r : slm::MetricsLog::read(dir + "/metrics.jsonl")) {
    if (steps_only && r["type"] != "step") continue;
    for (const char* k : {"loss", "train_loss", "val_loss", "test_loss", "train_accuracy", "val_accuracy", "grad_norm"})
      if (r.contains(k) && r[k].is_number())
        out.push_back({r["type"], k, r.value("step", int64_t{-1}), r[k].get<double>()});
  }
  return out;
}

// Every record of `b` as in `a`, to 1e-5 (relative for gradient norms).
void expect_same(const std::string& a, const std::string& b, bool steps_only = false) {
  const auto x = records(a, steps_only), y = records(b, steps_only);
  ASSERT_EQ(x.size(), y.size()) << a << " vs " << b;
  ASSERT_GT(x.size(), 10u);
  for (size_t i = 0; i < x.size(); ++i) {
    ASSERT_EQ(x[i].type + x[i].key, y[i].type + y[i].key) << i;
    ASSERT_EQ(x[i].step, y[i].step) << i;
    const double scale = x[i].key == "grad_norm" ? std::max(1.0, std::fabs(x[i].value)) : 1.0;
    EXPECT_LE(std::fabs(x[i].value - y[i].value), 1e-5 * scale)
        << a << " vs " << b << ": " << x[i].type << " " << x[i].key << " at step " << x[i].step;
  }
}

// A corpus, its tokenizer, a base model and finetuning data, made once for the suite.
class Mpi : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new slm::test::TempDir;
    const std::string d = dir_->path();
    std::string text;
    for (int i = 0; i < 120; ++i)
      text += "The cat sees the sea. A dog likes the long road " + std::to_string(i * 7919 % 1000) + ". ";
    slm::test::write_text(d + "/corpus.txt", text);
    auto r = run_slm("train-tokenizer --input " + d + "/corpus.txt --vocab-size 300 --threads 1 --out " + d + "/tok");
    ASSERT_EQ(r.rc, 0) << r.err;
    r = run_slm(
        "pretrain --config gpt2-tiny --emb-dim 32 --n-heads 2 --context-length 256 --vocab-size 300 "
        "--tokenizer " +
        d + "/tok --data " + d +
        "/corpus.txt --seq 16 --batch 2 --steps 2 --threads 1 "
        "--quiet --out " +
        d + "/base");
    ASSERT_EQ(r.rc, 0) << r.err;
    std::string train = "label,text\n", val = "label,text\n";
    for (int i = 0; i < 24; ++i)
      train += (i % 2 ? "spam,win a prize now " : "ham,see you at the sea ") + std::string(1 + i % 3, 'x') + "\n";
    for (int i = 0; i < 8; ++i) val += (i % 2 ? "spam,win a cat prize\n" : "ham,the dog sees you\n");
    slm::test::write_text(d + "/train.csv", train);
    slm::test::write_text(d + "/val.csv", val);
    nlohmann::json instr = nlohmann::json::array();
    for (int i = 0; i < 24; ++i)  // inputs of several lengths: the ranks' rows hold different target counts
      instr.push_back({{"instruction", i % 2 ? "Say cat." : "Name the sea."},
                       {"input", std::string(1 + i % 5, 'a' + i % 3)},
                       {"output", i % 2 ? "cat" : "the sea"}});
    slm::test::write_text(d + "/instr.json", instr.dump());
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  static std::string d() { return dir_->path(); }
  static std::string pretrain(const std::string& out, const std::string& length = "--steps 20 --eval-every 5") {
    return "pretrain --config gpt2-tiny --emb-dim 32 --n-heads 2 --context-length 32 --vocab-size 300 --tokenizer " +
           d() + "/tok --data " + d() + "/corpus.txt --seq 16 --lr 3e-3 --eval-batches 2 --threads 1 --quiet " +
           length + " --out " + out;
  }
  static slm::test::TempDir* dir_;
};
slm::test::TempDir* Mpi::dir_ = nullptr;

}  // namespace

TEST_F(Mpi, PretrainingOnTwoRanksEqualsOneProcessWithTheWholeBatch) {
  REQUIRE_MPI();
  slm::test::TempDir t;
  auto r = run_slm(pretrain(t.file("one")) + " --batch 4 --dropout 0.1");
  ASSERT_EQ(r.rc, 0) << r.err;
  r = run_mpi(2, pretrain(t.file("two")) + " --batch 2 --dropout 0.1");
  ASSERT_EQ(r.rc, 0) << r.err;
  expect_same(t.file("one"), t.file("two"));
  r = run_mpi(2, pretrain(t.file("zero")) + " --batch 2 --dropout 0.1 --zero 1");
  ASSERT_EQ(r.rc, 0) << r.err;
  expect_same(t.file("one"), t.file("zero"));
  // The transport of a run across machines, on loopback.
  r = run_mpi(2, pretrain(t.file("tcp")) + " --batch 2 --dropout 0.1", "--mca btl tcp,self");
  ASSERT_EQ(r.rc, 0) << r.err;
  expect_same(t.file("one"), t.file("tcp"));
  // Rank 0 alone writes: the whole checkpoint, and metrics with the traffic of every step.
  for (const char* f : {"model.safetensors", "optimizer.safetensors", "trainer.json", "loss.svg"})
    EXPECT_TRUE(fs::exists(t.file("zero") + "/" + f)) << f;
  EXPECT_EQ(slm::load_trainer_state(t.file("zero"))["args"]["batch"], 4);  // the global batch
  int steps = 0;
  for (const auto& rec : slm::MetricsLog::read(t.file("zero") + "/metrics.jsonl"))
    if (rec["type"] == "step") {
      ++steps;
      EXPECT_EQ(rec["ranks"], 2);
      EXPECT_GT(rec["comm_sent_bytes"].get<double>(), 0.0);
      EXPECT_GT(rec["comm_received_bytes"].get<double>(), 0.0);
      EXPECT_GE(rec["comm_wait_s"].get<double>(), 0.0);
    }
  EXPECT_EQ(steps, 20);
}

TEST_F(Mpi, PretrainingOnTwoRanksEqualsGradientAccumulation) {
  REQUIRE_MPI();
  slm::test::TempDir t;
  // Dropout on: the masks are keyed by (seed, step, row of the step), so 1 x B x accumulation 2
  // draws the masks of 2 ranks x B and of 1 x 2B.
  auto r = run_slm(pretrain(t.file("accum")) + " --batch 2 --grad-accum 2 --dropout 0.1");
  ASSERT_EQ(r.rc, 0) << r.err;
  r = run_mpi(2, pretrain(t.file("two")) + " --batch 2 --dropout 0.1 --zero 1");
  ASSERT_EQ(r.rc, 0) << r.err;
  expect_same(t.file("accum"), t.file("two"), true);  // evaluations count batches of another size
  r = run_slm(pretrain(t.file("one")) + " --batch 4 --dropout 0.1");
  ASSERT_EQ(r.rc, 0) << r.err;
  expect_same(t.file("accum"), t.file("one"), true);
  // Accumulation on the ranks too, with dropout: 2 ranks x B x 2 = 1 x 2B x 2.
  r = run_slm(pretrain(t.file("one_accum")) + " --batch 4 --grad-accum 2 --dropout 0.1");
  ASSERT_EQ(r.rc, 0) << r.err;
  r = run_mpi(2, pretrain(t.file("two_accum")) + " --batch 2 --grad-accum 2 --dropout 0.1 --zero 1");
  ASSERT_EQ(r.rc, 0) << r.err;
  expect_same(t.file("one_accum"), t.file("two_accum"));
}

TEST_F(Mpi, TwoRankCheckpointResumesInOneProcess) {
  REQUIRE_MPI();
  slm::test::TempDir t;
  auto r = run_mpi(2, pretrain(t.file("straight")) + " --batch 2 --dropout 0.1");
  ASSERT_EQ(r.rc, 0) << r.err;
  r = run_mpi(2, pretrain(t.file("split")) + " --batch 2 --dropout 0.1 --zero 1 --stop-at 10");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(slm::load_trainer_state(t.file("split"))["step"], 10);
  r = run_slm("pretrain --resume " + t.file("split") + " --threads 1 --quiet");
  ASSERT_EQ(r.rc, 0) << r.err;
  expect_same(t.file("straight"), t.file("split"));
}

// A save killed after its commit point leaves a redo log; two ranks resuming from it must not both
// roll it forward (rank 0 does, the other waits): the job resumes and ends as the run without the kill.
TEST_F(Mpi, TwoRanksResumeFromAnInterruptedSave) {
  REQUIRE_MPI();
  slm::test::TempDir t;
  auto r = run_slm(pretrain(t.file("straight")) + " --batch 4 --dropout 0.1 --save-every 5");
  ASSERT_EQ(r.rc, 0) << r.err;
  const std::string cmd = "env SLM_TEST_CRASH_IN_SAVE=mid_commit:2 " + std::string(SLM_BINARY) + " " +
                          pretrain(t.file("killed")) + " --batch 4 --dropout 0.1 --save-every 5 >/dev/null 2>&1";
  EXPECT_NE(std::system(cmd.c_str()), 0);
  ASSERT_TRUE(fs::exists(t.file("killed") + "/.slm-commit"));  // the second save (step 10), half moved in
  r = run_mpi(2, "pretrain --resume " + t.file("killed") + " --threads 1 --quiet");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_FALSE(fs::exists(t.file("killed") + "/.slm-commit"));
  EXPECT_EQ(slm::load_trainer_state(t.file("killed"))["step"], 20);
  expect_same(t.file("straight"), t.file("killed"), true);
}

TEST_F(Mpi, FinetunersOnTwoRanksEqualOneProcess) {
  REQUIRE_MPI();
  slm::test::TempDir t;
  const std::string cls = "finetune-classifier --init-from " + d() + "/base --train " + d() + "/train.csv --val " +
                          d() + "/val.csv --test " + d() +
                          "/val.csv --trainable all --dropout 0.1 --epochs 2 "
                          "--eval-every 2 --eval-batches 2 --lr 1e-3 --threads 1 --quiet --out ";
  auto r = run_slm(cls + t.file("c1") + " --batch 4");
  ASSERT_EQ(r.rc, 0) << r.err;
  r = run_mpi(2, cls + t.file("c2") + " --batch 2");
  ASSERT_EQ(r.rc, 0) << r.err;
  expect_same(t.file("c1"), t.file("c2"));
  EXPECT_EQ(nlohmann::json::parse(slm::test::read_text(t.file("c1") + "/eval.json"))["test"]["accuracy"],
            nlohmann::json::parse(slm::test::read_text(t.file("c2") + "/eval.json"))["test"]["accuracy"]);
  // The loss is a mean over the batch's target tokens: the ranks' rows hold different counts.
  const std::string ins = "finetune-instruct --init-from " + d() + "/base --data " + d() +
                          "/instr.json --epochs 2 "
                          "--lr 1e-3 --dropout 0.1 --mask-prompt --eval-every 2 --eval-batches 2 --save-every 3 "
                          "--sample-tokens 4 --no-responses --threads 1 --quiet --out ";
  r = run_slm(ins + t.file("i1") + " --batch 4");
  ASSERT_EQ(r.rc, 0) << r.err;
  r = run_mpi(2, ins + t.file("i2") + " --batch 2 --zero 1");
  ASSERT_EQ(r.rc, 0) << r.err;
  expect_same(t.file("i1"), t.file("i2"));
}

TEST_F(Mpi, AKilledRankEndsTheJobAndTheCheckpointResumes) {
  REQUIRE_MPI();
  slm::test::TempDir t;
  const std::string out = t.file("run");
  // Kill a rank (a child of mpirun, found in /proc) once a few steps are logged; mpirun must end the job.
  const std::string cmd =
      "bash -c 'env " + kMpiEnv + " mpirun -np 2 --oversubscribe " + SLM_BINARY + " " +
      pretrain(out, "--steps 1000000") + " --batch 2 --save-every 5 >" + t.file("out") + " 2>" + t.file("err") +
      " & m=$!; for i in $(seq 600); do n=$(grep -c step " + out +
      "/metrics.jsonl 2>/dev/null); [ \"${n:-0}\" -ge 12 ] && break; sleep 0.1; done; "
      "for f in /proc/[0-9]*/stat; do read -r p c x pp r <$f; [ \"$pp\" = $m ] && k=$p; done 2>/dev/null; "
      "kill -9 $k; s=$(date +%s); wait $m; rc=$?; "
      "echo $(( $(date +%s) - s )) >" +
      t.file("secs") + "; exit $rc'";
  const int st = std::system(cmd.c_str());
  EXPECT_NE(st, 0);
  const std::string err = slm::test::read_text(t.file("err"));
  EXPECT_NE(err.find("signal 9"), std::string::npos) << err;
  EXPECT_LE(std::stoi(slm::test::read_text(t.file("secs"))), 30);  // bounded, no hang
  // The last checkpoint is whole and resumes.
  const int64_t step = slm::load_trainer_state(out)["step"];
  EXPECT_GE(step, 5);
  auto r = run_slm("pretrain --resume " + out + " --threads 1 --quiet --steps " + std::to_string(step + 2));
  EXPECT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(slm::load_trainer_state(out)["step"], step + 2);
}

TEST_F(Mpi, ARankThatCannotReadItsDataFailsTheJobAtStart) {
  REQUIRE_MPI();
  slm::test::TempDir t;
  const std::string out = t.file("run"), missing = t.file("missing.txt");
  std::string args = pretrain(out) + " --batch 2";
  std::string broken = args;
  broken.replace(broken.find(d() + "/corpus.txt"), (d() + "/corpus.txt").size(), missing);
  // MPMD: rank 0 reads the corpus, rank 1 a file that is not there.
  const auto t0 = std::chrono::steady_clock::now();
  auto r = run_mpi(1, args + " : -np 1 " + SLM_BINARY + " " + broken);
  EXPECT_EQ(r.rc, 2) << r.err;
  EXPECT_NE(r.err.find("slm: error: rank 1: corpus '" + missing + "'"), std::string::npos) << r.err;
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(60));
  EXPECT_FALSE(fs::exists(out + "/trainer.json"));
  // Every rank failing alike: the message once, without a rank.
  r = run_mpi(2, broken);
  EXPECT_EQ(r.rc, 2) << r.err;
  EXPECT_NE(r.err.find("slm: error: corpus '" + missing + "'"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("rank 1:"), std::string::npos) << r.err;
  // Ranks that read different data are stopped before the first step.
  slm::test::write_text(t.file("other.txt"), slm::test::read_text(d() + "/corpus.txt") + " One more line.");
  std::string other = args;
  other.replace(other.find(d() + "/corpus.txt"), (d() + "/corpus.txt").size(), t.file("other.txt"));
  r = run_mpi(1, args + " --force : -np 1 " + SLM_BINARY + " " + other + " --force");
  EXPECT_EQ(r.rc, 2) << r.err;
  EXPECT_NE(r.err.find("rank 1 prepared other data or another model than rank 0"), std::string::npos) << r.err;
}
