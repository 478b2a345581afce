// The subcommands of `precsweep`, one file each in src/cli/. Each add_* registers its options
// on the root app and returns the function that runs it after parsing (returning an exit code).
// Errors are thrown (InputError -> exit 2, anything else -> 1) and reported by main.
#pragma once
#include <CLI/CLI.hpp>
#include <functional>

namespace precsweep::cli {

struct Command {
  CLI::App* app;
  std::function<int()> run;
};

Command add_quantize(CLI::App& root);
Command add_train(CLI::App& root);
Command add_sweep(CLI::App& root);
Command add_list(CLI::App& root);
Command add_status(CLI::App& root);
Command add_report(CLI::App& root);
Command add_errorscale(CLI::App& root);

}  // namespace precsweep::cli
