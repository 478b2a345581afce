// The one place precsweep calls MPI: start/stop, who am I, small collectives, the dynamic work
// counter that hands out sweep points, and the abort path.
//
// Work distribution (WorkCounter): one 64-bit counter in an MPI-3 window on rank 0. Every rank,
// rank 0 included, takes the next index with an atomic MPI_Fetch_and_op(+1) — no manager rank
// spends its core on bookkeeping. A stop request adds kStopOffset, so every later take returns
// an index past the end and each rank stops after its current point. A third slot is a flag
// asking every rank to abandon its point in flight at once ("stop now", SIGTERM/SIGINT).
// Deliberately leaves out: communicators other than MPI_COMM_WORLD, any data-parallel training.
#pragma once
#include <mpi.h>

#include <cstdint>
#include <string>
#include <vector>

namespace precsweep::mpi {

// MPI_Init_thread(FUNNELED) on construction unless MPI is already up; MPI_Finalize on
// destruction if this object initialised it. Works without mpirun (singleton init).
class Environment {
 public:
  Environment(int* argc = nullptr, char*** argv = nullptr);
  ~Environment();
  Environment(const Environment&) = delete;
  Environment& operator=(const Environment&) = delete;

 private:
  bool owns_ = false;
};

bool initialized();
int rank();
int size();
MPI_Comm world();
void barrier();
// A barrier that sleeps between polls (MPI_Ibarrier + MPI_Test every `poll_seconds`) instead of
// spinning: a rank that ran out of points does not steal a core from ranks still training.
void idle_barrier(double poll_seconds = 0.01);
// This rank's host name, and every rank's (index = rank), same on every rank.
std::string hostname();
std::vector<std::string> all_hostnames();

// Broadcast from `root`; every rank returns root's value.
std::string broadcast(const std::string& value, int root = 0);
std::int64_t broadcast(std::int64_t value, int root = 0);
std::int64_t allreduce_sum(std::int64_t value);
std::int64_t allreduce_max(std::int64_t value);
std::int64_t allreduce_min(std::int64_t value);
double allreduce_max(double value);

// Agreement on a fallible step: every rank reports ok/message; if any failed, every rank gets
// the lowest failing rank's message (returns false), else true.
bool all_ok(bool ok, std::string& message);

// Ends the whole job now (MPI_Abort on world); never returns.
[[noreturn]] void abort(int exit_code);

// Lets the MPI library progress one-sided requests that target this rank (needed by transports
// without hardware atomics); cheap, call it now and then from long computations.
void poke_progress();

double wall_time();  // MPI_Wtime

class WorkCounter {
 public:
  static constexpr std::int64_t kStopOffset = std::int64_t{1} << 48;

  // Collective: creates the window; the counter starts at 0.
  WorkCounter();
  ~WorkCounter();  // collective (MPI_Win_free)
  WorkCounter(const WorkCounter&) = delete;
  WorkCounter& operator=(const WorkCounter&) = delete;

  // Atomically takes the next index (returns the value before the increment). A value >=
  // kStopOffset means a stop was requested.
  std::int64_t take();
  // Current value without changing it.
  std::int64_t peek();
  // Makes every later take() return >= kStopOffset (idempotent enough: adds the offset once
  // per call; callers call it once per rank).
  void request_stop();
  static bool is_stop(std::int64_t v) { return v >= kStopOffset; }

  // "Stop now": any rank sets the flag, every rank reads it (atomically, like take()).
  void request_stop_now();
  bool stop_now_requested();

  // A second counter: points finished (any rank). add_finished() is atomic like take().
  void add_finished();
  // Rank 0 only: the finished counter read from local window memory with a relaxed atomic
  // load, without an MPI call, so a helper thread may call it (the window uses MPI's unified
  // memory model, where remote atomics land in this memory). Returns -1 on other ranks.
  std::int64_t finished_local() const;

 private:
  MPI_Win win_ = MPI_WIN_NULL;
  std::int64_t* base_ = nullptr;  // [3] on rank 0: {next index, finished, stop now}; unused
                                  // elsewhere
  bool root_ = false;
};

// Search mode's shared board (docs/search.md, "Engine"): per point a state (kUnclaimed or
// kFinished + the results file's status code), the searched metric and a claim counter, in one window on
// rank 0. Every rank reads the whole board to decide what to run next, claims a point with an
// atomic fetch-and-add on its claim counter (the rank that finds 0 has it, so no point runs
// twice) and publishes its result; there is no manager rank. Reads and writes are element-wise atomic (MPI accumulate operations).
class SearchBoard {
 public:
  static constexpr std::int64_t kUnclaimed = 0;
  static constexpr std::int64_t kFinished = 2;  // + status (1 done, 2 diverged, 3 failed)

  // Collective. `state`, `value` and `aux` ([N], the same on every rank) are the starting
  // contents. `aux` is one more number per point for the caller (the search: a baseline's
  // predicted width, update_ratio.hpp).
  SearchBoard(const std::vector<std::int64_t>& state, const std::vector<double>& value,
              const std::vector<std::int64_t>& aux);
  ~SearchBoard();  // collective (MPI_Win_free)
  SearchBoard(const SearchBoard&) = delete;
  SearchBoard& operator=(const SearchBoard&) = delete;

  // The whole board: states first, then values and aux, so a finished state's value and aux
  // are its final ones; then the claim counters (nonzero: taken).
  void read(std::vector<std::int64_t>& state, std::vector<double>& value,
            std::vector<std::int64_t>& claims, std::vector<std::int64_t>& aux);
  // Takes point `id`; false if another rank got there first (or it was finished at start).
  bool claim(std::int64_t id);
  // The point's value and aux, then its finished state.
  void publish(std::int64_t id, std::int8_t status, double value, std::int64_t aux);

 private:
  MPI_Win win_ = MPI_WIN_NULL;
  std::int64_t* base_ = nullptr;  // [4N] on rank 0: states, values as bit patterns, claims, aux
  std::int64_t n_ = 0;
};

}  // namespace precsweep::mpi
