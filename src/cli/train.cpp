// TEMPORARY scaffold: replaced by the real `train` command.
#include "commands.hpp"
#include <stdexcept>
namespace precsweep::cli {
Command add_train(CLI::App& root) {
  auto* app = root.add_subcommand("train", "(not yet built)");
  return {app, [] () -> int { throw std::runtime_error("train: not yet built"); }};
}
}  // namespace precsweep::cli
