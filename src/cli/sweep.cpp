// TEMPORARY scaffold: replaced by the real `sweep` command.
#include "commands.hpp"
#include <stdexcept>
namespace precsweep::cli {
Command add_sweep(CLI::App& root) {
  auto* app = root.add_subcommand("sweep", "(not yet built)");
  return {app, [] () -> int { throw std::runtime_error("sweep: not yet built"); }};
}
}  // namespace precsweep::cli
