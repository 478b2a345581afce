// `precsweep dot` end to end: runs the built binary (PRECSWEEP_BINARY) on standard input from a
// temporary file and checks the printed hex floats (the issue's pinned sums, modes, chunks and
// outer formats, blank lines), the stochastic seed and line index, and that a bad token, an odd
// count of numbers or a bad accumulator exits 2 with a message naming the line and prints
// nothing. Deliberately leaves out: the arithmetic itself (test_accumulate.cpp).
#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "test_support.hpp"

namespace {

using CmdRun = precsweep::test::CliRun;

CmdRun dot_cmd(const std::string& args, const std::string& input) {
  precsweep::test::TempDir dir("precsweep_dot");
  std::ofstream(dir.path / "in") << input;
  return precsweep::test::run_precsweep("dot " + args + " < '" + (dir.path / "in").string() + "'");
}

std::string ones(int n) {
  std::string s;
  for (int i = 0; i < n; ++i) s += "1 1 ";
  return s + "\n";
}

TEST(CliDot, PinnedSumsOfTheIssue) {
  const CmdRun r = dot_cmd("--format E5M10", "1 1 0x1p-12 1\n" + ones(4096));
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "0x1p+0\n0x1p+11\n");
  EXPECT_EQ(r.err, "");
  EXPECT_EQ(dot_cmd("--format E5M10 --rounding up", "1 1 0x1p-12 1\n").out, "0x1.004p+0\n");
  EXPECT_EQ(dot_cmd("--format E5M10 --chunk 64", ones(4096)).out, "0x1p+12\n");
  EXPECT_EQ(dot_cmd("--format E5M10 --chunk 64 --outer fp32:nearest_even", ones(4096)).out,
            "0x1p+12\n");
  // an E5M10 outer accumulator adds runs of 64 exactly up to 4096
  EXPECT_EQ(dot_cmd("--format E5M10 --chunk 64 --outer E5M10", ones(4096)).out, "0x1p+12\n");
}

TEST(CliDot, ModesBlankLinesAndSpecials) {
  const CmdRun r = dot_cmd("--format fp32 --rounding up",
                           "1 1 0x1p-50 0x1p-50\n\n  \n-1 1 0x1p-50 -0x1p-50\ninf 1 1 1\n");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "0x1.000002p+0\n0x0p+0\n0x0p+0\n-0x1p+0\ninf\n");
  EXPECT_EQ(dot_cmd("--format fp8-e4m3 --rounding nearest", "448 1 32 1\n").out, "nan\n");
  EXPECT_EQ(dot_cmd("--format Q8.8 --rounding down", "0.001 1\n").out, "0x0p+0\n");
}

TEST(CliDot, StochasticSeedAndLineIndex) {
  std::string in;
  for (int i = 0; i < 8; ++i) in += "1 1 0x1p-11 1 0x1p-11 1 0x1p-11 1\n";
  const CmdRun a = dot_cmd("--format E5M10 --rounding stochastic --seed 5", in);
  const CmdRun b = dot_cmd("--format E5M10 --rounding stochastic --seed 5", in);
  const CmdRun c = dot_cmd("--format E5M10 --rounding stochastic --seed 6", in);
  EXPECT_EQ(a.code, 0) << a.err;
  EXPECT_EQ(a.out, b.out);
  EXPECT_NE(a.out, c.out);
  // the same line on different lines is a different element: not all results are equal
  std::string first = a.out.substr(0, a.out.find('\n') + 1);
  std::string all_first;
  for (int i = 0; i < 8; ++i) all_first += first;
  EXPECT_NE(a.out, all_first);
}

TEST(CliDot, BadInputExits2NamingTheLineAndPrintsNothing) {
  const CmdRun r = dot_cmd("--format E5M10", "1 2\n3 4 5\n6 7\n");
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.out, "");
  EXPECT_NE(r.err.find("line 2 has 3 numbers"), std::string::npos) << r.err;
  const CmdRun t = dot_cmd("--format E5M10", "1 2\n3 x4\n");
  EXPECT_EQ(t.code, 2);
  EXPECT_EQ(t.out, "");
  EXPECT_NE(t.err.find("line 2, column 3: \"x4\" is not a number"), std::string::npos) << t.err;
  const CmdRun f = dot_cmd("--format E5M99", "1 2\n");
  EXPECT_EQ(f.code, 2);
  EXPECT_NE(f.err.find("E5M99"), std::string::npos) << f.err;
  EXPECT_EQ(dot_cmd("--format E5M10 --outer bf16", "1 2\n").code, 2);
  EXPECT_EQ(dot_cmd("--format fp32 --rounding stochastic", "1 2\n").code, 2);
  EXPECT_EQ(dot_cmd("--format E5M10 --chunk -1", "1 2\n").code, 2);
  EXPECT_EQ(dot_cmd("--format E5M10 --rounding sideways", "1 2\n").code, 2);
}

}  // namespace
