// Sweep spec parsing: YAML text -> one parameter table per grid (src/spec_internal.hpp), then
// expanded by src/spec_expand.cpp. Strict: every key is known, every value has the right type
// and range, and every error names the file, the 1-based YAML line and the key path, e.g.
// "sweeps/x.yaml:7: precision.format.man: range step must be > 0". The grammar (keys, types,
// lists, ranges, variants) is documented in docs/sweep-spec.md.
// Deliberately leaves out: YAML anchors/merge keys semantics beyond what yaml-cpp resolves,
// and any I/O besides reading the spec file.
#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "precsweep/error.hpp"
#include "spec_internal.hpp"

namespace precsweep {
namespace {

// Counts the documents of a YAML stream (yaml-cpp's event interface) and where the second starts.
struct DocumentCounter : YAML::EventHandler {
  int documents = 0;
  int second_line = 0;
  void OnDocumentStart(const YAML::Mark& mark) override {
    if (++documents == 2) second_line = mark.line;
  }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t, const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}
};

using namespace spec_detail;

// Which section of the spec each parameter lives in ("" = top level) and its key.
struct ParamKey {
  const char* section;
  const char* key;
};
constexpr std::array<ParamKey, kNumParams> kKeys = {{
    {"", "dataset"},       {"", "seed"},           {"model", "hidden"},
    {"model", "activation"}, {"train", "lr"},      {"train", "momentum"},
    {"train", "weight_decay"}, {"train", "lr_schedule"}, {"train", "batch"},
    {"", "epochs"},        {"precision", "format"}, {"precision", "rounding"},
    {"precision", "apply_to"}, {"precision", "every"}, {"precision", "master_weights"},
}};

// Largest number of values one list or range may produce (the whole grid is capped separately).
constexpr std::int64_t kMaxAxisValues = 1'000'000;

class Parser {
 public:
  explicit Parser(std::string source) : source_(std::move(source)) {}

  [[noreturn]] void fail(const YAML::Node& node, const std::string& path,
                         const std::string& msg) const {
    std::string where = source_;
    if (node.IsDefined() && !node.Mark().is_null()) where += ":" + std::to_string(node.Mark().line + 1);
    throw InputError(printable(where + ": " + (path.empty() ? "" : path + ": ") + msg));
  }


  static int line_of(const YAML::Node& node) {
    return node.Mark().is_null() ? 0 : node.Mark().line + 1;
  }

  // ---- scalars ------------------------------------------------------------------------------
  std::string scalar(const YAML::Node& n, const std::string& path, const char* what) const {
    if (n.IsNull()) fail(n, path, std::string("missing value (expected ") + what + ")");
    if (!n.IsScalar())
      fail(n, path, std::string("expected ") + what + ", got a " + (n.IsSequence() ? "list" : "map"));
    return n.Scalar();
  }

  static bool is_int_literal(const std::string& s) {
    std::size_t i = (!s.empty() && (s[0] == '+' || s[0] == '-')) ? 1 : 0;
    if (i == s.size()) return false;
    return std::all_of(s.begin() + static_cast<std::ptrdiff_t>(i), s.end(),
                       [](char c) { return c >= '0' && c <= '9'; });
  }

  std::int64_t to_int(const std::string& s, const YAML::Node& n, const std::string& path) const {
    std::int64_t v = 0;
    const char* b = s.data() + (s[0] == '+' ? 1 : 0);
    auto res = std::from_chars(b, s.data() + s.size(), v);
    if (!is_int_literal(s) || res.ec != std::errc() || res.ptr != s.data() + s.size())
      fail(n, path, "expected an integer, got '" + s + "'");
    return v;
  }

  double to_double(const std::string& s, const YAML::Node& n, const std::string& path) const {
    double v = 0;
    const char* b = s.data() + (!s.empty() && s[0] == '+' ? 1 : 0);
    auto res = std::from_chars(b, s.data() + s.size(), v);
    if (s.empty() || res.ec != std::errc() || res.ptr != s.data() + s.size() || !std::isfinite(v))
      fail(n, path, "expected a number, got '" + s + "'");
    return v;
  }

  bool to_bool(const std::string& s, const YAML::Node& n, const std::string& path) const {
    if (s == "true" || s == "True" || s == "TRUE") return true;
    if (s == "false" || s == "False" || s == "FALSE") return false;
    fail(n, path, "expected true or false, got '" + s + "'");
  }

  // ---- one value of one parameter -----------------------------------------------------------
  // `text` is the scalar as written (or generated by a range); `n` gives the line for errors.
  Value element(int param, const std::string& text, const YAML::Node& n,
                const std::string& path) const {
    auto wrap = [&](auto&& fn) {
      try {
        return fn();
      } catch (const InputError& e) {
        fail(n, path, e.what());
      }
    };
    switch (param) {
      case kDataset: {
        if (text != "mnist" && text != "fashion-mnist" && text != "synthetic")
          fail(n, path, "unknown dataset '" + text + "' (expected mnist, fashion-mnist or synthetic)");
        return {text, [text](Point& p) { p.dataset = text; }};
      }
      case kSeed: {
        std::uint64_t v = 0;
        auto res = std::from_chars(text.data(), text.data() + text.size(), v);
        if (text.empty() || text[0] == '-' || res.ec != std::errc() ||
            res.ptr != text.data() + text.size())
          fail(n, path, "expected a non-negative integer seed, got '" + text + "'");
        return {std::to_string(v), [v](Point& p) { p.config.seed = v; }};
      }
      case kBatch:
      case kEpochs: {
        const std::int64_t v = to_int(text, n, path);
        const std::int64_t hi = param == kBatch ? 1'000'000 : 100'000;
        if (v < 1 || v > hi)
          fail(n, path, "must be in 1.." + std::to_string(hi) + ", got " + text);
        const int iv = static_cast<int>(v);
        if (param == kBatch) return {std::to_string(iv), [iv](Point& p) { p.config.batch = iv; }};
        return {std::to_string(iv), [iv](Point& p) { p.config.epochs = iv; }};
      }
      case kLr:
      case kMomentum:
      case kWeightDecay: {
        const double v = to_double(text, n, path);
        if (param == kLr && !(v > 0)) fail(n, path, "learning rate must be > 0, got " + text);
        if (param == kMomentum && !(v >= 0 && v < 1))
          fail(n, path, "momentum must be in [0, 1), got " + text);
        if (param == kWeightDecay && !(v >= 0)) fail(n, path, "weight decay must be >= 0, got " + text);
        const std::string canon = format_double(v == 0 ? 0.0 : v);  // -0 is 0: one point
        if (param == kLr) return {canon, [v](Point& p) { p.config.lr = v; }};
        const double z = v == 0 ? 0.0 : v;
        if (param == kMomentum) return {canon, [z](Point& p) { p.config.momentum = z; }};
        return {canon, [z](Point& p) { p.config.weight_decay = z; }};
      }
      case kLrSchedule: {
        check_schedule(text, n, path);
        return {text, [text](Point& p) { p.config.lr_schedule = text; }};
      }
      case kActivation: {
        const Activation a = wrap([&] { return parse_activation(text); });
        return {to_string(a), [a](Point& p) { p.config.activation = a; }};
      }
      case kFormat: {
        const Format f = wrap([&] { return parse_format(text); });
        return {f.name(), [f](Point& p) { p.config.format = f; }};
      }
      case kRounding: {
        const Rounding r = wrap([&] { return parse_rounding(text); });
        return {to_string(r), [r](Point& p) { p.config.rounding = r; }};
      }
      case kApplyTo: {
        const unsigned flags = wrap([&] { return parse_apply_to(text); });
        return {apply_to_string(flags), [flags](Point& p) { p.config.apply_to = flags; }};
      }
      case kEvery: {
        int every = 0;
        if (text == "batch") {
          every = 1;
        } else if (text == "epoch") {
          every = 0;
        } else {
          if (!is_int_literal(text)) fail(n, path, "expected batch, epoch or a number of batches >= 1, got '" + text + "'");
          const std::int64_t v = to_int(text, n, path);
          if (v < 1 || v > 1'000'000'000) fail(n, path, "number of batches must be >= 1, got " + text);
          every = static_cast<int>(v);
        }
        const std::string canon = every == 0 ? "epoch" : every == 1 ? "batch" : std::to_string(every);
        return {canon, [every](Point& p) { p.config.every = every; }};
      }
      case kMasterWeights: {
        const bool b = to_bool(text, n, path);
        return {b ? "true" : "false", [b](Point& p) { p.config.master_weights = b; }};
      }
      default:
        fail(n, path, "internal: no scalar parser for this key");
    }
  }

  // "constant", "cosine" or "step:<epochs >= 1>:<factor > 0>".
  void check_schedule(const std::string& s, const YAML::Node& n, const std::string& path) const {
    if (s == "constant" || s == "cosine") return;
    const std::string bad = "expected constant, cosine or step:<epochs>:<factor>, got '" + s + "'";
    if (s.rfind("step:", 0) != 0) fail(n, path, bad);
    const std::size_t colon = s.find(':', 5);
    if (colon == std::string::npos) fail(n, path, bad);
    const std::string ep = s.substr(5, colon - 5), fac = s.substr(colon + 1);
    std::int64_t e = 0;
    double f = 0;
    auto r1 = std::from_chars(ep.data(), ep.data() + ep.size(), e);
    auto r2 = std::from_chars(fac.data(), fac.data() + fac.size(), f);
    if (ep.empty() || fac.empty() || r1.ec != std::errc() || r1.ptr != ep.data() + ep.size() ||
        r2.ec != std::errc() || r2.ptr != fac.data() + fac.size() || e < 1 || !(f > 0) ||
        !std::isfinite(f))
      fail(n, path, bad + " (epochs >= 1, factor > 0)");
  }

  // ---- ranges -------------------------------------------------------------------------------
  // {from: A, to: B, step: S} -> the texts of A, A+S, ..., up to B inclusive when B lands on
  // the grid. Integer when all three are integer literals, else real: value i is computed as
  // A + i*S (never by accumulation) and rounded to 12 significant digits, and B counts as on
  // the grid within a relative 1e-9 of a step.
  std::vector<std::string> range(const YAML::Node& n, const std::string& path, bool integer_only) const {
    std::map<std::string, YAML::Node> parts;
    for (auto it = n.begin(); it != n.end(); ++it) {
      const std::string key = scalar(it->first, path, "a key");
      if (key != "from" && key != "to" && key != "step")
        fail(it->first, path + "." + key,
             "unknown key in a range (a range is {from: A, to: B, step: S})");
      if (parts.count(key)) fail(it->first, path + "." + key, "duplicate key");
      parts[key] = it->second;
    }
    for (const char* key : {"from", "to", "step"})
      if (!parts.count(key)) fail(n, path, std::string("range is missing '") + key + "' (a range is {from: A, to: B, step: S})");
    const std::string sf = scalar(parts["from"], path + ".from", "a number");
    const std::string st = scalar(parts["to"], path + ".to", "a number");
    const std::string ss = scalar(parts["step"], path + ".step", "a number");
    std::vector<std::string> out;
    if (is_int_literal(sf) && is_int_literal(st) && is_int_literal(ss)) {
      const std::int64_t a = to_int(sf, parts["from"], path + ".from");
      const std::int64_t b = to_int(st, parts["to"], path + ".to");
      const std::int64_t s = to_int(ss, parts["step"], path + ".step");
      if (s <= 0) fail(parts["step"], path + ".step", "range step must be > 0");
      if (a > b) fail(parts["from"], path, "range from (" + sf + ") must be <= to (" + st + ")");
      // In uint64: b - a and a + i*s fit there (modulo 2^64) for any int64 a <= b, s > 0,
      // where the int64 expressions would overflow (from: INT64_MIN, to: INT64_MAX).
      const std::uint64_t span = static_cast<std::uint64_t>(b) - static_cast<std::uint64_t>(a);
      const std::uint64_t steps = span / static_cast<std::uint64_t>(s);
      if (steps >= static_cast<std::uint64_t>(kMaxAxisValues))
        fail(n, path, "range has more than " + std::to_string(kMaxAxisValues) + " values");
      for (std::uint64_t i = 0; i <= steps; ++i)
        out.push_back(std::to_string(static_cast<std::int64_t>(
            static_cast<std::uint64_t>(a) + i * static_cast<std::uint64_t>(s))));
      return out;
    }
    if (integer_only) {
      const bool bad_step = !is_int_literal(ss);
      fail(bad_step ? parts["step"] : !is_int_literal(sf) ? parts["from"] : parts["to"], path,
           "this range must have integer from, to and step");
    }
    const double a = to_double(sf, parts["from"], path + ".from");
    const double b = to_double(st, parts["to"], path + ".to");
    const double s = to_double(ss, parts["step"], path + ".step");
    if (!(s > 0)) fail(parts["step"], path + ".step", "range step must be > 0");
    if (a > b) fail(parts["from"], path, "range from (" + sf + ") must be <= to (" + st + ")");
    const double k = (b - a) / s;
    if (k + 1 > double(kMaxAxisValues))
      fail(n, path, "range has more than " + std::to_string(kMaxAxisValues) + " values");
    const auto count = static_cast<std::int64_t>(std::floor(k + 1e-9 * std::max(1.0, k))) + 1;
    for (std::int64_t i = 0; i < count; ++i) {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%.12g", a + double(i) * s);
      out.push_back(format_double(std::strtod(buf, nullptr)));
    }
    return out;
  }

  // ---- one parameter: a scalar, a list or a range -------------------------------------------
  static void check_distinct(const Parser& self, const std::vector<Value>& values,
                             const std::vector<YAML::Node>& nodes, const std::string& path) {
    std::map<std::string, std::size_t> first;
    for (std::size_t i = 0; i < values.size(); ++i) {
      auto [it, fresh] = first.emplace(values[i].text, i);
      if (!fresh)
        self.fail(nodes[i], path, "duplicate value '" + values[i].text + "' in the list" +
                                      (line_of(nodes[it->second]) ? " (first at line " +
                                           std::to_string(line_of(nodes[it->second])) + ")" : ""));
    }
  }

  std::vector<Value> param(int k, const YAML::Node& n, const std::string& path) const {
    if (k == kHidden) return hidden(n, path);
    if (k == kFormat) return formats(n, path);
    std::vector<Value> values;
    std::vector<YAML::Node> nodes;  // where each value came from, for duplicate messages
    auto add = [&](const std::string& text, const YAML::Node& at, const std::string& p) {
      values.push_back(element(k, text, at, p));
      nodes.push_back(at);
    };
    if (n.IsSequence()) {
      if (n.size() == 0) fail(n, path, "empty list: an axis needs at least one value");
      for (std::size_t i = 0; i < n.size(); ++i) {
        const std::string p = path + "[" + std::to_string(i) + "]";
        if (k == kApplyTo && n[i].IsSequence()) {  // [[weights, updates], ...]: one combined value
          if (n[i].size() == 0) fail(n[i], p, "empty list of targets");
          std::string joined;
          for (std::size_t j = 0; j < n[i].size(); ++j) {
            if (j) joined += ',';
            joined += scalar(n[i][j], p + "[" + std::to_string(j) + "]", "a target name");
          }
          add(joined, n[i], p);
        } else {
          add(scalar(n[i], p, "a single value"), n[i], p);
        }
      }
    } else if (n.IsMap()) {
      const bool numeric = k == kSeed || k == kBatch || k == kEpochs || k == kLr || k == kMomentum ||
                           k == kWeightDecay || k == kEvery;
      if (!numeric) fail(n, path, "expected a value or a list of values, got a map");
      const bool integer = k == kSeed || k == kBatch || k == kEpochs || k == kEvery;
      for (const std::string& text : range(n, path, integer)) add(text, n, path);
    } else {
      add(scalar(n, path, "a value"), n, path);
    }
    check_distinct(*this, values, nodes, path);
    return values;
  }

  // hidden: 100 | [200, 100] (one value: layer widths) | [[100], [200, 100]] (an axis) |
  // {from, to, step} (an axis of single-layer widths).
  std::vector<Value> hidden(const YAML::Node& n, const std::string& path) const {
    std::vector<Value> values;
    std::vector<YAML::Node> nodes;
    // `at` is the node reported in errors (the range's map for generated widths).
    auto width_text = [&](const std::string& text, const YAML::Node& at, const std::string& p) {
      const std::int64_t v = to_int(text, at, p);
      if (v < 1 || v > kMaxLayerWidth)
        fail(at, p, "layer width must be in 1.." + std::to_string(kMaxLayerWidth) + ", got " +
                        std::to_string(v));
      return static_cast<int>(v);
    };
    auto width = [&](const YAML::Node& w, const std::string& p) {
      return width_text(scalar(w, p, "a layer width"), w, p);
    };
    auto add = [&](std::vector<int> widths, const YAML::Node& at) {
      std::string text;
      for (std::size_t i = 0; i < widths.size(); ++i) {
        if (i) text += ',';
        text += std::to_string(widths[i]);
      }
      values.push_back({text, [widths = std::move(widths)](Point& p) { p.config.hidden = widths; }});
      nodes.push_back(at);
    };
    auto layers = [&](const YAML::Node& list, const std::string& p) {
      if (list.size() == 0) fail(list, p, "empty list of layer widths");
      if (list.size() > static_cast<std::size_t>(kMaxHiddenLayers))
        fail(list, p, "more than " + std::to_string(kMaxHiddenLayers) + " hidden layers");
      std::vector<int> widths;
      for (std::size_t i = 0; i < list.size(); ++i)
        widths.push_back(width(list[i], p + "[" + std::to_string(i) + "]"));
      return widths;
    };
    if (n.IsSequence()) {
      if (n.size() == 0) fail(n, path, "empty list: give layer widths like [100] or an axis like [[100], [200, 100]]");
      std::size_t lists = 0;
      for (std::size_t i = 0; i < n.size(); ++i) lists += n[i].IsSequence() ? 1 : 0;
      if (lists == 0) {
        add(layers(n, path), n);
      } else if (lists == n.size()) {
        for (std::size_t i = 0; i < n.size(); ++i) {
          const std::string p = path + "[" + std::to_string(i) + "]";
          add(layers(n[i], p), n[i]);
        }
      } else {
        fail(n, path, "mixes widths and lists; write one network as [200, 100] and an axis of "
                      "networks as [[100], [200, 100]]");
      }
    } else if (n.IsMap()) {
      for (const std::string& text : range(n, path, true)) add({width_text(text, n, path)}, n);
    } else {
      add({width(n, path)}, n);
    }
    check_distinct(*this, values, nodes, path);
    return values;
  }

  // format: NAME | [NAME or MAP, ...] | MAP, where MAP is {exp: E, man: M, options: O} or
  // {int: I, frac: F, options: O}, E/M/I/F scalars, lists or ranges (their product), O one of
  // no-subnormals, saturate or a list of them (applied to every format of the map).
  std::vector<Value> formats(const YAML::Node& n, const std::string& path) const {
    std::vector<Value> values;
    std::vector<YAML::Node> nodes;
    auto one = [&](const YAML::Node& item, const std::string& p) {
      if (item.IsMap()) {
        for (Value& v : format_map(item, p)) {
          values.push_back(std::move(v));
          nodes.push_back(item);
        }
      } else {
        values.push_back(element(kFormat, scalar(item, p, "a format name or {exp, man}"), item, p));
        nodes.push_back(item);
      }
    };
    if (n.IsSequence()) {
      if (n.size() == 0) fail(n, path, "empty list: an axis needs at least one value");
      for (std::size_t i = 0; i < n.size(); ++i) one(n[i], path + "[" + std::to_string(i) + "]");
    } else {
      one(n, path);
    }
    check_distinct(*this, values, nodes, path);
    return values;
  }

  std::vector<Value> format_map(const YAML::Node& n, const std::string& path) const {
    std::map<std::string, YAML::Node> parts;
    for (auto it = n.begin(); it != n.end(); ++it) {
      const std::string key = scalar(it->first, path, "a key");
      if (key != "exp" && key != "man" && key != "int" && key != "frac" && key != "options")
        fail(it->first, path + "." + key, "unknown key (a format map is {exp, man, options} or {int, frac, options})");
      if (parts.count(key)) fail(it->first, path + "." + key, "duplicate key");
      parts[key] = it->second;
    }
    const bool floating = parts.count("exp") || parts.count("man");
    const bool fixed = parts.count("int") || parts.count("frac");
    if (floating == fixed)
      fail(n, path, floating ? "give either {exp, man} or {int, frac}, not both"
                             : "a format map needs {exp, man} (E<e>M<m>) or {int, frac} (Q<i>.<f>)");
    const char* a = floating ? "exp" : "int";
    const char* b = floating ? "man" : "frac";
    for (const char* key : {a, b})
      if (!parts.count(key)) fail(n, path, std::string("missing '") + key + "'");
    std::string suffix;
    if (parts.count("options")) {
      const YAML::Node& o = parts["options"];
      std::set<std::string> opts;
      const std::string op = path + ".options";
      if (o.IsSequence()) {
        for (std::size_t i = 0; i < o.size(); ++i) opts.insert(scalar(o[i], op + "[" + std::to_string(i) + "]", "an option"));
      } else {
        opts.insert(scalar(o, op, "an option"));
      }
      for (const std::string& opt : opts)
        if (opt != "no-subnormals" && opt != "saturate")
          fail(o, op, "unknown option '" + opt + "' (expected no-subnormals, saturate)");
      if (opts.count("no-subnormals")) suffix += ",no-subnormals";
      if (opts.count("saturate")) suffix += ",saturate";
    }
    const auto first = int_list(parts[a], path + "." + a);
    const auto second = int_list(parts[b], path + "." + b);
    std::vector<Value> out;
    for (std::int64_t x : first)
      for (std::int64_t y : second) {
        const std::string name = floating
            ? "E" + std::to_string(x) + "M" + std::to_string(y) + suffix
            : "Q" + std::to_string(x) + "." + std::to_string(y) + suffix;
        out.push_back(element(kFormat, name, n, path));
      }
    return out;
  }

  // An integer scalar, list of integers, or integer range (for exp/man/int/frac).
  std::vector<std::int64_t> int_list(const YAML::Node& n, const std::string& path) const {
    std::vector<std::int64_t> out;
    if (n.IsSequence()) {
      if (n.size() == 0) fail(n, path, "empty list: an axis needs at least one value");
      for (std::size_t i = 0; i < n.size(); ++i) {
        const std::string p = path + "[" + std::to_string(i) + "]";
        out.push_back(to_int(scalar(n[i], p, "an integer"), n[i], p));
      }
    } else if (n.IsMap()) {
      for (const std::string& t : range(n, path, true)) out.push_back(std::stoll(t));
    } else {
      out.push_back(to_int(scalar(n, path, "an integer"), n, path));
    }
    if (out.size() > 64) fail(n, path, "more than 64 values");
    for (std::size_t i = 0; i < out.size(); ++i)
      for (std::size_t j = 0; j < i; ++j)
        if (out[i] == out[j]) fail(n, path, "duplicate value " + std::to_string(out[i]));
    return out;
  }

  // ---- maps and keys ------------------------------------------------------------------------
  // Iterates a map, rejecting duplicate and non-scalar keys; fn(key, key_node, value_node).
  template <class Fn>
  void each_key(const YAML::Node& map, const std::string& path, Fn fn) const {
    if (!map.IsMap())
      fail(map, path, map.IsNull() ? "missing value (expected a map of keys)" : "expected a map of keys");
    std::set<std::string> seen;
    for (auto it = map.begin(); it != map.end(); ++it) {
      const std::string key = scalar(it->first, path, "a key");
      const std::string kp = path.empty() ? key : path + "." + key;
      if (!seen.insert(key).second) fail(it->first, kp, "duplicate key");
      // yaml-cpp places an empty value at the next line; report the key's line instead.
      if (it->second.IsNull()) fail(it->first, kp, "missing value");
      fn(key, kp, it->first, it->second);
    }
  }

  [[noreturn]] void unknown_key(const std::string& key, const std::string& kp, const YAML::Node& at,
                                const std::vector<std::string>& allowed) const {
    if (key == "threads")
      fail(at, kp, "unknown key: threads are chosen at run time (sweep --threads N)");
    for (const ParamKey& pk : kKeys)
      if (key == pk.key) {
        const std::string where = *pk.section ? std::string(pk.section) + "." + pk.key : pk.key;
        fail(at, kp, "unknown key here; '" + key + "' belongs at " + where);
      }
    std::string best;
    std::size_t best_d = 3;  // suggest only close matches (edit distance <= 2)
    for (const std::string& a : allowed) {
      const std::size_t d = edit_distance(key, a);
      if (d < best_d) best_d = d, best = a;
    }
    std::string list;
    for (const std::string& a : allowed) {
      if (!list.empty()) list += ", ";
      list += a;
    }
    fail(at, kp, "unknown key" + (best.empty() ? "" : "; did you mean '" + best + "'?") +
                     " (allowed here: " + list + ")");
  }

  static std::size_t edit_distance(const std::string& a, const std::string& b) {
    std::vector<std::size_t> row(b.size() + 1);  // [b.size()+1], Levenshtein DP row
    for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
      std::size_t diag = row[0];
      row[0] = i;
      for (std::size_t j = 1; j <= b.size(); ++j) {
        const std::size_t up = row[j];
        row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
        diag = up;
      }
    }
    return row[b.size()];
  }

  // The parameters of one section (top level, model, train, precision) into `table`.
  // `top_extra` are the non-parameter keys allowed at this level (handled by the caller).
  void section(const YAML::Node& map, const std::string& path, const std::string& sec,
               Table& table, const std::vector<std::string>& top_extra) const {
    std::vector<std::string> allowed;
    for (const ParamKey& pk : kKeys)
      if (sec == pk.section) allowed.push_back(pk.key);
    if (sec.empty()) allowed.insert(allowed.end(), {"model", "train", "precision"});
    allowed.insert(allowed.end(), top_extra.begin(), top_extra.end());
    each_key(map, path, [&](const std::string& key, const std::string& kp, const YAML::Node& kn,
                            const YAML::Node& value) {
      for (int k = 0; k < kNumParams; ++k)
        if (sec == kKeys[k].section && key == kKeys[k].key) {
          table[k].values = param(k, value, kp);
          table[k].line = line_of(value);
          return;
        }
      if (sec.empty() && (key == "model" || key == "train" || key == "precision")) {
        section(value, kp, key, table, {});
        return;
      }
      if (std::find(top_extra.begin(), top_extra.end(), key) != top_extra.end()) return;
      unknown_key(key, kp, kn, allowed);
    });
  }

  // ---- the whole spec -----------------------------------------------------------------------
  SweepSpec parse(const std::string& text) const {
    YAML::Node root;
    DocumentCounter counter;
    try {
      // Not YAML::LoadAll: yaml-cpp 0.7 never consumes a stray ',' at block level and returns
      // empty documents forever. Counting stops at the second document; only the first is built.
      std::istringstream in(text);
      YAML::Parser parser(in);
      for (int n = 0; n < 2 && parser.HandleNextDocument(counter);) ++n;
      if (counter.documents > 0) root = YAML::Load(text);
    } catch (const YAML::DeepRecursion& e) {
      throw InputError(source_ + ":" + std::to_string(e.mark.line + 1) +
                       ": nested too deeply (" + std::to_string(e.depth()) +
                       " levels of lists or maps); a spec needs only a few");
    } catch (const YAML::Exception& e) {
      std::string where = source_;
      if (!e.mark.is_null()) where += ":" + std::to_string(e.mark.line + 1);
      throw InputError(where + ": invalid YAML: " + e.msg);
    }
    if (counter.documents == 0 || root.IsNull()) throw InputError(source_ + ": the spec is empty");
    if (counter.documents > 1)
      throw InputError(source_ + ":" + std::to_string(counter.second_line + 1) +
                       ": more than one YAML document; a spec is one document");
    if (!root.IsMap()) fail(root, "", "a spec must be a map of keys (name, dataset, model, ...)");

    SweepSpec spec;
    spec.source = source_;
    spec.text = text;
    spec.sha256 = sha256_hex(text);
    spec.name = default_name();
    YAML::Node data_dir_node, variants_node;
    bool has_variants = false;
    bool save_weights = false;

    const std::vector<std::string> extra = {"name", "description", "data_dir", "baseline",
                                            "save_weights", "variants"};
    Table base = default_table();
    section(root, "", "", base, extra);
    each_key(root, "", [&](const std::string& key, const std::string& kp, const YAML::Node&,
                           const YAML::Node& v) {
      if (key == "name") {
        spec.name = scalar(v, kp, "a name");
        if (spec.name.empty() || spec.name.find('\n') != std::string::npos)
          fail(v, kp, "name must be one non-empty line");
      } else if (key == "description") {
        scalar(v, kp, "a text");
      } else if (key == "data_dir") {
        spec.data_dir = scalar(v, kp, "a folder");
        data_dir_node = v;
      } else if (key == "baseline") {
        spec.baseline = to_bool(scalar(v, kp, "true or false"), v, kp);
      } else if (key == "save_weights") {
        save_weights = to_bool(scalar(v, kp, "true or false"), v, kp);
      } else if (key == "variants") {
        variants_node = v;
        has_variants = true;
      }
    });

    std::vector<Table> tables;
    if (has_variants) {
      if (!variants_node.IsSequence() || variants_node.size() == 0)
        fail(variants_node, "variants", "expected a non-empty list of maps (use {} for the base grid itself)");
      for (std::size_t i = 0; i < variants_node.size(); ++i) {
        const std::string vp = "variants[" + std::to_string(i) + "]";
        const YAML::Node& v = variants_node[i];
        Table t = base;
        if (v.IsMap()) {
          section(v, vp, "", t, {});
        } else if (!(v.IsNull() || (v.IsSequence() && v.size() == 0))) {
          fail(v, vp, "expected a map of overrides (or {} for the base grid itself)");
        }
        tables.push_back(std::move(t));
      }
    } else {
      tables.push_back(base);
    }

    expand(tables, spec.baseline, spec);
    for (Point& p : spec.points) p.config.save_weights = save_weights;

    spec.dataset = spec.points.front().dataset;
    for (const Axis& a : spec.axes)
      if (a.name == "dataset" && !spec.data_dir.empty())
        fail(data_dir_node, "data_dir",
             "data_dir cannot be combined with several datasets; set PRECSWEEP_DATA_DIR or "
             "use each dataset's default folder");
    return spec;
  }

  std::string default_name() const {
    if (source_.empty() || source_[0] == '<') return "sweep";
    const std::string stem = std::filesystem::path(source_).stem().string();
    return stem.empty() ? "sweep" : stem;
  }

 private:
  std::string source_;
};

}  // namespace

SweepSpec parse_spec(const std::string& yaml_text, const std::string& source) {
  return Parser(source).parse(yaml_text);
}

namespace {

// Length of the UTF-8 sequence starting at text[i], or 0 if it is not valid UTF-8 (RFC 3629:
// no overlong forms, no surrogates, nothing above U+10FFFF).
std::size_t utf8_sequence_length(const std::string& text, std::size_t i) {
  auto byte = [&](std::size_t k) -> unsigned {
    return k < text.size() ? static_cast<unsigned char>(text[k]) : 0u;
  };
  auto cont = [&](std::size_t k) { return (byte(k) & 0xC0u) == 0x80u; };
  const unsigned b = byte(i);
  if (b < 0x80) return 1;
  if (b >= 0xC2 && b <= 0xDF) return cont(i + 1) ? 2 : 0;
  if (b >= 0xE0 && b <= 0xEF) {
    const unsigned b1 = byte(i + 1);
    if ((b == 0xE0 && b1 < 0xA0) || (b == 0xED && b1 > 0x9F)) return 0;  // overlong, surrogate
    return cont(i + 1) && cont(i + 2) ? 3 : 0;
  }
  if (b >= 0xF0 && b <= 0xF4) {
    const unsigned b1 = byte(i + 1);
    if ((b == 0xF0 && b1 < 0x90) || (b == 0xF4 && b1 > 0x8F)) return 0;  // overlong, > U+10FFFF
    return cont(i + 1) && cont(i + 2) && cont(i + 3) ? 4 : 0;
  }
  return 0;
}

// A spec is stored in the results file as a UTF-8 string attribute and read back by `report`
// and the analysis, so a byte that is not UTF-8 (a Latin-1 comment, say) is refused here.
void check_utf8(const std::string& text, const std::string& source) {
  std::size_t line = 1, line_start = 0;
  for (std::size_t i = 0; i < text.size();) {
    const std::size_t n = utf8_sequence_length(text, i);
    if (n == 0) {
      char hex[8];
      std::snprintf(hex, sizeof hex, "0x%02x", static_cast<unsigned char>(text[i]));
      throw InputError(source + ":" + std::to_string(line) + ": byte " +
                       std::to_string(i - line_start + 1) + " of the line (" + hex +
                       ") is not UTF-8; save the spec as UTF-8");
    }
    if (text[i] == '\n') {
      ++line;
      line_start = i + 1;
    }
    i += n;
  }
}

}  // namespace

SweepSpec load_spec(const std::filesystem::path& path) {
  std::error_code ec;
  const auto st = std::filesystem::status(path, ec);
  if (std::filesystem::is_directory(st))
    throw InputError(path.string() + ": is a directory, not a spec file");
  if (std::filesystem::exists(st) && !std::filesystem::is_regular_file(st))
    throw InputError(path.string() + ": is not a regular file (a FIFO, socket or device); give "
                                     "the spec's YAML file");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path.string() + ": cannot read the spec file");
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw InputError(path.string() + ": error while reading the spec file");
  check_utf8(text.str(), path.string());
  return parse_spec(text.str(), path.string());
}

}  // namespace precsweep
