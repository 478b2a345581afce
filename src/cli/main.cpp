// Entry point: parses the command line with CLI11 and runs one subcommand. The one place that
// turns exceptions into a single line on stderr and an exit code (see error.hpp), and that
// checks standard output was really written (a full disk or /dev/full behind it is exit 1).
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>
#include <iostream>
#include <new>
#include <vector>

#include "commands.hpp"
#include "precsweep/build_info.hpp"
#include "precsweep/error.hpp"
#include "precsweep/h5.hpp"
#include "precsweep/memory_limit.hpp"

namespace {

// Flushes and closes standard output (C stdio and std::cout) and returns `code`, or exit 1 with
// one line on stderr if any write to it failed, now or earlier (its error flag). Exit codes 2
// and 3 are kept: they say more about what to do next than the lost output does.
int close_stdout(int code) {
  std::cout.flush();
  const bool cout_failed = std::cout.fail();
  errno = 0;
  int err = std::fflush(stdout) != 0 ? errno : 0;
  const bool failed = cout_failed || err != 0 || std::ferror(stdout);
  if (std::fclose(stdout) != 0 && err == 0) err = errno;  // close reports deferred errors (NFS)
  if (!failed && err == 0) return code;
  if (err != 0)
    std::fprintf(stderr, "precsweep: error: writing standard output failed: %s; the output is "
                 "incomplete\n", std::strerror(err));
  else
    std::fprintf(stderr, "precsweep: error: writing standard output failed (a full disk, or a "
                 "reader that went away); the output is incomplete\n");
  return code == precsweep::kExitOk ? precsweep::kExitInternal : code;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace precsweep;
  CLI::App app{"precsweep: how reduced numerical precision affects neural-network training"};
  app.set_version_flag("--version", std::string("precsweep ") + build_info::version + " (git " +
                                        build_info::git_commit + ")");
  app.require_subcommand(1);
  std::vector<cli::Command> commands = {
      cli::add_quantize(app), cli::add_train(app), cli::add_sweep(app),
      cli::add_list(app),     cli::add_status(app), cli::add_report(app),
      cli::add_errorscale(app), cli::add_formats(app), cli::add_dot(app),
  };
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return close_stdout(app.exit(e));
  } catch (const CLI::CallForAllHelp& e) {
    return close_stdout(app.exit(e));
  } catch (const CLI::CallForVersion& e) {
    return close_stdout(app.exit(e));
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "precsweep: error: %s (see --help)\n", e.what());
    return kExitInput;
  }
  int code = kExitInput;
  try {
    for (auto& c : commands)
      if (c.app->parsed()) code = c.run();
  } catch (const InputError& e) {
    std::fprintf(stderr, "precsweep: error: %s\n", e.what());
    code = kExitInput;
  } catch (const h5::DiskFull& e) {  // not the user's input, but nothing internal either
    std::fprintf(stderr, "precsweep: error: %s\n", e.what());
    code = kExitInternal;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "precsweep: error: out of memory (%s)\n",
                 memory_limit_text().c_str());
    code = kExitInternal;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "precsweep: internal error: %s\n", e.what());
    code = kExitInternal;
  }
  return close_stdout(code);
}
