// `precsweep status FILE`: what a results file holds — the spec's name and hash, counts of
// pending/done/diverged/failed points, progress along every swept axis, and the first failed
// points with their messages. Opens the file serially and read-only (no mpirun needed), so it
// works on a file a running sweep is writing or a killed one left behind. The last line is
// `key=value` pairs for scripts.
// Parameter values are shown as the parameter table's canonical text (params.hpp).
// Deliberately leaves out: metrics and plots (h5py/pandas; docs/results-format.md).
#include <cstdarg>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "commands.hpp"
#include "precsweep/error.hpp"
#include "precsweep/h5.hpp"
#include "precsweep/params.hpp"
#include "precsweep/results_file.hpp"

namespace precsweep::cli {
namespace {

// A parameter's numeric column as canonical text: the parameter table reads each value back
// into a point (every 1 is "batch", as `list` shows it). Empty if the column's type is not the
// one the table writes.
std::vector<std::string> parameter_texts(const h5::Dataset& d, const Param& param) {
  std::vector<std::string> out;
  Point p;
  auto add = [&](auto set, auto value) {
    set(p, value);
    out.push_back(param.text(p));
  };
  const h5::Type t = d.type();
  if (t == h5::Type::f64 && param.set_real) {
    for (double v : d.read_all<double>()) add(param.set_real, v);
  } else if (t == h5::Type::u64 && param.set_integer) {
    for (std::uint64_t v : d.read_all<std::uint64_t>())
      add(param.set_integer, static_cast<std::int64_t>(v));
  } else if ((t == h5::Type::i32 || t == h5::Type::i8) && param.set_integer) {
    for (std::int64_t v : d.read_all<std::int64_t>()) add(param.set_integer, v);
  }
  return out;
}

// A /points column as text, one entry per point (parameters as canonical text).
std::vector<std::string> column_text(const h5::Dataset& d, const Param* param) {
  if (d.type() == h5::Type::string) return d.read_strings();
  if (param) {
    std::vector<std::string> texts = parameter_texts(d, *param);
    if (!texts.empty()) return texts;
  }
  std::vector<std::string> out;
  switch (d.type()) {
    case h5::Type::f32:
    case h5::Type::f64:
      for (double v : d.read_all<double>()) out.push_back(shortest_text(v));
      return out;
    case h5::Type::u64:
      for (std::uint64_t v : d.read_all<std::uint64_t>()) out.push_back(std::to_string(v));
      return out;
    default:
      for (std::int64_t v : d.read_all<std::int64_t>()) out.push_back(std::to_string(v));
      return out;
  }
}

// printf into `out`.
[[gnu::format(printf, 2, 3)]] void say(std::string& out, const char* fmt, ...) {
  char buf[4096];
  std::va_list args;
  va_start(args, fmt);
  const int n = std::vsnprintf(buf, sizeof buf, fmt, args);
  va_end(args);
  if (n < 0) return;
  if (static_cast<std::size_t>(n) < sizeof buf) {
    out.append(buf, static_cast<std::size_t>(n));
    return;
  }
  std::string big(static_cast<std::size_t>(n) + 1, '\0');
  va_start(args, fmt);
  std::vsnprintf(big.data(), big.size(), fmt, args);
  va_end(args);
  out.append(big.data(), static_cast<std::size_t>(n));
}

// Search mode (docs/search.md): settings done, points run against the grid, each setting's
// answer. The rows are as the last run left them; the points are the state.
void say_search(std::string& out, const h5::Group& g, const std::vector<std::string>& axes,
                const std::int64_t count[4]) {
  const auto critical = g.open_dataset("critical").read_all<std::int32_t>();
  const auto done = g.open_dataset("done").read_all<std::int8_t>();
  const auto non_monotone = g.open_dataset("non_monotone").read_all<std::int8_t>();
  const auto predicted = g.open_dataset("predicted").read_all<std::int32_t>();  // -1: none
  // Label: the setting's values of the swept parameters (the format with its width open).
  std::vector<std::string> label(done.size());
  for (const std::string& axis : axes) {
    if (axis == "seed" || !g.exists(axis)) continue;
    const std::vector<std::string> v = column_text(g.open_dataset(axis), find_param(axis));
    for (std::size_t i = 0; i < label.size() && i < v.size(); ++i)
      label[i] += (label[i].empty() ? "" : " ") + axis + "=" + v[i];
  }
  const std::int64_t finished = count[1] + count[2] + count[3];
  std::int64_t n_done = 0;
  for (auto d : done) n_done += d != 0;
  say(out, "search along %s: %lld of %zu settings done; %lld of %lld grid points run\n",
      g.read_attr_string("axis").c_str(), static_cast<long long>(n_done), done.size(),
      static_cast<long long>(finished), static_cast<long long>(finished + count[0]));
  for (std::size_t i = 0; i < done.size() && i < 20; ++i)
    say(out, "  setting %zu (%s): %s%s%s\n", i, label[i].c_str(),
        !done[i] ? "searching" : critical[i] < 0 ? "none passes" :
        ("critical " + std::to_string(critical[i])).c_str(),
        i < predicted.size() && predicted[i] >= 0
            ? (", predicted " + std::to_string(predicted[i])).c_str() : "",
        non_monotone[i] ? " (non-monotone)" : "");
}

int run_status(const std::string& path) {
  if (!std::filesystem::exists(path)) throw InputError(path + ": no such file");
  if (!h5::File::is_hdf5(path)) throw InputError(path + ": not an HDF5 file");
  ResultsFile f = ResultsFile::open(path, h5::Access::serial(), false);
  const h5::Group& root = f.root();
  const std::vector<std::int8_t> status = f.read_status();  // [N]
  std::string out;  // printed once everything has been read: a damaged file prints nothing
  std::int64_t count[4] = {0, 0, 0, 0};  // pending, done, diverged, failed
  for (std::int8_t s : status) count[(s >= 0 && s <= 3) ? s : 0]++;

  const std::string sha = root.read_attr_string("spec_sha256");
  say(out, "file: %s\n", path.c_str());
  say(out, "spec: %s (sha256 %s...), %lld points, written by %s, %lld run(s) of %lld rank(s)\n",
              root.read_attr_string("spec_name").c_str(), sha.substr(0, 12).c_str(),
              static_cast<long long>(f.size()), root.read_attr_string("created_by").c_str(),
              static_cast<long long>(root.read_attr_int("runs")),
              static_cast<long long>(root.read_attr_int("mpi_size")));
  const std::string end = root.read_attr_string("end_time");
  say(out, "started %s, last run started %s, %s\n", root.read_attr_string("start_time").c_str(),
              root.read_attr_string("last_start_time").c_str(),
              end.empty() ? "not ended (running, or killed)" : ("ended " + end).c_str());
  say(out, "status: done %lld, diverged %lld, failed %lld, pending %lld\n",
              static_cast<long long>(count[1]), static_cast<long long>(count[2]),
              static_cast<long long>(count[3]), static_cast<long long>(count[0]));

  // Per axis: for each value, finished (done, diverged or failed) / points with that value.
  const std::vector<std::string> axes = root.read_attr_strings("axes");
  h5::Group points = root.open_group("points");
  bool header = false;
  for (const std::string& axis : axes) {
    if (axis.empty() || !points.exists(axis)) continue;
    if (!header) say(out, "per axis (finished/points):\n");
    header = true;
    const h5::Dataset column = points.open_dataset(axis);
    if (column.dims() != std::vector<hsize_t>{static_cast<hsize_t>(f.size())})
      throw h5::Error(column.path() + " does not have one row per point");
    const std::vector<std::string> values = column_text(column, find_param(axis));
    std::vector<std::string> order;
    std::map<std::string, std::pair<std::int64_t, std::int64_t>> tally;  // value -> (fin, all)
    for (std::size_t i = 0; i < values.size() && i < status.size(); ++i) {
      auto [it, fresh] = tally.try_emplace(values[i], 0, 0);
      if (fresh) order.push_back(values[i]);
      it->second.first += status[i] != 0;
      it->second.second += 1;
    }
    std::string line = "  " + axis + ":";
    for (const std::string& v : order)
      line += "  " + v + " " + std::to_string(tally[v].first) + "/" + std::to_string(tally[v].second);
    say(out, "%s\n", line.c_str());
  }

  if (root.exists("search")) say_search(out, root.open_group("search"), axes, count);

  if (count[3] > 0) {
    const std::vector<std::string> messages =
        root.open_group("results").open_dataset("message").read_strings();
    say(out, "failed points (first 10):\n");
    int shown = 0;
    for (std::size_t i = 0; i < status.size() && shown < 10; ++i)
      if (status[i] == 3) {
        say(out, "  %zu: %s\n", i, messages[i].c_str());
        ++shown;
      }
  }
  say(out, "points=%lld done=%lld diverged=%lld failed=%lld pending=%lld\n",
              static_cast<long long>(f.size()), static_cast<long long>(count[1]),
              static_cast<long long>(count[2]), static_cast<long long>(count[3]),
              static_cast<long long>(count[0]));
  std::fputs(out.c_str(), stdout);
  return kExitOk;
}

}  // namespace

Command add_status(CLI::App& root) {
  auto* app = root.add_subcommand("status", "Summarise a results file (works while a sweep runs "
                                            "and on a file left by a killed job)");
  auto path = std::make_shared<std::string>();
  app->add_option("file", *path, "Results file (HDF5)")->required();
  return {app, [path]() -> int {
            // ResultsFile::open checks what it reads; the attributes and columns only `status`
            // shows are checked by the h5 layer, whose errors here mean the same thing.
            try {
              return run_status(*path);
            } catch (const h5::Error& e) {
              throw InputError(*path + ": not a precsweep results file or damaged: " + e.what());
            }
          }};
}

}  // namespace precsweep::cli
