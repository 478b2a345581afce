// `precsweep dot`: dot products summed in an accumulator format (docs/accumulation.md). Each
// line of standard input holds one dot product as pairs "a1 b1 a2 b2 ..." (binary32, the number
// syntax of `quantize`: decimal, C99 hex float, inf, nan); one C99 hex float is printed per
// line, blank lines included (an empty sum, +0). Line L (counting from 0) is output element L
// for the stochastic counters, with stream 0 and the --seed.
// As in `quantize`, all of standard input is read and checked before anything is printed: a
// line with a token that is not a number, or with an odd number of numbers, stops the command
// with an error naming the line (exit 2) and nothing is printed.
// Deliberately leaves out: reading files, other output notations.
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "commands.hpp"
#include "number_text.hpp"
#include "precsweep/accumulate.hpp"
#include "precsweep/error.hpp"

namespace precsweep::cli {
namespace {

struct DotOptions {
  std::string format;
  std::string rounding = "nearest_even";
  std::uint32_t chunk = 0;
  std::string outer;
  std::uint64_t seed = 0;
  std::uint64_t stream = 0;
};

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v'; }

// One input line: the numbers a1 b1 a2 b2 ... split into a and b.
void parse_line(const std::string& line, std::size_t line_no, std::vector<float>& a,
                std::vector<float>& b) {
  a.clear();
  b.clear();
  std::size_t count = 0;
  for (std::size_t i = 0; i < line.size();) {
    if (is_space(line[i])) {
      ++i;
      continue;
    }
    std::size_t j = i;
    while (j < line.size() && !is_space(line[j])) ++j;
    const std::string token = line.substr(i, j - i);
    float v = 0;
    if (!parse_number(token, v))
      throw InputError("dot: line " + std::to_string(line_no) + ", column " +
                       std::to_string(i + 1) + ": \"" + shown_token(token) +
                       "\" is not a number (expected a decimal, a C99 hex float like 0x1.8p+3, "
                       "inf or nan); nothing was printed");
    (count++ % 2 == 0 ? a : b).push_back(v);
    i = j;
  }
  if (a.size() != b.size())
    throw InputError("dot: line " + std::to_string(line_no) + " has " + std::to_string(count) +
                     " numbers; a line holds pairs \"a1 b1 a2 b2 ...\", so an even count; "
                     "nothing was printed");
}

int run_dot(const DotOptions& o) {
  std::string text = o.format + ":" + o.rounding;
  if (o.chunk > 0) text += ",chunk=" + std::to_string(o.chunk);
  if (!o.outer.empty()) text += ",outer=" + o.outer;
  const Accumulator acc = parse_accumulator(text);

  const std::string input((std::istreambuf_iterator<char>(std::cin)),
                          std::istreambuf_iterator<char>());
  std::vector<std::string> lines;
  for (std::size_t start = 0; start < input.size();) {
    std::size_t nl = input.find('\n', start);
    if (nl == std::string::npos) nl = input.size();
    lines.push_back(input.substr(start, nl - start));
    start = nl + 1;
  }
  if (lines.size() >= (std::size_t{1} << 32))
    throw InputError("dot: more than 2^32 - 1 lines (the stochastic counters' limit)");
  std::vector<float> results;  // shape [lines]
  results.reserve(lines.size());
  std::vector<float> a, b;
  for (std::size_t L = 0; L < lines.size(); ++L) {
    parse_line(lines[L], L + 1, a, b);
    if (a.size() >= (std::size_t{1} << 31))
      throw InputError("dot: line " + std::to_string(L + 1) + " has 2^31 or more pairs");
    results.push_back(dot(a, b, acc, StochasticKey{o.seed, o.stream, 0}, nullptr,
                          static_cast<std::uint32_t>(L)));
  }
  std::string out;
  out.reserve(results.size() * 16);
  for (float v : results) out.append(format_hex(v)).append("\n");
  std::fwrite(out.data(), 1, out.size(), stdout);
  std::fflush(stdout);
  return 0;
}

}  // namespace

Command add_dot(CLI::App& root) {
  auto opts = std::make_shared<DotOptions>();
  auto* app = root.add_subcommand(
      "dot",
      "Dot products \"a1 b1 a2 b2 ...\" from standard input (one per line) summed in an "
      "accumulator format (docs/accumulation.md); print C99 hex floats");
  app->add_option("--format", opts->format,
                  "accumulator format, as for quantize --format (E5M10, bf16, fp32, Q8.8, ...)")
      ->required();
  app->add_option("--rounding", opts->rounding,
                  "toward_zero (truncate), nearest_even (nearest; default), up, down, stochastic");
  app->add_option("--chunk", opts->chunk,
                  "sum runs of C products, each from 0, into the outer accumulator (0: none)");
  app->add_option("--outer", opts->outer,
                  "outer accumulator FMT[:MODE] for --chunk (default fp32:nearest_even)");
  app->add_option("--seed", opts->seed,
                  "seed for stochastic rounding (line L, from 0, is output element L)")
      ->check(seed_range());
  app->add_option("--stream", opts->stream,
                  "stochastic stream (default 0): another stream, other random bits; "
                  "precsweep.dot/matmul's `stream`")
      ->check(seed_range());
  return {app, [opts]() -> int { return run_dot(*opts); }};
}

}  // namespace precsweep::cli
