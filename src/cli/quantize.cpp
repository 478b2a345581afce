// `precsweep quantize`: rounds numbers read from standard input into a format and prints each
// result as a C99 hex float (printf "%a" of the binary32 value promoted to double; "inf",
// "-inf", "nan" for specials), one per line, so results can be checked by hand against
// docs/formats.md.
// All of standard input is read and checked before anything is printed: a token that is not a
// number stops the command with an error naming it and its position, and nothing is printed.
// Token k (counting from 0) is element k of one array, i.e. stochastic counter offset + k of
// (seed, stream): a script that rounds its data in pieces passes each piece's offset (or a new
// stream) to draw fresh random bits, exactly as precsweep.quantize(..., stream=, offset=) does.
// For a block format the tokens form one tensor: blocks are consecutive runs of k tokens (the
// last may be shorter) and nvfp4's tensor scale is taken over all of them.
// Deliberately leaves out: other output notations (decimal), reading from files.
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
#include "precsweep/error.hpp"
#include "precsweep/formats.hpp"

namespace precsweep::cli {
namespace {

struct QuantizeOptions {
  std::string format;
  std::string rounding;
  bool no_subnormals = false;
  bool saturate = false;
  std::uint64_t seed = 0;
  std::uint64_t stream = 0;
  std::uint64_t offset = 0;
};

// --format with --no-subnormals / --saturate appended; a block format takes them on its
// element (mx:<element,options>:<k>), so there they are refused with that hint.
Format with_options(const QuantizeOptions& o) {
  const Format base = parse_format(o.format);
  if (base.is_block() && (o.no_subnormals || o.saturate))
    throw InputError("quantize: --no-subnormals and --saturate do not apply to the block format "
                     "\"" + o.format + "\" (its elements always saturate; give element options "
                     "inside it, e.g. mx:fp8-e4m3,no-subnormals:32)");
  std::string spec = o.format;
  if (o.no_subnormals) spec += ",no-subnormals";
  if (o.saturate) spec += ",saturate";
  return parse_format(spec);
}

int run_quantize(const QuantizeOptions& o) {
  const Format fmt = with_options(o);
  const Rounding mode = parse_rounding(o.rounding);

  // Tokenise all of stdin, remembering line and column (1-based) for error messages.
  const std::string input((std::istreambuf_iterator<char>(std::cin)),
                          std::istreambuf_iterator<char>());
  std::vector<float> values;  // shape [number of tokens]
  std::size_t line = 1, col = 1;
  for (std::size_t i = 0; i < input.size();) {
    const char c = input[i];
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v') {
      if (c == '\n') {
        ++line;
        col = 1;
      } else {
        ++col;
      }
      ++i;
      continue;
    }
    std::size_t j = i;
    while (j < input.size() && input[j] != ' ' && input[j] != '\t' && input[j] != '\r' &&
           input[j] != '\n' && input[j] != '\f' && input[j] != '\v')
      ++j;
    const std::string token = input.substr(i, j - i);
    float v = 0;
    if (!parse_number(token, v)) {
      const std::string shown = shown_token(token);
      throw InputError("quantize: token " + std::to_string(values.size() + 1) + " \"" + shown +
                       "\" (line " + std::to_string(line) + ", column " + std::to_string(col) +
                       ") is not a number (expected a decimal, a C99 hex float like 0x1.8p+3, "
                       "inf or nan); nothing was printed");
    }
    values.push_back(v);
    col += j - i;
    i = j;
  }

  quantize(values, fmt, mode, StochasticKey{o.seed, o.stream, o.offset});
  std::string out;
  out.reserve(values.size() * 16);
  for (float v : values) {
    out += format_hex(v);
    out += '\n';
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
  std::fflush(stdout);
  return 0;
}

}  // namespace

Command add_quantize(CLI::App& root) {
  auto opts = std::make_shared<QuantizeOptions>();
  auto* app = root.add_subcommand(
      "quantize", "Round numbers from standard input into a number format; print C99 hex floats");
  app->add_option("--format", opts->format,
                  "E<e>M<m>[,ieee|,fn|,finite|,fnuz], fp32, tf32, fp16, bf16, fp8-e5m2, "
                  "fp8-e4m3, fp8-e4m3fnuz, fp8-e5m2fnuz, fp8-e3m4, fp6-e2m3, fp6-e3m2, "
                  "fp4-e2m1, Q<i>.<f>, or a block format: mx:<element>:<k>, mxfp8-e4m3, "
                  "mxfp8-e5m2, mxfp6-e3m2, mxfp6-e2m3, mxfp4, mxint8, nvfp4 (blocks are "
                  "consecutive runs of k tokens; docs/formats.md; `precsweep formats` lists "
                  "them)")
      ->required();
  app->add_option("--rounding", opts->rounding,
                  "toward_zero (truncate), nearest_even (nearest), up, down, stochastic")
      ->required();
  app->add_flag("--no-subnormals", opts->no_subnormals,
                "flush results below the smallest normal to a signed zero");
  app->add_flag("--saturate", opts->saturate, "finite overflow gives +-max finite");
  app->add_option("--seed", opts->seed,
                  "seed for stochastic rounding (token k uses counter offset + k)")
      ->check(seed_range());
  app->add_option("--stream", opts->stream,
                  "stochastic rounding stream (independent random bits per stream)")
      ->check(seed_range());
  app->add_option("--offset", opts->offset,
                  "counter of the first token (token k uses offset + k)")
      ->check(seed_range());
  return {app, [opts]() -> int { return run_quantize(*opts); }};
}

}  // namespace precsweep::cli
