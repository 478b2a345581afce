// The executable's contract: --version names the git commit, usage errors exit 2 with one line,
// and the build links OpenBLAS's OpenMP variant (so --threads caps BLAS threads too).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "precsweep/build_info.hpp"
#include "precsweep/error.hpp"
#include "precsweep/params.hpp"
#include "precsweep/spec.hpp"
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

// A misspelt subcommand or option, or another library's name for an option, gets one line
// naming what was probably meant, and exit 2.
TEST(Cli, MisspeltCommandsAndOptionsGetADidYouMean) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"trian --epochs 1", "unknown command 'trian'; did you mean 'train'?"},
      {"quantise --format fp16", "did you mean 'quantize'?"},
      {"train --epoch 1", "unknown option '--epoch' for 'train'; did you mean '--epochs'?"},
      {"train --hiden 100", "unknown option '--hiden' for 'train'; did you mean '--hidden'?"},
      {"sweep spec.yaml --out o.h5 --resum",
       "unknown option '--resum' for 'sweep'; did you mean '--resume'?"},
      {"train --learning-rate 0.1",
       "unknown option '--learning-rate' for 'train'; did you mean '--lr'?"},
      {"train --batch_size 8", "did you mean '--batch'?"},
      {"train --lr 0.1 --epochs 1 --activation sigmoid --bogus-flag-xyz",
       "unknown option '--bogus-flag-xyz' for 'train' (see precsweep train --help)"},
  };
  for (const auto& [args, expected] : cases) {
    const CmdResult r = run_precsweep(args);
    EXPECT_EQ(r.code, 2) << args << ": " << r.out;
    EXPECT_NE(r.out.find(expected), std::string::npos) << args << ": " << r.out;
    EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << args << ": " << r.out;
  }
  // A negative number is a value, not an option: the range check speaks, not the suggestion.
  const CmdResult neg = run_precsweep("train --lr -0.5 --epochs 1");
  EXPECT_EQ(neg.code, 2);
  EXPECT_EQ(neg.out.find("unknown option"), std::string::npos) << neg.out;
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

// ---- issue 14: bad input is refused up front, exit 2, one line that says what is wrong ------

namespace {

// exit 2, one line on stderr containing `expect`, nothing on stdout
void expect_input_error(const std::string& args, const std::string& expect) {
  const precsweep::test::CliRun r = precsweep::test::run_precsweep(args);
  EXPECT_EQ(r.code, 2) << args << ": " << r.out << r.err;
  EXPECT_NE(r.err.find(expect), std::string::npos) << args << ": " << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << args << ": " << r.err;
  EXPECT_EQ(r.out, "") << args;
}

}  // namespace

TEST(CliInput, SeedOutsideUint64IsRefused) {
  for (const char* cmd : {"train --dataset synthetic", "quantize --format E5M2 </dev/null",
                          "errorscale --dataset synthetic"})
    for (const char* seed : {"-1", "18446744073709551616", "1.5", "+3", ""})
      expect_input_error(std::string(cmd) + " --seed '" + seed + "'",
                         std::string("--seed: expected an integer in 0..18446744073709551615, "
                                     "got '") + seed + "'");
}

TEST(CliInput, NumbersInMessagesAreShortestRoundTrip) {
  expect_input_error("train --dataset synthetic --lr -1e-7",
                     "--lr: must be > 0, got -1e-07");
  expect_input_error("train --dataset synthetic --momentum 1.25",
                     "--momentum: must be in [0, 1), got 1.25");
}

// One table of limits (params.hpp): a spec and `train`'s flags refuse the same bad values with
// the same reason, named by the key path in a spec and by the flag on the command line.
TEST(CliInput, SpecAndTrainFlagsRefuseAlike) {
  struct Bad {
    std::string param, value, reason;  // reason "" : only "the same on both paths"
  };
  const std::vector<Bad> cases = {
      {"lr", "-0.1", "must be > 0, got -0.1"},
      {"lr", "abc", "expected a number, got 'abc'"},
      {"lr", "inf", "expected a number, got 'inf'"},
      {"momentum", "1", "must be in [0, 1), got 1"},
      {"weight_decay", "-1e-7", "must be >= 0, got -1e-07"},
      {"label_smoothing", "1", "must be in [0, 1), got 1"},
      {"lr_schedule", "step:0:0.5", "expected constant, cosine or step:<epochs>:<factor> "
                                    "(epochs >= 1, factor > 0), got 'step:0:0.5'"},
      {"lr_schedule", "step:99999999999:0.5", ""},
      {"batch", "0", "must be in 1..1000000, got 0"},
      {"batch", "1000001", "must be in 1..1000000, got 1000001"},
      {"batch", "6.4", "expected an integer, got '6.4'"},
      {"epochs", "100001", "must be in 1..100000, got 100001"},
      {"seed", "-1", "expected an integer in 0..18446744073709551615, got '-1'"},
      {"hidden", "65537", "layer width must be in 1..65536, got 65537"},
      {"hidden", "100,0", "layer width must be in 1..65536, got 0"},
      {"every", "0", "must be in 1..1000000000, got 0"},
      {"every", "sometimes", "expected batch, epoch or a number of batches >= 1, got 'sometimes'"},
      {"format", "E9M2", ""},
      {"rounding", "sideways", ""},
      {"apply_to", "everything", ""},
      {"activation", "softsign", ""},
      {"dataset", "cifar", "unknown dataset 'cifar' (expected mnist, fashion-mnist or synthetic)"},
  };
  for (const Bad& c : cases) {
    const precsweep::Param* p = precsweep::find_param(c.param);
    ASSERT_NE(p, nullptr) << c.param;
    const std::string key = p->section.empty() ? c.param : p->section + "." + c.param;
    const std::string yaml = p->section.empty() ? c.param + ": '" + c.value + "'\n"
                                                : p->section + ": {" + c.param + ": '" + c.value + "'}\n";
    std::string spec_reason;
    try {
      precsweep::parse_spec(yaml, "x.yaml");
      ADD_FAILURE() << "spec accepted " << c.param << " " << c.value;
    } catch (const precsweep::InputError& e) {
      const std::string msg = e.what(), prefix = "x.yaml:1: " + key + ": ";
      ASSERT_EQ(msg.rfind(prefix, 0), 0u) << msg;
      spec_reason = msg.substr(prefix.size());
    }
    if (!c.reason.empty()) {
      EXPECT_EQ(spec_reason, c.reason) << c.param << " " << c.value;
    }
    std::string flag = "--" + c.param;
    std::replace(flag.begin(), flag.end(), '_', '-');
    const std::string dataset = c.param == "dataset" ? "" : "--dataset synthetic ";
    expect_input_error("train " + dataset + flag + " '" + c.value + "'", flag + ": " + spec_reason);
  }
}

// `train`'s header names every parameter of the table with its canonical text (a role's parts
// when given: the others are the recipe's).
TEST(CliTrain, HeaderNamesEveryParameter) {
  const CmdResult r = run_precsweep(
      "train --dataset synthetic --epochs 1 --hidden 4 --label-smoothing 0.1 --every 1 "
      "--round errors=fp8-e5m2:stochastic --scale errors=current");
  ASSERT_EQ(r.code, 0) << r.out;
  const std::string header = r.out.substr(0, r.out.find('\n'));
  EXPECT_EQ(header.rfind("train: synthetic 64-4-10 ", 0), 0u) << header;
  for (const precsweep::Param& p : precsweep::params()) {
    if (p.name == "dataset" || p.name == "hidden") continue;  // shown as the data and shape
    if (!p.flag && p.name.rfind("errors_", 0) != 0) continue;  // a role not given
    EXPECT_NE(header.find(" " + p.name + "="), std::string::npos) << p.name << ": " << header;
  }
  EXPECT_NE(header.find(" errors_format=E5M2 errors_rounding=stochastic errors_scale=current "),
            std::string::npos) << header;
  EXPECT_NE(header.find(" label_smoothing=0.1 "), std::string::npos) << header;
  EXPECT_NE(header.find(" every=batch "), std::string::npos) << header;
}

// --accumulate[-<kind>] FMT[:MODE][,chunk=C][,outer=F2]: the whole accumulator into the table's
// parts (shown in the header), the swamped fractions of the kinds it covers in each epoch line.
TEST(CliTrain, AccumulateFlags) {
  const CmdResult r = run_precsweep(
      "train --dataset synthetic --epochs 1 --hidden 4 --accumulate E5M10,chunk=8 "
      "--accumulate-forward bf16:up");
  ASSERT_EQ(r.code, 0) << r.out;
  for (const char* part : {" accumulate_format=E5M10 accumulate_rounding=nearest_even "
                           "accumulate_chunk=8 accumulate_outer=E8M23:nearest_even ",
                           " accumulate_forward_format=E8M7 accumulate_forward_rounding=up "
                           "accumulate_forward_chunk=0 ",
                           " swamped_forward=", " swamped_backward_data=",
                           " swamped_backward_weights="})
    EXPECT_NE(r.out.find(part), std::string::npos) << part << "\n" << r.out;
  expect_input_error("train --dataset synthetic --accumulate E5M10:sideways",
                     "--accumulate: ");
  expect_input_error("train --dataset synthetic --accumulate-backward-data fp32:stochastic",
                     "--accumulate-backward-data: accumulator: stochastic rounding");
}

// `status` shows a swept parameter's values as the parameter table's canonical text, the same
// as `list` (every 1 was shown as "1", master_weights as "0"/"1").
TEST(CliStatus, AxesShowCanonicalParameterText) {
  precsweep::test::TempDir d;
  std::ofstream(d.path / "s.yaml") << "dataset: synthetic\nepochs: 1\nmodel: {hidden: [4]}\n"
                                      "train: {lr: [0.1, 0.25]}\nprecision: {format: E5M2, "
                                      "every: [batch, epoch], master_weights: [false, true]}\n";
  const std::string file = (d.path / "s.h5").string();
  const CmdResult sweep =
      run_precsweep("sweep '" + (d.path / "s.yaml").string() + "' --out '" + file + "' --progress 0");
  ASSERT_EQ(sweep.code, 0) << sweep.out;
  const CmdResult s = run_precsweep("status '" + file + "'");
  ASSERT_EQ(s.code, 0) << s.out;
  for (const char* line : {"  lr:  0.1 4/4  0.25 4/4\n", "  every:  batch 4/4  epoch 4/4\n",
                           "  master_weights:  false 4/4  true 4/4\n"})
    EXPECT_NE(s.out.find(line), std::string::npos) << line << s.out;
}

TEST(CliInput, NetworkLargerThanMemoryIsRefusedWithTheFigure) {
  // Two layers of 32768: under the parameter cap, but 16 GiB; refused under `ulimit -v` 4 GB
  // (and on any machine with less memory available) before any data is read.
#if defined(PRECSWEEP_UNDER_ASAN)
  GTEST_SKIP() << "AddressSanitizer reserves terabytes of shadow memory: no ulimit -v under it";
#endif
  precsweep::test::TempDir d;
  const std::string cmd = "ulimit -v 4000000; '" + std::string(PRECSWEEP_BINARY) +
                          "' train --dataset synthetic --hidden 32768,32768 --epochs 1 >'" +
                          (d.path / "out").string() + "' 2>'" + (d.path / "err").string() + "'";
  const int status = std::system(cmd.c_str());
  const std::string err = precsweep::test::read_text(d.path / "err");
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 2) << err;
  EXPECT_NE(err.find("hidden: this network needs at least 16.16 GiB of memory"), std::string::npos)
      << err;
  EXPECT_EQ(precsweep::test::read_text(d.path / "out"), "");
  // A sweep checks its largest point the same way, before creating the results file.
  std::ofstream(d.path / "big.yaml") << "dataset: synthetic\nmodel: {hidden: [[4], [32768, 32768]]}\n";
  const std::string sweep = "ulimit -v 4000000; '" + std::string(PRECSWEEP_BINARY) + "' sweep '" +
                            (d.path / "big.yaml").string() + "' --out '" +
                            (d.path / "big.h5").string() + "' 2>'" + (d.path / "err").string() + "'";
  const int sweep_status = std::system(sweep.c_str());
  const std::string sweep_err = precsweep::test::read_text(d.path / "err");
  EXPECT_TRUE(WIFEXITED(sweep_status) && WEXITSTATUS(sweep_status) == 2) << sweep_err;
  EXPECT_NE(sweep_err.find("big.yaml: point 1 (hidden=32768,32768): hidden: this network needs at "
                           "least 16.16 GiB"),
            std::string::npos)
      << sweep_err;
  EXPECT_FALSE(std::filesystem::exists(d.path / "big.h5"));
}

TEST(CliInput, NetworkAboveTheParameterCapIsRefusedWithItsSize) {
  // Above the parameter cap on any machine: the count and the memory it would take.
  expect_input_error("train --dataset synthetic --hidden 65536,65536",
                     "hidden: a network of 4299948042 parameters (64 inputs, 2 hidden layers up to "
                     "65536 wide, 10 classes) needs at least 64.");
}

// --data-dir names one dataset's folder: with several datasets it would feed every one the same
// data, so it is refused (before any output exists).
TEST(CliInput, SweepDataDirWithSeveralDatasetsIsRefused) {
  precsweep::test::TempDir d;
  std::ofstream(d.path / "s.yaml") << "dataset: [mnist, fashion-mnist]\nmodel: {hidden: [4]}\n";
  const std::filesystem::path out = d.path / "r.h5";
  expect_input_error("sweep '" + (d.path / "s.yaml").string() + "' --out '" + out.string() +
                         "' --data-dir '" + d.path.string() + "'",
                     "--data-dir: one folder for the datasets mnist and fashion-mnist; set "
                     "PRECSWEEP_DATA_DIR=DIR instead (each dataset is DIR/<name>)");
  EXPECT_FALSE(std::filesystem::exists(out));
}

TEST(CliInput, SweepRefusesEmptyOutAndOutOfRangeOmpThreads) {
  precsweep::test::TempDir d;
  std::ofstream(d.path / "s.yaml") << "dataset: synthetic\nmodel: {hidden: [4]}\n";
  const std::string spec = "'" + (d.path / "s.yaml").string() + "'";
  expect_input_error("sweep " + spec + " --out ''", "--out: empty file name");
  const std::filesystem::path out = d.path / "r.h5";
  for (const char* bad : {"5000", "1025"}) {  // (libgomp itself warns about 0 and non-numbers)
    ::setenv("OMP_NUM_THREADS", bad, 1);
    expect_input_error("sweep " + spec + " --out '" + out.string() + "'",
                       std::string("OMP_NUM_THREADS=") + bad +
                           ": threads per rank must be 1..1024");
    ::unsetenv("OMP_NUM_THREADS");
    EXPECT_FALSE(std::filesystem::exists(out)) << "a refused sweep left " << out;
  }
}
