// Process-level tests of `precsweep sweep` and `status`: the real binary under scripts/mpirun on
// a small synthetic-data spec. Checked: -np 1 and -np 2 give bit-identical metrics; the file
// layout (every dataset and attribute, with its shape); refusal to overwrite; refusal to resume
// with another spec; bad input exits 2 without output; SIGKILL of a running 2-rank sweep at
// several moments, resumed each time, ends with every point finished exactly once and every
// metric equal to an uninterrupted run; SIGUSR1 (forwarded by mpirun) finishes the points in
// flight and exits 3; SIGTERM and SIGINT (to scripts/mpirun or to a one-rank sweep) abandon them,
// write nothing of them and exit 3; every stopped file resumes to the uninterrupted result;
// `train --out` writes the same layout with one point.
// Every situation ("k points are in the file, every rank is in the middle of a point") is made
// by events with the sweep's test-only hold file (docs/sweeping.md), never by how fast this
// machine trains: the tests hold on a machine ten times faster or three times slower.
// Deliberately leaves out: timing (benchmarks/bench_sweep.cpp).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "precsweep/h5.hpp"
#include "precsweep/results_file.hpp"
#include "precsweep/search.hpp"
#include "precsweep/spec.hpp"
#include "test_support.hpp"

namespace fs = std::filesystem;
using namespace precsweep;

namespace {

const std::string kMpirun = PRECSWEEP_SOURCE_DIR "/scripts/mpirun";
const std::string kBinary = PRECSWEEP_BINARY;

// 2 seeds x 2 widths x 2 lr x 2 formats = 16 grid points + 8 fp32 baselines = 24 points on
// the synthetic problem (4 epochs each, so a held point is held mid-training).
const char* kSpec = R"(name: mpitest
dataset: synthetic
epochs: 4
seed: [1, 2]
model:
  hidden: [[64], [128]]
train:
  lr: [0.1, 0.5]
  batch: 32
precision:
  format: [E5M6, E4M3]
  rounding: nearest_even
baseline: true
)";
constexpr std::int64_t kPoints = 24;

using precsweep::test::read_text;
using precsweep::test::TempDir;

void write_text(const fs::path& p, const std::string& text) { std::ofstream(p) << text; }

using Env = std::vector<std::pair<std::string, std::string>>;

// Starts argv with stdout/stderr redirected to files and `env` added; returns the pid.
pid_t spawn(const std::vector<std::string>& argv, const fs::path& out, const fs::path& err,
            const Env& env = {}) {
  pid_t pid = ::fork();
  if (pid == 0) {
    FILE* o = std::freopen(out.c_str(), "w", stdout);
    FILE* e = std::freopen(err.c_str(), "w", stderr);
    (void)o;
    (void)e;
    for (const auto& [k, v] : env) ::setenv(k.c_str(), v.c_str(), 1);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    std::_Exit(127);
  }
  return pid;
}

int wait_exit(pid_t pid) {
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return 128 + WTERMSIG(status);
}

struct Outcome {
  int code = -1;
  std::string out, err;
};

Outcome run(const std::vector<std::string>& argv, const fs::path& dir, const std::string& tag) {
  Outcome r;
  r.code = wait_exit(spawn(argv, dir / (tag + ".out"), dir / (tag + ".err")));
  r.out = read_text(dir / (tag + ".out"));
  r.err = read_text(dir / (tag + ".err"));
  return r;
}

std::vector<std::string> sweep_argv(int np, const fs::path& spec, const fs::path& out,
                                    std::vector<std::string> extra = {},
                                    const std::string& progress = "0") {
  std::vector<std::string> a = {kMpirun, "-np", std::to_string(np), kBinary, "sweep",
                                spec.string(), "--out", out.string(), "--progress", progress};
  a.insert(a.end(), extra.begin(), extra.end());
  return a;
}

// Direct children of `parent`, from /proc/<pid>/stat.
std::vector<pid_t> children_of(pid_t parent) {
  std::vector<pid_t> kids;
  for (const auto& e : fs::directory_iterator("/proc")) {
    const std::string name = e.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::string stat = read_text(e.path() / "stat");
    std::size_t close = stat.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream rest(stat.substr(close + 2));
    char state;
    pid_t ppid = 0;
    rest >> state >> ppid;
    if (ppid == parent) kids.push_back(static_cast<pid_t>(std::stol(name)));
  }
  return kids;
}

// Every process below `root` (scripts/mpirun -> mpirun -> the ranks).
std::vector<pid_t> descendants_of(pid_t root) {
  std::vector<pid_t> all, todo = {root};
  while (!todo.empty()) {
    pid_t p = todo.back();
    todo.pop_back();
    for (pid_t c : children_of(p)) {
      all.push_back(c);
      todo.push_back(c);
    }
  }
  return all;
}

// The ranks below `root`: the descendants running the precsweep binary.
std::vector<pid_t> ranks_of(pid_t root) {
  std::vector<pid_t> ranks;
  for (pid_t p : descendants_of(root)) {
    std::string comm = read_text(fs::path("/proc") / std::to_string(p) / "comm");
    if (comm.rfind("precsweep", 0) == 0) ranks.push_back(p);
  }
  return ranks;
}

// Polls `ready` every 5 ms; fails the test (instead of hanging) if it is not true within 300 s,
// a bound no healthy run comes near: it only turns a broken build into a failure.
template <class Ready>
bool wait_for(Ready ready) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(300);
  while (!ready()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

// How many times `needle` occurs in the file `log`.
int count_in(const fs::path& log, const std::string& needle) {
  const std::string text = read_text(log);
  int n = 0;
  for (std::size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1))
    ++n;
  return n;
}

// The test-only hold (docs/sweeping.md): while `hold` exists, every point from list index
// `after` on pauses after each epoch; each rank says once per point that it is held.
Env hold_env(const fs::path& hold, std::int64_t after) {
  std::ofstream(hold).put('\n');
  return {{"PRECSWEEP_TEST_HOLD_FILE", hold.string()},
          {"PRECSWEEP_TEST_HOLD_AFTER", std::to_string(after)}};
}
constexpr const char* kHeld = "held after epoch";

// Whether process `pid` has a handler for `sig` (the SigCgt mask of /proc/<pid>/status).
bool catches(pid_t pid, int sig) {
  std::istringstream status(read_text(fs::path("/proc") / std::to_string(pid) / "status"));
  for (std::string line; std::getline(status, line);)
    if (line.rfind("SigCgt:", 0) == 0)
      return (std::stoull(line.substr(7), nullptr, 16) >> (sig - 1)) & 1u;
  return false;
}

// Points with a final status (done, diverged or failed); -1 while the file cannot be read.
std::int64_t finished_points(const fs::path& file) {
  try {
    if (!fs::exists(file) || !h5::File::is_hdf5(file)) return -1;
    ResultsFile f = ResultsFile::open(file, h5::Access::serial(), false);
    std::int64_t n = 0;
    for (std::int8_t s : f.read_status()) n += s != 0;
    return n;
  } catch (const std::exception&) {
    return -1;
  }
}

// Starts a 2-rank sweep that may take at most `at_least` + 1 points before the hold stops it
// (so it cannot end by itself), waits until at least `at_least` points are finished in the
// file, then SIGKILLs mpirun and the ranks (one may be training or writing a point). Returns
// the finished count seen just before the kill.
std::int64_t run_and_kill(const fs::path& spec, const fs::path& out, bool resume,
                          std::int64_t at_least, const fs::path& dir, const std::string& tag) {
  std::vector<std::string> extra;
  if (resume) extra.push_back("--resume");
  const std::int64_t before = std::max<std::int64_t>(finished_points(out), 0);
  const fs::path hold = dir / (tag + ".hold");
  pid_t mpirun = spawn(sweep_argv(2, spec, out, extra), dir / (tag + ".out"),
                       dir / (tag + ".err"), hold_env(hold, at_least - before + 1));
  std::int64_t seen = -1;
  wait_for([&] { return (seen = finished_points(out)) >= at_least; });
  for (pid_t p : descendants_of(mpirun)) ::kill(p, SIGKILL);
  ::kill(mpirun, SIGKILL);
  wait_exit(mpirun);
  fs::remove(hold);
  return seen;
}

// Pending rows carry nothing: NaN metrics and rank -1, as the file was created (a point
// abandoned by a stop wrote nothing).
void expect_pending_rows_empty(const fs::path& file) {
  h5::File f = h5::File::open(file, false, h5::Access::serial());
  h5::Group r = f.root().open_group("results");
  const auto status = r.open_dataset("status").read_all<std::int8_t>();
  const auto final_acc = r.open_dataset("final_test_accuracy").read_all<double>();
  const auto rank = r.open_dataset("rank").read_all<std::int32_t>();
  const auto test_acc = r.open_dataset("test_accuracy").read_all<double>();  // [n, epochs]
  const std::size_t epochs = test_acc.size() / status.size();
  for (std::size_t i = 0; i < status.size(); ++i) {
    if (status[i] != 0) continue;
    EXPECT_TRUE(std::isnan(final_acc[i])) << "pending point " << i << " has a result";
    EXPECT_EQ(rank[i], -1) << "pending point " << i;
    for (std::size_t e = 0; e < epochs; ++e)
      EXPECT_TRUE(std::isnan(test_acc[i * epochs + e])) << "pending point " << i << " epoch " << e;
  }
}

// Every per-point metric that must not depend on ranks or scheduling, as raw bytes.
std::map<std::string, std::vector<double>> metrics(const fs::path& file) {
  h5::File f = h5::File::open(file, false, h5::Access::serial());
  h5::Group r = f.root().open_group("results");
  std::map<std::string, std::vector<double>> m;
  for (const std::string& name : per_epoch_metric_names())
    if (name != "epoch_seconds") m[name] = r.open_dataset(name).read_all<double>();
  m["final_test_accuracy"] = r.open_dataset("final_test_accuracy").read_all<double>();
  for (std::int8_t s : r.open_dataset("status").read_all<std::int8_t>()) m["status"].push_back(s);
  for (std::int64_t b : r.open_dataset("baseline_index").read_all<std::int64_t>())
    m["baseline_index"].push_back(static_cast<double>(b));
  return m;
}

void expect_bit_identical(const fs::path& a, const fs::path& b) {
  auto ma = metrics(a), mb = metrics(b);
  ASSERT_EQ(ma.size(), mb.size());
  for (const auto& [name, va] : ma) {
    const auto& vb = mb.at(name);
    ASSERT_EQ(va.size(), vb.size()) << name;
    EXPECT_EQ(std::memcmp(va.data(), vb.data(), va.size() * sizeof(double)), 0)
        << name << " differs between " << a << " and " << b;
  }
}

// Points whose per-point line says they finished, counted over a set of logs.
std::map<std::int64_t, int> finished_lines(const std::vector<fs::path>& logs) {
  std::map<std::int64_t, int> count;
  for (const auto& log : logs) {
    std::istringstream in(read_text(log));
    std::string line;
    while (std::getline(in, line)) {
      long long id = 0;
      char word[32] = "";
      int rank = 0;
      if (std::sscanf(line.c_str(), "[rank %d] point %lld %31[a-z]", &rank, &id, word) == 3 &&
          (std::strcmp(word, "done") == 0 || std::strcmp(word, "diverged") == 0 ||
           std::strcmp(word, "failed") == 0))
        count[id]++;
    }
  }
  return count;
}

class SweepMpi : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    spec_ = dir_->path / "mpitest.yaml";
    write_text(spec_, kSpec);
    reference_ = dir_->path / "reference.h5";
    Outcome r = run(sweep_argv(2, spec_, reference_), dir_->path, "reference");
    ASSERT_EQ(r.code, 0) << r.out << r.err;
  }
  static void TearDownTestSuite() { delete dir_; }
  static TempDir* dir_;
  static fs::path spec_, reference_;
};
TempDir* SweepMpi::dir_ = nullptr;
fs::path SweepMpi::spec_, SweepMpi::reference_;

TEST_F(SweepMpi, OneAndTwoRanksGiveBitIdenticalMetrics) {
  fs::path one = dir_->path / "np1.h5";
  // Rank 0's progress lines (every 0.1 s): the run is held after its first point until one has
  // been printed, then let go to the end.
  const fs::path hold = dir_->path / "np1.hold";
  pid_t pid = spawn(sweep_argv(1, spec_, one, {}, "0.1"), dir_->path / "np1.out",
                    dir_->path / "np1.err", hold_env(hold, 1));
  ASSERT_TRUE(wait_for([&] { return count_in(dir_->path / "np1.out", "progress: ") > 0; }));
  fs::remove(hold);
  Outcome r;
  r.code = wait_exit(pid);
  r.out = read_text(dir_->path / "np1.out");
  r.err = read_text(dir_->path / "np1.err");
  ASSERT_EQ(r.code, 0) << r.err;
  expect_bit_identical(one, reference_);
  EXPECT_NE(r.out.find(" points/min, ETA "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("this run finished 24 points"), std::string::npos) << r.out;
  // Both ranks did work in the 2-rank run (dynamic distribution, no idle manager).
  h5::File f = h5::File::open(reference_, false, h5::Access::serial());
  std::vector<std::int32_t> ranks = f.root().open_dataset("results/rank").read_all<std::int32_t>();
  EXPECT_GT(std::count(ranks.begin(), ranks.end(), 0), 0);
  EXPECT_GT(std::count(ranks.begin(), ranks.end(), 1), 0);
}

TEST_F(SweepMpi, FileLayoutHasEveryDatasetAndAttribute) {
  h5::File f = h5::File::open(reference_, false, h5::Access::serial());
  const h5::Group& root = f.root();
  const hsize_t n = kPoints;
  const hsize_t e = 4;
  for (const char* name : {"dataset", "seed", "hidden", "activation", "lr", "momentum",
                           "weight_decay", "lr_schedule", "batch", "epochs", "format", "rounding",
                           "apply_to", "every", "master_weights", "exp_bits", "man_bits",
                           "is_baseline"}) {
    ASSERT_TRUE(root.exists("points/" + std::string(name)) || root.open_group("points").exists(name))
        << name;
    EXPECT_EQ(root.open_group("points").open_dataset(name).dims(), (std::vector<hsize_t>{n}))
        << name;
  }
  h5::Group res = root.open_group("results");
  for (const char* name : {"status", "final_test_accuracy", "wall_seconds", "rank",
                           "baseline_index", "message"})
    EXPECT_EQ(res.open_dataset(name).dims(), (std::vector<hsize_t>{n})) << name;
  for (const std::string& name : per_epoch_metric_names())
    EXPECT_EQ(res.open_dataset(name).dims(), (std::vector<hsize_t>{n, e})) << name;
  EXPECT_EQ(res.open_dataset("status").type(), h5::Type::i8);
  for (const char* attr : {"spec", "spec_sha256", "spec_name", "schema_version", "tool_version",
                           "git_commit", "compiler", "compiler_flags", "blas", "blas_core",
                           "mpi_size", "threads", "hostnames", "start_time", "end_time", "axes"})
    EXPECT_TRUE(root.has_attr(attr)) << attr;
  EXPECT_EQ(root.read_attr_string("spec"), kSpec);
  EXPECT_EQ(root.read_attr_string("compiler_flags"), PRECSWEEP_EXPECTED_CXX_FLAGS);
  EXPECT_EQ(root.read_attr_string("spec_name"), "mpitest");
  EXPECT_EQ(root.read_attr_int("mpi_size"), 2);
  EXPECT_EQ(root.read_attr_strings("hostnames").size(), 2u);
  EXPECT_EQ(root.read_attr_string("end_time").size(), 20u);  // 2026-01-01T00:00:00Z

  // Values: formats and derived bit counts, grid points linked to fp32 baselines (a baseline
  // links to itself or to nothing).
  h5::Group pts = root.open_group("points");
  auto format = pts.open_dataset("format").read_strings();
  auto exp_bits = pts.open_dataset("exp_bits").read_all<std::int32_t>();
  auto man_bits = pts.open_dataset("man_bits").read_all<std::int32_t>();
  auto is_base = pts.open_dataset("is_baseline").read_all<std::int8_t>();
  auto base = res.open_dataset("baseline_index").read_all<std::int64_t>();
  auto status = res.open_dataset("status").read_all<std::int8_t>();
  auto acc = res.open_dataset("final_test_accuracy").read_all<double>();
  auto test_acc = res.open_dataset("test_accuracy").read_all<double>();  // [n, e]
  for (hsize_t i = 0; i < n; ++i) {
    if (format[i] == "E5M6") {
      EXPECT_TRUE(exp_bits[i] == 5 && man_bits[i] == 6) << i;
    }
    if (format[i] == "E4M3") {
      EXPECT_TRUE(exp_bits[i] == 4 && man_bits[i] == 3) << i;
    }
    if (is_base[i]) {
      EXPECT_EQ(exp_bits[i], 8) << i;
      EXPECT_EQ(man_bits[i], 23) << i;
      EXPECT_TRUE(base[i] == -1 || base[i] == static_cast<std::int64_t>(i)) << i;
    } else {
      ASSERT_GE(base[i], 0) << i;
      EXPECT_EQ(is_base[static_cast<std::size_t>(base[i])], 1) << i;
    }
    EXPECT_TRUE(status[i] == 1 || status[i] == 2) << i;
    if (status[i] == 1) {
      EXPECT_EQ(acc[i], test_acc[i * e + e - 1]) << i;
    }
  }
}

TEST_F(SweepMpi, StatusSummarisesTheFile) {
  Outcome r = run({kBinary, "status", reference_.string()}, dir_->path, "status");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("spec: mpitest"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("format:"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("points=24 "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(" pending=0"), std::string::npos) << r.out;
}

TEST_F(SweepMpi, NeverOverwritesAndRefusesAnotherSpec) {
  const std::string before = read_text(reference_);
  Outcome again = run(sweep_argv(2, spec_, reference_), dir_->path, "again");
  EXPECT_EQ(again.code, 2);
  EXPECT_NE(again.err.find("exists"), std::string::npos) << again.err;
  EXPECT_EQ(read_text(reference_), before) << "the existing file was modified";

  fs::path other = dir_->path / "other.yaml";
  write_text(other, std::string(kSpec) + "# a different spec text\n");
  Outcome resume = run(sweep_argv(2, other, reference_, {"--resume"}), dir_->path, "other");
  EXPECT_EQ(resume.code, 2);
  EXPECT_NE(resume.err.find("different spec"), std::string::npos) << resume.err;
  EXPECT_EQ(read_text(reference_), before) << "a refused resume modified the file";
}

TEST_F(SweepMpi, BadInputExitsTwoWithOneLineAndNoOutput) {
  fs::path bad = dir_->path / "bad.yaml";
  write_text(bad, "name: bad\ndataset: synthetic\ntrain:\n  lr: [0.1, -1]\n  bogus_key: 3\n");
  fs::path out = dir_->path / "bad.h5";
  Outcome r = run(sweep_argv(2, bad, out), dir_->path, "bad");
  EXPECT_EQ(r.code, 2);
  EXPECT_FALSE(fs::exists(out));
  // rank 0 printed exactly one "precsweep: error:" line.
  std::size_t first = r.err.find("precsweep: error:");
  ASSERT_NE(first, std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("precsweep: error:", first + 1), std::string::npos) << r.err;

  Outcome missing = run(sweep_argv(1, spec_, dir_->path / "nope.h5", {"--resume"}), dir_->path,
                    "missing");
  EXPECT_EQ(missing.code, 2);
  EXPECT_NE(missing.err.find("does not exist"), std::string::npos) << missing.err;
}

TEST_F(SweepMpi, KilledAtSeveralMomentsAndResumedEqualsUninterrupted) {
  fs::path out = dir_->path / "killed.h5";
  std::vector<fs::path> logs;
  int leg = 0;
  for (std::int64_t moment : {1, 3, 6}) {
    std::string tag = "kill" + std::to_string(leg);
    std::int64_t seen = run_and_kill(spec_, out, leg > 0, moment, dir_->path, tag);
    logs.push_back(dir_->path / (tag + ".out"));
    ASSERT_GE(seen, moment) << "the sweep never reached " << moment << " finished points";
    EXPECT_LT(seen, kPoints) << "the sweep finished before it could be killed";
    // The killed file opens and status reads it.
    Outcome st = run({kBinary, "status", out.string()}, dir_->path, "status_" + tag);
    EXPECT_EQ(st.code, 0) << st.err;
    EXPECT_NE(st.out.find("not ended"), std::string::npos) << st.out;
    ++leg;
  }
  Outcome last = run(sweep_argv(2, spec_, out, {"--resume"}), dir_->path, "final");
  ASSERT_EQ(last.code, 0) << last.out << last.err;
  logs.push_back(dir_->path / "final.out");

  expect_bit_identical(out, reference_);
  // Every point finished exactly once over all the legs: no point's line appears twice (a
  // point killed after its row was written but before its line was printed appears zero times).
  std::map<std::int64_t, int> lines = finished_lines(logs);
  for (const auto& [id, times] : lines) EXPECT_EQ(times, 1) << "point " << id;
  h5::File f = h5::File::open(out, false, h5::Access::serial());
  EXPECT_EQ(f.root().read_attr_int("runs"), 4);
  for (std::int8_t s : f.root().open_dataset("results/status").read_all<std::int8_t>())
    EXPECT_TRUE(s == 1 || s == 2);
}

// Starts a sweep (`argv`) held from list index `after` on, waits until `after` points are in
// the file and each of `ranks` ranks says it is held in the middle of a point, then sends `sig`
// to `target` (scripts/mpirun, or the one rank); returns the exit code. Output in TAG.out/.err.
int stop_while_held(const std::vector<std::string>& argv, const fs::path& out, std::int64_t after,
                    int ranks, int sig, const fs::path& dir, const std::string& tag,
                    bool to_one_rank = false) {
  const fs::path log = dir / (tag + ".out");
  pid_t pid = spawn(argv, log, dir / (tag + ".err"), hold_env(dir / (tag + ".hold"), after));
  const bool ready = wait_for([&] {
    return finished_points(out) >= after && count_in(log, kHeld) >= ranks;
  });
  EXPECT_TRUE(ready) << "the sweep never held " << ranks << " points: " << read_text(log);
  if (to_one_rank) {
    const std::vector<pid_t> r = ranks_of(pid);
    EXPECT_EQ(r.size(), 2u);
    if (!r.empty()) ::kill(r.front(), sig);
  } else {
    ::kill(pid, sig);
  }
  const int code = wait_exit(pid);
  fs::remove(dir / (tag + ".hold"));
  return code;
}

// SIGUSR1 (forwarded by mpirun) is the graceful stop: no new points; the points in flight (one
// per rank, held mid-training) finish and are written; exit 3; the file resumes. With --grace 0
// the points in flight are dropped instead.
TEST_F(SweepMpi, StopSignalFinishesPointsInFlightAndExitsThree) {
  fs::path out = dir_->path / "stopped.h5";
  int code = stop_while_held(sweep_argv(2, spec_, out), out, 2, 2, SIGUSR1, dir_->path, "usr1");
  EXPECT_EQ(code, 3) << read_text(dir_->path / "usr1.out") << read_text(dir_->path / "usr1.err");
  EXPECT_EQ(finished_points(out), 4) << "the two points in flight were not finished";
  EXPECT_EQ(count_in(dir_->path / "usr1.out", "abandoned"), 0);
  EXPECT_NE(read_text(dir_->path / "usr1.out").find("stopped early (exit 3)"), std::string::npos);
  {
    h5::File f = h5::File::open(out, false, h5::Access::serial());
    EXPECT_EQ(f.root().read_attr_string("end_time").size(), 20u) << "not closed cleanly";
  }
  code = stop_while_held(sweep_argv(2, spec_, out, {"--resume", "--grace", "0"}), out, 2, 2,
                         SIGUSR1, dir_->path, "usr1_grace0");
  EXPECT_EQ(code, 3) << read_text(dir_->path / "usr1_grace0.out");
  EXPECT_EQ(finished_points(out), 6) << "--grace 0: the points in flight must be dropped";
  EXPECT_EQ(count_in(dir_->path / "usr1_grace0.out", "abandoned after the grace period"), 2);
  expect_pending_rows_empty(out);

  Outcome resumed = run(sweep_argv(2, spec_, out, {"--resume"}), dir_->path, "stop_resume");
  ASSERT_EQ(resumed.code, 0) << resumed.err;
  expect_bit_identical(out, reference_);
}

// SIGTERM and SIGINT (Ctrl-C) to scripts/mpirun mean "stop now": both ranks, each held in the
// middle of a point, abandon it at once and write nothing of it; rank 0 prints its summary and
// the run exits 3. (Open MPI's own mpirun would kill the ranks and exit 1: scripts/mpirun passes
// the signal on as SIGUSR2, which mpirun forwards.) The file resumes to the uninterrupted result.
TEST_F(SweepMpi, TermAndIntToMpirunStopNowAndExitThree) {
  fs::path out = dir_->path / "stop_now.h5";
  std::int64_t expected = 0;
  int leg = 0;
  for (int sig : {SIGTERM, SIGINT}) {
    const std::string tag = "stop_now" + std::to_string(leg);
    std::vector<std::string> extra;
    if (leg > 0) extra.push_back("--resume");
    expected += 2;
    const int code =
        stop_while_held(sweep_argv(2, spec_, out, extra), out, 2, 2, sig, dir_->path, tag);
    const std::string log = read_text(dir_->path / (tag + ".out"));
    EXPECT_EQ(code, 3) << strsignal(sig) << ": " << log << read_text(dir_->path / (tag + ".err"));
    EXPECT_EQ(finished_points(out), expected) << strsignal(sig) << ": a point in flight was written";
    EXPECT_EQ(count_in(dir_->path / (tag + ".out"), "abandoned (stop now); left pending"), 2) << log;
    EXPECT_NE(log.find("this run finished 2 points"), std::string::npos)
        << "no summary from rank 0: " << log;
    EXPECT_NE(log.find("stopped early (exit 3)"), std::string::npos) << log;
    expect_pending_rows_empty(out);
    ++leg;
  }
  // A stop-now signal to one rank only reaches the other through the work counter.
  int code = stop_while_held(sweep_argv(2, spec_, out, {"--resume"}), out, 2, 2, SIGTERM,
                             dir_->path, "stop_now_one", true);
  EXPECT_EQ(code, 3) << read_text(dir_->path / "stop_now_one.out");
  EXPECT_EQ(finished_points(out), expected + 2) << "the other rank finished its point";
  expect_pending_rows_empty(out);
  Outcome resumed = run(sweep_argv(2, spec_, out, {"--resume"}), dir_->path, "stop_now_resume");
  ASSERT_EQ(resumed.code, 0) << resumed.err;
  expect_bit_identical(out, reference_);
  std::map<std::int64_t, int> lines = finished_lines(
      {dir_->path / "stop_now0.out", dir_->path / "stop_now1.out", dir_->path / "stop_now_one.out",
       dir_->path / "stop_now_resume.out"});
  EXPECT_EQ(lines.size(), static_cast<std::size_t>(kPoints));
  for (const auto& [id, times] : lines) EXPECT_EQ(times, 1) << "point " << id;
}

// The same for a one-rank sweep started without mpirun (Ctrl-C in a terminal sends it SIGINT):
// TERM and INT abandon the point in flight and exit 3; USR1 finishes it.
TEST_F(SweepMpi, TermAndIntToOneRankWithoutMpirunStopNow) {
  fs::path out = dir_->path / "single.h5";
  auto argv = [&](bool resume) {
    std::vector<std::string> a = {kBinary, "sweep", spec_.string(), "--out", out.string(),
                                  "--progress", "0"};
    if (resume) a.push_back("--resume");
    return a;
  };
  std::int64_t expected = 0;
  int leg = 0;
  for (int sig : {SIGINT, SIGTERM, SIGUSR1}) {
    const std::string tag = "single" + std::to_string(leg);
    const int code = stop_while_held(argv(leg > 0), out, 1, 1, sig, dir_->path, tag);
    const std::string log = read_text(dir_->path / (tag + ".out"));
    EXPECT_EQ(code, 3) << strsignal(sig) << ": " << log << read_text(dir_->path / (tag + ".err"));
    expected += sig == SIGUSR1 ? 2 : 1;
    EXPECT_EQ(finished_points(out), expected) << strsignal(sig) << ": " << log;
    EXPECT_EQ(count_in(dir_->path / (tag + ".out"), "abandoned (stop now)"), sig == SIGUSR1 ? 0 : 1)
        << log;
    EXPECT_NE(log.find("stopped early (exit 3)"), std::string::npos) << log;
    expect_pending_rows_empty(out);
    ++leg;
  }
  Outcome resumed = run(argv(true), dir_->path, "single_resume");
  ASSERT_EQ(resumed.code, 0) << resumed.err;
  expect_bit_identical(out, reference_);
}

// Slurm may send its warning while the job is still starting (up to a minute early). A stop
// signal at any moment of start-up (MPI, spec, data, file) after the ranks' handler is in place
// must be caught, not kill a rank. The handler is installed before MPI_Init, so the signals go
// from that moment on (each rank's /proc status says when), 0, 10 and 30 ms later; the run is
// held (its first points pause while the hold file exists), so whatever the machine's speed the
// signal lands while it is starting or running, never after: every run exits 3, and the file
// resumes to the uninterrupted result. (Before the handler, between exec and main, nothing in
// the program can catch it: the jobscript's early-warning rule covers that.)
TEST_F(SweepMpi, StopSignalWhileStartingIsNotFatal) {
  const fs::path out = dir_->path / "early.h5";
  int leg = 0;
  for (int delay_ms : {0, 10, 30}) {
    std::vector<std::string> extra;
    if (leg++ > 0) extra.push_back("--resume");
    const fs::path hold = dir_->path / "early.hold";
    pid_t mpirun = spawn(sweep_argv(2, spec_, out, extra), dir_->path / "early.out",
                         dir_->path / "early.err", hold_env(hold, 0));
    ASSERT_TRUE(wait_for([&] {
      const std::vector<pid_t> ranks = ranks_of(mpirun);
      return ranks.size() == 2 && catches(ranks[0], SIGUSR1) && catches(ranks[1], SIGUSR1);
    })) << "ranks never caught SIGUSR1";
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
    ::kill(mpirun, SIGUSR1);  // forwarded to the ranks
    const int code = wait_exit(mpirun);
    fs::remove(hold);
    EXPECT_EQ(code, 3) << "signal " << delay_ms << " ms after the handlers: "
                       << read_text(dir_->path / "early.out") << read_text(dir_->path / "early.err");
  }
  Outcome resumed = run(sweep_argv(2, spec_, out, {"--resume"}), dir_->path, "early_resume");
  ASSERT_EQ(resumed.code, 0) << resumed.err;
  expect_bit_identical(out, reference_);
}

TEST_F(SweepMpi, FailedPointIsRecordedAndRetried) {
  fs::path out = dir_->path / "failed.h5";
  // Points 3 and 20 throw (fault injection); the sweep goes on and exits 0.
  ::setenv("PRECSWEEP_FAIL_POINTS", "3,20", 1);
  Outcome r = run(sweep_argv(2, spec_, out), dir_->path, "failing");
  ::unsetenv("PRECSWEEP_FAIL_POINTS");
  ASSERT_EQ(r.code, 0) << r.err;
  {
    h5::File f = h5::File::open(out, false, h5::Access::serial());
    auto status = f.root().open_dataset("results/status").read_all<std::int8_t>();
    auto message = f.root().open_dataset("results/message").read_strings();
    for (std::size_t i = 0; i < status.size(); ++i) {
      if (i == 3 || i == 20) {
        EXPECT_EQ(status[i], 3) << i;
        EXPECT_NE(message[i].find("injected failure"), std::string::npos) << message[i];
      } else {
        EXPECT_TRUE(status[i] == 1 || status[i] == 2) << i;
      }
    }
  }
  Outcome st = run({kBinary, "status", out.string()}, dir_->path, "failing_status");
  EXPECT_NE(st.out.find("failed=2"), std::string::npos) << st.out;
  EXPECT_NE(st.out.find("injected failure"), std::string::npos) << st.out;
  // --resume alone leaves failed points alone; --retry-failed reruns them.
  Outcome plain = run(sweep_argv(2, spec_, out, {"--resume"}), dir_->path, "failing_resume");
  ASSERT_EQ(plain.code, 0) << plain.err;
  EXPECT_EQ(finished_lines({dir_->path / "failing_resume.out"}).size(), 0u) << plain.out;
  Outcome retry = run(sweep_argv(2, spec_, out, {"--resume", "--retry-failed"}), dir_->path,
                      "failing_retry");
  ASSERT_EQ(retry.code, 0) << retry.err;
  auto lines = finished_lines({dir_->path / "failing_retry.out"});
  EXPECT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines.count(3), 1u);
  EXPECT_EQ(lines.count(20), 1u);
  expect_bit_identical(out, reference_);
  h5::File f = h5::File::open(out, false, h5::Access::serial());
  EXPECT_EQ(f.root().open_dataset("results/message").read_strings()[3], "");
}

TEST_F(SweepMpi, SaveWeightsKeepsEveryPointsParameters) {
  fs::path spec = dir_->path / "weights.yaml";
  write_text(spec, "name: weights\ndataset: synthetic\nepochs: 1\nseed: [1, 2]\n"
                   "model:\n  hidden: [[8], [16]]\nsave_weights: true\n");
  fs::path out = dir_->path / "weights.h5";
  Outcome r = run(sweep_argv(2, spec, out), dir_->path, "weights");
  ASSERT_EQ(r.code, 0) << r.err;
  h5::File f = h5::File::open(out, false, h5::Access::serial());
  auto hidden = f.root().open_dataset("points/hidden").read_strings();
  auto count = f.root().open_dataset("weights/count").read_all<std::int64_t>();
  h5::Dataset params = f.root().open_dataset("weights/params");
  const std::int64_t widest = (64 + 1) * 16 + (16 + 1) * 10;  // synthetic: 64 inputs, 10 classes
  EXPECT_EQ(params.dims(), (std::vector<hsize_t>{4, static_cast<hsize_t>(widest)}));
  auto w = params.read_all<float>();  // [4, widest]
  for (std::size_t i = 0; i < 4; ++i) {
    const int h = std::stoi(hidden[i]);
    EXPECT_EQ(count[i], (64 + 1) * h + (h + 1) * 10) << i;
    EXPECT_TRUE(std::isfinite(w[i * widest])) << i;
    if (count[i] < widest) {
      EXPECT_TRUE(std::isnan(w[i * widest + static_cast<std::size_t>(count[i])])) << i;
    }
  }
}

}  // namespace

namespace {

TEST(TrainOut, WritesTheSweepLayoutWithOnePoint) {
  TempDir dir;
  fs::path out = dir.path / "run.h5";
  std::vector<std::string> argv = {kBinary, "train", "--dataset", "synthetic", "--epochs", "2",
                                   "--format", "E5M4", "--out", out.string()};
  Outcome r = run(argv, dir.path, "train");
  ASSERT_EQ(r.code, 0) << r.err;
  h5::File f = h5::File::open(out, false, h5::Access::serial());
  EXPECT_EQ(f.root().read_attr_string("created_by"), "train");
  EXPECT_EQ(f.root().open_dataset("points/format").read_strings(),
            std::vector<std::string>{"E5M4"});
  EXPECT_EQ(f.root().open_dataset("points/exp_bits").read_all<std::int32_t>(),
            std::vector<std::int32_t>{5});
  std::vector<std::int8_t> status = f.root().open_dataset("results/status").read_all<std::int8_t>();
  ASSERT_EQ(status.size(), 1u);
  EXPECT_TRUE(status[0] == 1 || status[0] == 2);
  std::vector<double> acc = f.root().open_dataset("results/test_accuracy").read_all<double>();
  ASSERT_EQ(acc.size(), 2u);  // [1, epochs]
  // The accuracy the command printed is the one stored.
  char printed[32];
  std::snprintf(printed, sizeof printed, "test_accuracy=%.4f",
                f.root().open_dataset("results/final_test_accuracy").read_all<double>()[0]);
  EXPECT_NE(r.out.find(printed), std::string::npos) << r.out;
  f.close();
  // Never overwritten.
  Outcome again = run(argv, dir.path, "train_again");
  EXPECT_EQ(again.code, 2);
  EXPECT_NE(again.err.find("exists"), std::string::npos) << again.err;
}

// ---- search mode (docs/search.md) --------------------------------------------------------------

// 2 lr x 2 rounding modes = 4 settings, 13 mantissa widths, 2 seeds: a 104-point grid (+ 4
// baselines) whose critical widths the search must find.
const char* kSearchGrid = R"(name: searchtest
dataset: synthetic
epochs: 2
seed: [1, 2]
model: {hidden: [16], activation: sigmoid}
train: {lr: [0.5, 0.1], batch: 32}
precision:
  format: {exp: 8, man: {from: 0, to: 12, step: 1}}
  rounding: [toward_zero, nearest_even]
baseline: true
)";
const char* kSearchSection = "search: {axis: man, tolerance: 0.01}\n";

struct SearchTable {
  std::vector<std::int32_t> critical, done, predicted;
  std::vector<std::int64_t> points_run;
};
SearchTable read_search(const fs::path& file) {
  h5::File f = h5::File::open(file, false, h5::Access::serial());
  h5::Group g = f.root().open_group("search");
  SearchTable t;
  t.critical = g.open_dataset("critical").read_all<std::int32_t>();
  for (auto d : g.open_dataset("done").read_all<std::int8_t>()) t.done.push_back(d);
  t.points_run = g.open_dataset("points_run").read_all<std::int64_t>();
  t.predicted = g.open_dataset("predicted").read_all<std::int32_t>();
  return t;
}

// The grid's answer per setting (the definition: the smallest width such that it and every
// wider one pass; -1 if the widest fails), from a full-grid results file.
std::vector<int> grid_critical(const SweepSpec& spec, const fs::path& grid) {
  ResultsFile f = ResultsFile::open(grid, h5::Access::serial(), false);
  const auto status = f.read_status();
  const auto value = f.read_run_metric("final_test_accuracy");
  std::vector<PointResult> results;
  for (std::size_t i = 0; i < status.size(); ++i) results.push_back({status[i], value[i]});
  std::vector<int> out;
  for (const SearchSetting& s : search_settings(spec, "man")) {
    int c = static_cast<int>(s.cells.size());
    while (c > 0 && cell_outcome(s, static_cast<std::size_t>(c - 1), results,
                                 spec.search_spec) == precsweep::Outcome::pass)
      --c;
    out.push_back(c == static_cast<int>(s.cells.size()) ? -1 : s.cells[static_cast<std::size_t>(c)]);
  }
  return out;
}

class SearchMpi : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    grid_spec_ = dir_->path / "grid.yaml";
    search_spec_ = dir_->path / "search.yaml";
    write_text(grid_spec_, kSearchGrid);
    write_text(search_spec_, std::string(kSearchGrid) + kSearchSection);
    grid_ = dir_->path / "grid.h5";
    two_ = dir_->path / "two.h5";
    Outcome g = run(sweep_argv(2, grid_spec_, grid_), dir_->path, "grid");
    ASSERT_EQ(g.code, 0) << g.out << g.err;
    Outcome s = run(sweep_argv(2, search_spec_, two_), dir_->path, "two");
    ASSERT_EQ(s.code, 0) << s.out << s.err;
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  static inline TempDir* dir_ = nullptr;
  static inline fs::path grid_spec_, search_spec_, grid_, two_;
};

TEST_F(SearchMpi, FindsTheGridsCriticalWidthsWithFewerPoints) {
  const SweepSpec spec = load_spec(search_spec_);
  const SearchTable t = read_search(two_);
  ASSERT_EQ(t.critical.size(), 4u);
  const std::vector<int> expected = grid_critical(spec, grid_);
  for (std::size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(t.done[i], 1) << "setting " << i;
    EXPECT_EQ(t.critical[i], expected[i]) << "setting " << i;
  }
  // The points the search ran are the grid's points, bit for bit; and fewer than half of them.
  h5::File s = h5::File::open(two_, false, h5::Access::serial());
  h5::File g = h5::File::open(grid_, false, h5::Access::serial());
  const auto ss = s.root().open_dataset("results/status").read_all<std::int8_t>();
  const auto sa = s.root().open_dataset("results/final_test_accuracy").read_all<double>();
  const auto ga = g.root().open_dataset("results/final_test_accuracy").read_all<double>();
  std::size_t run_points = 0;
  for (std::size_t i = 0; i < ss.size(); ++i) {
    if (ss[i] == 0) continue;
    ++run_points;
    EXPECT_EQ(std::memcmp(&sa[i], &ga[i], sizeof(double)), 0) << "point " << i;
  }
  EXPECT_LT(run_points, ss.size() / 2);
  // `status` shows the searches, `list` the bound on the points they run.
  Outcome st = run({kBinary, "status", two_.string()}, dir_->path, "sstatus");
  EXPECT_EQ(st.code, 0) << st.err;
  EXPECT_NE(st.out.find("4 of 4 settings done"), std::string::npos) << st.out;
  EXPECT_NE(st.out.find("critical " + std::to_string(expected[0])), std::string::npos) << st.out;
  Outcome ls = run({kBinary, "list", search_spec_.string()}, dir_->path, "slist");
  EXPECT_EQ(ls.code, 0) << ls.err;
  EXPECT_NE(ls.out.find("at most 44 of the 108 points"), std::string::npos) << ls.out;
  EXPECT_LE(static_cast<long long>(run_points), 44);
}

TEST_F(SearchMpi, OneRankFindsTheSameAsTwo) {
  const fs::path one = dir_->path / "one.h5";
  Outcome r = run(sweep_argv(1, search_spec_, one), dir_->path, "one");
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  const SearchTable a = read_search(one), b = read_search(two_);
  EXPECT_EQ(a.critical, b.critical);
  EXPECT_EQ(a.points_run, b.points_run);  // the same probes, whichever rank ran them
  expect_bit_identical(one, two_);
}

TEST_F(SearchMpi, KilledMidSearchAndResumedEqualsUninterrupted) {
  const fs::path out = dir_->path / "killed.h5";
  const std::int64_t seen = run_and_kill(search_spec_, out, false, 5, dir_->path, "skill");
  ASSERT_GE(seen, 5);
  std::int64_t searched = 0;
  for (auto st : h5::File::open(two_, false, h5::Access::serial())
                     .root().open_dataset("results/status").read_all<std::int8_t>())
    searched += st != 0;
  EXPECT_LT(seen, searched) << "the search ended before it could be killed";
  Outcome r = run(sweep_argv(2, search_spec_, out, {"--resume"}), dir_->path, "sresume");
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  const SearchTable a = read_search(out), b = read_search(two_);
  EXPECT_EQ(a.critical, b.critical);
  EXPECT_EQ(a.points_run, b.points_run);
  expect_bit_identical(out, two_);
  // No finished point ran again after the resume.
  std::map<std::int64_t, int> lines =
      finished_lines({dir_->path / "skill.out", dir_->path / "sresume.out"});
  for (const auto& [id, times] : lines) EXPECT_EQ(times, 1) << "point " << id;
}

// start: predict. Each setting waits for its first fp32 baseline, predicts from its
// update-ratio histogram (in the file), probes the prediction first, and ends with the grid's
// answer; 1 and 2 ranks give the same /search (predictions included) and the same points, and
// a search killed mid-way and resumed predicts and ends as an uninterrupted one.
TEST_F(SearchMpi, StartFromThePredictionOnOneAndTwoRanksAndAfterAKill) {
  const fs::path spec_path = dir_->path / "predict.yaml";
  write_text(spec_path, std::string(kSearchGrid) +
                            "search: {axis: man, tolerance: 0.01, start: predict}\n");
  const SweepSpec spec = load_spec(spec_path);
  const fs::path two = dir_->path / "predict2.h5", one = dir_->path / "predict1.h5";
  Outcome r2 = run(sweep_argv(2, spec_path, two), dir_->path, "p2");
  ASSERT_EQ(r2.code, 0) << r2.out << r2.err;
  const SearchTable t = read_search(two);
  const std::vector<int> expected = grid_critical(spec, grid_);
  ResultsFile f = ResultsFile::open(two, h5::Access::serial(), false);
  const std::vector<LayerRatios> hist = f.read_update_ratio();
  const auto settings = search_settings(spec, "man");
  ASSERT_EQ(t.critical.size(), settings.size());
  for (std::size_t i = 0; i < settings.size(); ++i) {
    EXPECT_EQ(t.done[i], 1) << "setting " << i;
    EXPECT_EQ(t.critical[i], expected[i]) << "setting " << i;
    // The prediction is the rule on the first baseline's histogram as the file has it.
    const SearchSetting& s = settings[i];
    const int swamp = predict_width(hist.at(static_cast<std::size_t>(s.baselines.front())),
                                    Rounding::toward_zero);
    ASSERT_GE(swamp, 0) << "setting " << i << ": its baseline recorded no histogram";
    EXPECT_EQ(t.predicted[i], std::max(0, swamp - s.rounding_offset)) << "setting " << i;
  }
  // Files written before the per-layer histogram ([N, E x 43], one pooled histogram per epoch)
  // read as one layer: the same file with the layers summed into the old layout.
  {
    const fs::path old = dir_->path / "predict-old.h5";
    fs::copy_file(two, old, fs::copy_options::overwrite_existing);
    std::vector<std::uint64_t> all = h5::File::open(old, false, h5::Access::serial())
                                         .root().open_dataset("results/update_ratio")
                                         .read_all<std::uint64_t>();
    const std::size_t n = hist.size(), row = all.size() / n;  // E x L x bins
    const std::size_t L = 2, e = row / (L * kRatioBins);      // 784-h-10 networks: 2 layers
    std::vector<std::uint64_t> pooled(n * e * kRatioBins, 0);
    for (std::size_t i = 0; i < n * e; ++i)
      for (std::size_t l = 0; l < L; ++l)
        for (std::size_t b = 0; b < kRatioBins; ++b)
          pooled[i * kRatioBins + b] += all[(i * L + l) * kRatioBins + b];
    const hid_t f = H5Fopen(old.string().c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    ASSERT_GE(f, 0);
    ASSERT_GE(H5Ldelete(f, "/results/update_ratio", H5P_DEFAULT), 0);
    const hsize_t dims[2] = {n, e * kRatioBins};
    const hid_t space = H5Screate_simple(2, dims, nullptr);
    const hid_t d = H5Dcreate2(f, "/results/update_ratio", H5T_NATIVE_UINT64, space,
                               H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    EXPECT_GE(H5Dwrite(d, H5T_NATIVE_UINT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, pooled.data()), 0);
    H5Dclose(d);
    H5Sclose(space);
    H5Fclose(f);
    const std::vector<LayerRatios> read =
        ResultsFile::open(old, h5::Access::serial(), false).read_update_ratio();
    ASSERT_EQ(read.size(), n);
    for (std::size_t i = 0; i < n; ++i) {
      if (hist[i].empty()) {
        EXPECT_TRUE(read[i].empty()) << "point " << i;
        continue;
      }
      ASSERT_EQ(hist[i].size(), L) << "point " << i;
      ASSERT_EQ(read[i].size(), 1u) << "point " << i;
      for (std::size_t b = 0; b < kRatioBins; ++b)
        EXPECT_EQ(read[i][0][b], hist[i][0][b] + hist[i][1][b]) << "point " << i << " bin " << b;
    }
  }
  Outcome st = run({kBinary, "status", two.string()}, dir_->path, "pstatus");
  EXPECT_NE(st.out.find("critical " + std::to_string(expected[0]) + ", predicted " +
                        std::to_string(t.predicted[0])),
            std::string::npos) << st.out;
  Outcome ls = run({kBinary, "list", spec_path.string()}, dir_->path, "plist");
  EXPECT_NE(ls.out.find("from the prediction of each setting's fp32 run: about 28 of the 108"),
            std::string::npos) << ls.out;
  Outcome r1 = run(sweep_argv(1, spec_path, one), dir_->path, "p1");
  ASSERT_EQ(r1.code, 0) << r1.out << r1.err;
  const SearchTable a = read_search(one);
  EXPECT_EQ(a.critical, t.critical);
  EXPECT_EQ(a.predicted, t.predicted);
  EXPECT_EQ(a.points_run, t.points_run);
  expect_bit_identical(one, two);
  const fs::path killed = dir_->path / "predictk.h5";
  // Killed after 5 points: the 4 baselines (waited for) and a probe, so the predictions are
  // made before the kill and recomputed from the file's histograms after it.
  const std::int64_t seen = run_and_kill(spec_path, killed, false, 5, dir_->path, "pkill");
  ASSERT_GE(seen, 5);
  std::int64_t searched = 0;
  for (auto st : h5::File::open(two, false, h5::Access::serial())
                     .root().open_dataset("results/status").read_all<std::int8_t>())
    searched += st != 0;
  EXPECT_LT(seen, searched) << "the search ended before it could be killed";
  Outcome rr = run(sweep_argv(2, spec_path, killed, {"--resume"}), dir_->path, "presume");
  ASSERT_EQ(rr.code, 0) << rr.out << rr.err;
  const SearchTable k = read_search(killed);
  EXPECT_EQ(k.critical, t.critical);
  EXPECT_EQ(k.predicted, t.predicted);
  EXPECT_EQ(k.points_run, t.points_run);
  expect_bit_identical(killed, two);
}

}  // namespace
