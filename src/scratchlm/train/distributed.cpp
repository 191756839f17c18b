// distributed.cpp — the ranks of a run over MPI, or this process alone (see distributed.h).
#include "scratchlm/train/distributed.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fmt/format.h>
#include <iostream>
#include <new>
#include <thread>

#include "scratchlm/kernels/threads.h"
#include "scratchlm/train/loop_util.h"
#include "scratchlm/util/error.h"

#if SLM_WITH_MPI
#define OMPI_SKIP_MPICXX 1  // the C API only (OpenMPI's deprecated C++ bindings need another library)
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>
#endif

namespace slm {

namespace {

// The ranks mpirun says this process belongs to (0 when not started by an MPI launcher).
int launcher_size() {
  for (const char* var : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"}) {
    const char* v = std::getenv(var);
    if (v && *v) return std::atoi(v);
  }
  return 0;
}

#if SLM_WITH_MPI
std::vector<MPI_Request> g_pending;

void check(int rc, const char* what) {
  if (rc == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  if (MPI_Error_string(rc, text, &len) != MPI_SUCCESS) len = 0;
  fail_internal("MPI failed in {}: {}", what, len ? std::string(text, static_cast<size_t>(len)) : "unknown error");
}

int as_count(size_t n, const char* what) {
  if (n > static_cast<size_t>(INT32_MAX)) fail_internal("{}: {} elements are too many for one MPI call", what, n);
  return static_cast<int>(n);
}
#endif

}  // namespace

bool Communicator::built_with_mpi() { return SLM_WITH_MPI != 0; }

Communicator& Communicator::world() {
  static Communicator c;
  return c;
}

Communicator::Communicator() {
  if (const char* t = std::getenv("SLM_MPI_TIMEOUT"); t && *t) {
    timeout_s_ = std::atof(t);
    if (!(timeout_s_ > 0)) timeout_s_ = 600.0;
  }
#if SLM_WITH_MPI
  if (launcher_size() <= 1) return;
  int provided = 0;
  if (MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
    std::fprintf(stderr, "slm: error: MPI could not be initialized\n");
    std::exit(1);
  }
  mpi_ = true;
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &size_);
  if (const char* v = std::getenv("OMPI_COMM_WORLD_LOCAL_SIZE"); v && *v) local_size_ = std::max(1, std::atoi(v));
#else
  if (launcher_size() > 1) {
    std::fprintf(stderr,
                 "slm: error: started by mpirun with %d ranks, but this slm was built without MPI (-DSLM_MPI=OFF); "
                 "rebuild with libopenmpi-dev installed\n",
                 launcher_size());
    std::exit(1);
  }
#endif
}

void Communicator::count(double sent, double received) {
  stats_.bytes_sent += sent;
  stats_.bytes_received += received;
  totals_.bytes_sent += sent;
  totals_.bytes_received += received;
}

CommStats Communicator::take_stats() {
  CommStats s = stats_;
  stats_ = {};
  return s;
}

#if SLM_WITH_MPI

// An in-place sum of n floats or doubles over the ranks, started (nonblocking) and counted as a
// ring all-reduce's traffic: 2 (R-1)/R of the bytes each way.
void Communicator::start_sum(void* buf, size_t n, bool doubles, const char* what) {
  if (!mpi_ || n == 0) return;
  MPI_Request r;
  check(MPI_Iallreduce(MPI_IN_PLACE, buf, as_count(n, "all-reduce"), doubles ? MPI_DOUBLE : MPI_FLOAT, MPI_SUM,
                       MPI_COMM_WORLD, &r),
        what);
  g_pending.push_back(r);
  const double b = 2.0 * (doubles ? 8.0 : 4.0) * static_cast<double>(n) * (size_ - 1) / size_;
  count(b, b);
}

void Communicator::start_allreduce(float* buf, size_t n) { start_sum(buf, n, false, "a gradient all-reduce"); }

void Communicator::start_reduce_scatter(float* buf, const std::vector<int>& counts) {
  if (!mpi_) return;
  double n = 0;
  for (int c : counts) n += c;
  if (n == 0) return;
  MPI_Request r;
  check(MPI_Ireduce_scatter(MPI_IN_PLACE, buf, counts.data(), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, &r),
        "a gradient reduce-scatter");
  g_pending.push_back(r);
  const double b = 4.0 * n * (size_ - 1) / size_;
  count(b, b);
}

void Communicator::start_allgatherv(float* buf, const std::vector<int>& counts, const std::vector<int>& displs) {
  if (!mpi_) return;
  double n = 0;
  for (int c : counts) n += c;
  if (n == 0) return;
  MPI_Request r;
  check(MPI_Iallgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, buf, counts.data(), displs.data(), MPI_FLOAT,
                        MPI_COMM_WORLD, &r),
        "a parameter all-gather");
  g_pending.push_back(r);
  const double b = 4.0 * n * (size_ - 1) / size_;
  count(b, b);
}

void Communicator::progress() {
  if (g_pending.empty()) return;
  int done = 0;
  check(MPI_Testall(static_cast<int>(g_pending.size()), g_pending.data(), &done, MPI_STATUSES_IGNORE), "a collective");
  if (done) g_pending.clear();
}

void Communicator::wait_all(const char* what) {
  if (g_pending.empty()) return;
  const double t0 = now_s();
  for (int spins = 0;; ++spins) {
    int done = 0;
    check(MPI_Testall(static_cast<int>(g_pending.size()), g_pending.data(), &done, MPI_STATUSES_IGNORE), what);
    if (done) break;
    if (spins > 1000) {
      ::usleep(spins > 100000 ? 1000 : 20);  // do not spin on cores the other ranks need
      if (now_s() - t0 > timeout_s_)
        fail_internal(
            "no answer from the other ranks for {:.0f} s in {} (did a rank stop? SLM_MPI_TIMEOUT sets the limit)",
            timeout_s_, what);
    }
  }
  g_pending.clear();
  const double w = now_s() - t0;
  stats_.wait_s += w;
  totals_.wait_s += w;
}

void Communicator::allreduce_sum(double* x, size_t n) {
  start_sum(x, n, true, "an all-reduce");
  wait_all("an all-reduce of losses and counters");
}

std::vector<float> Communicator::allgatherv(const float* mine, const std::vector<int>& counts) {
  std::vector<int> displs(counts.size(), 0);
  size_t total = 0;
  for (size_t i = 0; i < counts.size(); ++i) displs[i] = static_cast<int>(total), total += counts[i];
  std::vector<float> out(total);
  if (!mpi_) {
    std::copy_n(mine, counts[0], out.data());
    return out;
  }
  MPI_Request r;
  check(MPI_Iallgatherv(mine, counts[static_cast<size_t>(rank_)], MPI_FLOAT, out.data(), counts.data(), displs.data(),
                        MPI_FLOAT, MPI_COMM_WORLD, &r),
        "an all-gather");
  g_pending.push_back(r);
  const double b = 4.0 * static_cast<double>(total) * (size_ - 1) / size_;
  count(b, b);
  wait_all("an all-gather of evaluation results");
  return out;
}

void Communicator::gatherv_to_root(const float* in, float* all, const std::vector<int>& counts,
                                   const std::vector<int>& displs) {
  const int mine = counts[static_cast<size_t>(rank_)];
  if (root()) std::copy_n(in, mine, all + displs[static_cast<size_t>(rank_)]);
  if (!mpi_) return;
  MPI_Request r;
  if (root())
    check(MPI_Igatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, all, counts.data(), displs.data(), MPI_FLOAT, 0,
                       MPI_COMM_WORLD, &r),
          "a gather");
  else
    check(MPI_Igatherv(in, mine, MPI_FLOAT, nullptr, nullptr, nullptr, MPI_FLOAT, 0, MPI_COMM_WORLD, &r), "a gather");
  g_pending.push_back(r);
  double total = 0;
  for (int c : counts) total += c;
  if (root())
    count(0, 4.0 * (total - mine));
  else
    count(4.0 * mine, 0);
  wait_all("a gather of the optimizer state");
}

void Communicator::broadcast(uint64_t* x, size_t n) {
  if (!mpi_ || n == 0) return;
  MPI_Request r;
  check(MPI_Ibcast(x, as_count(n, "broadcast"), MPI_UINT64_T, 0, MPI_COMM_WORLD, &r), "a broadcast");
  g_pending.push_back(r);
  const double b = 8.0 * static_cast<double>(n);
  if (root())
    count(b * (size_ - 1), 0);
  else
    count(0, b);
  wait_all("a broadcast");
}

std::vector<std::string> Communicator::allgather_string(const std::string& mine) {
  if (!mpi_) return {mine};
  std::vector<int> lens(static_cast<size_t>(size_));
  int len = as_count(mine.size(), "all-gather");
  MPI_Request r;
  check(MPI_Iallgather(&len, 1, MPI_INT, lens.data(), 1, MPI_INT, MPI_COMM_WORLD, &r), "an all-gather");
  g_pending.push_back(r);
  wait_all("the setup of the run");
  std::vector<int> displs(lens.size());
  size_t total = 0;
  for (size_t i = 0; i < lens.size(); ++i) displs[i] = static_cast<int>(total), total += lens[i];
  std::string all(total, '\0');
  check(
      MPI_Iallgatherv(mine.data(), len, MPI_CHAR, all.data(), lens.data(), displs.data(), MPI_CHAR, MPI_COMM_WORLD, &r),
      "an all-gather");
  g_pending.push_back(r);
  wait_all("the setup of the run");
  std::vector<std::string> out;
  for (size_t i = 0; i < lens.size(); ++i) out.push_back(all.substr(displs[i], lens[i]));
  return out;
}

void Communicator::finalize() {
  if (!mpi_ || finalized_) return;
  finalized_ = true;
  MPI_Finalize();
}

void Communicator::abort(int code) {
  std::fflush(stdout);
  std::fflush(stderr);
  if (mpi_) MPI_Abort(MPI_COMM_WORLD, code);
  std::_Exit(code);
}

#else  // a build without MPI: one rank, every collective a no-op

void Communicator::start_sum(void*, size_t, bool, const char*) {}
void Communicator::start_allreduce(float*, size_t) {}
void Communicator::start_reduce_scatter(float*, const std::vector<int>&) {}
void Communicator::start_allgatherv(float*, const std::vector<int>&, const std::vector<int>&) {}
void Communicator::progress() {}
void Communicator::wait_all(const char*) {}
void Communicator::allreduce_sum(double*, size_t) {}
std::vector<float> Communicator::allgatherv(const float* mine, const std::vector<int>& counts) {
  return std::vector<float>(mine, mine + counts[0]);
}
void Communicator::gatherv_to_root(const float* in, float* all, const std::vector<int>& counts,
                                   const std::vector<int>& displs) {
  std::copy_n(in, counts[0], all + displs[0]);
}
void Communicator::broadcast(uint64_t*, size_t) {}
std::vector<std::string> Communicator::allgather_string(const std::string& mine) { return {mine}; }
void Communicator::finalize() {}
void Communicator::abort(int code) {
  std::fflush(stdout);
  std::fflush(stderr);
  std::_Exit(code);
}

#endif

}  // namespace slm
