// The executable's contract: --version names the git commit, usage errors exit 2 with one line,
// and the build links OpenBLAS's OpenMP variant (so --threads caps BLAS threads too).
#include <gtest/gtest.h>

#include <algorithm>
#include <string>

#include "precsweep/build_info.hpp"
#include "test_support.hpp"

namespace {

// stdout and stderr together, as a user sees them
struct CmdResult {
  int code;
  std::string out;
};

CmdResult run_precsweep(const std::string& args) {
  const precsweep::test::CliRun r = precsweep::test::run_precsweep(args);
  return {r.code, r.out + r.err};
}

}  // namespace

TEST(Cli, VersionNamesCommit) {
  const CmdResult r = run_precsweep("--version");
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.out.find(precsweep::build_info::git_commit), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(precsweep::build_info::version), std::string::npos) << r.out;
}

TEST(Cli, UsageErrorsExit2WithOneLine) {
  for (const char* args : {"", "frobnicate", "train --no-such-flag"}) {
    const CmdResult r = run_precsweep(args);
    EXPECT_EQ(r.code, 2) << args << ": " << r.out;
    EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << args << ": " << r.out;
  }
}

TEST(Cli, HelpOnEveryCommand) {
  for (const char* cmd : {"quantize", "train", "sweep", "list", "status"}) {
    const CmdResult r = run_precsweep(std::string(cmd) + " --help");
    EXPECT_EQ(r.code, 0) << cmd;
    EXPECT_NE(r.out.find(cmd), std::string::npos) << r.out;
  }
}

TEST(BuildInfo, OpenBlasUsesOpenMP) {
  EXPECT_EQ(precsweep::build_info::blas_parallel(), 2) << precsweep::build_info::blas_description();
  EXPECT_FALSE(precsweep::build_info::blas_core().empty());
}
