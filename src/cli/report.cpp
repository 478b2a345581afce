// `precsweep report FILE -o DIR`: writes the HTML report of a results file by running the
// Python analysis package (precsweep.analysis.report, found beside the executable: paths.hpp)
// with Debian's /usr/bin/python3, which has h5py, pandas and matplotlib. The exit code is the report script's (2: bad input).
// Deliberately leaves out: any analysis in C++; everything lives in the Python package.
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "commands.hpp"
#include "precsweep/error.hpp"
#include "precsweep/paths.hpp"

namespace precsweep::cli {
namespace {

struct ReportOptions {
  std::string file;
  std::string out = "report";
  double tolerance = 0.01;
  std::string python = "/usr/bin/python3";
  std::string errorscale;  // optional `precsweep errorscale --out` file: error-scaling section
};

int run_report(const ReportOptions& o) {
  namespace fs = std::filesystem;
  if (!fs::is_regular_file(o.file))
    throw InputError("report: results file '" + o.file + "' does not exist or is not a file");
  // The package beside the executable (build tree or install, paths.hpp) comes first on
  // PYTHONPATH; without one, a pip-installed precsweep is used.
  std::string pythonpath;
  if (const fs::path dir = find_beside_executable("python"); !dir.empty()) {
    if (!fs::is_regular_file(dir / "precsweep" / "analysis" / "report.py"))
      throw std::runtime_error("report: analysis package not found in " + dir.string());
    pythonpath = dir.string();
  }
  if (const char* old = std::getenv("PYTHONPATH"); old && *old)
    pythonpath += (pythonpath.empty() ? "" : ":") + std::string(old);
  if (!pythonpath.empty()) ::setenv("PYTHONPATH", pythonpath.c_str(), 1);
  ::setenv("MPLBACKEND", "Agg", 1);

  std::ostringstream tol;
  tol.precision(17);
  tol << o.tolerance;
  std::vector<std::string> args = {o.python, "-m", "precsweep.analysis.report", o.file,
                                   "-o",     o.out, "--tolerance",    tol.str()};
  if (!o.errorscale.empty()) {
    if (!fs::is_regular_file(o.errorscale))
      throw InputError("report: --errorscale file '" + o.errorscale + "' does not exist");
    args.insert(args.end(), {"--errorscale", o.errorscale});
  }
  std::vector<char*> argv;  // [args.size() + 1], null-terminated for execv
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  ::execv(o.python.c_str(), argv.data());
  throw std::runtime_error("report: cannot run " + o.python + ": " + std::strerror(errno));
}

}  // namespace

Command add_report(CLI::App& root) {
  auto opts = std::make_shared<ReportOptions>();
  auto* app = root.add_subcommand(
      "report", "Write an HTML report (figures + CSV tables) of a results file");
  app->add_option("file", opts->file, "Results file written by `precsweep sweep`")->required();
  app->add_option("-o,--out", opts->out, "Output folder (index.html, PNGs, CSVs)")
      ->capture_default_str();
  app->add_option("--tolerance", opts->tolerance,
                  "Critical bits: allowed accuracy loss against the fp32 baseline (fraction)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  app->add_option("--errorscale", opts->errorscale,
                  "Add the error-scaling section from a `precsweep errorscale --out` file");
  app->add_option("--python", opts->python, "Python interpreter with h5py, pandas, matplotlib")
      ->capture_default_str();
  return {app, [opts]() -> int { return run_report(*opts); }};
}

}  // namespace precsweep::cli
