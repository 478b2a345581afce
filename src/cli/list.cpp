// TEMPORARY scaffold: replaced by the real `list` command.
#include "commands.hpp"
#include <stdexcept>
namespace precsweep::cli {
Command add_list(CLI::App& root) {
  auto* app = root.add_subcommand("list", "(not yet built)");
  return {app, [] () -> int { throw std::runtime_error("list: not yet built"); }};
}
}  // namespace precsweep::cli
