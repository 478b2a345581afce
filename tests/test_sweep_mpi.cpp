// Process-level tests of `precsweep sweep` and `status`: the real binary under scripts/mpirun on
// a small synthetic-data spec. Checked: -np 1 and -np 2 give bit-identical metrics; the file
// layout (every dataset and attribute, with its shape); refusal to overwrite; refusal to resume
// with another spec; bad input exits 2 without output; SIGKILL of a running 2-rank sweep at
// several moments, resumed each time, ends with every point finished exactly once and every
// metric equal to an uninterrupted run; SIGUSR1 (forwarded by mpirun) exits 3 with a file that
// resumes; `train --out` writes the same layout with one point.
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
#include "test_support.hpp"

namespace fs = std::filesystem;
using namespace precsweep;

namespace {

const std::string kMpirun = PRECSWEEP_SOURCE_DIR "/scripts/mpirun";
const std::string kBinary = PRECSWEEP_BINARY;

// 2 seeds x 2 widths x 2 lr x 2 formats = 16 grid points + 8 fp32 baselines = 24 points of
// ~0.2 s each on the synthetic problem.
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

// Starts argv with stdout/stderr redirected to files; returns the pid.
pid_t spawn(const std::vector<std::string>& argv, const fs::path& out, const fs::path& err) {
  pid_t pid = ::fork();
  if (pid == 0) {
    FILE* o = std::freopen(out.c_str(), "w", stdout);
    FILE* e = std::freopen(err.c_str(), "w", stderr);
    (void)o;
    (void)e;
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

// Direct children of `parent` (the ranks mpirun started), from /proc/<pid>/stat.
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

// Starts a 2-rank sweep, waits until at least `at_least` points are finished in the file, then
// SIGKILLs the ranks and mpirun. Returns the finished count seen just before the kill.
std::int64_t run_and_kill(const fs::path& spec, const fs::path& out, bool resume,
                          std::int64_t at_least, const fs::path& dir, const std::string& tag) {
  std::vector<std::string> extra;
  if (resume) extra.push_back("--resume");
  pid_t mpirun = spawn(sweep_argv(2, spec, out, extra), dir / (tag + ".out"), dir / (tag + ".err"));
  std::int64_t seen = -1;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (std::chrono::steady_clock::now() < deadline) {
    seen = finished_points(out);
    if (seen >= at_least) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  for (pid_t rank : children_of(mpirun)) ::kill(rank, SIGKILL);
  ::kill(mpirun, SIGKILL);
  wait_exit(mpirun);
  return seen;
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
  Outcome r = run(sweep_argv(1, spec_, one, {}, "0.1"), dir_->path, "np1");
  ASSERT_EQ(r.code, 0) << r.err;
  expect_bit_identical(one, reference_);
  // Rank 0's progress lines (every 0.1 s; the run takes a second or more) and the summary.
  EXPECT_NE(r.out.find("progress: "), std::string::npos) << r.out;
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

TEST_F(SweepMpi, StopSignalExitsThreeAndResumes) {
  fs::path out = dir_->path / "stopped.h5";
  pid_t mpirun = spawn(sweep_argv(2, spec_, out, {"--grace", "0"}), dir_->path / "stop.out",
                       dir_->path / "stop.err");
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (finished_points(out) < 1 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ::kill(mpirun, SIGUSR1);  // mpirun forwards SIGUSR1 to every rank
  int code = wait_exit(mpirun);
  EXPECT_EQ(code, 3) << read_text(dir_->path / "stop.out") << read_text(dir_->path / "stop.err");
  std::int64_t finished = finished_points(out);
  EXPECT_GE(finished, 1);
  EXPECT_LT(finished, kPoints);
  h5::File f = h5::File::open(out, false, h5::Access::serial());
  EXPECT_EQ(f.root().read_attr_string("end_time").size(), 20u) << "not closed cleanly";
  f.close();

  Outcome resumed = run(sweep_argv(2, spec_, out, {"--resume"}), dir_->path, "stop_resume");
  ASSERT_EQ(resumed.code, 0) << resumed.err;
  expect_bit_identical(out, reference_);
}

// Slurm may send its warning while the job is still starting (up to a minute early). A stop
// signal at any moment of start-up (MPI, spec, data) after the ranks' handler is in place must
// be caught, not kill a rank: on a finished file the resumed run then has nothing to do and
// exits 0. The handler is installed before MPI_Init, so the signals go from that moment on
// (each rank's /proc status says when) into MPI's start-up. (Before the handler, between exec
// and main, nothing in the program can catch it: the jobscript's early-warning rule covers
// that. After the run, Open MPI's mpirun itself may die of the signal while it shuts down.)
TEST_F(SweepMpi, StopSignalWhileStartingIsNotFatal) {
  const fs::path out = dir_->path / "early.h5";
  fs::copy_file(reference_, out, fs::copy_options::overwrite_existing);
  for (int delay_ms : {0, 10, 30}) {
    pid_t mpirun = spawn(sweep_argv(2, spec_, out, {"--resume"}), dir_->path / "early.out",
                         dir_->path / "early.err");
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    for (;;) {
      const std::vector<pid_t> ranks = children_of(mpirun);
      if (ranks.size() == 2 && catches(ranks[0], SIGUSR1) && catches(ranks[1], SIGUSR1)) break;
      ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "ranks never caught SIGUSR1";
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
    ::kill(mpirun, SIGUSR1);  // forwarded to the ranks
    const int code = wait_exit(mpirun);
    EXPECT_EQ(code, 0) << "signal " << delay_ms << " ms after the handlers: "
                       << read_text(dir_->path / "early.out") << read_text(dir_->path / "early.err");
  }
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

}  // namespace
