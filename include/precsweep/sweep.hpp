// The sweep runner: every rank parses the spec, the points still to run are ordered by
// estimated cost (largest first), and ranks take them one at a time from a shared atomic
// counter (mpi::WorkCounter), train them, and write each row into the shared results file
// (results_file.hpp) as soon as it finishes. Resumable; SIGUSR1 stops it gracefully and
// SIGTERM/SIGINT/SIGUSR2 at once (both exit 3); a point that throws is recorded as failed while
// the sweep goes on. Guide: docs/sweeping.md.
// Deliberately leaves out: spec parsing (spec.hpp), training (train.hpp), file layout
// (results_file.hpp), MPI calls (mpi.hpp).
#pragma once
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace precsweep {

// ---- pure scheduling (no MPI, no I/O) ------------------------------------------------------

struct PendingPoint {
  std::int64_t id = 0;
  double cost = 0;  // estimated cost (epochs x parameters x samples)
};

// The order in which pending points are handed out: estimated cost descending, ties by id
// ascending (longest-processing-time-first list scheduling; Graham 1969 bounds its makespan by
// 4/3 of optimal). Deterministic: every rank computes the same order.
std::vector<std::int64_t> schedule_order(const std::vector<PendingPoint>& pending);

// Which points a run takes, given the file's status column (0 pending, 1 done, 2 diverged,
// 3 failed): pending ones, and failed ones too if `retry_failed`. Diverged points are results
// and never rerun.
std::vector<std::int64_t> runnable_points(const std::vector<std::int8_t>& status,
                                          bool retry_failed);

// "1:02:03" / "4:05" for a progress line.
std::string format_duration(double seconds);

// ---- the runner ----------------------------------------------------------------------------

struct SweepOptions {
  std::filesystem::path spec_path;
  std::filesystem::path out;
  bool resume = false;
  bool retry_failed = false;
  int threads = 0;             // per rank; 0: OMP_NUM_THREADS, else 1
  std::string data_dir;        // overrides the spec's data folder when not empty
  double grace_seconds = 60;   // after SIGUSR1: abandon in-flight points after this long
  double progress_seconds = 10;  // rank 0 progress line period
};

// The stop signals (docs/sweeping.md, "Signals"): SIGUSR1 asks a running sweep to take no new
// points and finish those in flight within --grace; SIGTERM, SIGINT (Ctrl-C) and SIGUSR2 (the
// one Open MPI's mpirun forwards; scripts/mpirun and the jobscript turn TERM/INT into it) ask it
// to stop now: points in flight are abandoned, left pending, and nothing of them is written.
// Either way every rank exits 3. Held by the caller of run_sweep from before MPI starts (the
// command line does), so that a signal arriving while the job is still starting, as Slurm's
// early warning can, is remembered instead of killing the rank. Restores the previous handlers
// on destruction.
class StopSignals {
 public:
  StopSignals();
  ~StopSignals();
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;

 private:
  struct Saved;  // the previous handlers (struct sigaction), in sweep.cpp
  std::unique_ptr<Saved> saved_;
};

// Runs the sweep on every rank of MPI_COMM_WORLD (MPI must be initialised, and a StopSignals
// should be alive, or a stop signal kills the rank). Returns the exit code (error.hpp): 0 all
// points run (some may have failed), 2 bad input (rank 0 printed one line, no output written or
// touched), 3 stopped by a signal with points left. Failures after work started print one line
// naming the rank and abort the MPI job.
int run_sweep(const SweepOptions& options);

// Threads per rank when --threads is not given: OMP_NUM_THREADS (its first level) if set, else
// 1; InputError unless it is an integer in 1..kMaxThreads (train.hpp).
int default_threads();

}  // namespace precsweep
