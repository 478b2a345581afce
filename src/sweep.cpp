// The sweep runner (see sweep.hpp and docs/sweeping.md). Phases, all ranks together:
//   1. every rank parses the spec, rank 0 checks the output file, every rank loads the data;
//      any failure is agreed on (mpi::all_ok), rank 0 prints one line, everyone returns 2;
//   2. the results file is created (or reopened with --resume) collectively;
//   3. every rank computes the same cost-ordered list of runnable points and takes indices into
//      it from the shared counter until the list (or a stop request) runs out, writing and
//      syncing each finished point's row on its own;
//   4. collective finish: totals, end_time, close; exit 3 if a stop left points pending.
// Deliberately leaves out: the file layout (results_file.cpp) and the MPI calls (mpi.cpp).
#include "precsweep/sweep.hpp"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

#include "precsweep/dataset.hpp"
#include "precsweep/error.hpp"
#include "precsweep/mpi.hpp"
#include "precsweep/results_file.hpp"
#include "precsweep/spec.hpp"
#include "precsweep/train.hpp"

namespace precsweep {

// ---- pure scheduling -----------------------------------------------------------------------

std::vector<std::int64_t> schedule_order(const std::vector<PendingPoint>& pending) {
  std::vector<PendingPoint> sorted = pending;
  std::sort(sorted.begin(), sorted.end(), [](const PendingPoint& a, const PendingPoint& b) {
    if (a.cost != b.cost) return a.cost > b.cost;
    return a.id < b.id;
  });
  std::vector<std::int64_t> order(sorted.size());
  for (std::size_t i = 0; i < sorted.size(); ++i) order[i] = sorted[i].id;
  return order;
}

std::vector<std::int64_t> runnable_points(const std::vector<std::int8_t>& status,
                                          bool retry_failed) {
  std::vector<std::int64_t> ids;
  for (std::size_t i = 0; i < status.size(); ++i) {
    auto s = static_cast<RunStatus>(status[i]);
    if (s == RunStatus::pending || (retry_failed && s == RunStatus::failed))
      ids.push_back(static_cast<std::int64_t>(i));
  }
  return ids;
}

std::string format_duration(double seconds) {
  if (!(seconds >= 0) || seconds > 1e8) return "?";
  long s = static_cast<long>(seconds + 0.5);
  char buf[32];
  if (s >= 3600)
    std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", s / 3600, (s / 60) % 60, s % 60);
  else
    std::snprintf(buf, sizeof buf, "%ld:%02ld", s / 60, s % 60);
  return buf;
}

int default_threads() {
  const char* env = std::getenv("OMP_NUM_THREADS");
  if (env == nullptr || *env == '\0') return 1;
  const std::string text(env);
  const std::string first = text.substr(0, text.find(','));  // "4,2" (nested levels): the first
  int n = 0;
  const auto r = std::from_chars(first.data(), first.data() + first.size(), n);
  if (r.ec != std::errc() || r.ptr != first.data() + first.size() || n < 1 || n > kMaxThreads)
    throw InputError("OMP_NUM_THREADS=" + text + ": threads per rank must be 1.." +
                     std::to_string(kMaxThreads) + " (set it in range, or pass --threads N)");
  return n;
}

namespace {

// ---- signals: SIGTERM / SIGUSR1 ask the sweep to stop taking points -----------------------

volatile std::sig_atomic_t g_stop_signal = 0;

extern "C" void on_stop_signal(int sig) { g_stop_signal = sig; }

}  // namespace

StopSignals::StopSignals() {
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(SIGTERM, &sa, &old_term_);
  sigaction(SIGUSR1, &sa, &old_usr1_);
}

StopSignals::~StopSignals() {
  sigaction(SIGTERM, &old_term_, nullptr);
  sigaction(SIGUSR1, &old_usr1_, nullptr);
}

namespace {

// ---- rank 0's progress line, printed by a helper thread at a steady rate ------------------
// The thread makes no MPI call: it reads the finished counter from rank 0's window memory.

class ProgressPrinter {
 public:
  ProgressPrinter(const mpi::WorkCounter& counter, std::int64_t total, std::int64_t complete_before,
                  double period_seconds)
      : counter_(counter), total_(total), before_(complete_before),
        start_(std::chrono::steady_clock::now()) {
    if (period_seconds > 0) thread_ = std::thread([this, period_seconds] { loop(period_seconds); });
  }
  ~ProgressPrinter() { stop(); }
  ProgressPrinter(const ProgressPrinter&) = delete;
  ProgressPrinter& operator=(const ProgressPrinter&) = delete;

  void stop() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

  // "progress: 40/96 points (41.7%), 3.2 points/min, ETA 17:30"
  std::string line(std::int64_t finished_now) const {
    const double minutes =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count() / 60.0;
    const std::int64_t complete = before_ + finished_now;
    const double rate = minutes > 0 ? static_cast<double>(finished_now) / minutes : 0.0;
    const double eta_s =
        rate > 0 ? static_cast<double>(total_ - complete) / rate * 60.0 : -1.0;
    char buf[160];
    std::snprintf(buf, sizeof buf, "progress: %lld/%lld points (%.1f%%), %.2f points/min, ETA %s",
                  static_cast<long long>(complete), static_cast<long long>(total_),
                  total_ > 0 ? 100.0 * static_cast<double>(complete) / static_cast<double>(total_)
                             : 100.0,
                  rate, format_duration(eta_s).c_str());
    return buf;
  }

 private:
  void loop(double period) {
    std::unique_lock<std::mutex> lock(mutex_);
    while (!stopping_) {
      wake_.wait_for(lock, std::chrono::duration<double>(period), [this] { return stopping_; });
      if (stopping_) break;
      std::printf("%s\n", line(counter_.finished_local()).c_str());
      std::fflush(stdout);
    }
  }

  const mpi::WorkCounter& counter_;
  std::int64_t total_, before_;
  std::chrono::steady_clock::time_point start_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

// The swept parameters of a point, "format=E5M2 rounding=nearest_even lr=0.1".
std::string key_params(const SweepSpec& spec, const Point& p) {
  std::string s;
  std::vector<std::string> names;
  for (const Axis& a : spec.axes) names.push_back(a.name);
  if (names.empty()) names = {"format", "rounding"};
  for (const std::string& n : names) s += (s.empty() ? "" : " ") + n + "=" + parameter_text(p, n);
  if (p.is_baseline) s += " (baseline)";
  return s;
}

// Rank 0, before anything is written: may the output be created / resumed?
void check_output(const SweepOptions& o, const SweepSpec& spec) {
  namespace fs = std::filesystem;
  const std::string out = o.out.string();
  if (out.empty()) throw InputError("--out: empty file name (give the results file to write)");
  if (!o.resume) {
    if (fs::exists(o.out))
      throw InputError("--out " + out + " exists: pass --resume to continue that sweep, or choose "
                       "another file (an existing output is never overwritten)");
    fs::path parent = o.out.parent_path();
    if (!parent.empty() && !fs::is_directory(parent))
      throw InputError("--out " + out + ": folder " + parent.string() + " does not exist");
    return;
  }
  if (!fs::exists(o.out)) throw InputError("--resume: " + out + " does not exist");
  if (!h5::File::is_hdf5(o.out))
    throw InputError("--resume: " + out + " is not an HDF5 file (a sweep killed while it was "
                     "still creating the file leaves one: remove it and start again)");
  ResultsFile f = ResultsFile::open(o.out, h5::Access::serial(), false);
  std::string sha = f.spec_sha256();
  if (sha != spec.sha256)
    throw InputError("--resume: " + out + " was written for a different spec (sha256 " +
                     sha.substr(0, 12) + "..., " + spec.source + " has " +
                     spec.sha256.substr(0, 12) + "...); resume with the spec it was made from");
  if (f.size() != static_cast<std::int64_t>(spec.points.size()))
    throw InputError("--resume: " + out + " has " + std::to_string(f.size()) +
                     " points, the spec expands to " + std::to_string(spec.points.size()));
}

// Every rank trains one point at a time: refuse up front (all ranks, exit 2) a spec whose
// largest network needs more memory than a rank can get, instead of failing those points.
void check_largest_point_fits(const SweepSpec& spec) {
  const Point* largest = nullptr;
  std::uint64_t most = 0;
  for (const Point& p : spec.points) {
    const DatasetShape shape = dataset_shape(p.dataset);
    const std::uint64_t bytes = estimated_memory_bytes(p.config, shape.dim, shape.classes);
    if (bytes > most) most = bytes, largest = &p;
  }
  if (largest == nullptr) return;
  const DatasetShape shape = dataset_shape(largest->dataset);
  try {
    check_memory(largest->config, shape.dim, shape.classes);
  } catch (const InputError& e) {
    throw InputError(spec.source + ": point " + std::to_string(largest->id) + " (hidden=" +
                     parameter_text(*largest, "hidden") + "): " + e.what());
  }
}

struct Counts {
  std::int64_t done = 0, diverged = 0, failed = 0;
  void add(RunStatus s) {
    if (s == RunStatus::done) ++done;
    if (s == RunStatus::diverged) ++diverged;
    if (s == RunStatus::failed) ++failed;
  }
};

// Setup failures agreed by all ranks: rank 0 prints, everyone returns exit code 2.
int input_failure(const std::string& message) {
  if (mpi::rank() == 0) {
    std::fprintf(stderr, "precsweep: error: %s\n", message.c_str());
    std::fflush(stderr);
  }
  return kExitInput;
}

// Fault injection for tests: PRECSWEEP_FAIL_POINTS="3,17" makes those points throw instead of
// training, exercising the failed-point path and --retry-failed with the real binary.
bool injected_failure(std::int64_t id) {
  const char* env = std::getenv("PRECSWEEP_FAIL_POINTS");
  if (env == nullptr) return false;
  std::string list = std::string(",") + env + ",";
  return list.find("," + std::to_string(id) + ",") != std::string::npos;
}

// The work loop of one rank. Returns what this rank finished.
struct LoopResult {
  Counts counts;
  std::int64_t finished = 0;
  bool saw_stop = false;
  double seconds = 0;      // this rank's time in the loop
  double bookkeeping = 0;  // of which: taking points, writing rows, syncing
};

LoopResult work_loop(const SweepSpec& spec, const std::vector<std::int64_t>& order,
                     const std::map<std::string, DatasetPair>& data, ResultsFile& file,
                     mpi::WorkCounter& counter, const SweepOptions& o, int threads) {
  const int rank = mpi::rank();
  LoopResult out;
  bool requested = false;  // this rank has added the stop offset
  auto check_signal = [&] {
    if (g_stop_signal != 0 && !requested) {
      counter.request_stop();
      requested = true;
      std::printf("[rank %d] signal %d: taking no new points\n", rank,
                  static_cast<int>(g_stop_signal));
      std::fflush(stdout);
    }
  };
  for (;;) {
    check_signal();
    double t = mpi::wall_time();
    const std::int64_t k = counter.take();
    out.bookkeeping += mpi::wall_time() - t;
    if (mpi::WorkCounter::is_stop(k)) {
      out.saw_stop = true;
      break;
    }
    if (k >= static_cast<std::int64_t>(order.size())) break;
    const Point& p = spec.points[static_cast<std::size_t>(order[static_cast<std::size_t>(k)])];
    TrainConfig config = p.config;
    config.threads = threads;

    // After a stop request, a point keeps training while the epoch ahead (the next one, from
    // the last epoch's time; or the one in progress, projected from its batches so far) still
    // ends within the grace period; otherwise it is abandoned and left pending.
    double stop_seen = -1;
    bool abandoned = false;
    auto abandon = [&](double now, double epoch_ahead) -> bool {
      check_signal();
      if (!requested && !mpi::WorkCounter::is_stop(counter.peek())) return false;
      if (stop_seen < 0) stop_seen = now;
      abandoned = now - stop_seen + epoch_ahead > o.grace_seconds;
      return abandoned;
    };
    double epoch_start = 0, last_look = 0;
    auto on_batch = [&](int, int batch, int batches) -> bool {
      const double now = mpi::wall_time();
      if (batch == 0) epoch_start = now;
      if (batch == 0 || now - last_look < 0.2) return true;  // look at most 5 times a second
      last_look = now;
      return !abandon(now, (now - epoch_start) / batch * (batches - batch));
    };
    auto on_epoch = [&](int, const EpochMetrics& m) -> bool {
      mpi::poke_progress();
      return !abandon(mpi::wall_time(), m.wall_seconds);
    };
    RunResult result;
    try {
      if (injected_failure(p.id))
        throw std::runtime_error("injected failure (PRECSWEEP_FAIL_POINTS)");
      result = train(config, data.at(p.dataset), on_epoch, on_batch);
      if (!abandoned && result.status == RunStatus::pending) {
        result.status = RunStatus::failed;
        result.message = "trainer returned without a final status";
      }
    } catch (const std::exception& e) {
      result = RunResult{};
      result.status = RunStatus::failed;
      result.message = e.what();
    }
    if (abandoned) {
      std::printf("[rank %d] point %lld abandoned after the grace period; left pending\n", rank,
                  static_cast<long long>(p.id));
      std::fflush(stdout);
      out.saw_stop = true;
      break;
    }
    t = mpi::wall_time();
    file.write_point(p.id, result, rank);
    file.sync();
    counter.add_finished();
    out.bookkeeping += mpi::wall_time() - t;
    ++out.finished;
    out.counts.add(result.status);
    if (result.status == RunStatus::failed)
      std::printf("[rank %d] point %lld failed: %s: %s\n", rank, static_cast<long long>(p.id),
                  key_params(spec, p).c_str(), result.message.c_str());
    else
      std::printf("[rank %d] point %lld %s: %s test_accuracy=%.4f (%.1f s)\n", rank,
                  static_cast<long long>(p.id), to_string(result.status).c_str(),
                  key_params(spec, p).c_str(), result.final_test_accuracy, result.wall_seconds);
    std::fflush(stdout);
  }
  return out;
}

}  // namespace

int run_sweep(const SweepOptions& o) {
  const int rank = mpi::rank();
  const int size = mpi::size();

  // 1. Spec, output, data: every failure here is the user's input, agreed by all ranks.
  std::string message;
  SweepSpec spec;
  int threads = 1;
  bool ok = true;
  try {
    spec = load_spec(o.spec_path);
    if (!o.data_dir.empty()) spec.data_dir = o.data_dir;
    threads = o.threads > 0 ? o.threads : default_threads();
    check_largest_point_fits(spec);
  } catch (const std::exception& e) {
    ok = false;
    message = e.what();
  }
  if (!mpi::all_ok(ok, message)) return input_failure(message);
  if (rank == 0) {
    try {
      check_output(o, spec);
    } catch (const std::exception& e) {
      ok = false;
      message = e.what();
    }
  }
  if (!mpi::all_ok(ok, message)) return input_failure(message);
  std::map<std::string, DatasetPair> data;
  try {
    for (const Point& p : spec.points)
      if (!data.count(p.dataset)) data.emplace(p.dataset, load_dataset(p.dataset, spec.data_dir));
  } catch (const std::exception& e) {
    ok = false;
    message = e.what();
  }
  if (!mpi::all_ok(ok, message)) return input_failure(message);

  try {
    // 2. The results file, collectively.
    RunInfo info;
    info.mpi_size = size;
    info.threads = threads;
    info.hostnames = mpi::all_hostnames();
    info.start_time = mpi::broadcast(iso8601_utc_now());
    const h5::Access access = h5::Access::mpio(mpi::world());
    ResultsFile file;
    try {
      if (o.resume) {
        file = ResultsFile::open(o.out, access, true);
        file.record_run(info);
        file.file().flush();
      } else {
        file = ResultsFile::create(o.out, spec, info, access, rank == 0);
      }
    } catch (const std::exception& e) {
      // Every rank made the same collective calls, so they fail alike: report once (a file
      // this run was creating has been removed by ResultsFile::create).
      ok = false;
      message = e.what();
    }
    if (!mpi::all_ok(ok, message)) {
      file = ResultsFile();
      mpi::barrier();
      if (rank == 0) {
        std::fprintf(stderr, "precsweep: error: %s: %s\n", o.out.string().c_str(),
                     message.c_str());
      }
      return kExitInternal;
    }

    // 3. The same cost-ordered list of runnable points on every rank.
    const std::vector<std::int8_t> status = file.read_status();
    const std::vector<std::int64_t> runnable = runnable_points(status, o.retry_failed);
    std::vector<PendingPoint> pending;
    for (std::int64_t id : runnable)
      pending.push_back({id, spec.points[static_cast<std::size_t>(id)].cost});
    const std::vector<std::int64_t> order = schedule_order(pending);
    const std::int64_t total = static_cast<std::int64_t>(spec.points.size());
    const std::int64_t complete_before = total - static_cast<std::int64_t>(order.size());
    if (rank == 0) {
      std::printf("sweep %s: %lld points, %lld to run (%s), %d ranks x %d threads -> %s\n",
                  spec.name.c_str(), static_cast<long long>(total),
                  static_cast<long long>(order.size()),
                  o.resume ? "resumed" : "new file", size, threads, o.out.string().c_str());
      std::fflush(stdout);
    }

    LoopResult mine;
    {
      mpi::WorkCounter counter;
      std::unique_ptr<ProgressPrinter> progress;
      if (rank == 0)
        progress = std::make_unique<ProgressPrinter>(counter, total, complete_before,
                                                     o.progress_seconds);
      const double t0 = mpi::wall_time();
      mine = work_loop(spec, order, data, file, counter, o, threads);
      mine.seconds = mpi::wall_time() - t0;
      if (progress) progress->stop();
      // Every rank is out of its loop before the window goes away; ranks that finish early
      // wait here asleep rather than spinning.
      mpi::idle_barrier();
    }

    // 4. Totals, end time, close (collective).
    const std::int64_t finished = mpi::allreduce_sum(mine.finished);
    const std::int64_t done = mpi::allreduce_sum(mine.counts.done);
    const std::int64_t diverged = mpi::allreduce_sum(mine.counts.diverged);
    const std::int64_t failed = mpi::allreduce_sum(mine.counts.failed);
    const bool stopped = mpi::allreduce_max(std::int64_t{mine.saw_stop}) != 0;
    const double work_seconds = mpi::allreduce_max(mine.seconds);  // makespan of this run
    const double bookkeeping_ms = mpi::allreduce_max(
        mine.finished > 0 ? 1e3 * mine.bookkeeping / static_cast<double>(mine.finished) : 0.0);
    file.finish(mpi::broadcast(iso8601_utc_now()));
    const std::int64_t left = static_cast<std::int64_t>(order.size()) - finished;
    if (rank == 0) {
      std::printf("sweep %s: this run finished %lld points (%lld done, %lld diverged, %lld failed)"
                  " in %.3f s (bookkeeping %.2f ms/point); %lld left\n",
                  spec.name.c_str(), static_cast<long long>(finished),
                  static_cast<long long>(done), static_cast<long long>(diverged),
                  static_cast<long long>(failed), work_seconds, bookkeeping_ms,
                  static_cast<long long>(left));
      if (left > 0)
        std::printf("stopped early (exit %d): resume with  precsweep sweep %s --out %s --resume\n",
                    kExitStoppedEarly, o.spec_path.string().c_str(), o.out.string().c_str());
      else if (failed > 0)
        std::printf("%lld points failed: rerun them with --resume --retry-failed\n",
                    static_cast<long long>(failed));
      std::fflush(stdout);
    }
    if (left > 0) return stopped ? kExitStoppedEarly : kExitInternal;
    return kExitOk;
  } catch (const std::exception& e) {
    // After setup, a failure on one rank cannot be agreed on without risking a hang: report
    // it with the rank and end the whole job. Rows already marked done stay valid.
    std::fprintf(stderr, "precsweep: rank %d: internal error: %s\n", rank, e.what());
    std::fflush(stderr);
    mpi::abort(kExitInternal);
  }
}

}  // namespace precsweep
