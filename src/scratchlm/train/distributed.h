// distributed.h — data-parallel training over MPI: the processes of a run ("ranks"), the few
// collectives the training engine needs, and how an error on one rank ends the whole job.
//
// `mpirun -np N slm pretrain ...` starts N copies of slm; each is one rank of MPI_COMM_WORLD.
// Every rank holds the whole model, trains its slice of every global micro-batch, and the ranks
// sum their gradients (engine.cpp's GradientSync). Without mpirun, or in a build without MPI
// (cmake -DSLM_MPI=OFF), world() is this process alone and nothing here does anything.
//
// Collectives are nonblocking MPI calls on float buffers, started by the engine and waited for
// together; every wait has a deadline (SLM_MPI_TIMEOUT seconds, default 600), so a rank that stops
// answering ends the job with an error instead of a hang. A rank that dies is OpenMPI's to notice:
// mpirun then ends the other ranks. Errors return (MPI_ERRORS_RETURN) and become slm::Error.
//
// Traffic is counted as the ring algorithms move it (what an all-reduce of n bytes over R ranks
// sends and receives per rank: 2 n (R-1)/R; a reduce-scatter or an all-gather: n (R-1)/R).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace slm {

// Bytes each rank sent and received in collectives, and seconds it spent waiting for them.
struct CommStats {
  double bytes_sent = 0.0, bytes_received = 0.0, wait_s = 0.0;
};

class Communicator {
 public:
  // The run's ranks: MPI_COMM_WORLD when mpirun started this process with more than one rank (MPI
  // is initialized on the first call), else this process alone (rank 0 of 1).
  static Communicator& world();
  // Whether this build has MPI at all.
  static bool built_with_mpi();

  int rank() const { return rank_; }
  int size() const { return size_; }
  bool root() const { return rank_ == 0; }
  bool distributed() const { return size_ > 1; }
  // Ranks on this machine (1 without MPI).
  int local_size() const { return local_size_; }

  // ---- nonblocking collectives, in place, summing floats (all ranks call them in the same order);
  // wait_all() ends them all.
  void start_allreduce(float* buf, size_t n);
  // buf holds sum(counts) floats; the sum of this rank's part (counts[rank] floats, the parts in
  // rank order) is written to buf[0, counts[rank]).
  void start_reduce_scatter(float* buf, const std::vector<int>& counts);
  // buf holds sum(counts) floats; this rank's part at displs[rank] is sent, the others received.
  void start_allgatherv(float* buf, const std::vector<int>& counts, const std::vector<int>& displs);
  // Lets started collectives advance (MPI progresses them only inside MPI calls).
  void progress();
  // Waits for every started collective; `what` names them in a timeout error.
  void wait_all(const char* what);

  // ---- blocking collectives (each with the same deadline)
  void allreduce_sum(double* x, size_t n);
  // Every rank's `mine` (counts[r] floats from rank r), concatenated in rank order, on every rank.
  std::vector<float> allgatherv(const float* mine, const std::vector<int>& counts);
  // Every rank's `mine` (counts[r] floats) into all[displs[r]...] on rank 0 (all: unused elsewhere).
  void gatherv_to_root(const float* mine, float* all, const std::vector<int>& counts, const std::vector<int>& displs);
  // Rank 0's x[n] on every rank.
  void broadcast(uint64_t* x, size_t n);
  // Every rank's string, in rank order.
  std::vector<std::string> allgather_string(const std::string& mine);

  // ---- the setup of a run, agreed: each rank prepares (reads its data, builds its model) on its
  // own, then calls agree() (ok) or, when that failed, ends in run_ranks() which calls it with the
  // error. When a rank failed, every rank throws (see run_ranks): the job ends with that rank's
  // message instead of the others waiting for it. `fingerprint` must be equal on all ranks (the
  // same data and model), else every rank fails with `mismatch` naming the first that differs.
  void agree(const std::string& fingerprint = "", const std::string& what = "");
  // After the last agree() of a setup: an error now ends the job with MPI_Abort.
  void set_running(bool running) { running_ = running; }
  bool running() const { return running_; }

  // The traffic and waiting since the last call.
  CommStats take_stats();
  const CommStats& totals() const { return totals_; }

  // Ends MPI (after the last collective; idempotent).
  void finalize();
  // Ends the whole job at once (MPI_Abort) with exit code `code`.
  [[noreturn]] void abort(int code);

  Communicator(const Communicator&) = delete;
  Communicator& operator=(const Communicator&) = delete;

 private:
  Communicator();
  friend void run_ranks(const std::function<void()>& body);
  void agree_failed(const std::string& message, int code);
  void count(double sent, double received);
  void start_sum(void* buf, size_t n, bool doubles, const char* what);

  int rank_ = 0, size_ = 1, local_size_ = 1;
  bool mpi_ = false, finalized_ = false, running_ = false;
  double timeout_s_ = 600.0;
  CommStats stats_, totals_;
};

// Runs a training command on this rank (just body() without MPI). Under MPI an error reaches the
// user as one line "slm: error: ..." (naming the rank when it is not rank 0) and ends every rank:
// during the setup through agree(), once training runs through MPI_Abort. Ends MPI afterwards.
void run_ranks(const std::function<void()>& body);

// A rank's share of a global micro-batch of `global` rows that a checkpoint saved (the batch
// itself in one process); a BadInput error naming `dir` when the ranks cannot split it evenly.
int64_t per_rank_batch(int64_t global, const std::string& dir);

// Before a resumed run reads its checkpoint: rank 0 finishes (or discards) a save that was
// interrupted (io/checkpoint.h's recover_checkpoint) while the other ranks wait, so that they
// never roll the same redo log forward at once; in one process, just the recovery.
void recover_checkpoint_on_root(const std::string& dir);

// --threads for one rank: `requested` when given, else the cores of this machine shared among its
// ranks (at most the cores this process may run on); 0 (all cores) without MPI.
int threads_per_rank(int requested);

// A digest of n values (value(i) for i < n), each keyed by its position: the fingerprint of data
// that every rank of a run must hold alike (TrainingTask::data_digest).
template <typename Value>
uint64_t digest_values(size_t n, Value value) {
  auto mix = [](uint64_t k) {
    k ^= k >> 33, k *= 0xff51afd7ed558ccdULL, k ^= k >> 33, k *= 0xc4ceb9fe1a85ec53ULL;
    return k ^ (k >> 33);
  };
  uint64_t h = mix(n);
  const int64_t m = static_cast<int64_t>(n);
#pragma omp parallel for reduction(+ : h) schedule(static)
  for (int64_t i = 0; i < m; ++i)
    h += mix(static_cast<uint64_t>(value(static_cast<size_t>(i))) * 0xD6E8FEB86659FD93ULL +
             static_cast<uint64_t>(i) * 0x9E3779B97F4A7C15ULL);
  return h;
}

// The part of n items that rank r of R takes when they are split as evenly as possible into
// contiguous pieces in rank order (the first n % R ranks take one more).
inline std::pair<int64_t, int64_t> even_part(int64_t n, int r, int R) {
  const int64_t q = n / R, m = n % R;
  const int64_t begin = r * q + std::min<int64_t>(r, m);
  return {begin, begin + q + (r < m ? 1 : 0)};
}

}  // namespace slm
