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

namespace {

// Block formats end to end: the tokens form one tensor, blocks are consecutive runs of k tokens
// (the last may be shorter), nvfp4's tensor scale is over all tokens (docs/formats.md).
TEST(CliQuantize, BlockFormatsBlockConsecutiveTokens) {
  // the vector: a block whose max is 960 turns 957 into 896
  std::string block;
  for (int i = 0; i < 30; ++i) block += "1 ";
  const CmdRun r = quantize_cmd("--format mxfp8-e4m3 --rounding nearest_even",
                                "960 957 " + block + "\n0.3 -0.2");
  EXPECT_EQ(r.code, 0) << r.err;
  std::string want = "0x1.cp+9\n0x1.cp+9\n";
  for (int i = 0; i < 30; ++i) want += "0x1p+0\n";
  // the last block (2 tokens): amax 0.3 -> s = -2 - 8 = -10; 0.3 * 2^10 = 307.2 -> 320 (spacing
  // 32 above 256) -> 0.3125; -0.2 * 2^10 = -204.8 -> -208 -> -0.203125
  want += "0x1.4p-2\n-0x1.ap-3\n";
  EXPECT_EQ(r.out, want);
  // blocks of 2: inf makes its block NaN and no other; [3, 0.25] has X = 2^(1-2): 6 and 0.5
  EXPECT_EQ(quantize_cmd("--format mx:fp4-e2m1:2 --rounding nearest", "6 5 inf 1 3 0.25").out,
            "0x1.8p+2\n0x1p+2\nnan\nnan\n0x1.8p+1\n0x1p-2\n");
  // nvfp4: with A = 6 the recipe reduces to plain E2M1 (docs/formats.md's example)
  EXPECT_EQ(quantize_cmd("--format nvfp4 --rounding nearest", "6 5 -2.9 0.2 1.24").out,
            "0x1.8p+2\n0x1p+2\n-0x1.8p+1\n0x0p+0\n0x1p+0\n");
  // mxint8: -1.9999 saturates to -127/64 (the range is symmetric)
  EXPECT_EQ(quantize_cmd("--format mxint8 --rounding nearest", "-1.9999 0.5078125").out,
            "-0x1.fcp+0\n0x1p-1\n");
  // stochastic: a neighbour, reproducible by seed
  const CmdRun s1 = quantize_cmd("--format mxfp4 --rounding stochastic --seed 3", "6 2.5 2.5 2.5");
  const CmdRun s2 = quantize_cmd("--format mxfp4 --rounding stochastic --seed 3", "6 2.5 2.5 2.5");
  EXPECT_EQ(s1.out, s2.out);
  EXPECT_EQ(s1.code, 0);
}

TEST(CliQuantize, BadBlockFormatExits2WithOneLine) {
  for (const char* spec : {"mx:fp16:32", "mx:fp8-e4m3:0", "mx:fp8-e4m3", "mxfp4,saturate",
                           "mx:int30:32"}) {
    const CmdRun r = quantize_cmd(std::string("--format ") + spec + " --rounding nearest", "1 2");
    EXPECT_EQ(r.code, 2) << spec;
    EXPECT_EQ(r.out, "") << spec;
    EXPECT_NE(r.err.find(spec), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("mx:<element>:<k>"), std::string::npos) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  }
  const CmdRun sat = quantize_cmd("--format mxfp4 --rounding nearest --saturate", "1");
  EXPECT_EQ(sat.code, 2);
  EXPECT_EQ(sat.out, "");
  EXPECT_NE(sat.err.find("mx:fp8-e4m3,no-subnormals:32"), std::string::npos) << sat.err;
}

// `precsweep formats`: known numbers, and the same table as docs/formats.md (between the
// markers "<!-- precsweep formats -->" and "<!-- end precsweep formats -->").
TEST(CliFormats, TableHasKnownNumbersAndEqualsTheDocs) {
  const CmdRun r = precsweep::test::run_precsweep("formats");
  EXPECT_EQ(r.code, 0) << r.err;
  for (const char* row : {
           "| fp16 | E5M10 | ieee | 15 | 15 | 65504 | 2^-14 | 2^-24 | 2^-10 | - | - |",
           "| fp8-e4m3 | fp8-e4m3 | fn | 7 | 8 | 448 | 2^-6 | 2^-9 | 2^-3 | - | - |",
           "| fp8-e5m2fnuz | fp8-e5m2fnuz | fnuz | 16 | 15 | 57344 | 2^-15 | 2^-17 | 2^-2 | - | - |",
           "| fp4-e2m1 | fp4-e2m1 | finite | 1 | 2 | 6 | 2^0 | 2^-1 | 2^-1 | - | - |",
           "| fp32 | E8M23 | ieee | 127 | 127 | 3.4028235e+38 | 2^-126 | 2^-149 | 2^-23 | - | - |",
           "| mxfp8-e4m3 | fp8-e4m3 | fn | 7 | 8 | 448 | 2^-6 | 2^-9 | 2^-3 | 32 | E8M0 (2^-127..2^127) |",
           "| mxint8 | int8 | int (symmetric) | - | 0 | 1.984375 | 2^-6 | 2^-6 | 2^-6 | 32 | E8M0 (2^-127..2^127) |",
           "| nvfp4 | fp4-e2m1 | finite | 1 | 2 | 6 | 2^0 | 2^-1 | 2^-1 | 16 | E4M3 (fp8-e4m3) x fp32 tensor scale |"})
    EXPECT_NE(r.out.find(std::string(row) + "\n"), std::string::npos) << row << "\n" << r.out;
  std::ifstream in(std::string(PRECSWEEP_SOURCE_DIR) + "/docs/formats.md");
  std::stringstream doc;
  doc << in.rdbuf();
  const std::string text = doc.str();
  const std::string begin = "<!-- precsweep formats -->\n", end = "<!-- end precsweep formats -->";
  const std::size_t b = text.find(begin), e = text.find(end);
  ASSERT_NE(b, std::string::npos);
  ASSERT_NE(e, std::string::npos);
  EXPECT_EQ(text.substr(b + begin.size(), e - b - begin.size()), r.out)
      << "docs/formats.md's table differs from `precsweep formats`: paste the command's output";
}

}  // namespace
