// `precsweep train`: one training run from the command line. Prints a header (every parameter
// as name=text), one progress line per epoch, the status, and finally
// `test_accuracy=<4 decimals>`. Bad flag values are InputErrors (exit 2, one line); a diverged
// run is a result (exit 0, status=diverged).
// With --out the run is also written as a one-point results file in the sweep layout
// (write_single_run, results_file.hpp: the sweep engine's code). The run parameters' flags come
// from the parameter table (params.hpp): `--name` per parameter, checked as in a spec.
// Deliberately leaves out: any training logic (train.cpp) and file layout (results_file.cpp).
#include <algorithm>
#include <array>
#include <cstdio>
#include <map>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "commands.hpp"
#include "precsweep/build_info.hpp"
#include "precsweep/dataset.hpp"
#include "precsweep/error.hpp"
#include "precsweep/new_output.hpp"
#include "precsweep/params.hpp"
#include "precsweep/results_file.hpp"
#include "precsweep/spec.hpp"
#include "precsweep/train.hpp"

namespace precsweep::cli {
namespace {

struct TrainArgs {
  std::map<std::string, std::string> values;  // parameter name -> text as given (or default)
  std::string data_dir;
  int threads = 1;
  std::string out;  // --out: one-point results file, sweep layout (results_file.hpp)
  bool save_weights = false;  // --save-weights: final parameters into --out's /weights
  std::vector<std::string> round;  // --round ROLE=FORMAT[:MODE] (repeatable)
  std::vector<std::string> scale;  // --scale ROLE=none|current|delayed:N (repeatable)
  // --accumulate, --accumulate-forward, --accumulate-backward-data, --accumulate-backward-weights
  std::array<std::string, kAccumulateScopes> accumulate;
};

// "accumulate" or "accumulate_<kind>": the parameters' prefix of scope i.
std::string accumulate_prefix(std::size_t i) {
  return i == 0 ? "accumulate" : "accumulate_" + to_string(static_cast<GemmKind>(i - 1));
}

// "errors=E5M2:stochastic" -> {errors, "E5M2:stochastic"}; InputError naming the flag.
std::pair<Role, std::string> role_assignment(const std::string& flag, const std::string& item,
                                             const char* form) {
  const std::size_t eq = item.find('=');
  if (eq == std::string::npos)
    throw InputError(flag + ": expected " + form + ", got '" + item + "'");
  const std::string name = item.substr(0, eq);
  const auto role = find_role(name);
  if (!role)
    throw InputError(flag + ": unknown role '" + name + "' in '" + item + "' (roles: " +
                     role_list() + ")");
  return {*role, item.substr(eq + 1)};
}

// The roles' parameters (<role>_format, _rounding, _scale) from --round and --scale, with the
// flag text each came from (for messages). A role given twice: the last wins, as CLI11 does.
void apply_roles(const TrainArgs& a, std::map<std::string, std::string>& values,
                 std::map<std::string, std::string>& origin) {
  for (const std::string& item : a.round) {
    auto [role, rest] = role_assignment("--round", item, "ROLE=FORMAT[:MODE]");
    const std::string n = to_string(role);
    const std::size_t colon = rest.find(':');
    values[n + "_format"] = rest.substr(0, colon);
    origin[n + "_format"] = "--round " + item;
    values[n + "_rounding"] = colon == std::string::npos ? "" : rest.substr(colon + 1);
    origin[n + "_rounding"] = "--round " + item;
  }
  for (const std::string& item : a.scale) {
    auto [role, rest] = role_assignment("--scale", item, "ROLE=none|current|delayed:N");
    values[to_string(role) + "_scale"] = rest;
    origin[to_string(role) + "_scale"] = "--scale " + item;
  }
}

// The accumulators' parameters (accumulate[_<kind>]_format, _rounding, _chunk, _outer) from
// --accumulate[-<kind>] FMT[:MODE][,chunk=C][,outer=FMT2[:MODE2]]: the flag gives the whole
// accumulator, so every part is set (an unnamed part has its default: no chunks, fp32 outer).
void apply_accumulators(const TrainArgs& a, std::map<std::string, std::string>& values,
                        std::map<std::string, std::string>& origin) {
  for (std::size_t i = 0; i < a.accumulate.size(); ++i) {
    if (a.accumulate[i].empty()) continue;
    const std::string prefix = accumulate_prefix(i);
    std::string flag = "--" + prefix;
    std::replace(flag.begin(), flag.end(), '_', '-');
    Accumulator acc;
    try {
      acc = parse_accumulator(a.accumulate[i]);
    } catch (const InputError& e) {
      throw InputError(flag + ": " + e.what());
    }
    const std::pair<const char*, std::string> parts[] = {
        {"_format", acc.format.name()},
        {"_rounding", to_string(acc.rounding)},
        {"_chunk", std::to_string(acc.chunk)},
        {"_outer", acc.outer.name() + ":" + to_string(acc.outer_rounding)}};
    for (const auto& [suffix, text] : parts) {
      values[prefix + suffix] = text;
      origin[prefix + suffix] = flag + " " + a.accumulate[i];
    }
  }
}

// `--weight-decay` for weight_decay.
std::string flag_of(const Param& p) {
  std::string flag = "--" + p.name;
  std::replace(flag.begin(), flag.end(), '_', '-');
  return flag;
}

// The run's point: every parameter through the table (the spec's checks and messages), named
// by its flag.
Point to_point(const TrainArgs& a) {
  Point point;
  std::map<std::string, std::string> values = a.values, origin;
  apply_roles(a, values, origin);
  apply_accumulators(a, values, origin);
  for (const Param& p : params()) {
    const std::string& text = values.at(p.name);
    try {
      p.parse(text).apply(point);
    } catch (const InputError& e) {
      const auto o = origin.find(p.name);
      throw InputError((o != origin.end() ? o->second : flag_of(p)) + ": " + e.what());
    }
  }
  point.config.save_weights = a.save_weights;
  point.config.threads = a.threads;
  point.config.validate();
  return point;
}

int run_train(const TrainArgs& args) {
  const Point point = to_point(args);  // all flag errors before any data is read
  const TrainConfig& config = point.config;
  if (args.save_weights && args.out.empty())
    throw InputError("--save-weights needs --out FILE (the weights are stored in that file)");
  std::unique_ptr<NewOutput> out;  // checked now, written under a temporary name at the end
  if (!args.out.empty()) out = std::make_unique<NewOutput>(args.out, "--out");
  const DatasetShape dims = dataset_shape(point.dataset);  // refuse before reading any data
  check_network_size(config, dims.dim, dims.classes);
  check_memory(config, dims.dim, dims.classes);
  const DatasetPair data = load_dataset(point.dataset, args.data_dir);

  // Header: the data, the network's shape, then every other parameter from the table.
  std::string header = "train: " + data.name + " " + std::to_string(data.train.dim);
  for (int h : config.hidden) header += "-" + std::to_string(h);
  header += "-" + std::to_string(data.train.classes);
  for (const Param& p : params()) {
    if (p.name == "dataset" || p.name == "hidden") continue;
    if (!p.flag && p.text(point).empty()) continue;  // roles not given: as the recipe says
    header += " " + p.name + "=" + p.text(point);
  }
  std::printf("%s threads=%d blas=%s\n", header.c_str(), config.threads,
              build_info::blas_core().c_str());
  std::fflush(stdout);

  const Precision precision = resolve_precision(config);
  const RunResult result = train(config, data, [&](int epoch, const EpochMetrics& m) {
    std::printf("epoch %d/%d train_loss=%.4f train_acc=%.4f test_acc=%.4f lost=%.4f zero=%.4f "
                "overflow=%llu underflow=%llu",
                epoch + 1, config.epochs, m.train_loss, m.train_accuracy, m.test_accuracy,
                m.lost_update_fraction, m.zero_fraction,
                static_cast<unsigned long long>(m.overflow),
                static_cast<unsigned long long>(m.underflow));
    if (precision.loss.kind != LossScaling::none)
      std::printf(" skipped=%llu loss_scale=%g", static_cast<unsigned long long>(m.skipped_steps),
                  m.loss_scale);
    for (int k = 0; k < kGemmKinds; ++k)
      if (!precision.accumulate[static_cast<std::size_t>(k)].is_blas())
        std::printf(" swamped_%s=%.4f", to_string(static_cast<GemmKind>(k)).c_str(),
                    m.swamped_fraction[static_cast<std::size_t>(k)]);
    std::printf(" time=%.2fs\n", m.wall_seconds);
    std::fflush(stdout);
    return true;
  });

  if (out) {
    try {
      write_single_run(out->temp_path(), config, point.dataset, result);
    } catch (const h5::DiskFull& e) {  // named by the file the user asked for
      throw h5::DiskFull(args.out + ": " + e.what());
    }
    out->commit();
  }

  std::printf("status=%s%s%s\n", to_string(result.status).c_str(),
              result.message.empty() ? "" : " ", result.message.c_str());
  std::printf("test_accuracy=%.4f\n", result.final_test_accuracy);
  return kExitOk;
}

}  // namespace

Command add_train(CLI::App& root) {
  auto args = std::make_shared<TrainArgs>();
  auto* app = root.add_subcommand("train", "Train one MLP with its weights rounded into a format");
  const Point defaults;
  for (const Param& p : params()) {
    if (!p.flag) {  // a role's or accumulator's part: through --round/--scale/--accumulate
      args->values[p.name] = p.text(defaults);
      continue;
    }
    args->values[p.name] = p.text(defaults);
    if (p.column == Column::i8) {  // a boolean: bare flags --name (true) and --no-name (false)
      std::string& v = args->values[p.name];
      app->add_flag_callback(flag_of(p), [&v] { v = "true"; }, p.help);
      app->add_flag_callback("--no-" + flag_of(p).substr(2), [&v] { v = "false"; },
                             "Set " + p.name + " false (e.g. remove a recipe's master copy)");
    } else {
      app->add_option(flag_of(p), args->values[p.name], p.help)->capture_default_str();
    }
  }
  app->add_option("--data-dir", args->data_dir,
                  "Folder with the four IDX files (default: where scripts/setup put them)");
  app->add_option("--threads", args->threads, "OpenMP/BLAS threads (>= 1)")->capture_default_str();
  app->add_option("--round", args->round,
                  "Round a tensor role: ROLE=FORMAT[:MODE], repeatable (roles: " + role_list() +
                      "; MODE default nearest_even or the recipe's)");
  app->add_option("--scale", args->scale,
                  "Per-tensor scaling of a role: ROLE=none|current|delayed:N, repeatable");
  for (std::size_t i = 0; i < args->accumulate.size(); ++i) {
    std::string flag = "--" + accumulate_prefix(i);
    std::replace(flag.begin(), flag.end(), '_', '-');
    app->add_option(flag, args->accumulate[i],
                    i == 0 ? "Accumulator of every product: FMT[:MODE][,chunk=C][,outer=FMT2[:MODE2]]"
                               " (docs/accumulation.md)"
                           : "Accumulator of the " + to_string(static_cast<GemmKind>(i - 1)) +
                                 " products (over --accumulate)");
  }
  app->add_option("--out", args->out, "Write the run as a one-point results file (HDF5)");
  app->add_flag("--save-weights", args->save_weights,
                "Store the final parameters in the --out file (read by `precsweep errorscale`)");
  return {app, [args]() -> int { return run_train(*args); }};
}

}  // namespace precsweep::cli
