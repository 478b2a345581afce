// `precsweep list SPEC [--show N] [--json]`: expands a sweep spec without running anything (no
// MPI, no data) and prints the number of points, every axis with its values, the fixed
// parameters and the estimated cost, in units a user can plan with (training-sample passes,
// floating-point operations, a rough core-hour figure). `--show N` lists the first N points;
// `--json` prints one JSON object instead (for a Slurm submit helper). The last line of the
// text form is `key=value` pairs for scripts as well.
// Deliberately leaves out: reading data or results files (see `status`).
#include <cmath>
#include <cstdio>
#include <string>

#include "commands.hpp"
#include "precsweep/search.hpp"
#include "precsweep/spec.hpp"

namespace precsweep::cli {
namespace {

// Rough single-core training throughput used for the time estimate, in floating-point
// operations per second (counted as in flop_per_point). Calibrated from the CPU time of
// single-threaded one-epoch MNIST runs (784-25-10 to 784-1000-1000-10, batch 16 to 256: 1.6 to
// 2.9e10 flop/s, see docs/sweep-spec.md, "Cost estimate"); formats other than fp32 add the
// rounding passes (up to ~40% on small networks), which this does not model.
constexpr double kCalibratedFlopsPerCore = 2.0e10;

// Floating-point operations of one run: per epoch ~6 per weight per training sample
// (forward 2, backward 4) and 2 per weight per test sample (evaluation).
double flop_per_point(const Point& p) {
  const DatasetShape shape = dataset_shape(p.dataset);
  const double weights = static_cast<double>(parameter_count(p.config.hidden, shape.dim, shape.classes));
  return p.config.epochs * weights * (6.0 * shape.n_train + 2.0 * shape.n_test);
}

struct Totals {
  double cost = 0;           // sum of estimated_cost()
  double sample_passes = 0;  // sum of epochs x training samples
  double flop = 0;
  double core_seconds = 0;   // flop / kCalibratedFlopsPerCore
};

Totals totals(const SweepSpec& spec) {
  Totals t;
  for (const Point& p : spec.points) {
    t.cost += p.cost;
    t.sample_passes += double(p.config.epochs) * dataset_shape(p.dataset).n_train;
    t.flop += flop_per_point(p);
  }
  t.core_seconds = t.flop / kCalibratedFlopsPerCore;
  return t;
}

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

std::string json_axes(const std::vector<Axis>& axes) {
  std::string out = "{";
  for (std::size_t i = 0; i < axes.size(); ++i) {
    if (i) out += ",";
    out += json_string(axes[i].name) + ":[";
    for (std::size_t j = 0; j < axes[i].values.size(); ++j) {
      if (j) out += ",";
      out += json_string(axes[i].values[j]);
    }
    out += "]";
  }
  return out + "}";
}

std::string num(double x) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", x);
  return buf;
}

std::string joined(const std::vector<std::string>& values) {
  bool commas = false;
  for (const auto& v : values) commas = commas || v.find(',') != std::string::npos;
  std::string out;
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i) out += commas ? " | " : ", ";
    out += values[i].empty() ? "(recipe's)" : values[i];  // unset role part, loss_scale, master_weights
  }
  return out;
}

std::string human_time(double seconds) {
  if (seconds < 120) return num(std::round(seconds)) + " s";
  if (seconds < 7200) return num(std::round(seconds / 6) / 10) + " min";
  return num(std::round(seconds / 360) / 10) + " h";
}

void print_json(const SweepSpec& spec, const Totals& t) {
  std::printf("{\"name\":%s,\"source\":%s,\"sha256\":%s,\"dataset\":%s,\"points\":%lld,"
              "\"grid_points\":%lld,\"baselines\":%lld,\"axes\":%s,\"fixed\":%s,"
              "\"cost\":%s,\"sample_passes\":%s,\"flop\":%s,\"est_core_seconds\":%s}\n",
              json_string(spec.name).c_str(), json_string(spec.source).c_str(),
              json_string(spec.sha256).c_str(), json_string(spec.dataset).c_str(),
              static_cast<long long>(spec.points.size()),
              static_cast<long long>(spec.grid_points),
              static_cast<long long>(spec.points.size()) - static_cast<long long>(spec.grid_points),
              json_axes(spec.axes).c_str(), json_axes(spec.fixed).c_str(), num(t.cost).c_str(),
              num(t.sample_passes).c_str(), num(t.flop).c_str(), num(t.core_seconds).c_str());
}

void print_text(const SweepSpec& spec, const Totals& t, long long show) {
  const long long n = static_cast<long long>(spec.points.size());
  const long long baselines = n - spec.grid_points;
  const DatasetShape shape = dataset_shape(spec.dataset);
  std::printf("spec      %s  (%s)\n", spec.name.c_str(), spec.source.c_str());
  std::printf("sha256    %s\n", spec.sha256.c_str());
  std::printf("dataset   %s (%d inputs, %d training / %d test samples)%s\n", spec.dataset.c_str(),
              shape.dim, shape.n_train, shape.n_test,
              spec.data_dir.empty() ? "" : ("  data_dir " + spec.data_dir).c_str());
  std::printf("points    %lld", n);
  if (spec.baseline) std::printf(" = %lld grid + %lld fp32 baselines", static_cast<long long>(spec.grid_points), baselines);
  std::printf("\n");
  std::printf("axes      %zu (grid order: first varies slowest, last fastest)\n", spec.axes.size());
  for (const Axis& a : spec.axes)
    std::printf("  %-15s %4zu  %s\n", a.name.c_str(), a.values.size(), joined(a.values).c_str());
  std::printf("fixed\n");
  std::size_t unset = 0;  // role parts and loss_scale left to the recipe (empty): one line
  for (const Axis& a : spec.fixed) {
    if (a.values[0].empty()) {
      ++unset;
      continue;
    }
    std::printf("  %-15s       %s\n", a.name.c_str(), a.values[0].c_str());
  }
  if (unset > 0) std::printf("  (%zu more, empty: as the recipe says)\n", unset);
  if (spec.search) {
    const std::vector<SearchSetting> settings = search_settings(spec, spec.search_spec.axis);
    if (spec.search_spec.start == SearchSpec::Start::middle)
      std::printf("search    along %s over %zu settings: at most %lld of the %lld points by "
                  "bisection from the middle (the cost below is the whole grid's)\n",
                  spec.search_spec.axis.c_str(), settings.size(),
                  static_cast<long long>(search_point_bound(settings)), n);
    else
      std::printf("search    along %s over %zu settings from %s: about %lld of the %lld points "
                  "if it is right or one cell low (it, the cell next to it, the top cell), at most "
                  "%lld (the cost below is the whole grid's)\n",
                  spec.search_spec.axis.c_str(), settings.size(),
                  spec.search_spec.start == SearchSpec::Start::predict
                      ? "the prediction of each setting's fp32 run" : "the given value",
                  static_cast<long long>(guess_point_expected(settings)), n,
                  static_cast<long long>(guess_point_bound(settings)));
  }
  std::printf("cost      %s training-sample passes (epochs x training samples, summed over points)\n",
              num(t.sample_passes).c_str());
  std::printf("          %s floating-point operations (6 per weight per training sample + 2 per "
              "weight per test sample, per epoch)\n", num(t.flop).c_str());
  std::printf("          ~%s on one core, ~%s on 2 ranks (rough: assumes %s flop/s per core)\n",
              human_time(t.core_seconds).c_str(), human_time(t.core_seconds / 2).c_str(),
              num(kCalibratedFlopsPerCore).c_str());

  if (show > 0) {
    std::printf("\nfirst %lld points (id, swept parameters, baseline id, estimated cost):\n",
                std::min(show, n));
    for (long long i = 0; i < std::min(show, n); ++i) {
      const Point& p = spec.points[static_cast<std::size_t>(i)];
      std::printf("%8lld", static_cast<long long>(p.id));
      for (const Axis& a : spec.axes) std::printf("  %s=%s", a.name.c_str(), parameter_text(p, a.name).c_str());
      if (p.is_baseline)
        std::printf("  baseline=self");
      else if (p.baseline_index >= 0)
        std::printf("  baseline=%lld", static_cast<long long>(p.baseline_index));
      std::printf("  cost=%s\n", num(p.cost).c_str());
    }
    if (show < n) std::printf("  ... %lld more\n", n - show);
  }
  std::printf("points=%lld grid_points=%lld baselines=%lld cost=%s sample_passes=%s flop=%s "
              "est_core_seconds=%s\n",
              n, static_cast<long long>(spec.grid_points), baselines, num(t.cost).c_str(),
              num(t.sample_passes).c_str(), num(t.flop).c_str(), num(t.core_seconds).c_str());
}

}  // namespace

Command add_list(CLI::App& root) {
  auto* app = root.add_subcommand(
      "list", "Expand a sweep spec and print its points, axes and estimated cost (no MPI needed)");
  struct Options {
    std::string spec;
    long long show = 0;
    bool json = false;
  };
  auto opts = std::make_shared<Options>();
  app->add_option("spec", opts->spec, "Sweep spec (YAML, see docs/sweep-spec.md)")->required();
  app->add_option("--show", opts->show, "Print the first N points with their swept parameters")
      ->check(CLI::NonNegativeNumber);
  app->add_flag("--json", opts->json, "Print one JSON object (counts, axes, cost) instead");
  return {app, [opts]() -> int {
            const SweepSpec spec = load_spec(opts->spec);
            const Totals t = totals(spec);
            if (opts->json)
              print_json(spec, t);
            else
              print_text(spec, t, opts->show);
            return 0;
          }};
}

}  // namespace precsweep::cli
