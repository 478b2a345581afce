// `precsweep sweep SPEC --out FILE [--resume] [--retry-failed] [--threads N] [--data-dir DIR]
// [--grace S] [--progress S]`, run under mpirun (or alone: a singleton MPI rank). Starts MPI,
// runs the sweep (sweep.hpp) and stops MPI; the runner prints its own errors (rank 0 for bad
// input, the failing rank otherwise), so this returns exit codes instead of throwing.
// Deliberately leaves out: everything the runner does (src/sweep.cpp).
#include <cstdio>
#include <exception>

#include "commands.hpp"
#include "precsweep/error.hpp"
#include "precsweep/mpi.hpp"
#include "precsweep/sweep.hpp"
#include "precsweep/train.hpp"

namespace precsweep::cli {

Command add_sweep(CLI::App& root) {
  auto* app = root.add_subcommand(
      "sweep", "Run every point of a sweep spec over the MPI ranks into one HDF5 results file");
  auto o = std::make_shared<SweepOptions>();
  auto spec = std::make_shared<std::string>();
  auto out = std::make_shared<std::string>();
  app->add_option("spec", *spec, "Sweep spec (YAML, see docs/sweep-spec.md)")->required();
  app->add_option("--out,-o", *out, "Results file (HDF5); never overwritten")->required();
  app->add_flag("--resume", o->resume,
                "Continue an existing results file made from the same spec (pending points)");
  app->add_flag("--retry-failed", o->retry_failed, "With --resume: also rerun failed points");
  app->add_option("--threads", o->threads,
                  "OpenMP threads per rank (default: OMP_NUM_THREADS, else 1)")
      ->check(CLI::Range(1, kMaxThreads));
  app->add_option("--data-dir", o->data_dir, "Dataset folder (overrides the spec's)");
  app->add_option("--grace", o->grace_seconds,
                  "Seconds to finish in-flight points after SIGUSR1 (default 60); SIGTERM, SIGINT "
                  "and SIGUSR2 abandon them at once")
      ->check(CLI::NonNegativeNumber);
  app->add_option("--progress", o->progress_seconds,
                  "Seconds between rank 0's progress lines (default 10; 0: none)")
      ->check(CLI::NonNegativeNumber);
  return {app, [o, spec, out]() -> int {
            o->spec_path = *spec;
            o->out = *out;
            const StopSignals stop_signals;  // before MPI starts: see sweep.hpp
            mpi::Environment env;
            if (o->retry_failed && !o->resume) {
              if (mpi::rank() == 0)
                std::fprintf(stderr, "precsweep: error: --retry-failed needs --resume (it reruns "
                                     "failed points of an existing results file)\n");
              return kExitInput;
            }
            try {
              return run_sweep(*o);
            } catch (const std::exception& e) {
              std::fprintf(stderr, "precsweep: rank %d: internal error: %s\n", mpi::rank(),
                           e.what());
              mpi::abort(kExitInternal);
            }
          }};
}

}  // namespace precsweep::cli
