// Fuzz target: the sweep-spec parser, through load_spec on a file holding the input (reading,
// YAML, validation, grid expansion). Bad input must be an InputError; for a spec that parses,
// every point's parameters must print (parameter_text).
// Deliberately leaves out: running points (that needs data and takes seconds per point).
#include "fuzz_support.hpp"
#include "precsweep/error.hpp"
#include "precsweep/spec.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace precsweep;
  const auto path = fuzz::write_input("spec.yaml", data, size);
  fuzz::only_input_errors("spec", [&] {
    const SweepSpec spec = load_spec(path);
    for (std::size_t i = 0; i < spec.points.size() && i < 64; ++i)
      for (const std::string& name : parameter_names()) (void)parameter_text(spec.points[i], name);
  });
  return 0;
}
