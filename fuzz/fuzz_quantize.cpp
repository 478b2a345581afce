// Fuzz target: `precsweep quantize`'s number-token parser, run as the command runs it: the real
// subcommand (src/cli/quantize.cpp) parsed by CLI11, with the input as standard input. The first
// two bytes pick the rounding mode and the format; the rest is standard input. Bad input must be
// an InputError (exit 2); stdout goes to /dev/null.
// Deliberately leaves out: checking the printed values (tests/test_cli_quantize.cpp does).
#include <cstdio>
#include <iostream>
#include <iterator>
#include <sstream>
#include <string>

#include "../src/cli/commands.hpp"
#include "fuzz_support.hpp"
#include "precsweep/error.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace precsweep;
  static const bool quiet = std::freopen("/dev/null", "w", stdout) != nullptr;
  (void)quiet;
  static const char* const formats[] = {"E5M2", "fp8-e4m3", "bf16",       "fp32",  "Q8.8",
                                        "E2M0", "E8M23",    "fp16",       "nvfp4", "mxfp8-e4m3",
                                        "mx:int4:3"};
  static const char* const roundings[] = {"nearest_even", "toward_zero", "up", "down", "stochastic"};
  const char* fmt = formats[size > 1 ? data[1] % std::size(formats) : 0];
  const char* rnd = roundings[size > 0 ? data[0] % std::size(roundings) : 0];
  const std::size_t skip = size < 2 ? size : 2;
  std::stringbuf input(std::string(reinterpret_cast<const char*>(data) + skip, size - skip));
  std::streambuf* saved = std::cin.rdbuf(&input);
  CLI::App app;
  cli::Command cmd = cli::add_quantize(app);
  const char* argv[] = {"precsweep", "quantize", "--format", fmt, "--rounding", rnd, "--seed", "7"};
  app.parse(static_cast<int>(std::size(argv)), argv);
  fuzz::only_input_errors("quantize", [&] { cmd.run(); });
  std::cin.rdbuf(saved);
  return 0;
}
