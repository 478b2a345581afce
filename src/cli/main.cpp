// Entry point: parses the command line with CLI11 and runs one subcommand. The one place that
// turns exceptions into a single line on stderr and an exit code (see error.hpp), and that
// checks standard output was really written (a full disk or /dev/full behind it is exit 1).
#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>
#include <iostream>
#include <new>
#include <string>
#include <string_view>
#include <vector>

#include "commands.hpp"
#include "precsweep/build_info.hpp"
#include "precsweep/error.hpp"
#include "precsweep/h5.hpp"
#include "precsweep/memory_limit.hpp"
#include "precsweep/params.hpp"
#include "precsweep/suggest.hpp"

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

// "--name..." or "-x", not "-0.1".
bool looks_like_option(const std::string& w) {
  const auto alpha = [](char c) { return std::isalpha(static_cast<unsigned char>(c)) != 0; };
  if (w.size() >= 3 && w[0] == '-' && w[1] == '-') return alpha(w[2]);
  return w.size() >= 2 && w[0] == '-' && alpha(w[1]);
}

// "unknown command 'trian'; did you mean 'train'?" when the first argument is a word that names
// no subcommand (CLI11 would only say that a subcommand is required); empty otherwise.
std::string unknown_command(const CLI::App& app, int argc, char** argv) {
  if (argc < 2 || argv[1][0] == '-' || argv[1][0] == '\0') return "";
  std::vector<std::string> names;
  for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; }))
    names.push_back(sub->get_name());
  for (const std::string& n : names)
    if (n == argv[1]) return "";
  std::string list;
  for (const std::string& n : names) list += (list.empty() ? "" : ", ") + n;
  return std::string("unknown command '") + argv[1] + "'" +
         precsweep::did_you_mean(argv[1], names) + " (commands: " + list + "; see --help)";
}

// For a parse error caused by an option the subcommand does not have: "unknown option
// '--epoch' for 'train'; did you mean '--epochs'?"; empty when no such option is on the command
// line. Only words that look like options count (negative numbers are values).
std::string unknown_option(const CLI::App& app, int argc, char** argv) {
  const CLI::App* sub = nullptr;
  for (const CLI::App* s : app.get_subcommands([](const CLI::App*) { return true; }))
    if (argc >= 2 && s->get_name() == argv[1]) sub = s;
  if (!sub) return "";
  std::vector<std::string> names;
  for (const CLI::Option* o : sub->get_options()) {
    for (const std::string& l : o->get_lnames()) names.push_back("--" + l);
    for (const std::string& n : o->get_snames()) names.push_back("-" + n);
  }
  for (int i = 2; i < argc; ++i) {
    const std::string word = argv[i];
    if (word == "--") break;
    if (!looks_like_option(word)) continue;
    const std::string name = word.substr(0, word.find('='));
    if (std::find(names.begin(), names.end(), name) != names.end()) continue;
    const precsweep::Param* syn =
        precsweep::param_synonym(std::string_view(name).substr(name.find_first_not_of('-')));
    if (syn && sub->get_name() == "train") {  // train's options are the parameters
      std::string flag = "--" + syn->name;
      std::replace(flag.begin(), flag.end(), '_', '-');
      return "unknown option '" + name + "' for 'train'; did you mean '" + flag +
             "'? (precsweep's name for it)";
    }
    return "unknown option '" + name + "' for '" + sub->get_name() + "'" +
           precsweep::did_you_mean(name, names) + " (see precsweep " + sub->get_name() +
           " --help)";
  }
  return "";
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
  if (const std::string msg = unknown_command(app, argc, argv); !msg.empty()) {
    std::fprintf(stderr, "precsweep: error: %s\n", msg.c_str());
    return close_stdout(kExitInput);
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return close_stdout(app.exit(e));
  } catch (const CLI::CallForAllHelp& e) {
    return close_stdout(app.exit(e));
  } catch (const CLI::CallForVersion& e) {
    return close_stdout(app.exit(e));
  } catch (const CLI::ParseError& e) {
    const std::string msg = unknown_option(app, argc, argv);
    if (!msg.empty())
      std::fprintf(stderr, "precsweep: error: %s\n", msg.c_str());
    else
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
