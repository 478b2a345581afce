// `precsweep quantize` end to end: runs the built binary (PRECSWEEP_BINARY) on standard input
// from a temporary file and checks the printed hex floats, the specials, hex-float input, the
// stochastic seed, and that a bad token or a bad format exits 2 with a message naming it and
// prints nothing. Deliberately leaves out: the rounding itself (test_formats.cpp).
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "test_support.hpp"

namespace {

namespace fs = std::filesystem;

using CmdRun = precsweep::test::CliRun;

CmdRun quantize_cmd(const std::string& args, const std::string& input) {
  precsweep::test::TempDir dir("precsweep_quantize");
  std::ofstream(dir.path / "in") << input;
  return precsweep::test::run_precsweep("quantize " + args + " < '" + (dir.path / "in").string() + "'");
}

TEST(CliQuantize, PrintsHexFloatsOfTheRoundedBinary32Values) {
  const CmdRun r = quantize_cmd("--format fp16 --rounding nearest_even",
                                "3.14159265 1.00048828125\n65519.99 65520 -65520\n"
                                "-0 0 1e-30 -1e-30 nan -inf inf 0x1.8p+3 0x1.0008p+0 1e39");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out,
            "0x1.92p+1\n0x1p+0\n0x1.ffcp+15\ninf\n-inf\n"
            "-0x0p+0\n0x0p+0\n0x0p+0\n-0x0p+0\nnan\n-inf\ninf\n0x1.8p+3\n0x1p+0\ninf\n");
  EXPECT_EQ(r.err, "");
}

TEST(CliQuantize, ModesOptionsAndFormats) {
  EXPECT_EQ(quantize_cmd("--format fp8-e4m3 --rounding nearest", "464 464.01 -inf").out,
            "0x1.cp+8\nnan\nnan\n");
  EXPECT_EQ(quantize_cmd("--format fp8-e4m3 --rounding nearest --saturate", "464.01 -inf").out,
            "0x1.cp+8\n-0x1.cp+8\n");
  EXPECT_EQ(quantize_cmd("--format fp8-e5m2 --rounding nearest", "61439.9 61440").out,
            "0x1.cp+15\ninf\n");
  EXPECT_EQ(quantize_cmd("--format E5M10 --rounding truncate", "3.14159265 -70000").out,
            "0x1.92p+1\n-0x1.ffcp+15\n");
  EXPECT_EQ(quantize_cmd("--format fp16 --rounding up", "1.0001 -1.0001").out,
            "0x1.004p+0\n-0x1p+0\n");
  EXPECT_EQ(quantize_cmd("--format fp16 --rounding down --no-subnormals", "1e-6 -1e-6").out,
            "0x0p+0\n-0x0p+0\n");
  EXPECT_EQ(quantize_cmd("--format Q8.8 --rounding nearest", "200 -200 0.00390625").out,
            "0x1.fffcp+6\n-0x1p+7\n0x1p-8\n");
}

// The vectors for the encodings, end to end (docs/formats.md, "Encodings").
TEST(CliQuantize, EncodingsPresetsAndOptions) {
  EXPECT_EQ(quantize_cmd("--format fp8-e4m3 --rounding nearest", "448 464 465").out,
            "0x1.cp+8\n0x1.cp+8\nnan\n");
  EXPECT_EQ(quantize_cmd("--format fp8-e5m2 --rounding nearest", "58000 61440").out,
            "0x1.cp+15\ninf\n");
  EXPECT_EQ(quantize_cmd("--format fp4-e2m1 --rounding nearest", "5 5.01 7 -inf nan 0.25").out,
            "0x1p+2\n0x1.8p+2\n0x1.8p+2\n-0x1.8p+2\nnan\n0x0p+0\n");
  EXPECT_EQ(quantize_cmd("--format fp8-e4m3fnuz --rounding nearest", "-0 -1e-30 240 248 inf").out,
            "0x0p+0\n0x0p+0\n0x1.ep+7\nnan\nnan\n");
  EXPECT_EQ(quantize_cmd("--format fp8-e5m2fnuz --rounding down --saturate", "-1e9 0x1p-15").out,
            "-0x1.cp+15\n0x1p-15\n");
  EXPECT_EQ(quantize_cmd("--format E3M2,finite --rounding up", "1000 -0").out,
            "0x1.cp+4\n-0x0p+0\n");
  const CmdRun bad = quantize_cmd("--format E8M3,fnuz --rounding nearest", "1");
  EXPECT_EQ(bad.code, 2);
  EXPECT_EQ(bad.out, "");
  EXPECT_NE(bad.err.find("fnuz"), std::string::npos) << bad.err;
}

TEST(CliQuantize, StochasticDependsOnlyOnSeed) {
  std::string input;
  for (int i = 0; i < 200; ++i) input += "1.0002 ";
  const CmdRun a = quantize_cmd("--format fp16 --rounding stochastic --seed 7", input);
  const CmdRun b = quantize_cmd("--format fp16 --rounding stochastic --seed 7", input);
  const CmdRun c = quantize_cmd("--format fp16 --rounding stochastic --seed 8", input);
  EXPECT_EQ(a.code, 0);
  EXPECT_EQ(a.out, b.out);
  EXPECT_NE(a.out, c.out);
  // Only the two neighbours 1 and 1 + 2^-10 appear.
  std::istringstream lines(a.out);
  std::string line;
  int count = 0;
  while (std::getline(lines, line)) {
    EXPECT_TRUE(line == "0x1p+0" || line == "0x1.004p+0") << line;
    ++count;
  }
  EXPECT_EQ(count, 200);
}

// --stream draws other bits; --offset K makes token k use counter K + k, so rounding the tail
// of an array with --offset equals the tail of rounding the whole array (the Python binding's
// stream= and offset= are the same key: python/tests/test_binding.py).
TEST(CliQuantize, StreamAndOffsetSelectTheRandomBits) {
  std::string input;
  for (int i = 0; i < 200; ++i) input += "1.0002 ";
  const std::string base = "--format fp16 --rounding stochastic --seed 7";
  const CmdRun whole = quantize_cmd(base, input);
  const CmdRun other = quantize_cmd(base + " --stream 1", input);
  ASSERT_EQ(whole.code, 0) << whole.err;
  EXPECT_NE(whole.out, other.out);
  std::string tail_in;
  for (int i = 50; i < 200; ++i) tail_in += "1.0002 ";
  const CmdRun tail = quantize_cmd(base + " --offset 50", tail_in);
  ASSERT_EQ(tail.code, 0) << tail.err;
  std::size_t pos = 0;
  for (int i = 0; i < 50; ++i) pos = whole.out.find('\n', pos) + 1;
  EXPECT_EQ(tail.out, whole.out.substr(pos));
  EXPECT_EQ(quantize_cmd(base + " --offset -1", "1").code, 2);
}

TEST(CliQuantize, BadTokenExits2NamingItAndPrintsNothing) {
  const CmdRun r = quantize_cmd("--format fp16 --rounding nearest", "1 2\n  3 1.5x 4 5\n");
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.out, "");  // nothing for earlier or later tokens
  EXPECT_NE(r.err.find("\"1.5x\""), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("token 4"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("line 2, column 5"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
}

TEST(CliQuantize, BadFormatOrModeExits2) {
  const CmdRun f = quantize_cmd("--format E9M3 --rounding nearest", "1");
  EXPECT_EQ(f.code, 2);
  EXPECT_EQ(f.out, "");
  EXPECT_NE(f.err.find("E9M3"), std::string::npos);
  EXPECT_NE(f.err.find("accepted"), std::string::npos);
  const CmdRun m = quantize_cmd("--format fp16 --rounding sideways", "1");
  EXPECT_EQ(m.code, 2);
  EXPECT_NE(m.err.find("sideways"), std::string::npos);
  const CmdRun missing = quantize_cmd("--rounding nearest", "1");
  EXPECT_EQ(missing.code, 2);
  const CmdRun empty = quantize_cmd("--format fp16 --rounding nearest", "");
  EXPECT_EQ(empty.code, 0);
  EXPECT_EQ(empty.out, "");
}

}  // namespace
