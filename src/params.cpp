// The parameter and metric tables (params.hpp) and TrainConfig::validate, which checks a
// programmatic config with the same parsers (each value's canonical text must parse).
// Deliberately leaves out: where a value came from (callers prefix the key path or flag) and
// anything that walks YAML or writes HDF5.
#include "precsweep/params.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>

#include "precsweep/error.hpp"
#include "precsweep/formats.hpp"
#include "precsweep/mlp.hpp"
#include "precsweep/precision.hpp"

namespace precsweep {
namespace {

[[noreturn]] void refuse(const std::string& reason) { throw InputError(reason); }

// An integer in lo..hi ("must be in 1..100000, got 0").
std::int64_t int_in(const std::string& text, std::int64_t lo, std::int64_t hi) {
  const std::int64_t v = parse_int64(text);
  if (v < lo || v > hi)
    refuse("must be in " + std::to_string(lo) + ".." + std::to_string(hi) + ", got " +
           std::to_string(v));
  return v;
}

// The fields every entry sets; the functions are filled in by the caller.
Param base(std::string name, std::string section, std::string help, Column column) {
  Param p;
  p.name = std::move(name);
  p.section = std::move(section);
  p.help = std::move(help);
  p.column = column;
  return p;
}

// A parameter whose canonical text is what its parser returns and which is stored as text.
Param text_param(std::string name, std::string section, std::string help, Yaml yaml,
                 std::function<ParamValue(const std::string&)> parse,
                 std::function<std::string(const Point&)> text) {
  Param p = base(std::move(name), std::move(section), std::move(help), Column::text);
  p.yaml = yaml;
  p.parse = std::move(parse);
  p.text = std::move(text);
  return p;
}

// A real TrainConfig field; `ok` is the limit, `rule` says it ("must be > 0"). -0 is 0.
Param real_param(std::string name, std::string help, double TrainConfig::*field,
                 bool (*ok)(double), std::string rule) {
  Param p = base(std::move(name), "train", std::move(help), Column::f64);
  p.parse = [field, ok, rule](const std::string& t) -> ParamValue {
    double v = parse_real(t);
    if (!ok(v)) refuse(rule + ", got " + shortest_text(v));
    v = v == 0 ? 0.0 : v;
    return {shortest_text(v), [field, v](Point& pt) { pt.config.*field = v; }};
  };
  p.text = [field](const Point& pt) { return shortest_text(pt.config.*field); };
  p.real = [field](const Point& pt) { return pt.config.*field; };
  p.set_real = [field](Point& pt, double v) { pt.config.*field = v; };
  return p;
}

// An int TrainConfig field in lo..hi.
Param int_param(std::string name, std::string section, std::string help, int TrainConfig::*field,
                int lo, int hi) {
  Param p = base(std::move(name), std::move(section), std::move(help), Column::i32);
  p.parse = [field, lo, hi](const std::string& t) -> ParamValue {
    const int v = static_cast<int>(int_in(t, lo, hi));
    return {std::to_string(v), [field, v](Point& pt) { pt.config.*field = v; }};
  };
  p.text = [field](const Point& pt) { return std::to_string(pt.config.*field); };
  p.integer = [field](const Point& pt) { return std::int64_t{pt.config.*field}; };
  p.set_integer = [field](Point& pt, std::int64_t v) { pt.config.*field = static_cast<int>(v); };
  return p;
}

Param dataset_param() {
  return text_param(
      "dataset", "", "mnist, fashion-mnist or synthetic", Yaml::scalar,
      [](const std::string& t) -> ParamValue {
        dataset_shape(t);  // the one list of dataset names
        return {t, [t](Point& p) { p.dataset = t; }};
      },
      [](const Point& p) { return p.dataset; });
}

Param seed_param() {
  Param p = base("seed", "", "Seed for init, shuffling and stochastic rounding", Column::u64);
  p.parse = [](const std::string& t) -> ParamValue {
    std::uint64_t v = 0;
    const auto r = std::from_chars(t.data(), t.data() + t.size(), v);
    if (t.empty() || r.ec != std::errc() || r.ptr != t.data() + t.size())
      refuse("expected an integer in 0..18446744073709551615, got '" + t + "'");
    return {std::to_string(v), [v](Point& pt) { pt.config.seed = v; }};
  };
  p.text = [](const Point& pt) { return std::to_string(pt.config.seed); };
  p.integer = [](const Point& pt) { return static_cast<std::int64_t>(pt.config.seed); };
  p.set_integer = [](Point& pt, std::int64_t v) { pt.config.seed = static_cast<std::uint64_t>(v); };
  return p;
}

// "100" or "256,128" -> {256, 128}: 1..kMaxHiddenLayers widths in 1..kMaxLayerWidth.
std::vector<int> parse_widths(const std::string& text) {
  if (text.empty()) throw InputError("at least one hidden layer width is needed");
  std::vector<int> widths;
  std::size_t pos = 0;
  while (pos <= text.size()) {
    const std::size_t comma = std::min(text.find(',', pos), text.size());
    const std::string item = text.substr(pos, comma - pos);
    const std::int64_t w = parse_int64(item);
    if (w < 1 || w > kMaxLayerWidth)
      throw InputError("layer width must be in 1.." + std::to_string(kMaxLayerWidth) +
                       ", got " + std::to_string(w));
    if (widths.size() == static_cast<std::size_t>(kMaxHiddenLayers))
      throw InputError("more than " + std::to_string(kMaxHiddenLayers) + " hidden layers");
    widths.push_back(static_cast<int>(w));
    pos = comma + 1;
  }
  return widths;
}

std::string widths_text(const std::vector<int>& widths) {
  std::string s;
  for (std::size_t i = 0; i < widths.size(); ++i) s += (i ? "," : "") + std::to_string(widths[i]);
  return s;
}

Param hidden_param() {
  return text_param(
      "hidden", "model", "Hidden widths, e.g. 100 or 256,128", Yaml::widths,
      [](const std::string& t) -> ParamValue {
        std::vector<int> w = parse_widths(t);
        return {widths_text(w), [w = std::move(w)](Point& p) { p.config.hidden = w; }};
      },
      [](const Point& p) { return widths_text(p.config.hidden); });
}

Param every_param() {
  Param p = base("every", "precision", "Round the weights every batch, epoch or N batches",
                 Column::i32);
  p.parse = [](const std::string& t) -> ParamValue {
    int every = t == "batch" ? 1 : 0;
    if (t != "batch" && t != "epoch") {
      if (!is_int_literal(t))
        refuse("expected batch, epoch or a number of batches >= 1, got '" + t + "'");
      every = static_cast<int>(int_in(t, 1, 1'000'000'000));
    }
    const std::string canon = every == 0 ? "epoch" : every == 1 ? "batch" : std::to_string(every);
    return {canon, [every](Point& pt) { pt.config.every = every; }};
  };
  p.text = [](const Point& pt) {
    const int e = pt.config.every;
    return e == 0 ? std::string("epoch") : e == 1 ? std::string("batch") : std::to_string(e);
  };
  p.integer = [](const Point& pt) { return std::int64_t{pt.config.every}; };
  p.set_integer = [](Point& pt, std::int64_t v) { pt.config.every = static_cast<int>(v); };
  return p;
}

// Tri-state: "" (unset: the recipe's; the shorthand has none), "true", "false" (removes a
// recipe's master copy). Column int8: 0 unset, 1 true, -1 false, so files from before recipes
// (0/1, where false could not remove anything) read back as they ran.
Param master_weights_param() {
  Param p = base("master_weights", "precision",
                 "Master weights: true keeps an fp32 master copy and rounds a working copy for "
                 "forward/backward, false removes a recipe's (unset: the recipe's)", Column::i8);
  p.parse = [](const std::string& t) -> ParamValue {
    if (t.empty()) return {"", [](Point& pt) { pt.config.master_weights.reset(); }};
    const bool b = parse_bool(t);
    return {b ? "true" : "false", [b](Point& pt) { pt.config.master_weights = b; }};
  };
  p.text = [](const Point& pt) {
    const auto& m = pt.config.master_weights;
    return m ? std::string(*m ? "true" : "false") : std::string();
  };
  p.integer = [](const Point& pt) -> std::int64_t {
    const auto& m = pt.config.master_weights;
    return m ? (*m ? 1 : -1) : 0;
  };
  p.set_integer = [](Point& pt, std::int64_t v) {
    if (v == 0) pt.config.master_weights.reset();
    else pt.config.master_weights = v > 0;
  };
  return p;
}

// The parameters an fp32 baseline shares with its point (grid order).
void add_hyperparameters(std::vector<Param>& t) {
  t.push_back(dataset_param());
  t.push_back(seed_param());
  t.push_back(hidden_param());
  t.push_back(text_param(
      "activation", "model", "sigmoid, tanh or relu", Yaml::scalar,
      [](const std::string& s) -> ParamValue {
        const Activation a = parse_activation(s);
        return {to_string(a), [a](Point& p) { p.config.activation = a; }};
      },
      [](const Point& p) { return to_string(p.config.activation); }));
  t.push_back(real_param("lr", "Learning rate (> 0)", &TrainConfig::lr,
                         [](double v) { return v > 0; }, "must be > 0"));
  t.push_back(real_param("momentum", "SGD momentum in [0, 1)", &TrainConfig::momentum,
                         [](double v) { return v >= 0 && v < 1; }, "must be in [0, 1)"));
  t.push_back(real_param("weight_decay", "L2 weight decay (>= 0)", &TrainConfig::weight_decay,
                         [](double v) { return v >= 0; }, "must be >= 0"));
  t.push_back(real_param("label_smoothing",
                         "Label smoothing eps in [0, 1): targets (1 - eps) onehot + eps / classes",
                         &TrainConfig::label_smoothing, [](double v) { return v >= 0 && v < 1; },
                         "must be in [0, 1)"));
  t.push_back(text_param(
      "lr_schedule", "train", "constant, cosine or step:<epochs>:<factor>", Yaml::scalar,
      [](const std::string& s) -> ParamValue {
        check_lr_schedule(s);
        return {s, [s](Point& p) { p.config.lr_schedule = s; }};
      },
      [](const Point& p) { return p.config.lr_schedule; }));
  t.push_back(int_param("batch", "train", "Mini-batch size", &TrainConfig::batch, 1, kMaxBatch));
  t.push_back(int_param("epochs", "", "Epochs", &TrainConfig::epochs, 1, kMaxEpochs));
}

// An optional value of a role override: "" (unset: the recipe's) or a checked value.
template <class T>
Param role_part(Role role, const char* part, std::string help, Yaml yaml,
                std::optional<T> RoleOverride::*field, T (*parse)(std::string_view),
                std::string (*text)(const T&)) {
  const auto i = static_cast<std::size_t>(role);
  Param p = base(to_string(role) + "_" + part, "precision." + to_string(role), std::move(help),
                 Column::text);
  p.key = part;
  p.flag = false;
  p.yaml = yaml;
  p.parse = [i, field, parse, text](const std::string& t) -> ParamValue {
    if (t.empty()) return {"", [i, field](Point& pt) { (pt.config.roles[i].*field).reset(); }};
    const T v = parse(t);
    return {text(v), [i, field, v](Point& pt) { pt.config.roles[i].*field = v; }};
  };
  p.text = [i, field, text](const Point& pt) {
    const auto& v = pt.config.roles[i].*field;
    return v ? text(*v) : std::string();
  };
  return p;
}

std::string format_text(const Format& f) { return f.name(); }
std::string rounding_text(const Rounding& r) { return to_string(r); }
std::string scaling_text(const TensorScaling& s) { return to_string(s); }

// One part of an accumulator override (precision.hpp): scope 0 is every product
// (accumulate_<part>, spec precision.accumulate.<part>), scope 1 + kind one kind
// (accumulate_<kind>_<part>, precision.accumulate.<kind>.<part>). "" leaves it unset.
template <class T>
Param accumulate_part(int scope, const char* part, std::string help, Yaml yaml,
                      std::optional<T> AccumulateOverride::*field,
                      std::function<T(const std::string&)> parse,
                      std::function<std::string(const T&)> text) {
  const auto i = static_cast<std::size_t>(scope);
  const std::string kind = scope == 0 ? "" : to_string(static_cast<GemmKind>(scope - 1));
  Param p = base("accumulate_" + (kind.empty() ? "" : kind + "_") + part,
                 "precision.accumulate" + (kind.empty() ? "" : "." + kind), std::move(help),
                 Column::text);
  p.key = part;
  p.flag = false;
  p.yaml = yaml;
  p.parse = [i, field, parse, text](const std::string& t) -> ParamValue {
    if (t.empty())
      return {"", [i, field](Point& pt) { (pt.config.accumulate[i].*field).reset(); }};
    const T v = parse(t);
    return {text(v), [i, field, v](Point& pt) { pt.config.accumulate[i].*field = v; }};
  };
  p.text = [i, field, text](const Point& pt) {
    const auto& v = pt.config.accumulate[i].*field;
    return v ? text(*v) : std::string();
  };
  return p;
}

// Per scope: format, rounding, chunk and outer ("FMT[:MODE]", stored as the two fields).
void add_accumulate_params(std::vector<Param>& t) {
  for (int scope = 0; scope < kAccumulateScopes; ++scope) {
    const std::string of =
        scope == 0 ? "every product" : to_string(static_cast<GemmKind>(scope - 1)) + " products";
    t.push_back(accumulate_part<Format>(
        scope, "format", "Accumulator format of " + of + " (empty: the recipe's; fp32: BLAS)",
        Yaml::format, &AccumulateOverride::format,
        [](const std::string& s) { return parse_format(s); },
        [](const Format& f) { return f.name(); }));
    t.push_back(accumulate_part<Rounding>(
        scope, "rounding", "Accumulator rounding of " + of, Yaml::scalar,
        &AccumulateOverride::mode, [](const std::string& s) { return parse_rounding(s); },
        [](const Rounding& r) { return to_string(r); }));
    t.push_back(accumulate_part<std::uint32_t>(
        scope, "chunk", "Chunk length of " + of + " (0: none)", Yaml::scalar,
        &AccumulateOverride::chunk,
        [](const std::string& s) { return static_cast<std::uint32_t>(int_in(s, 0, 1 << 30)); },
        [](const std::uint32_t& c) { return std::to_string(c); }));
    Param outer = accumulate_part<Format>(
        scope, "outer", "Outer accumulator FMT[:MODE] of " + of + " with chunks", Yaml::scalar,
        &AccumulateOverride::outer, [](const std::string& s) { return parse_format(s); },
        [](const Format& f) { return f.name(); });
    // "FMT[:MODE]": both parts of the outer accumulator in one value
    const auto i = static_cast<std::size_t>(scope);
    outer.parse = [i](const std::string& s) -> ParamValue {
      if (s.empty())
        return {"", [i](Point& pt) {
                  pt.config.accumulate[i].outer.reset();
                  pt.config.accumulate[i].outer_mode.reset();
                }};
      const Accumulator a = parse_accumulator(s);  // FMT[:MODE], options of FMT included
      if (a.chunk != 0 || s.find(",chunk=") != std::string::npos ||
          s.find(",outer=") != std::string::npos)
        refuse("expected FORMAT[:MODE], got '" + s + "'");
      const std::string text = a.format.name() + ":" + to_string(a.rounding);
      return {text, [i, a](Point& pt) {
                pt.config.accumulate[i].outer = a.format;
                pt.config.accumulate[i].outer_mode = a.rounding;
              }};
    };
    outer.text = [i](const Point& pt) {
      const AccumulateOverride& o = pt.config.accumulate[i];
      if (!o.outer) return std::string();
      return o.outer->name() + ":" + to_string(o.outer_mode.value_or(Rounding::nearest_even));
    };
    t.push_back(std::move(outer));
  }
}

// recipe, then per role its format, rounding and scale, then loss_scale (grid order).
void add_recipe_params(std::vector<Param>& t) {
  t.push_back(text_param(
      "recipe", "precision",
      "Precision recipe: none (the format/rounding/apply_to shorthand), fp32, truncate, "
      "fp16-mixed, bf16-mixed, bf16-sr, fp8-hybrid, fp8-hybrid-noscale, fp8-wang2018",
      Yaml::scalar,
      [](const std::string& s) -> ParamValue {
        check_recipe(s);
        return {s, [s](Point& p) { p.config.recipe = s; }};
      },
      [](const Point& p) { return p.config.recipe; }));
  for (Role r : kAllRoles) {
    const std::string n = to_string(r);
    t.push_back(role_part<Format>(r, "format", "Format of role " + n + " (empty: the recipe's)",
                                  Yaml::format, &RoleOverride::format, parse_format, format_text));
    t.push_back(role_part<Rounding>(r, "rounding", "Rounding mode of role " + n, Yaml::scalar,
                                    &RoleOverride::mode, parse_rounding, rounding_text));
    t.push_back(role_part<TensorScaling>(r, "scale",
                                         "Per-tensor scaling of role " + n +
                                             ": none, current or delayed:N",
                                         Yaml::scalar, &RoleOverride::scaling, parse_scaling,
                                         scaling_text));
  }
  t.push_back(text_param(
      "loss_scale", "precision", "Loss scaling: none, dynamic or a constant (empty: the recipe's)",
      Yaml::scalar,
      [](const std::string& s) -> ParamValue {
        if (s.empty()) return {"", [](Point& p) { p.config.loss_scale.reset(); }};
        const LossScaling l = parse_loss_scaling(s);
        return {to_string(l), [l](Point& p) { p.config.loss_scale = l; }};
      },
      [](const Point& p) { return p.config.loss_scale ? to_string(*p.config.loss_scale) : ""; }));
  add_accumulate_params(t);
}

// The rounding scheme (grid order): an fp32 baseline has their defaults.
void add_precision_params(std::vector<Param>& t) {
  t.push_back(text_param(
      "format", "precision", "Number format: fp32, E5M10, bf16, fp8-e4m3, Q8.8, ...",
      Yaml::format,
      [](const std::string& s) -> ParamValue {
        const Format f = parse_format(s);
        return {f.name(), [f](Point& p) { p.config.format = f; }};
      },
      [](const Point& p) { return p.config.format.name(); }));
  t.push_back(text_param(
      "rounding", "precision", "toward_zero, nearest_even, up, down or stochastic", Yaml::scalar,
      [](const std::string& s) -> ParamValue {
        const Rounding r = parse_rounding(s);
        return {to_string(r), [r](Point& p) { p.config.rounding = r; }};
      },
      [](const Point& p) { return to_string(p.config.rounding); }));
  t.push_back(text_param(
      "apply_to", "precision",
      "What is rounded: comma list of weights, activations, gradients, updates", Yaml::flags,
      [](const std::string& s) -> ParamValue {
        const unsigned flags = parse_apply_to(s);
        return {apply_to_string(flags), [flags](Point& p) { p.config.apply_to = flags; }};
      },
      [](const Point& p) { return apply_to_string(p.config.apply_to); }));
  t.push_back(every_param());
  t.push_back(master_weights_param());
  add_recipe_params(t);
}

Metric epoch_metric(std::string name, std::string help, double EpochMetrics::*field) {
  return {std::move(name), std::move(help), [field](const EpochMetrics& m) { return m.*field; },
          {}};
}

Metric count_metric(std::string name, std::string help, std::uint64_t EpochMetrics::*field) {
  return {std::move(name), std::move(help),
          [field](const EpochMetrics& m) { return static_cast<double>(m.*field); }, {}};
}

// Per role per epoch: overflow and flush-to-zero fractions, per-tensor scaling.
void add_role_metrics(std::vector<Metric>& t, Role r) {
  const std::string n = to_string(r);
  const auto i = static_cast<std::size_t>(r);
  auto field = [i](double EpochMetrics::RoleEpoch::*f) {
    return [i, f](const EpochMetrics& m) { return m.roles[i].*f; };
  };
  t.push_back({n + "_overflow_fraction", "values of role " + n + " that overflowed",
               field(&EpochMetrics::RoleEpoch::overflow_fraction), {}});
  t.push_back({n + "_underflow_fraction", "nonzero values of role " + n + " flushed to zero",
               field(&EpochMetrics::RoleEpoch::underflow_fraction), {}});
  t.push_back({n + "_log2_scale", "mean log2 per-tensor scale of role " + n,
               field(&EpochMetrics::RoleEpoch::mean_log2_scale), {}});
  t.push_back({n + "_amax_exceeded", "scaled tensors of role " + n + " whose amax exceeded the range",
               field(&EpochMetrics::RoleEpoch::amax_exceeded_fraction), {}});
  t.push_back({n + "_clamped_block_fraction",
               "blocks of role " + n + " whose scale was clamped (block formats)",
               field(&EpochMetrics::RoleEpoch::clamped_block_fraction), {}});
}

}  // namespace

std::string to_string(Column c) {
  switch (c) {
    case Column::text: return "text";
    case Column::f64: return "f64";
    case Column::i32: return "i32";
    case Column::u64: return "u64";
    case Column::i8: return "i8";
  }
  return "?";
}

const std::vector<Param>& params() {
  static const std::vector<Param> table = [] {
    std::vector<Param> t;
    add_hyperparameters(t);
    const std::size_t first_precision = t.size();
    add_precision_params(t);
    for (std::size_t i = first_precision; i < t.size(); ++i) t[i].precision = true;
    return t;
  }();
  return table;
}

const Param* find_param(std::string_view name) {
  for (const Param& p : params())
    if (p.name == name) return &p;
  return nullptr;
}

const Param* param_synonym(std::string_view name) {
  static const std::pair<const char*, const char*> kSynonyms[] = {
      {"learning_rate", "lr"},      {"learningrate", "lr"},    {"batch_size", "batch"},
      {"batchsize", "batch"},       {"num_epochs", "epochs"},
      {"n_epochs", "epochs"},       {"max_epochs", "epochs"},  {"hidden_size", "hidden"},
      {"hidden_sizes", "hidden"},   {"hidden_layers", "hidden"}, {"dtype", "format"},
      {"rounding_mode", "rounding"}, {"decay", "weight_decay"}, {"l2", "weight_decay"},
      {"activation_function", "activation"}, {"smoothing", "label_smoothing"},
  };
  std::string key(name);
  std::replace(key.begin(), key.end(), '-', '_');
  for (const auto& [synonym, canonical] : kSynonyms)
    if (key == synonym) return find_param(canonical);
  return nullptr;
}

const std::vector<Metric>& epoch_metrics() {
  static const std::vector<Metric> table = [] {
    std::vector<Metric> t = {
      epoch_metric("test_accuracy", "test accuracy after the epoch", &EpochMetrics::test_accuracy),
      epoch_metric("train_loss", "mean training loss over the epoch", &EpochMetrics::train_loss),
      epoch_metric("train_accuracy", "training accuracy over the epoch",
                   &EpochMetrics::train_accuracy),
      epoch_metric("lost_update_fraction", "updates lost to rounding",
                   &EpochMetrics::lost_update_fraction),
      epoch_metric("zero_fraction", "weights exactly zero", &EpochMetrics::zero_fraction),
      count_metric("overflow", "values overflowed in the last rounding", &EpochMetrics::overflow),
      count_metric("underflow", "values flushed to zero in the last rounding",
                   &EpochMetrics::underflow),
      epoch_metric("epoch_seconds", "wall time of the epoch", &EpochMetrics::wall_seconds),
      count_metric("skipped_steps", "steps skipped by dynamic loss scaling",
                   &EpochMetrics::skipped_steps),
      epoch_metric("loss_scale", "loss scale at the end of the epoch", &EpochMetrics::loss_scale),
    };
    for (Role r : kAllRoles) add_role_metrics(t, r);
    for (int k = 0; k < kGemmKinds; ++k) {
      const std::string kind = to_string(static_cast<GemmKind>(k));
      t.push_back({kind + "_swamped_fraction",
                   "additions of the " + kind + " products that were swamped (mean over layers)",
                   [k](const EpochMetrics& m) {
                     return m.swamped_fraction[static_cast<std::size_t>(k)];
                   },
                   {}});
    }
    return t;
  }();
  return table;
}

const std::vector<Metric>& run_metrics() {
  static const std::vector<Metric> table = {
      {"final_test_accuracy", "test accuracy after the last epoch run", {},
       [](const RunResult& r) { return r.final_test_accuracy; }},
      {"wall_seconds", "wall time of the run", {}, [](const RunResult& r) { return r.wall_seconds; }},
  };
  return table;
}

bool is_int_literal(const std::string& s) {
  std::size_t i = (!s.empty() && (s[0] == '+' || s[0] == '-')) ? 1 : 0;
  if (i == s.size()) return false;
  return std::all_of(s.begin() + static_cast<std::ptrdiff_t>(i), s.end(),
                     [](char c) { return c >= '0' && c <= '9'; });
}

std::int64_t parse_int64(const std::string& s) {
  std::int64_t v = 0;
  if (!is_int_literal(s)) refuse("expected an integer, got '" + s + "'");
  const char* b = s.data() + (s[0] == '+' ? 1 : 0);
  const auto r = std::from_chars(b, s.data() + s.size(), v);
  if (r.ec != std::errc() || r.ptr != s.data() + s.size())
    refuse("expected an integer, got '" + s + "'");
  return v;
}

double parse_real(const std::string& s) {
  double v = 0;
  const char* b = s.data() + (!s.empty() && s[0] == '+' ? 1 : 0);
  const auto r = std::from_chars(b, s.data() + s.size(), v);
  if (s.empty() || r.ec != std::errc() || r.ptr != s.data() + s.size() || !std::isfinite(v))
    refuse("expected a number, got '" + s + "'");
  return v;
}

bool parse_bool(const std::string& t) {
  if (t == "true" || t == "True" || t == "TRUE") return true;
  if (t == "false" || t == "False" || t == "FALSE") return false;
  refuse("expected true or false, got '" + t + "'");
}

std::string shortest_text(double x) {
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof buf, x);
  return std::string(buf, r.ptr);
}

void TrainConfig::validate() const {
  Point point;
  point.config = *this;
  for (const Param& p : params()) {
    if (p.name == "dataset") continue;  // not part of a TrainConfig
    try {
      p.parse(p.text(point));
    } catch (const InputError& e) {
      throw InputError(p.name + ": " + e.what());
    }
  }
  if ((apply_to & ~15u) != 0) throw InputError("apply_to: unknown bits set");
  resolve_precision(*this);  // the recipe, shorthand and role overrides agree
  if (threads < 1 || threads > kMaxThreads)
    throw InputError("threads: must be in 1.." + std::to_string(kMaxThreads) + ", got " +
                     std::to_string(threads));
}

}  // namespace precsweep
