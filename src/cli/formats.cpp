// `precsweep formats`: prints the table of every named number format (named_formats()), each
// row computed from the Format the name parses to: encoding, exponent bias, largest finite
// value and its exponent emax (MX's emax_elem), smallest normal and subnormal, epsilon (the
// spacing above 1), and for block formats the block size k and the scale format. A Markdown
// table, the same text as the table in docs/formats.md (a test compares the two).
// Deliberately leaves out: E<e>M<m> and Q<i>.<f> shapes that have no name (infinitely many;
// `precsweep quantize` shows any of them), and the rounding modes (they do not change a row).
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>

#include "commands.hpp"
#include "precsweep/formats.hpp"

namespace precsweep::cli {
namespace {

std::string number(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.8g", v);
  return buf;
}

// A power of two as "2^e" (every smallest normal, subnormal and epsilon is one).
std::string power_of_two(double v) {
  int e = 0;
  const double m = std::frexp(v, &e);  // v = m * 2^e, m in [0.5, 1)
  if (m != 0.5) return number(v);
  return "2^" + std::to_string(e - 1);
}

std::string encoding_of(const Format& e) {
  if (e.kind == Format::Kind::fixed) return e.symmetric ? "int (symmetric)" : "fixed";
  return to_string(e.encoding);
}

std::string scale_of(const Format& f) {
  switch (f.scaling) {
    case Scaling::mx:
      return "E8M0 (2^-127..2^127)";
    case Scaling::nvfp4:
      return "E4M3 (fp8-e4m3) x fp32 tensor scale";
    case Scaling::none:
      break;
  }
  return "-";
}

// One row per named format; block formats describe their element (before scaling).
std::string table() {
  std::string out =
      "| name | element | encoding | bias | emax | max | min normal | min subnormal | epsilon | "
      "k | scale |\n|---|---|---|---|---|---|---|---|---|---|---|\n";
  for (const std::string& name : named_formats()) {
    const Format f = parse_format(name);
    Format e = f.element();
    if (e.kind == Format::Kind::floating && e.encoding != Encoding::finite) e.saturate = false;
    const bool fixed = e.kind == Format::Kind::fixed;
    const double eps = fixed ? e.min_subnormal() : std::ldexp(1.0, -e.man_bits);
    out += "| " + name + " | " + e.name() + " | " + encoding_of(e) + " | " +
           (fixed ? std::string("-") : std::to_string(e.bias())) + " | " +
           std::to_string(f.element_emax()) + " | " + number(e.max_finite()) + " | " +
           power_of_two(e.min_normal()) + " | " + power_of_two(e.min_subnormal()) + " | " +
           power_of_two(eps) + " | " +
           (f.is_block() ? std::to_string(f.block_size) : std::string("-")) + " | " + scale_of(f) +
           " |\n";
  }
  return out;
}

}  // namespace

Command add_formats(CLI::App& root) {
  auto* app = root.add_subcommand("formats",
                                  "Print the table of every named number format (docs/formats.md)");
  return {app, []() -> int {
            const std::string t = table();
            std::fwrite(t.data(), 1, t.size(), stdout);
            return 0;
          }};
}

}  // namespace precsweep::cli
