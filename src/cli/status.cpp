// TEMPORARY scaffold: replaced by the real `status` command.
#include "commands.hpp"
#include <stdexcept>
namespace precsweep::cli {
Command add_status(CLI::App& root) {
  auto* app = root.add_subcommand("status", "(not yet built)");
  return {app, [] () -> int { throw std::runtime_error("status: not yet built"); }};
}
}  // namespace precsweep::cli
