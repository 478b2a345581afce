// Grid expansion: from parsed parameter tables to numbered points. The grid of one table is the
// Cartesian product of its parameters in the table's order (params.hpp: dataset slowest ...
// master_weights fastest); several tables (variants) are concatenated in order, later
// duplicates of an earlier point dropped; fp32 baselines are appended after the grid in order
// of first use, with every `precision` parameter at its default.
// Deliberately leaves out: YAML (src/spec.cpp) and anything that runs a point.
#include <stdexcept>
#include <unordered_map>
#include <unordered_set>

#include "precsweep/error.hpp"
#include "spec_internal.hpp"

namespace precsweep {
namespace spec_detail {
namespace {

using Odometer = std::vector<std::size_t>;  // one value index per parameter

// Joins the canonical texts of one grid point's parameters whose `use` flag is set (all of
// them, or the hyperparameters only: those a baseline shares) into a hash key.
std::string join_key(const Table& t, const Odometer& idx, const std::vector<char>& use) {
  std::string key;
  for (std::size_t k = 0; k < t.size(); ++k) {
    if (!use[k]) continue;
    key += t[k].values[idx[k]].text;
    key += '\x1f';
  }
  return key;
}

// The shape of `name`, remembered from the previous call (points mostly share a dataset).
const DatasetShape& shape_of(const std::string& name) {
  thread_local std::string last;
  thread_local DatasetShape shape;
  if (name != last) {
    shape = dataset_shape(name);
    last = name;
  }
  return shape;
}

// Every precision parameter back to its default: the fp32 baseline of a point. The defaults'
// setters are parsed once (a spec may have millions of baselines).
void reset_precision(Point& p) {
  static const std::vector<ParamValue> defaults = [] {
    const Point def;
    std::vector<ParamValue> v;
    for (const Param& param : params())
      if (param.precision) v.push_back(param.parse(param.text(def)));
    return v;
  }();
  for (const ParamValue& v : defaults) v.apply(p);
}

}  // namespace

Table default_table() {
  Table t(params().size());
  const Point def;
  for (std::size_t k = 0; k < t.size(); ++k) t[k].values.push_back({params()[k].text(def), {}});
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

  // Hyperparameter key (the parameters that are not `precision`) of each grid point.
  const std::vector<char> all(params().size(), 1);
  std::vector<char> hyper(params().size());
  for (std::size_t k = 0; k < hyper.size(); ++k) hyper[k] = !params()[k].precision;
  std::vector<std::string> hyper_keys;
  std::unordered_set<std::string> seen;  // full keys; only needed to drop variant duplicates
  const bool dedupe = tables.size() > 1;

  for (const Table& t : tables) {
    Odometer idx(t.size(), 0);  // over the table, last index fastest
    while (true) {
      bool keep = true;
      if (dedupe) keep = seen.insert(join_key(t, idx, all)).second;
      if (keep) {
        Point p;
        for (std::size_t k = 0; k < t.size(); ++k) {
          const ParamValue& v = t[k].values[idx[k]];
          if (v.apply) v.apply(p);
        }
        p.id = static_cast<std::int64_t>(spec.points.size());
        spec.points.push_back(std::move(p));
        if (baseline) hyper_keys.push_back(join_key(t, idx, hyper));
      }
      int k = static_cast<int>(t.size()) - 1;
      for (; k >= 0; --k) {
        if (++idx[k] < t[k].values.size()) break;
        idx[k] = 0;
      }
      if (k < 0) break;
    }
  }
  spec.grid_points = static_cast<std::int64_t>(spec.points.size());

  // Every value passed the table's checks; what is left is the network's size on its dataset.
  // Report the first point too large with its parameters.
  for (const Point& p : spec.points) {
    try {
      const DatasetShape& shape = shape_of(p.dataset);
      check_network_size(p.config, shape.dim, shape.classes);
      resolve_precision(p.config);  // the recipe, shorthand and role overrides agree
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
  for (std::size_t k = 0; k < params().size(); ++k) {
    Axis axis{params()[k].name, {}};
    std::unordered_set<std::string> distinct;
    for (const Table& t : tables)
      for (const ParamValue& v : t[k].values)
        if (distinct.insert(v.text).second) axis.values.push_back(v.text);
    (axis.values.size() > 1 ? spec.axes : spec.fixed).push_back(std::move(axis));
  }

  // Baselines: one fp32 run per hyperparameter setting, reusing an fp32 grid point if any.
  if (baseline) {
    std::unordered_map<std::string, std::int64_t> baseline_of;
    for (std::int64_t i = 0; i < spec.grid_points; ++i)
      if (!resolve_precision(spec.points[i].config).rounds_anything())
        baseline_of.emplace(hyper_keys[i], i);
    for (std::int64_t i = 0; i < spec.grid_points; ++i) {
      auto [it, inserted] =
          baseline_of.emplace(hyper_keys[i], static_cast<std::int64_t>(spec.points.size()));
      if (inserted) {
        Point b = spec.points[i];
        reset_precision(b);
        b.id = it->second;
        b.is_baseline = true;
        b.baseline_index = b.id;
        spec.points.push_back(std::move(b));
      }
      spec.points[i].baseline_index = it->second;
    }
  }

  for (Point& p : spec.points) {
    const DatasetShape& shape = shape_of(p.dataset);
    p.cost = estimated_cost(p.config, shape.dim, shape.n_train, shape.classes);
  }
}

}  // namespace spec_detail

const std::vector<std::string>& parameter_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> out;
    for (const Param& p : params()) out.push_back(p.name);
    return out;
  }();
  return names;
}

std::string parameter_text(const Point& point, const std::string& name) {
  const Param* p = find_param(name);
  if (!p) throw std::invalid_argument("parameter_text: unknown parameter '" + name + "'");
  return p->text(point);
}

}  // namespace precsweep
