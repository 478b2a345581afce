// Entry point: parses the command line with CLI11 and runs one subcommand. The one place that
// turns exceptions into a single line on stderr and an exit code (see error.hpp).
#include <cstdio>
#include <exception>
#include <vector>

#include "commands.hpp"
#include "precsweep/build_info.hpp"
#include "precsweep/error.hpp"

int main(int argc, char** argv) {
  using namespace precsweep;
  CLI::App app{"precsweep: how reduced numerical precision affects neural-network training"};
  app.set_version_flag("--version", std::string("precsweep ") + build_info::version + " (git " +
                                        build_info::git_commit + ")");
  app.require_subcommand(1);
  std::vector<cli::Command> commands = {
      cli::add_quantize(app), cli::add_train(app), cli::add_sweep(app),
      cli::add_list(app),     cli::add_status(app), cli::add_report(app),
      cli::add_errorscale(app),
  };
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "precsweep: error: %s (see --help)\n", e.what());
    return kExitInput;
  }
  try {
    for (auto& c : commands)
      if (c.app->parsed()) return c.run();
    return kExitInput;
  } catch (const InputError& e) {
    std::fprintf(stderr, "precsweep: error: %s\n", e.what());
    return kExitInput;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "precsweep: internal error: %s\n", e.what());
    return kExitInternal;
  }
}
