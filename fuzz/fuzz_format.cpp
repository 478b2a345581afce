// Fuzz target: the format-name parser (parse_format) and the rounding-mode parser. Besides "no
// crash, only InputError", checks that a parsed format's canonical name parses back to the same
// format, and the same for rounding names.
// Deliberately leaves out: the rounding arithmetic (tests/test_formats.cpp checks it exhaustively).
#include <string>
#include <string_view>

#include "fuzz_support.hpp"
#include "precsweep/error.hpp"
#include "precsweep/formats.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace precsweep;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  fuzz::only_input_errors("format", [&] {
    const Format f = parse_format(text);
    const std::string name = f.name();
    if (!(parse_format(name) == f)) fuzz::violation("format", "name " + name + " does not round-trip");
  });
  fuzz::only_input_errors("format", [&] {
    const Rounding r = parse_rounding(text);
    if (parse_rounding(to_string(r)) != r) fuzz::violation("format", "rounding name does not round-trip");
  });
  return 0;
}
