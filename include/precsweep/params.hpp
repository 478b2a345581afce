// The run parameters and the recorded metrics, each declared once (src/params.cpp): name, spec
// section, help line, how a value is parsed and checked (the limits), its canonical text, its
// /points column type, and how it is read from and written to a Point. A parameter's default
// is its value in a default Point (TrainConfig's member initialisers): text(Point{}). The spec
// parser and expander, `precsweep train`'s flags, TrainConfig::validate, the results file
// (writer, reader and the table it records as attributes), `list` and `status` all go through
// this table, so a spec and the flags accept and refuse exactly the same values with the same
// messages. Adding a parameter: one entry in src/params.cpp, the field in TrainConfig, the code
// where it takes effect, and docs (docs/sweep-spec.md, "Adding a parameter").
// Deliberately leaves out: YAML grammar (src/spec.cpp), HDF5 calls (src/results_file.cpp) and
// CLI11 (src/cli/train.cpp); the table is consulted at parse and write time, never per batch.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "precsweep/spec.hpp"
#include "precsweep/train.hpp"

namespace precsweep {

// How a parameter is stored as /points/<name> (docs/results-format.md). Numeric columns also
// say which spec ranges {from, to, step} it takes: f64 real ranges, i32/u64 integer ranges.
enum class Column { text, f64, i32, u64, i8 };
std::string to_string(Column c);  // "text", "f64", "i32", "u64", "i8" (the file's kinds)

// The spec grammar of one value beyond a scalar (src/spec.cpp): `widths` is a list of layer
// widths (one value) or a list of such lists (an axis); `flags` takes a nested list as one
// combined value; `format` takes maps {exp, man} / {int, frac}.
enum class Yaml { scalar, widths, flags, format };

// One checked value: its canonical text and what it sets on a Point (empty: leave as is).
struct ParamValue {
  std::string text;
  std::function<void(Point&)> apply;
};

struct Param {
  std::string name;     // spec key, /points column, `train --name` (with '-' for '_')
  std::string section;  // spec section: "" (top level), "model", "train", "precision" or
                        // "precision.<role>" (a role's map: precision.errors.format)
  std::string key;      // spec key within the section; empty: the name
  bool flag = true;     // its own `train --name` flag (the roles' go through --round/--scale)
  std::string help;     // one line for `train --help`
  Column column = Column::text;
  Yaml yaml = Yaml::scalar;
  bool precision = false;  // part of the rounding scheme: an fp32 baseline resets it to default
  // Parses and checks one value as written (a spec scalar or a flag's text). Throws InputError
  // with the reason only ("must be > 0, got -1"); callers prefix where the value came from.
  std::function<ParamValue(const std::string&)> parse;
  std::function<std::string(const Point&)> text;      // canonical text of a point's value
  std::function<double(const Point&)> real;           // Column::f64 value
  std::function<std::int64_t(const Point&)> integer;  // i32, i8; u64 as its bit pattern
  // The inverse of real / integer: a value read back from its column into a Point.
  std::function<void(Point&, double)> set_real;
  std::function<void(Point&, std::int64_t)> set_integer;
};

// The spec key of a parameter within its section (key, else name).
inline const std::string& spec_key(const Param& p) { return p.key.empty() ? p.name : p.key; }

// Every run parameter in canonical order (= grid order: first slowest, last fastest).
const std::vector<Param>& params();
// The parameter named `name`, or nullptr.
const Param* find_param(std::string_view name);
// The parameter another library calls `name` (PyTorch/Keras style: learning_rate -> lr,
// batch_size -> batch, num_epochs -> epochs, hidden_size -> hidden, ...; '-' same as '_'), or
// nullptr. Not accepted as keys (a spec has one spelling per parameter): error messages name it.
const Param* param_synonym(std::string_view name);

// A recorded metric: per epoch (/results/<name> [N, max_epochs]) or per run ([N]).
struct Metric {
  std::string name;
  std::string help;
  std::function<double(const EpochMetrics&)> of_epoch;  // set for per-epoch metrics
  std::function<double(const RunResult&)> of_run;       // set for per-run metrics
};
const std::vector<Metric>& epoch_metrics();  // file order of the per-epoch datasets
const std::vector<Metric>& run_metrics();    // final_test_accuracy, wall_seconds

// Number parsing shared by the table and spec ranges. Integers: optional '+', decimal digits,
// int64; reals: finite, from_chars syntax with an optional '+'. InputError(reason) otherwise.
bool is_int_literal(const std::string& text);
std::int64_t parse_int64(const std::string& text);  // "expected an integer, got 'x'"
double parse_real(const std::string& text);         // "expected a number, got 'x'"
bool parse_bool(const std::string& text);           // true/True/TRUE, false/False/FALSE
// Shortest text that reads back as the same double ("0.1", "1e-05", "-1e-07").
std::string shortest_text(double x);

}  // namespace precsweep
