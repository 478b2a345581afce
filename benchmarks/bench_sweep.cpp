// Sweep engine speed (issue 5 targets), recorded in docs/performance.md "Sweep engine":
//   - throughput of 2 ranks x 1 thread vs 1 rank on equal points (target >= 1.9x);
//   - makespan on mixed-cost points vs max(total work / ranks, longest point) (target <= 1.10);
//   - bookkeeping per point: scheduling + row write + fdatasync (target < 20 ms);
//   - expanding a 100,000-point spec and creating its results file (target < 10 s, < 1 GB).
// The first two run the real binary under scripts/mpirun and read the run's own timing line
// ("... in X s (bookkeeping Y ms/point)") and the file's per-point wall_seconds.
// Deliberately leaves out: training speed itself (bench_train.cpp).
#include <benchmark/benchmark.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <sstream>

#include "precsweep/mpi.hpp"
#include "precsweep/results_file.hpp"
#include "precsweep/spec.hpp"
#include "precsweep/sweep.hpp"

namespace fs = std::filesystem;
using namespace precsweep;

namespace {

fs::path scratch() {
  fs::path p = fs::temp_directory_path() / ("precsweep_bench_sweep_" + std::to_string(::getpid()));
  fs::create_directories(p);
  return p;
}

double peak_rss_mb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;  // ru_maxrss is in KiB on Linux
}

struct SweepRun {
  double work_seconds = 0;     // makespan of the work loop (max over ranks)
  double bookkeeping_ms = 0;   // per point, max over ranks
  double total_point_seconds = 0, longest_point = 0;
  std::int64_t points = 0;
};

// Runs `precsweep sweep` with `np` ranks on `spec_text` and reads its timing.
SweepRun run_sweep_binary(const std::string& spec_text, int np, const std::string& tag) {
  const fs::path dir = scratch();
  const fs::path spec = dir / (tag + ".yaml"), out = dir / (tag + ".h5"), log = dir / (tag + ".log");
  fs::remove(out);
  std::ofstream(spec) << spec_text;
  // This process is itself a singleton MPI rank: clear its OpenMPI/PMIx environment so the
  // child mpirun starts a job of its own.
  const std::string clean_env =
      "for v in $(env | grep -oE '^(OMPI|PMIX|OPAL|ORTE)[A-Za-z0-9_]*'); do unset $v; done; ";
  const std::string cmd = clean_env + std::string(PRECSWEEP_SOURCE_DIR) + "/scripts/mpirun -np " +
                          std::to_string(np) + " " + PRECSWEEP_BINARY + " sweep " + spec.string() +
                          " --out " + out.string() + " --threads 1 --progress 0 > " + log.string() +
                          " 2>&1";
  if (std::system(cmd.c_str()) != 0) throw std::runtime_error("sweep failed: see " + log.string());
  std::ifstream in(log);
  std::string line;
  SweepRun r;
  while (std::getline(in, line)) {
    std::size_t at = line.find(" in ");
    if (line.find("this run finished") != std::string::npos && at != std::string::npos)
      std::sscanf(line.c_str() + at, " in %lf s (bookkeeping %lf", &r.work_seconds,
                  &r.bookkeeping_ms);
  }
  ResultsFile f = ResultsFile::open(out, h5::Access::serial(), false);
  std::vector<double> wall = f.root().open_group("results").open_dataset("wall_seconds")
                                 .read_all<double>();
  r.points = static_cast<std::int64_t>(wall.size());
  for (double w : wall) {
    r.total_point_seconds += w;
    r.longest_point = std::max(r.longest_point, w);
  }
  return r;
}

// 8 equal points: same model and epochs, different seeds (~2 s each on one idle core).
const char* kEqualSpec = R"(name: bench_equal
dataset: synthetic
epochs: 40
seed: {from: 1, to: 8, step: 1}
model:
  hidden: [1024]
train:
  lr: 0.1
  batch: 32
precision:
  format: E5M10
  rounding: nearest_even
)";

// Mixed costs: widths 32 .. 512 (costs differ ~12x), 2 seeds.
const char* kMixedSpec = R"(name: bench_mixed
dataset: synthetic
epochs: 40
seed: [1, 2]
model:
  hidden: [[32], [64], [128], [256], [384], [512]]
train:
  lr: 0.1
  batch: 32
precision:
  format: E5M10
  rounding: nearest_even
)";

void BM_ThroughputEqualPoints(benchmark::State& state) {
  SweepRun one, two;
  for (auto _ : state) {
    one = run_sweep_binary(kEqualSpec, 1, "equal1");
    two = run_sweep_binary(kEqualSpec, 2, "equal2");
    state.SetIterationTime(one.work_seconds + two.work_seconds);
  }
  state.counters["np1_points_per_s"] = static_cast<double>(one.points) / one.work_seconds;
  state.counters["np2_points_per_s"] = static_cast<double>(two.points) / two.work_seconds;
  state.counters["speedup_2_ranks"] = one.work_seconds / two.work_seconds;  // target >= 1.9
  // Parallel efficiency of the distribution itself: busy time / (ranks x makespan). Unlike the
  // speedup it is not lowered by other load on the machine slowing every point down.
  state.counters["np2_efficiency"] = two.total_point_seconds / (2.0 * two.work_seconds);
  state.counters["bookkeeping_ms"] = two.bookkeeping_ms;
}
BENCHMARK(BM_ThroughputEqualPoints)->Iterations(1)->UseManualTime()->Unit(benchmark::kSecond);

void BM_MakespanMixedPoints(benchmark::State& state) {
  SweepRun two;
  for (auto _ : state) {
    two = run_sweep_binary(kMixedSpec, 2, "mixed2");
    state.SetIterationTime(two.work_seconds);
  }
  const double bound = std::max(two.total_point_seconds / 2.0, two.longest_point);
  state.counters["makespan_s"] = two.work_seconds;
  state.counters["bound_s"] = bound;
  state.counters["makespan_over_bound"] = two.work_seconds / bound;  // target <= 1.10
  state.counters["bookkeeping_ms"] = two.bookkeeping_ms;
}
BENCHMARK(BM_MakespanMixedPoints)->Iterations(1)->UseManualTime()->Unit(benchmark::kSecond);

// Bookkeeping in-process on one MPI rank, as the runner does it but with the cost ordering
// redone for every point (worst case): order 10,000 pending points, write a point's row (every
// /results dataset), request its fdatasync (helper thread).
// A fresh results file in the scratch folder for a 10,000-point spec (10 epochs per point).
ResultsFile create_10k_file(const fs::path& out, const SweepSpec& spec) {
  fs::remove(out);
  RunInfo info;
  info.hostnames = {"bench"};
  info.start_time = iso8601_utc_now();
  return ResultsFile::create(out, spec, info, h5::Access::mpio(mpi::world()), true);
}
const char* const k10kSpec =
    "name: bk\ndataset: synthetic\nepochs: 10\nseed: {from: 1, to: 10000, step: 1}\n";

void BM_BookkeepingPerPoint(benchmark::State& state) {
  const fs::path out = scratch() / "bookkeeping.h5";
  const SweepSpec spec = parse_spec(k10kSpec);
  ResultsFile file = create_10k_file(out, spec);
  std::vector<PendingPoint> pending;
  for (const Point& p : spec.points) pending.push_back({p.id, p.cost});
  RunResult result;
  result.status = RunStatus::done;
  result.epochs.resize(10);
  result.final_test_accuracy = 0.9;
  std::int64_t k = 0;
  for (auto _ : state) {
    std::vector<std::int64_t> order = schedule_order(pending);  // once per point: worst case
    file.write_point(order[static_cast<std::size_t>(k++ % 10000)], result, 0);
    file.sync();
  }
  state.SetItemsProcessed(state.iterations());
  file.finish(iso8601_utc_now());
  fs::remove(out);
}
BENCHMARK(BM_BookkeepingPerPoint)->Unit(benchmark::kMillisecond)->MinTime(2.0);

// Row write alone (sync:0) and row write + a completed fdatasync (sync:1).
void BM_WriteAndSyncPerPoint(benchmark::State& state) {
  const fs::path out = scratch() / "write.h5";
  const SweepSpec spec = parse_spec(k10kSpec);
  ResultsFile file = create_10k_file(out, spec);
  RunResult result;
  result.status = RunStatus::done;
  result.epochs.resize(10);
  std::int64_t k = 0;
  for (auto _ : state) {
    file.write_point(k++ % 10000, result, 0);
    if (state.range(0)) {  // blocking: the full cost of durability, were it on the rank
      file.sync();
      file.wait_synced();
    }
  }
  state.SetItemsProcessed(state.iterations());
  file.finish(iso8601_utc_now());
  fs::remove(out);
}
BENCHMARK(BM_WriteAndSyncPerPoint)->Arg(0)->Arg(1)->ArgName("sync")->Unit(benchmark::kMillisecond);

// Expanding a 100,000-point spec (10 seeds x 10 lr x 10 momentum x 100 formats) and creating
// its results file with every dataset, on one rank.
void BM_ExpandAndCreate100k(benchmark::State& state) {
  const fs::path dir = scratch();
  const fs::path out = dir / "big.h5";
  const std::string text = R"(name: big
dataset: mnist
epochs: 10
seed: {from: 1, to: 10, step: 1}
train:
  lr: {from: 0.01, to: 0.1, step: 0.01}
  momentum: [0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]
precision:
  format: {exp: {from: 2, to: 6, step: 1}, man: {from: 1, to: 20, step: 1}}
  rounding: nearest_even
)";
  std::int64_t n = 0;
  for (auto _ : state) {
    fs::remove(out);
    SweepSpec spec = parse_spec(text, "big.yaml");
    n = static_cast<std::int64_t>(spec.points.size());
    RunInfo info;
    info.hostnames = {"bench"};
    info.start_time = iso8601_utc_now();
    ResultsFile file = ResultsFile::create(out, spec, info, h5::Access::mpio(mpi::world()), true);
    file.finish(iso8601_utc_now());
  }
  state.counters["points"] = static_cast<double>(n);
  state.counters["peak_rss_MB"] = peak_rss_mb();  // target < 1024
  state.counters["file_MB"] = static_cast<double>(fs::file_size(out)) / 1e6;
  fs::remove(out);
}
BENCHMARK(BM_ExpandAndCreate100k)->Iterations(1)->Unit(benchmark::kSecond);

}  // namespace

int main(int argc, char** argv) {
  mpi::Environment env(&argc, &argv);  // singleton MPI rank for the in-process benchmarks
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  fs::remove_all(scratch());
  return 0;
}
