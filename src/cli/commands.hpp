// The subcommands of `precsweep`, one file each in src/cli/. Each add_* registers its options
// on the root app and returns the function that runs it after parsing (returning an exit code).
// Errors are thrown (InputError -> exit 2, anything else -> 1) and reported by main.
#pragma once
#include <CLI/CLI.hpp>
#include <string>
#include <functional>

#include "precsweep/error.hpp"
#include "precsweep/params.hpp"

namespace precsweep::cli {

// Check for --seed N: the parameter table's seed (decimal 0..2^64-1). Without it CLI11's
// conversion wraps "-1" (and takes 2^64 as 2^64-1); a usage error then says what the valid
// range is (exit 2).
inline CLI::Validator seed_range() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        try {
          find_param("seed")->parse(text);
          return {};
        } catch (const InputError& e) {
          return e.what();
        }
      },
      "0..2^64-1");
}

struct Command {
  CLI::App* app;
  std::function<int()> run;
};

Command add_quantize(CLI::App& root);
Command add_dot(CLI::App& root);
Command add_train(CLI::App& root);
Command add_sweep(CLI::App& root);
Command add_list(CLI::App& root);
Command add_status(CLI::App& root);
Command add_report(CLI::App& root);
Command add_errorscale(CLI::App& root);
Command add_formats(CLI::App& root);

}  // namespace precsweep::cli
