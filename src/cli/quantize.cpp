// TEMPORARY scaffold: replaced by the real `quantize` command.
#include "commands.hpp"
#include <stdexcept>
namespace precsweep::cli {
Command add_quantize(CLI::App& root) {
  auto* app = root.add_subcommand("quantize", "(not yet built)");
  return {app, [] () -> int { throw std::runtime_error("quantize: not yet built"); }};
}
}  // namespace precsweep::cli
