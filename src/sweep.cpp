// The sweep runner (see sweep.hpp and docs/sweeping.md). Phases, all ranks together:
//   1. every rank parses the spec, rank 0 checks the output file, every rank loads the data;
//      any failure is agreed on (mpi::all_ok), rank 0 prints one line, everyone returns 2;
//   2. the results file is created (or reopened with --resume) collectively;
//   3. every rank computes the same cost-ordered list of runnable points and takes indices into
//      it from the shared counter until the list (or a stop request) runs out, writing and
//      syncing each finished point's row on its own (stop signals: StopWatch);
//   4. collective finish: totals, end_time, close; exit 3 if a stop left points pending.
// Deliberately leaves out: the file layout (results_file.cpp) and the MPI calls (mpi.cpp).
#include "precsweep/sweep.hpp"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "precsweep/dataset.hpp"
#include "precsweep/error.hpp"
#include "precsweep/mpi.hpp"
#include "precsweep/output_lock.hpp"
#include "precsweep/results_file.hpp"
#include "precsweep/search.hpp"
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

// ---- signals: USR1 finishes the points in flight, TERM / INT / USR2 abandon them ------------
// The handler only records; the work loop passes the request on to every rank (StopWatch).

constexpr int kStopSignals[4] = {SIGUSR1, SIGTERM, SIGINT, SIGUSR2};
volatile std::sig_atomic_t g_stop_signal = 0;  // the latest stop signal; 0 while none came
volatile std::sig_atomic_t g_stop_now = 0;     // one of TERM, INT, USR2 came

extern "C" void on_stop_signal(int sig) {
  g_stop_signal = sig;
  if (sig != SIGUSR1) g_stop_now = 1;
}

const char* signal_name(int sig) {
  switch (sig) {
    case SIGUSR1: return "SIGUSR1";
    case SIGUSR2: return "SIGUSR2";
    case SIGTERM: return "SIGTERM";
    case SIGINT: return "SIGINT";
    default: return "signal";
  }
}

}  // namespace

struct StopSignals::Saved {
  struct sigaction old[4] {};  // as kStopSignals
};

StopSignals::StopSignals() : saved_(std::make_unique<Saved>()) {
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  for (int i = 0; i < 4; ++i) sigaction(kStopSignals[i], &sa, &saved_->old[i]);
}

StopSignals::~StopSignals() {
  for (int i = 0; i < 4; ++i) sigaction(kStopSignals[i], &saved_->old[i], nullptr);
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

// Rank 0, before anything is written: may the output be created / resumed? Returns the writer
// lock (output_lock.hpp), which rank 0 holds until the sweep ends: a second sweep on the same
// file, new or resumed, is refused here with exit 2.
OutputLock check_output(const SweepOptions& o, const SweepSpec& spec) {
  namespace fs = std::filesystem;
  const std::string out = o.out.string();
  if (out.empty()) throw InputError("--out: empty file name (give the results file to write)");
  std::string holder;
  if (!o.resume) {
    fs::path parent = o.out.parent_path();
    if (!parent.empty() && !fs::is_directory(parent))
      throw InputError("--out " + out + ": folder " + parent.string() + " does not exist");
    OutputLock lock = OutputLock::try_acquire(o.out, holder);
    if (!lock.held())  // two new sweeps started together: this one came second
      throw InputError("--out " + out + " exists: another sweep (" + holder + ", lock " +
                       OutputLock::lock_path(o.out).string() + ") is creating it; choose "
                       "another file, or --resume once that sweep has ended");
    if (fs::exists(o.out))
      throw InputError("--out " + out + " exists: pass --resume to continue that sweep, or choose "
                       "another file (an existing output is never overwritten)");
    return lock;
  }
  if (!fs::exists(o.out)) throw InputError("--resume: " + out + " does not exist");
  OutputLock lock = OutputLock::try_acquire(o.out, holder);
  if (!lock.held())
    throw InputError("--resume: " + out + " is being written by another sweep (" + holder +
                     ", lock " + OutputLock::lock_path(o.out).string() +
                     "); wait for it to end or stop it, then resume");
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
  return lock;
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

// Runs a fallible setup step where `here` is true (every rank, or rank 0 alone) and agrees on
// the outcome across ranks: true when every rank succeeded; otherwise false on every rank, with
// `message` the lowest failing rank's exception text. Collective: every rank must call it.
template <class Step>
bool agreed(std::string& message, Step&& step, bool here = true) {
  bool ok = true;
  if (here) {
    try {
      step();
    } catch (const std::exception& e) {
      ok = false;
      message = e.what();
    }
  }
  return mpi::all_ok(ok, message);
}

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

// ---- test-only knobs (docs/sweeping.md, "Test-only environment variables") ----------------
// They let tests create a situation by an event ("k points are in the file and the sweep is
// still running, every rank is in the middle of a point") instead of by how fast this machine
// trains. Unset, they cost nothing; set, they only make ranks wait, so no point's results
// change. A stop signal (to any rank) ends the wait at once.
struct TestKnobs {
  std::string hold_file;        // PRECSWEEP_TEST_HOLD_FILE: epochs pause while this file exists
  std::int64_t hold_after = 0;  // PRECSWEEP_TEST_HOLD_AFTER: ... of points from this list index
};

TestKnobs read_test_knobs() {
  TestKnobs k;
  if (const char* env = std::getenv("PRECSWEEP_TEST_HOLD_FILE")) k.hold_file = env;
  if (const char* env = std::getenv("PRECSWEEP_TEST_HOLD_AFTER"); env != nullptr && *env) {
    char* end = nullptr;
    errno = 0;
    const long long v = std::strtoll(env, &end, 10);
    if (*end != '\0' || errno != 0 || v < 0)
      throw InputError(std::string("PRECSWEEP_TEST_HOLD_AFTER=") + env + ": expected a whole "
                       "number of points >= 0 (a test-only setting: unset it)");
    k.hold_after = v;
  }
  return k;
}

bool hold_file_exists(const std::string& path) {
  std::error_code ec;
  return std::filesystem::exists(path, ec);
}

// ---- what one rank knows of the stop requests ------------------------------------------------

enum class Stop { none, finish, now };  // finish: SIGUSR1; now: SIGTERM, SIGINT, SIGUSR2

// This rank's signals, passed on to every rank through the work counter (the stop offset and
// the stop-now flag), and the other ranks' requests read back from it.
class StopWatch {
 public:
  StopWatch(mpi::WorkCounter& counter, int rank) : counter_(counter), rank_(rank) {}

  // This rank's own signals only; no MPI call unless one has just arrived.
  Stop local() {
    if (g_stop_signal != 0 && !requested_) {
      counter_.request_stop();
      requested_ = true;
      if (level_ == Stop::none) level_ = Stop::finish;
      if (g_stop_now == 0)
        say("taking no new points; finishing those in flight within --grace");
    }
    if (g_stop_now != 0 && !now_sent_) {
      counter_.request_stop_now();
      now_sent_ = true;
      level_ = Stop::now;
      say("stopping now; a point in flight is abandoned and left pending");
    }
    return level_;
  }

  // Also the other ranks' requests (two one-sided reads of rank 0's window).
  Stop look() {
    local();
    if (level_ == Stop::none && mpi::WorkCounter::is_stop(counter_.peek())) level_ = Stop::finish;
    if (level_ != Stop::now && counter_.stop_now_requested()) level_ = Stop::now;
    return level_;
  }

  // Sleeps in short steps until `done()` or a stop request (signals do not cut a sleep short:
  // sleep_for resumes after the handler). Returns the stop level.
  template <class Done>
  Stop wait_until(Done done) {
    while (look() == Stop::none && !done())
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    return level_;
  }

 private:
  void say(const char* what) const {
    std::printf("[rank %d] %s: %s\n", rank_, signal_name(static_cast<int>(g_stop_signal)), what);
    std::fflush(stdout);
  }

  mpi::WorkCounter& counter_;
  int rank_;
  Stop level_ = Stop::none;
  bool requested_ = false;  // this rank has added the stop offset
  bool now_sent_ = false;   // this rank has set the stop-now flag
};

// The work loop of one rank. Returns what this rank finished.
struct LoopResult {
  Counts counts;
  std::int64_t finished = 0;
  bool saw_stop = false;
  double seconds = 0;      // this rank's time in the loop
  double bookkeeping = 0;  // of which: taking points, writing rows, syncing
};

// Trains point `p` (list index k) until it ends or a stop request abandons it. After SIGUSR1 a
// point keeps training while the epoch ahead (the next one, from the last epoch's time; or the
// one in progress, projected from its batches so far) still ends within the grace period, and a
// point whose training has ended is kept; after a stop-now request it is abandoned at the next
// look (before each batch, at most five times a second, and after each epoch), even if its
// training has ended. `abandoned` says whether the result must be left unwritten.
RunResult train_point(const Point& p, std::int64_t k, const DatasetPair& data, int threads,
                      const SweepOptions& o, const TestKnobs& knobs, StopWatch& stop,
                      bool& abandoned) {
  TrainConfig config = p.config;
  config.threads = threads;
  double stop_seen = -1;
  bool held = false;
  abandoned = false;
  auto keep_going = [&](Stop level, double now, double epoch_ahead) -> bool {
    if (level == Stop::none) return true;
    if (level == Stop::now) {
      abandoned = true;
      return false;
    }
    if (stop_seen < 0) stop_seen = now;
    abandoned = now - stop_seen + epoch_ahead > o.grace_seconds;
    return !abandoned;
  };
  double epoch_start = 0, last_look = 0;
  auto on_batch = [&](int, int batch, int batches) -> bool {
    const double now = mpi::wall_time();
    if (batch == 0) epoch_start = now;
    if (batch == 0 || now - last_look < 0.2) return true;  // look at most 5 times a second
    last_look = now;
    return keep_going(stop.look(), now, (now - epoch_start) / batch * (batches - batch));
  };
  auto on_epoch = [&](int epoch, const EpochMetrics& m) -> bool {
    mpi::poke_progress();
    if (!knobs.hold_file.empty() && k >= knobs.hold_after &&
        hold_file_exists(knobs.hold_file)) {
      // Said once per point, so that a test knows when every rank is held mid-point.
      if (!held) {
        std::printf("[rank %d] point %lld held after epoch %d (test-only hold file %s)\n",
                    mpi::rank(), static_cast<long long>(p.id), epoch + 1,
                    knobs.hold_file.c_str());
        std::fflush(stdout);
        held = true;
      }
      stop.wait_until([&] { return !hold_file_exists(knobs.hold_file); });
    }
    return keep_going(stop.look(), mpi::wall_time(), m.wall_seconds);
  };
  RunResult result;
  try {
    if (injected_failure(p.id))
      throw std::runtime_error("injected failure (PRECSWEEP_FAIL_POINTS)");
    result = train(config, data, on_epoch, on_batch);
    if (!abandoned && result.status == RunStatus::pending) {
      result.status = RunStatus::failed;
      result.message = "trainer returned without a final status";
    }
  } catch (const std::exception& e) {
    result = RunResult{};
    result.status = RunStatus::failed;
    result.message = e.what();
  }
  // A finished training (done or diverged) is a result unless the stop is "now".
  const Stop level = stop.look();
  abandoned = level == Stop::now || (abandoned && result.status == RunStatus::pending);
  return result;
}

LoopResult work_loop(const SweepSpec& spec, const std::vector<std::int64_t>& order,
                     const std::map<std::string, DatasetPair>& data, ResultsFile& file,
                     mpi::WorkCounter& counter, const SweepOptions& o, const TestKnobs& knobs,
                     int threads) {
  const int rank = mpi::rank();
  LoopResult out;
  StopWatch stop(counter, rank);
  for (;;) {
    stop.local();  // a signal to this rank stops every rank's next take
    double t = mpi::wall_time();
    const std::int64_t k = counter.take();
    out.bookkeeping += mpi::wall_time() - t;
    if (mpi::WorkCounter::is_stop(k)) {
      out.saw_stop = true;
      break;
    }
    if (k >= static_cast<std::int64_t>(order.size())) break;
    const Point& p = spec.points[static_cast<std::size_t>(order[static_cast<std::size_t>(k)])];
    bool abandoned = false;
    const RunResult result =
        train_point(p, k, data.at(p.dataset), threads, o, knobs, stop, abandoned);
    if (abandoned) {
      std::printf("[rank %d] point %lld abandoned %s; left pending\n", rank,
                  static_cast<long long>(p.id),
                  stop.look() == Stop::now ? "(stop now)" : "after the grace period");
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

// ---- search mode (search.hpp, docs/search.md) -------------------------------------------------

// A finished point's swamping width (search.hpp's PointResult): from its last epoch with an
// update-ratio histogram, -1 if none. The same function of the same histogram as board_start's
// on resume, so a resumed search predicts what the first run predicted.
int swamp_width(const LayerRatios& h) { return predict_width(h, Rounding::toward_zero); }
int swamp_width(const RunResult& r) {
  for (auto e = r.epochs.rbegin(); e != r.epochs.rend(); ++e)
    for (const RatioHistogram& h : e->update_ratio)
      for (std::uint64_t c : h)
        if (c != 0) return swamp_width(e->update_ratio);
  return -1;
}

// What the board says, as the results file would (status and the searched metric per point),
// and which points are taken.
struct BoardView {
  std::vector<PointResult> results;
  std::vector<std::int64_t> claims;
};
BoardView read_board(mpi::SearchBoard& board) {
  std::vector<std::int64_t> state, aux;
  std::vector<double> value;
  BoardView out;
  board.read(state, value, out.claims, aux);
  out.results.resize(state.size());
  for (std::size_t i = 0; i < state.size(); ++i)
    if (state[i] >= mpi::SearchBoard::kFinished)
      out.results[i] = {static_cast<std::int8_t>(state[i] - mpi::SearchBoard::kFinished),
                        value[i], static_cast<int>(aux[i])};
  return out;
}

// Claims the largest-cost wanted point nobody has taken yet; -1 if there is none.
std::int64_t claim_next(const SweepSpec& spec, const SearchView& view, const BoardView& b,
                        mpi::SearchBoard& board) {
  std::vector<PendingPoint> open;
  for (auto id : view.wanted)
    if (b.claims[static_cast<std::size_t>(id)] == 0)
      open.push_back({id, spec.points[static_cast<std::size_t>(id)].cost});
  for (auto id : schedule_order(open))
    if (board.claim(id)) return id;
  return -1;
}

// The work loop of one rank in search mode: read the board, claim a wanted point, train it,
// write its row and publish it; wait (asleep, polling the board) while every wanted point is
// being run elsewhere; stop when every setting is done or on a stop request.
LoopResult search_loop(const SweepSpec& spec, const std::vector<SearchSetting>& settings,
                       const std::map<std::string, DatasetPair>& data, ResultsFile& file,
                       mpi::WorkCounter& counter, mpi::SearchBoard& board,
                       const SweepOptions& o, const TestKnobs& knobs, int threads) {
  const int rank = mpi::rank();
  LoopResult out;
  StopWatch stop(counter, rank);
  std::int64_t started = 0;
  for (;;) {
    if (stop.look() != Stop::none) {
      out.saw_stop = true;
      break;
    }
    double t = mpi::wall_time();
    const BoardView b = read_board(board);
    const SearchView view = view_search(settings, b.results, spec.search_spec);
    if (view.all_done) break;
    const std::int64_t id = claim_next(spec, view, b, board);
    out.bookkeeping += mpi::wall_time() - t;
    if (id < 0) {  // every wanted point is running on another rank: wait for one to finish
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      continue;
    }
    const Point& p = spec.points[static_cast<std::size_t>(id)];
    bool abandoned = false;
    const RunResult result =
        train_point(p, started++, data.at(p.dataset), threads, o, knobs, stop, abandoned);
    if (abandoned) {
      std::printf("[rank %d] point %lld abandoned; left pending\n", rank,
                  static_cast<long long>(p.id));
      std::fflush(stdout);
      out.saw_stop = true;
      break;
    }
    t = mpi::wall_time();
    file.write_point(p.id, result, rank);
    file.sync();
    board.publish(p.id, static_cast<std::int8_t>(result.status), result.final_test_accuracy,
                  swamp_width(result));
    counter.add_finished();
    out.bookkeeping += mpi::wall_time() - t;
    ++out.finished;
    out.counts.add(result.status);
    std::printf("[rank %d] point %lld %s: %s test_accuracy=%.4f (%.1f s)\n", rank,
                static_cast<long long>(p.id), to_string(result.status).c_str(),
                key_params(spec, p).c_str(), result.final_test_accuracy, result.wall_seconds);
    std::fflush(stdout);
  }
  return out;
}

// The /search rows of the searches as the board has them now.
std::vector<ResultsFile::SearchRow> search_rows(const std::vector<SearchSetting>& settings,
                                                const SearchView& view) {
  std::vector<ResultsFile::SearchRow> rows;
  for (std::size_t i = 0; i < settings.size(); ++i) {
    const SearchStep& st = view.steps[i];
    ResultsFile::SearchRow r;
    r.done = st.done;
    r.non_monotone = st.non_monotone;
    r.critical = st.done && st.critical >= 0 ? settings[i].cells[static_cast<std::size_t>(st.critical)]
                                             : -1;
    r.points_run = view.points_run[i];
    r.predicted = view.predicted[i];
    rows.push_back(r);
  }
  return rows;
}

// The board's starting contents from the file: finished rows are finished (failed ones open
// again with --retry-failed), everything else unclaimed.
void board_start(const ResultsFile& file, bool retry_failed, std::vector<std::int64_t>& state,
                 std::vector<double>& value, std::vector<std::int64_t>& aux) {
  const std::vector<std::int8_t> status = file.read_status();
  value = file.read_run_metric("final_test_accuracy");
  const std::vector<LayerRatios> ratio = file.read_update_ratio();
  state.assign(status.size(), mpi::SearchBoard::kUnclaimed);
  aux.assign(status.size(), -1);
  for (std::size_t i = 0; i < status.size(); ++i)
    if (status[i] != 0 && !(retry_failed && status[i] == 3)) {
      state[i] = mpi::SearchBoard::kFinished + status[i];
      aux[i] = swamp_width(ratio[i]);
    }
}

// Phases 3 and 4 in search mode: the shared board from the file, every rank's search loop,
// then the /search rows (written by rank 0 from the final board), totals and close.
int run_search(const SweepSpec& spec, ResultsFile& file,
               const std::map<std::string, DatasetPair>& data, const SweepOptions& o,
               const TestKnobs& knobs, int threads) {
  const int rank = mpi::rank();
  const std::vector<SearchSetting> settings = search_settings(spec, spec.search_spec.axis);
  std::vector<std::int64_t> state, aux;
  std::vector<double> value;
  board_start(file, o.retry_failed, state, value, aux);
  std::int64_t grid_cells = 0;
  for (const SearchSetting& s : settings)
    grid_cells += static_cast<std::int64_t>(s.cells.size() * s.points.front().size());
  if (rank == 0) {
    std::printf("search %s: %zu settings along '%s' (%lld grid points), %d ranks x %d threads "
                "-> %s\n", spec.name.c_str(), settings.size(), spec.search_spec.axis.c_str(),
                static_cast<long long>(grid_cells), mpi::size(), threads, o.out.string().c_str());
    std::fflush(stdout);
  }
  LoopResult mine;
  SearchView final_view;
  {
    mpi::SearchBoard board(state, value, aux);
    mpi::WorkCounter counter;
    const double t0 = mpi::wall_time();
    mine = search_loop(spec, settings, data, file, counter, board, o, knobs, threads);
    mine.seconds = mpi::wall_time() - t0;
    mpi::idle_barrier();
    final_view = view_search(settings, read_board(board).results, spec.search_spec);
    mpi::barrier();  // every rank has read the board before it goes
  }
  if (rank == 0) {
    file.write_search(search_rows(settings, final_view));
    file.sync();
  }
  const std::int64_t finished = mpi::allreduce_sum(mine.finished);
  const bool stopped = mpi::allreduce_max(std::int64_t{mine.saw_stop}) != 0;
  file.finish(mpi::broadcast(iso8601_utc_now()));
  std::int64_t left = 0;
  for (const SearchStep& step : final_view.steps) left += !step.done;
  if (rank == 0) {
    std::printf("search %s: this run finished %lld points; %zu of %zu settings done\n",
                spec.name.c_str(), static_cast<long long>(finished),
                settings.size() - static_cast<std::size_t>(left), settings.size());
    if (left > 0)
      std::printf("stopped early (exit %d): resume with  precsweep sweep %s --out %s --resume\n",
                  kExitStoppedEarly, o.spec_path.string().c_str(), o.out.string().c_str());
    std::fflush(stdout);
  }
  if (left > 0) return stopped ? kExitStoppedEarly : kExitInternal;
  return kExitOk;
}

}  // namespace

int run_sweep(const SweepOptions& o) {
  const int rank = mpi::rank();
  const int size = mpi::size();

  // 1. Spec, output, data: every failure here is the user's input, agreed by all ranks.
  std::string message;
  SweepSpec spec;
  TestKnobs knobs;
  int threads = 1;
  if (!agreed(message, [&] {
        knobs = read_test_knobs();
        spec = load_spec(o.spec_path);
        if (!o.data_dir.empty()) {
          for (const Point& p : spec.points)
            if (p.dataset != spec.points.front().dataset)
              throw InputError("--data-dir: one folder for the datasets " +
                               spec.points.front().dataset + " and " + p.dataset +
                               "; set PRECSWEEP_DATA_DIR=DIR instead (each dataset is DIR/<name>)");
          spec.data_dir = o.data_dir;
        }
        threads = o.threads > 0 ? o.threads : default_threads();
        check_largest_point_fits(spec);
      }))
    return input_failure(message);
  OutputLock writer_lock;  // rank 0's, held until this function returns
  if (!agreed(message, [&] { writer_lock = check_output(o, spec); }, rank == 0))
    return input_failure(message);
  std::map<std::string, DatasetPair> data;
  if (!agreed(message, [&] {
        for (const Point& p : spec.points)
          if (!data.count(p.dataset))
            data.emplace(p.dataset, load_dataset(p.dataset, spec.data_dir));
      }))
    return input_failure(message);

  try {
    // 2. The results file, collectively.
    RunInfo info;
    info.mpi_size = size;
    info.threads = threads;
    info.hostnames = mpi::all_hostnames();
    info.start_time = mpi::broadcast(iso8601_utc_now());
    const h5::Access access = h5::Access::mpio(mpi::world());
    ResultsFile file;
    // Room for the file first, agreed by all ranks: parallel HDF5 cannot agree on a write that
    // fails on one rank inside a collective call (the others wait forever). Then the collective
    // create or open: every rank makes the same calls, so they fail alike (a file this run was
    // creating has been removed by ResultsFile::create).
    const bool have_file =
        agreed(message, [&] {
          check_free_space(o.out, o.resume ? 0 : ResultsFile::estimated_bytes(spec));
        }, rank == 0) &&
        agreed(message, [&] {
          try {
            if (o.resume) {
              file = ResultsFile::open(o.out, access, true);
              file.record_run(info);
              file.file().flush();
            } else {
              file = ResultsFile::create(o.out, spec, info, access, rank == 0);
            }
          } catch (const std::exception& e) {
            throw std::runtime_error(io_failure_text(o.out, e));
          }
        });
    if (!have_file) {
      file = ResultsFile();
      mpi::barrier();
      if (rank == 0) {
        std::fprintf(stderr, "precsweep: error: %s: %s\n", o.out.string().c_str(),
                     message.c_str());
      }
      return kExitInternal;
    }

    if (spec.search) return run_search(spec, file, data, o, knobs, threads);

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
      mine = work_loop(spec, order, data, file, counter, o, knobs, threads);
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
