// The executable's input and output edges (issue 14): a NUL byte inside a quantize token, write
// errors on standard output (/dev/full), a spec that is not UTF-8, `train --out` checked before
// the work and never leaving a partial file, the results file's writer lock (held by the test
// itself, so nothing depends on timing), and the start-up check of the address-space limit.
// Every case runs the real binary. Deliberately leaves out: a disk that fills up while writing
// (test_disk_full.cpp).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>

#include "precsweep/h5.hpp"
#include "precsweep/results_file.hpp"
#include "test_support.hpp"

namespace {

namespace fs = std::filesystem;
using precsweep::test::CliRun;
using precsweep::test::read_text;
using precsweep::test::run_precsweep;
using precsweep::test::TempDir;

const char* kTinySpec = "name: tiny\ndataset: synthetic\nepochs: 1\nseed: [1, 2]\n"
                        "model:\n  hidden: [16]\ntrain:\n  lr: 0.1\n  batch: 32\n"
                        "precision:\n  format: E5M6\n  rounding: nearest_even\n";

std::string q(const fs::path& p) { return "'" + p.string() + "'"; }

void write_bytes(const fs::path& p, const std::string& bytes) {
  std::ofstream(p, std::ios::binary) << bytes;
}

// Runs a shell command line; exit code and what it printed (stdout and stderr together).
CliRun shell(const std::string& command) {
  TempDir dir("precsweep_sh");
  const std::string cmd = "(" + command + ") >" + q(dir.path / "out") + " 2>&1";
  const int status = std::system(cmd.c_str());
  CliRun r;
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = read_text(dir.path / "out");
  return r;
}

int lines(const std::string& s) { return static_cast<int>(std::count(s.begin(), s.end(), '\n')); }

// ---- quantize: a NUL byte ends nothing -------------------------------------------------------

TEST(CliIo, QuantizeRefusesATokenWithANulByte) {
  TempDir dir;
  write_bytes(dir.path / "in", std::string("1\0" "2 3", 5));
  const CliRun r = run_precsweep("quantize --format fp16 --rounding nearest < " + q(dir.path / "in"));
  EXPECT_EQ(r.code, 2) << r.out << r.err;
  EXPECT_EQ(r.out, "");
  EXPECT_NE(r.err.find("\"1\\x002\""), std::string::npos) << r.err;  // the whole token, NUL shown
  EXPECT_NE(r.err.find("token 1"), std::string::npos) << r.err;
  EXPECT_EQ(lines(r.err), 1) << r.err;
}

// ---- standard output that cannot be written --------------------------------------------------

TEST(CliIo, WriteErrorsOnStandardOutputExitOne) {
  TempDir dir;
  write_bytes(dir.path / "spec.yaml", kTinySpec);
  write_bytes(dir.path / "in", "1 2 3\n");
  const CliRun made = run_precsweep("train --dataset synthetic --epochs 1 --hidden 8 --out " +
                                    q(dir.path / "run.h5"));
  ASSERT_EQ(made.code, 0) << made.err;
  for (const std::string& args :
       {"quantize --format fp16 --rounding nearest < " + q(dir.path / "in"),
        "list " + q(dir.path / "spec.yaml"), "list --json " + q(dir.path / "spec.yaml"),
        "status " + q(dir.path / "run.h5"), std::string("train --dataset synthetic --epochs 1 --hidden 8"),
        std::string("--version")}) {
    const CliRun ok = run_precsweep(args);
    EXPECT_EQ(ok.code, 0) << args << ": " << ok.err;
    // stdout into /dev/full (every write fails with ENOSPC), stderr captured
    const CliRun r = shell("exec 3>&1; " + std::string(PRECSWEEP_BINARY) + " " + args +
                           " 2>&3 >/dev/full");
    EXPECT_EQ(r.code, 1) << args << ": " << r.out;
    EXPECT_NE(r.out.find("standard output"), std::string::npos) << args << ": " << r.out;
    EXPECT_EQ(lines(r.out), 1) << args << ": " << r.out;
  }
}

// ---- a spec that is not UTF-8 ------------------------------------------------------------------

TEST(CliIo, NonUtf8SpecIsRefusedNamingLineAndByte) {
  TempDir dir;
  std::string spec = kTinySpec;
  spec.insert(spec.find("epochs"), "# caf\xe9 au lait\n");  // a Latin-1 comment on line 3
  write_bytes(dir.path / "latin1.yaml", spec);
  const fs::path out = dir.path / "out.h5";
  for (const std::string& args : {"list " + q(dir.path / "latin1.yaml"),
                                  "sweep " + q(dir.path / "latin1.yaml") + " --out " + q(out)}) {
    const CliRun r = run_precsweep(args);
    EXPECT_EQ(r.code, 2) << args << ": " << r.out << r.err;
    EXPECT_NE(r.err.find("latin1.yaml:3:"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("byte 6"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("0xe9"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("UTF-8"), std::string::npos) << r.err;
    EXPECT_EQ(lines(r.err), 1) << r.err;
    EXPECT_FALSE(fs::exists(out));
  }
  // Valid multi-byte UTF-8 (a comment in Greek, an emoji) is fine.
  std::string good = kTinySpec;
  good.insert(good.find("epochs"), "# \xce\xb1\xce\xb2 \xf0\x9f\x99\x82\n");
  write_bytes(dir.path / "utf8.yaml", good);
  EXPECT_EQ(run_precsweep("list " + q(dir.path / "utf8.yaml")).code, 0);
  // Overlong encodings and surrogates are not UTF-8 either.
  for (const std::string& bad : {std::string("\xc0\xaf"), std::string("\xed\xa0\x80"),
                                 std::string("\xf4\x90\x80\x80"), std::string("\xe2\x82")}) {
    write_bytes(dir.path / "bad.yaml", "# " + bad + "\n" + kTinySpec);
    const CliRun r = run_precsweep("list " + q(dir.path / "bad.yaml"));
    EXPECT_EQ(r.code, 2) << r.out;
    EXPECT_NE(r.err.find("bad.yaml:1: byte 3"), std::string::npos) << r.err;
  }
}

// ---- train --out: checked first, complete or absent ------------------------------------------

TEST(CliIo, TrainOutIsCheckedBeforeTraining) {
  TempDir dir;
  const CliRun r = run_precsweep("train --dataset synthetic --epochs 2 --out /nonexistent/dir/x.h5");
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_EQ(r.out.find("epoch"), std::string::npos) << r.out;  // no training happened
  EXPECT_NE(r.err.find("/nonexistent/dir"), std::string::npos) << r.err;
  EXPECT_EQ(lines(r.err), 1) << r.err;
  // A folder this process cannot write into (read-only bind of a tmpfs is overkill: a file in
  // place of the folder does it for root too).
  write_bytes(dir.path / "plain", "x");
  const CliRun notdir = run_precsweep("train --dataset synthetic --out " +
                                      q(dir.path / "plain" / "x.h5"));
  EXPECT_EQ(notdir.code, 2) << notdir.err;
  EXPECT_EQ(notdir.out.find("epoch"), std::string::npos) << notdir.out;
  // errorscale --out likewise, before reading weights or data.
  const CliRun es = run_precsweep("errorscale --weights /nonexistent/w.h5 --out /nonexistent/dir/e.h5");
  EXPECT_EQ(es.code, 2) << es.err;
  EXPECT_NE(es.err.find("/nonexistent/dir"), std::string::npos) << es.err;
}

TEST(CliIo, TrainOutLeavesNoTemporaryFile) {
  TempDir dir;
  const fs::path out = dir.path / "run.h5";
  const CliRun r = run_precsweep("train --dataset synthetic --epochs 1 --hidden 8 --out " + q(out));
  ASSERT_EQ(r.code, 0) << r.err;
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir.path)) names.push_back(e.path().filename());
  EXPECT_EQ(names, std::vector<std::string>{"run.h5"});
}

// ---- the writer lock ---------------------------------------------------------------------------

// Holds OUT.lock the way a sweep does (flock, "host pid" inside) until destroyed.
struct HeldLock {
  int fd = -1;
  explicit HeldLock(const fs::path& out, const std::string& who) {
    fd = ::open((out.string() + ".lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    EXPECT_GE(fd, 0);
    EXPECT_EQ(::flock(fd, LOCK_EX | LOCK_NB), 0);
    EXPECT_EQ(::write(fd, who.data(), who.size()), static_cast<ssize_t>(who.size()));
  }
  ~HeldLock() { ::close(fd); }
};

TEST(CliIo, ASecondWriterIsRefusedNamingTheHolder) {
  TempDir dir;
  const fs::path spec = dir.path / "spec.yaml", out = dir.path / "out.h5";
  write_bytes(spec, kTinySpec);
  const std::string sweep = "sweep " + q(spec) + " --progress 0 --out " + q(out);
  ASSERT_EQ(run_precsweep(sweep).code, 0);
  std::vector<std::int8_t> before;
  {
    auto f = precsweep::ResultsFile::open(out, precsweep::h5::Access::serial(), false);
    before = f.read_status();
  }
  {
    HeldLock held(out, "node17 4242\n");
    const CliRun resume = run_precsweep(sweep + " --resume --retry-failed");
    EXPECT_EQ(resume.code, 2) << resume.out << resume.err;
    EXPECT_NE(resume.err.find("pid 4242 on host node17"), std::string::npos) << resume.err;
    EXPECT_NE(resume.err.find(out.string() + ".lock"), std::string::npos) << resume.err;
    EXPECT_EQ(lines(resume.err), 1) << resume.err;
    // A new sweep on a file being created by another: exit 2 "exists", nothing written.
    const fs::path fresh = dir.path / "fresh.h5";
    HeldLock creating(fresh, "node18 77\n");
    const CliRun second = run_precsweep("sweep " + q(spec) + " --progress 0 --out " + q(fresh));
    EXPECT_EQ(second.code, 2) << second.out << second.err;
    EXPECT_NE(second.err.find("exists"), std::string::npos) << second.err;
    EXPECT_NE(second.err.find("pid 77 on host node18"), std::string::npos) << second.err;
    EXPECT_FALSE(fs::exists(fresh));
  }
  // The file was not touched (runs is still 1) and resumes once the lock is free.
  {
    auto f = precsweep::ResultsFile::open(out, precsweep::h5::Access::serial(), false);
    EXPECT_EQ(f.root().read_attr_int("runs"), 1);
    EXPECT_EQ(f.read_status(), before);
  }
  const CliRun resumed = run_precsweep(sweep + " --resume");
  EXPECT_EQ(resumed.code, 0) << resumed.err;
  EXPECT_FALSE(fs::exists(out.string() + ".lock"));  // removed by its holder at the end
}

TEST(CliIo, ALockOfAKilledHolderIsFree) {
  TempDir dir;
  const fs::path spec = dir.path / "spec.yaml", out = dir.path / "out.h5";
  write_bytes(spec, kTinySpec);
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  const pid_t child = ::fork();
  if (child == 0) {
    HeldLock held(out, "somehost 1\n");
    const char c = 'x';
    if (::write(ready[1], &c, 1) != 1) std::_Exit(1);
    for (;;) ::pause();
  }
  char c = 0;
  ASSERT_EQ(::read(ready[0], &c, 1), 1);  // the child holds the lock now
  EXPECT_EQ(run_precsweep("sweep " + q(spec) + " --progress 0 --out " + q(out)).code, 2);
  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);
  ASSERT_TRUE(fs::exists(out.string() + ".lock"));  // the file stays, the lock does not
  const CliRun r = run_precsweep("sweep " + q(spec) + " --progress 0 --out " + q(out));
  EXPECT_EQ(r.code, 0) << r.err;
  ::close(ready[0]);
  ::close(ready[1]);
}

// ---- the address-space limit --------------------------------------------------------------------

// The minimum the binary asks for, from its refusal under a tiny limit (KiB).
long long required_kib(const std::string& message) {
  const std::string key = "needs at least ";
  const std::size_t at = message.find(key);
  if (at == std::string::npos) return -1;
  return std::stoll(message.substr(at + key.size()));
}

TEST(CliIo, TooLowAnAddressSpaceLimitIsRefusedAtStart) {
#if defined(PRECSWEEP_UNDER_ASAN)
  GTEST_SKIP() << "AddressSanitizer reserves terabytes of shadow memory: no ulimit -v under it";
#endif
  // `timeout` only ends a hang (the defect: OpenBLAS retried its buffer forever); it is no
  // speed threshold: a correct binary exits before its first library constructor.
  const std::string bin = PRECSWEEP_BINARY;
  const CliRun r = shell("ulimit -v 150000; exec timeout 300 " + bin + " --version");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("ulimit -v"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("150000 KiB"), std::string::npos) << r.out;
  EXPECT_EQ(lines(r.out), 1) << r.out;
  const long long need = required_kib(r.out);
  ASSERT_GT(need, 150000) << r.out;

  // At the documented minimum, every command starts and a small job runs.
  TempDir dir;
  write_bytes(dir.path / "spec.yaml", kTinySpec);
  write_bytes(dir.path / "in", "1 2\n");
  const std::string limit = "ulimit -v " + std::to_string(need) + "; exec timeout 300 " + bin;
  for (const std::string& args :
       {std::string(" --version"), " quantize --format fp16 --rounding nearest < " + q(dir.path / "in"),
        " list " + q(dir.path / "spec.yaml"),
        " train --dataset synthetic --epochs 1 --out " + q(dir.path / "t.h5"),
        " sweep " + q(dir.path / "spec.yaml") + " --progress 0 --out " + q(dir.path / "s.h5")}) {
    const CliRun ok = shell(limit + args);
    EXPECT_EQ(ok.code, 0) << args << ": " << ok.out;
  }
}

}  // namespace
