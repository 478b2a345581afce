// Grid expansion: from parsed parameter tables to numbered points. The grid of one table is the
// Cartesian product of its parameters in canonical order (dataset slowest ... master_weights
// fastest); several tables (variants) are concatenated in order, later duplicates of an earlier
// point dropped; fp32 baselines are appended after the grid in order of first use.
// Deliberately leaves out: YAML (src/spec.cpp) and anything that runs a point.
#include <charconv>
#include <stdexcept>
#include <unordered_map>
#include <unordered_set>

#include "precsweep/error.hpp"
#include "spec_internal.hpp"

namespace precsweep {
namespace spec_detail {
namespace {

// Joins the canonical texts of parameters [first, last) of one grid point into a hash key.
std::string join_key(const Table& t, const std::array<std::size_t, kNumParams>& idx, int first,
                     int last) {
  std::string key;
  for (int k = first; k < last; ++k) {
    key += t[k].values[idx[k]].text;
    key += '\x1f';
  }
  return key;
}

}  // namespace

std::string format_double(double x) {
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, x);
  return std::string(buf, res.ptr);
}

Table default_table() {
  Table t;
  const Point def;
  for (int k = 0; k < kNumParams; ++k)
    t[k].values.push_back(Value{parameter_text(def, parameter_names()[k]), {}});
  return t;
}

void expand(const std::vector<Table>& tables, bool baseline, SweepSpec& spec) {
  // Count first, so a runaway spec fails before allocating anything.
  std::int64_t total = 0;
  for (const Table& t : tables) {
    std::int64_t n = 1;
    for (const ParamValues& p : t) {
      n *= static_cast<std::int64_t>(p.values.size());
      if (n > kMaxPoints) break;
    }
    total += n;
    if (total > kMaxPoints)
      throw InputError(spec.source + ": the spec expands to more than " +
                       std::to_string(kMaxPoints) + " points; split it into several specs");
  }
  spec.points.clear();
  spec.points.reserve(static_cast<std::size_t>(total));

  // Hyperparameter key (parameters before kFirstPrecision) of each grid point, for baselines.
  std::vector<std::string> hyper_keys;
  std::unordered_set<std::string> seen;  // full keys; only needed to drop variant duplicates
  const bool dedupe = tables.size() > 1;

  for (const Table& t : tables) {
    std::array<std::size_t, kNumParams> idx{};  // odometer over the table, last index fastest
    while (true) {
      bool keep = true;
      if (dedupe) keep = seen.insert(join_key(t, idx, 0, kNumParams)).second;
      if (keep) {
        Point p;
        for (int k = 0; k < kNumParams; ++k) {
          const Value& v = t[k].values[idx[k]];
          if (v.apply) v.apply(p);
        }
        p.id = static_cast<std::int64_t>(spec.points.size());
        spec.points.push_back(std::move(p));
        if (baseline) hyper_keys.push_back(join_key(t, idx, 0, kFirstPrecision));
      }
      int k = kNumParams - 1;
      for (; k >= 0; --k) {
        if (++idx[k] < t[k].values.size()) break;
        idx[k] = 0;
      }
      if (k < 0) break;
    }
  }
  spec.grid_points = static_cast<std::int64_t>(spec.points.size());

  // Every grid point must be a valid run; report the first that is not with its parameters.
  for (const Point& p : spec.points) {
    try {
      p.config.validate();
      const DatasetShape shape = dataset_shape(p.dataset);
      check_network_size(p.config, shape.dim, shape.classes);
    } catch (const InputError& e) {
      std::string what;
      for (const auto& name : parameter_names()) what += " " + name + "=" + parameter_text(p, name);
      throw InputError(spec.source + ": point " + std::to_string(p.id) + " (" + what.substr(1) +
                       "): " + e.what());
    }
  }

  // Axes and fixed parameters: distinct values over the grid in order of first appearance.
  // Every value listed in a table occurs in that table's grid (dropped duplicates occur
  // elsewhere), so the union of the tables' value lists is exactly that.
  spec.axes.clear();
  spec.fixed.clear();
  for (int k = 0; k < kNumParams; ++k) {
    Axis axis{parameter_names()[k], {}};
    std::unordered_set<std::string> distinct;
    for (const Table& t : tables)
      for (const Value& v : t[k].values)
        if (distinct.insert(v.text).second) axis.values.push_back(v.text);
    (axis.values.size() > 1 ? spec.axes : spec.fixed).push_back(std::move(axis));
  }

  // Baselines: one fp32 run per hyperparameter setting, reusing an fp32 grid point if any.
  if (baseline) {
    std::unordered_map<std::string, std::int64_t> baseline_of;
    for (std::int64_t i = 0; i < spec.grid_points; ++i)
      if (spec.points[i].config.format.is_identity()) baseline_of.emplace(hyper_keys[i], i);
    for (std::int64_t i = 0; i < spec.grid_points; ++i) {
      auto [it, inserted] =
          baseline_of.emplace(hyper_keys[i], static_cast<std::int64_t>(spec.points.size()));
      if (inserted) {
        Point b = spec.points[i];
        const TrainConfig defaults;
        b.config.format = Format{};
        b.config.rounding = Rounding::toward_zero;
        b.config.apply_to = defaults.apply_to;
        b.config.every = defaults.every;
        b.config.master_weights = defaults.master_weights;
        b.id = it->second;
        b.is_baseline = true;
        b.baseline_index = b.id;
        spec.points.push_back(std::move(b));
      }
      spec.points[i].baseline_index = it->second;
    }
  }

  for (Point& p : spec.points) {
    const DatasetShape shape = dataset_shape(p.dataset);
    p.cost = estimated_cost(p.config, shape.dim, shape.n_train, shape.classes);
  }
}

}  // namespace spec_detail

const std::vector<std::string>& parameter_names() {
  static const std::vector<std::string> names = {
      "dataset", "seed",  "hidden", "activation", "lr",       "momentum", "weight_decay",
      "lr_schedule", "batch", "epochs", "format", "rounding", "apply_to", "every",
      "master_weights"};
  return names;
}

std::string parameter_text(const Point& point, const std::string& name) {
  const TrainConfig& c = point.config;
  if (name == "dataset") return point.dataset;
  if (name == "seed") return std::to_string(c.seed);
  if (name == "hidden") {
    std::string s;
    for (std::size_t i = 0; i < c.hidden.size(); ++i)
      {
      if (i) s += ',';
      s += std::to_string(c.hidden[i]);
    }
    return s;
  }
  if (name == "activation") return to_string(c.activation);
  if (name == "lr") return spec_detail::format_double(c.lr);
  if (name == "momentum") return spec_detail::format_double(c.momentum);
  if (name == "weight_decay") return spec_detail::format_double(c.weight_decay);
  if (name == "lr_schedule") return c.lr_schedule;
  if (name == "batch") return std::to_string(c.batch);
  if (name == "epochs") return std::to_string(c.epochs);
  if (name == "format") return c.format.name();
  if (name == "rounding") return to_string(c.rounding);
  if (name == "apply_to") return apply_to_string(c.apply_to);
  if (name == "every") return c.every == 0 ? "epoch" : c.every == 1 ? "batch" : std::to_string(c.every);
  if (name == "master_weights") return c.master_weights ? "true" : "false";
  throw std::invalid_argument("parameter_text: unknown parameter '" + name + "'");
}

DatasetShape dataset_shape(const std::string& name) {
  if (name == "mnist" || name == "fashion-mnist") return DatasetShape{784, 60000, 10000, 10};
  if (name == "synthetic") return DatasetShape{64, 2000, 500, 10};  // make_synthetic defaults
  throw InputError("unknown dataset '" + name + "' (expected mnist, fashion-mnist or synthetic)");
}

}  // namespace precsweep
