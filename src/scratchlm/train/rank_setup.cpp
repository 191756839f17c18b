// rank_setup.cpp — how the ranks of a data-parallel run start together (chapter 5's training run,
// scaled out; see distributed.h): each prepares on its own and they agree before the first step, an
// error on any rank reaches the user as one line and ends every rank, a resumed checkpoint is
// recovered once, and the batch and the cores are shared out.
#include "scratchlm/train/distributed.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fmt/format.h>
#include <new>
#include <thread>

#include "scratchlm/io/checkpoint.h"
#include "scratchlm/kernels/threads.h"
#include "scratchlm/util/error.h"

namespace slm {

// ---- the setup agreement: "0<fingerprint>" from a rank that is ready, "<code><message>" from one
// that failed.

namespace {

// Thrown on every rank by agree() when a rank failed to prepare: run_ranks prints it on rank 0.
class SetupFailed : public Error {
 public:
  SetupFailed(const std::string& message, int code) : Error(ErrorKind::BadInput, message), code_(code) {}
  int code() const { return code_; }

 private:
  int code_;
};

[[noreturn]] void throw_setup(const std::vector<std::string>& all, const std::string& what) {
  int first = -1, code = 1;
  bool same = true;
  for (size_t r = 0; r < all.size(); ++r) {
    if (all[r].empty() || all[r][0] == '0') continue;
    if (first < 0) {
      first = static_cast<int>(r);
      code = all[r][0] - '0';
    } else if (all[r].substr(1) != all[static_cast<size_t>(first)].substr(1)) {
      same = false;
    }
  }
  if (first >= 0) {
    const std::string& msg = all[static_cast<size_t>(first)];
    int failed = 0;
    for (const auto& s : all) failed += !s.empty() && s[0] != '0';
    std::string text = first == 0 && same ? msg.substr(1) : fmt::format("rank {}: {}", first, msg.substr(1));
    if (failed > 1 && !same) text += fmt::format(" (and errors on {} more ranks)", failed - 1);
    throw SetupFailed(text, code);
  }
  for (size_t r = 1; r < all.size(); ++r)
    if (all[r] != all[0])
      throw SetupFailed(fmt::format("rank {} prepared {} than rank 0 did ({} there, {} on rank 0); every rank must "
                                    "read the same data and start from the same model",
                                    r, what.empty() ? "another run" : what, all[r].substr(1), all[0].substr(1)),
                        2);
  fail_internal("the setup agreement of the ranks failed");
}

}  // namespace

void Communicator::agree(const std::string& fingerprint, const std::string& what) {
  if (!distributed()) return;
  const std::vector<std::string> all = allgather_string("0" + fingerprint);
  for (const auto& s : all)
    if (s != all[0]) throw_setup(all, what);
}

void Communicator::agree_failed(const std::string& message, int code) {
  std::vector<std::string> all;
  try {
    all = allgather_string(std::to_string(std::clamp(code, 1, 9)) + message);
  } catch (const std::exception& e) {  // the agreement itself failed: say this rank's error and end
    std::fprintf(stderr, "slm: error: rank %d: %s\n", rank_, message.c_str());
    abort(code);
  }
  try {
    throw_setup(all, "");
  } catch (const SetupFailed& e) {
    if (root()) {
      std::fflush(stdout);
      std::fprintf(stderr, "slm: error: %s\n", e.what());
      std::fflush(stderr);
    }
    finalize();
    std::exit(e.code());
  }
  abort(code);
}

void run_ranks(const std::function<void()>& body) {
  Communicator& c = Communicator::world();
  if (!c.distributed()) {
    body();
    return;
  }
  std::string message;
  int code = 1;
  try {
    body();
    c.finalize();
    return;
  } catch (const SetupFailed& e) {
    if (c.root()) {
      std::fflush(stdout);
      std::fprintf(stderr, "slm: error: %s\n", e.what());
      std::fflush(stderr);
    }
    c.finalize();
    std::exit(e.code());
  } catch (const Error& e) {
    message = e.what();
    code = exit_code(e.kind());
  } catch (const std::bad_alloc&) {
    message = "out of memory";
  } catch (const std::exception& e) {
    message = e.what();
  }
  if (!c.running()) c.agree_failed(message, code);
  // An error every rank meets alike (a NaN loss) is rank 0's to tell: its MPI_Abort ends this rank
  // during the pause; an error of this rank alone is told after it.
  if (!c.root()) ::usleep(2000000);
  std::fflush(stdout);
  if (c.root())
    std::fprintf(stderr, "slm: error: %s\n", message.c_str());
  else
    std::fprintf(stderr, "slm: error: rank %d: %s\n", c.rank(), message.c_str());
  c.abort(code);
}

int64_t per_rank_batch(int64_t global, const std::string& dir) {
  const int R = Communicator::world().size();
  if (global % R != 0)
    fail(
        "{}: the run's global batch of {} does not split evenly over {} ranks; resume it with a rank count that "
        "divides it",
        dir, global, R);
  return global / R;
}

void recover_checkpoint_on_root(const std::string& dir) {
  Communicator& c = Communicator::world();
  if (c.root()) recover_checkpoint(dir);
  c.agree();
}

int threads_per_rank(int requested) {
  Communicator& c = Communicator::world();
  if (requested != 0 || c.local_size() <= 1) return requested;
  const int node = std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  return std::max(1, std::min(node / c.local_size(), available_cores()));
}

}  // namespace slm
