// Tests for sweep specs (src/spec.cpp, src/spec_expand.cpp, src/sha256.cpp) and `precsweep list`:
// SHA-256 against the FIPS 180-4 vectors and sha256sum, the issue's example expanded point by
// point against an independent index formula, ranges, named formats, baselines, variants, every
// error class with its key path and line, determinism, and the CLI's exit codes.
// Deliberately leaves out: running points (the sweep tests do that).
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "precsweep/error.hpp"
#include "precsweep/params.hpp"
#include "precsweep/spec.hpp"
#include "test_support.hpp"

namespace fs = std::filesystem;
using namespace precsweep;

namespace {

const char* kExample = R"(name: example
dataset: mnist
epochs: 2
seed: [1, 2]
model:
  hidden: [[100], [200, 100]]
  activation: sigmoid
train:
  lr: [0.1, 0.5]
  batch: 64
precision:
  format: {exp: [5, 8], man: {from: 2, to: 10, step: 2}}   # E5M2 ... E8M10; a list of names like [fp32, bf16, E5M4, Q4.8] also works
  rounding: [toward_zero, nearest_even]
  apply_to: weights
baseline: true   # also run fp32 once for every hyperparameter setting, and link each point to it
)";

using test::read_text;

// The message of the InputError parse_spec throws (fails the test if none is thrown).
std::string error_of(const std::string& yaml) {
  try {
    parse_spec(yaml, "x.yaml");
  } catch (const InputError& e) {
    return e.what();
  }
  ADD_FAILURE() << "no InputError for:\n" << yaml;
  return {};
}

const Axis* find_axis(const std::vector<Axis>& axes, const std::string& name) {
  for (const Axis& a : axes)
    if (a.name == name) return &a;
  return nullptr;
}

std::vector<double> lrs_of(const SweepSpec& s) {
  std::vector<double> out;
  for (const Point& p : s.points) out.push_back(p.config.lr);
  return out;
}

}  // namespace

// ---- SHA-256 --------------------------------------------------------------------------------

TEST(Sha256, StandardVectors) {
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(sha256_hex(std::string(1'000'000, 'a')),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

// Padding boundaries (55, 56, 63, 64, 119, 120 bytes ...) against the system's sha256sum.
TEST(Sha256, MatchesSha256sumAtPaddingBoundaries) {
  if (std::system("command -v sha256sum >/dev/null 2>&1") != 0) GTEST_SKIP() << "no sha256sum";
  const fs::path dir = fs::temp_directory_path() / ("precsweep_sha_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  for (int len : {1, 55, 56, 57, 63, 64, 65, 119, 120, 127, 128, 129, 1000}) {
    std::string bytes;
    for (int i = 0; i < len; ++i) bytes.push_back(static_cast<char>((i * 37 + 11) & 0xff));
    const fs::path f = dir / "in.bin";
    std::ofstream(f, std::ios::binary) << bytes;
    FILE* pipe = ::popen(("sha256sum " + f.string()).c_str(), "r");
    ASSERT_NE(pipe, nullptr);
    char buf[65] = {};
    ASSERT_EQ(std::fread(buf, 1, 64, pipe), 64u);
    ::pclose(pipe);
    EXPECT_EQ(sha256_hex(bytes), std::string(buf, 64)) << "length " << len;
  }
  fs::remove_all(dir);
}

// ---- the issue's example --------------------------------------------------------------------

TEST(Spec, IssueExampleExpandsToTheRightGrid) {
  const SweepSpec s = parse_spec(kExample, "example.yaml");
  // 2 seeds x 2 networks x 2 lr x (2 exp x 5 man) x 2 roundings = 160 grid points, plus one
  // fp32 baseline per (seed, network, lr) = 8.
  ASSERT_EQ(s.grid_points, 160);
  ASSERT_EQ(s.points.size(), 168u);
  EXPECT_EQ(s.name, "example");
  EXPECT_EQ(s.dataset, "mnist");
  EXPECT_TRUE(s.baseline);
  EXPECT_EQ(s.sha256, sha256_hex(kExample));
  EXPECT_EQ(s.text, kExample);

  ASSERT_EQ(s.axes.size(), 5u);
  const std::vector<std::string> names = {"seed", "hidden", "lr", "format", "rounding"};
  for (std::size_t i = 0; i < names.size(); ++i) EXPECT_EQ(s.axes[i].name, names[i]);
  EXPECT_EQ(s.axes[1].values, (std::vector<std::string>{"100", "200,100"}));
  EXPECT_EQ(s.axes[2].values, (std::vector<std::string>{"0.1", "0.5"}));
  EXPECT_EQ(s.axes[3].values.size(), 10u);
  EXPECT_EQ(s.axes[4].values, (std::vector<std::string>{"toward_zero", "nearest_even"}));
  EXPECT_EQ(s.axes.size() + s.fixed.size(), parameter_names().size());
  ASSERT_NE(find_axis(s.fixed, "epochs"), nullptr);
  EXPECT_EQ(find_axis(s.fixed, "epochs")->values, std::vector<std::string>{"2"});
  EXPECT_EQ(find_axis(s.fixed, "batch")->values, std::vector<std::string>{"64"});
  EXPECT_EQ(find_axis(s.fixed, "dataset")->values, std::vector<std::string>{"mnist"});

  // Independent index formula: seed slowest, rounding fastest, exp before man.
  const std::vector<std::vector<int>> hidden = {{100}, {200, 100}};
  const double lr[] = {0.1, 0.5};
  const int exps[] = {5, 8};
  const Rounding modes[] = {Rounding::toward_zero, Rounding::nearest_even};
  for (int si = 0; si < 2; ++si)
    for (int hi = 0; hi < 2; ++hi)
      for (int li = 0; li < 2; ++li)
        for (int ei = 0; ei < 2; ++ei)
          for (int mi = 0; mi < 5; ++mi)
            for (int ri = 0; ri < 2; ++ri) {
              const int id = ((((si * 2 + hi) * 2 + li) * 2 + ei) * 5 + mi) * 2 + ri;
              const Point& p = s.points[id];
              SCOPED_TRACE("point " + std::to_string(id));
              EXPECT_EQ(p.id, id);
              EXPECT_FALSE(p.is_baseline);
              EXPECT_EQ(p.dataset, "mnist");
              EXPECT_EQ(p.config.seed, std::uint64_t(si + 1));
              EXPECT_EQ(p.config.hidden, hidden[hi]);
              EXPECT_EQ(p.config.lr, lr[li]);
              std::string name = "E";
              name += std::to_string(exps[ei]);
              name += 'M';
              name += std::to_string(2 + 2 * mi);
              EXPECT_EQ(p.config.format, parse_format(name));
              EXPECT_EQ(p.config.rounding, modes[ri]);
              EXPECT_EQ(p.config.epochs, 2);
              EXPECT_EQ(p.config.batch, 64);
              EXPECT_EQ(p.config.activation, Activation::sigmoid);
              EXPECT_EQ(p.config.apply_to, unsigned(kApplyWeights));
              EXPECT_EQ(p.config.momentum, 0.0);
              EXPECT_FALSE(p.config.master_weights);
              // Baselines follow the grid in order of first use: one per (seed, hidden, lr).
              EXPECT_EQ(p.baseline_index, 160 + (si * 2 + hi) * 2 + li);
              const DatasetShape sh = dataset_shape("mnist");
              EXPECT_EQ(p.cost, estimated_cost(p.config, sh.dim, sh.n_train, sh.classes));
              EXPECT_GT(p.cost, 0);
            }
  for (int b = 160; b < 168; ++b) {
    const Point& p = s.points[b];
    const int si = (b - 160) / 4, hi = (b - 160) / 2 % 2, li = (b - 160) % 2;
    EXPECT_TRUE(p.is_baseline);
    EXPECT_EQ(p.id, b);
    EXPECT_EQ(p.baseline_index, b);
    EXPECT_TRUE(p.config.format.is_identity());
    EXPECT_EQ(p.config.rounding, Rounding::toward_zero);
    EXPECT_EQ(p.config.seed, std::uint64_t(si + 1));
    EXPECT_EQ(p.config.hidden, hidden[hi]);
    EXPECT_EQ(p.config.lr, lr[li]);
    EXPECT_EQ(p.config.epochs, 2);
  }
}

TEST(Spec, ExampleFileIsTheIssueExampleVerbatim) {
  const fs::path path = fs::path(PRECSWEEP_SOURCE_DIR) / "sweeps/example.yaml";
  EXPECT_EQ(read_text(path), kExample);
  const SweepSpec s = load_spec(path);
  EXPECT_EQ(s.points.size(), 168u);
  EXPECT_EQ(s.source, path.string());
}

TEST(Spec, QuickstartParses) {
  const SweepSpec s = load_spec(fs::path(PRECSWEEP_SOURCE_DIR) / "sweeps/quickstart.yaml");
  // 3 seeds x E8M0..E8M16 + one fp32 baseline per seed.
  EXPECT_EQ(s.grid_points, 51);
  EXPECT_EQ(s.points.size(), 54u);
  EXPECT_EQ(s.dataset, "mnist");
  EXPECT_EQ(s.points[16].config.format, parse_format("E8M16"));
}

// ---- the parameter table (params.hpp) -------------------------------------------------------

// Every parameter: its default's text parses back to the default, every name is a spec key in
// its section, and the grid order is the table's.
TEST(ParamTable, DefaultsRoundTripAndDriveTheSpec) {
  const Point def;
  for (const Param& p : params()) {
    const ParamValue v = p.parse(p.text(def));
    EXPECT_EQ(v.text, p.text(def)) << p.name;
    Point q;
    v.apply(q);
    EXPECT_EQ(p.text(q), p.text(def)) << p.name;
    // section "precision.errors", key "format" -> precision: {errors: {format: '...'}}
    std::string key, close;
    for (std::size_t a = 0, b = 0; !p.section.empty() && a <= p.section.size(); a = b + 1) {
      b = std::min(p.section.find('.', a), p.section.size());
      key += p.section.substr(a, b - a) + ": {";
      close += "}";
    }
    key += spec_key(p);
    EXPECT_NO_THROW(parse_spec(key + ": '" + p.text(def) + "'" + close + "\n")) << p.name;
  }
  EXPECT_EQ(parameter_names().size(), params().size());
  for (std::size_t i = 0; i < params().size(); ++i) EXPECT_EQ(parameter_names()[i], params()[i].name);
}

// TrainConfig::validate goes through the same checks: one message for one bad value.
TEST(ParamTable, ValidateSaysWhatTheSpecSays) {
  TrainConfig c;
  c.lr = -0.1;
  try {
    c.validate();
    ADD_FAILURE() << "lr -0.1 accepted";
  } catch (const InputError& e) {
    EXPECT_EQ(std::string(e.what()), "lr: must be > 0, got -0.1");
  }
  EXPECT_EQ(error_of("train: {lr: -0.1}\n"), "x.yaml:1: train.lr: must be > 0, got -0.1");
  c = TrainConfig{};
  c.hidden = std::vector<int>(65, 10);
  EXPECT_THROW(c.validate(), InputError);
  c.hidden = {};
  EXPECT_THROW(c.validate(), InputError);
  c = TrainConfig{};
  c.epochs = kMaxEpochs + 1;  // the cap was in the spec only
  EXPECT_THROW(c.validate(), InputError);
  c = TrainConfig{};
  c.batch = kMaxBatch + 1;
  EXPECT_THROW(c.validate(), InputError);
}

// Activations are case-insensitive (PyTorch's class names) and recorded in the canonical case.
TEST(ParamTable, ActivationIsCaseInsensitive) {
  for (const char* text : {"ReLU", "RELU", "relu"}) {
    Point p;
    const ParamValue v = find_param("activation")->parse(text);
    EXPECT_EQ(v.text, "relu") << text;
    v.apply(p);
    EXPECT_EQ(to_string(p.config.activation), "relu") << text;
  }
  EXPECT_THROW(find_param("activation")->parse("gelu"), InputError);
}

TEST(ParamTable, HiddenWidthsParse) {
  const Param& hidden = *find_param("hidden");
  Point p;
  hidden.parse("256,128").apply(p);
  EXPECT_EQ(p.config.hidden, (std::vector<int>{256, 128}));
  EXPECT_EQ(hidden.parse("+4").text, "4");  // as a YAML integer
  for (const char* bad : {"", "0", "256,", "256,,128", "12x", "-3", " 5", "99999999999", "65537"})
    EXPECT_THROW(hidden.parse(bad), InputError) << bad;
}

// An fp32 baseline resets the precision parameters to exactly TrainConfig's defaults.
TEST(ParamTable, BaselineIsTheDefaultScheme) {
  const SweepSpec s = parse_spec(
      "precision: {format: E5M2, rounding: stochastic, apply_to: updates, every: 3, "
      "master_weights: true}\nbaseline: true\n");
  ASSERT_EQ(s.points.size(), 2u);
  const TrainConfig def;
  const TrainConfig& b = s.points[1].config;
  EXPECT_EQ(b.format, def.format);
  EXPECT_EQ(b.rounding, def.rounding);
  EXPECT_EQ(b.apply_to, def.apply_to);
  EXPECT_EQ(b.every, def.every);
  EXPECT_EQ(b.master_weights, def.master_weights);
}

// ---- values, ranges, formats ----------------------------------------------------------------

TEST(Spec, DefaultsAreTrainConfigDefaults) {
  const SweepSpec s = parse_spec("name: one\n");
  ASSERT_EQ(s.points.size(), 1u);
  const TrainConfig def;
  const TrainConfig& c = s.points[0].config;
  EXPECT_EQ(c.hidden, def.hidden);
  EXPECT_EQ(c.lr, def.lr);
  EXPECT_EQ(c.batch, def.batch);
  EXPECT_EQ(c.epochs, def.epochs);
  EXPECT_EQ(c.seed, def.seed);
  EXPECT_EQ(c.format, def.format);
  EXPECT_EQ(c.every, def.every);
  EXPECT_EQ(s.points[0].baseline_index, -1);
  EXPECT_TRUE(s.axes.empty());
  EXPECT_EQ(s.fixed.size(), parameter_names().size());
}

TEST(Spec, EveryTrainConfigFieldIsSettable) {
  const SweepSpec s = parse_spec(R"(
dataset: synthetic
epochs: 3
seed: 12345678901
save_weights: true
model: {hidden: [32, 16], activation: relu}
train: {lr: 0.05, momentum: 0.9, weight_decay: 1e-4, lr_schedule: "step:2:0.5", batch: 32}
precision: {format: "E4M3,saturate", rounding: stochastic, apply_to: "weights,updates", every: epoch, master_weights: true}
)");
  ASSERT_EQ(s.points.size(), 1u);
  const Point& p = s.points[0];
  EXPECT_EQ(p.dataset, "synthetic");
  EXPECT_EQ(p.config.epochs, 3);
  EXPECT_EQ(p.config.seed, 12345678901ull);
  EXPECT_TRUE(p.config.save_weights);
  EXPECT_EQ(p.config.hidden, (std::vector<int>{32, 16}));
  EXPECT_EQ(p.config.activation, Activation::relu);
  EXPECT_EQ(p.config.lr, 0.05);
  EXPECT_EQ(p.config.momentum, 0.9);
  EXPECT_EQ(p.config.weight_decay, 1e-4);
  EXPECT_EQ(p.config.lr_schedule, "step:2:0.5");
  EXPECT_EQ(p.config.batch, 32);
  EXPECT_EQ(p.config.format, parse_format("E4M3,saturate"));
  EXPECT_EQ(p.config.rounding, Rounding::stochastic);
  EXPECT_EQ(p.config.apply_to, unsigned(kApplyWeights | kApplyUpdates));
  EXPECT_EQ(p.config.every, 0);
  EXPECT_TRUE(p.config.master_weights);
  EXPECT_EQ(parameter_text(p, "every"), "epoch");
  EXPECT_EQ(parameter_text(p, "hidden"), "32,16");
  const DatasetShape sh = dataset_shape("synthetic");
  EXPECT_EQ(p.cost, estimated_cost(p.config, sh.dim, sh.n_train, sh.classes));
}

TEST(Spec, IntegerAndFloatRanges) {
  auto seeds = [](const std::string& range) {
    std::vector<std::uint64_t> out;
    for (const Point& p : parse_spec("seed: " + range + "\n").points) out.push_back(p.config.seed);
    return out;
  };
  EXPECT_EQ(seeds("{from: 1, to: 10, step: 3}"), (std::vector<std::uint64_t>{1, 4, 7, 10}));
  EXPECT_EQ(seeds("{from: 1, to: 9, step: 3}"), (std::vector<std::uint64_t>{1, 4, 7}));
  EXPECT_EQ(seeds("{from: 5, to: 5, step: 1}"), (std::vector<std::uint64_t>{5}));
  // Near the int64 limits: no signed overflow while stepping (UBSan checks this build-wide).
  EXPECT_EQ(seeds("{from: 0, to: 9223372036854775807, step: 4611686018427387904}"),
            (std::vector<std::uint64_t>{0, 4611686018427387904u}));
  EXPECT_EQ(seeds("{from: 9223372036854775806, to: 9223372036854775807, step: 9223372036854775807}"),
            (std::vector<std::uint64_t>{9223372036854775806u}));
  EXPECT_EQ(error_of("seed: {from: -9223372036854775808, to: 9223372036854775807, "
                     "step: 4611686018427387904}\n"),
            "x.yaml:1: seed: expected an integer in 0..18446744073709551615, got "
            "'-9223372036854775808'");
  EXPECT_EQ(error_of("seed: {from: -9223372036854775808, to: 9223372036854775807, step: 1}\n"),
            "x.yaml:1: seed: range has more than 1000000 values");
  // Float: from + i*step, not accumulated: 0.1 + 2*0.1 must give the double nearest 0.3.
  EXPECT_EQ(lrs_of(parse_spec("train: {lr: {from: 0.1, to: 0.5, step: 0.1}}")),
            (std::vector<double>{0.1, 0.2, 0.3, 0.4, 0.5}));
  EXPECT_EQ(lrs_of(parse_spec("train: {lr: {from: 0.25, to: 1, step: 0.25}}")),
            (std::vector<double>{0.25, 0.5, 0.75, 1.0}));
  EXPECT_EQ(lrs_of(parse_spec("train: {lr: {from: 0.1, to: 0.35, step: 0.1}}")),
            (std::vector<double>{0.1, 0.2, 0.3}));
  // A long float range lands exactly on its end despite accumulated binary error.
  EXPECT_EQ(lrs_of(parse_spec("train: {lr: {from: 0.01, to: 1, step: 0.01}}")).size(), 100u);
  EXPECT_EQ(lrs_of(parse_spec("train: {lr: {from: 0.01, to: 1, step: 0.01}}")).back(), 1.0);
  // A range of hidden: an axis of single-layer networks.
  const SweepSpec h = parse_spec("model: {hidden: {from: 25, to: 100, step: 25}}");
  ASSERT_EQ(h.points.size(), 4u);
  EXPECT_EQ(h.points[3].config.hidden, std::vector<int>{100});
  // every: integer range and names.
  const SweepSpec e = parse_spec("precision: {every: [batch, 4, epoch]}");
  ASSERT_EQ(e.points.size(), 3u);
  EXPECT_EQ(e.points[0].config.every, 1);
  EXPECT_EQ(e.points[1].config.every, 4);
  EXPECT_EQ(e.points[2].config.every, 0);
}

TEST(Spec, HiddenOneValueVersusAxis) {
  EXPECT_EQ(parse_spec("model: {hidden: [100]}").points.size(), 1u);
  EXPECT_EQ(parse_spec("model: {hidden: 100}").points[0].config.hidden, std::vector<int>{100});
  EXPECT_EQ(parse_spec("model: {hidden: [200, 100]}").points.size(), 1u);
  const SweepSpec s = parse_spec("model: {hidden: [[100], [200, 100], [50, 50, 50]]}");
  ASSERT_EQ(s.points.size(), 3u);
  EXPECT_EQ(s.points[2].config.hidden, (std::vector<int>{50, 50, 50}));
  EXPECT_EQ(s.axes[0].values, (std::vector<std::string>{"100", "200,100", "50,50,50"}));
}

TEST(Spec, NamedFormatListsAndMaps) {
  const SweepSpec s = parse_spec("precision: {format: [fp32, bf16, E5M4, Q4.8]}");
  ASSERT_EQ(s.points.size(), 4u);
  EXPECT_EQ(s.points[0].config.format, parse_format("fp32"));
  EXPECT_EQ(s.points[1].config.format, parse_format("bf16"));
  EXPECT_EQ(s.points[2].config.format, parse_format("E5M4"));
  EXPECT_EQ(s.points[3].config.format, parse_format("Q4.8"));
  EXPECT_EQ(s.axes[0].values[1], parse_format("bf16").name());

  // Mixed list: names and maps, maps expanded in place (exp outer, man inner), with options.
  const SweepSpec m = parse_spec(
      "precision:\n  format: [fp16, {exp: 4, man: [2, 3], options: [no-subnormals]}, {int: [8, 6], frac: 8}]\n");
  ASSERT_EQ(m.points.size(), 5u);
  EXPECT_EQ(m.points[1].config.format, parse_format("E4M2,no-subnormals"));
  EXPECT_EQ(m.points[2].config.format, parse_format("E4M3,no-subnormals"));
  EXPECT_FALSE(m.points[2].config.format.subnormals);
  EXPECT_EQ(m.points[3].config.format, parse_format("Q8.8"));
  EXPECT_EQ(m.points[4].config.format, parse_format("Q6.8"));

  // apply_to: a list is an axis; a nested list or a comma string is one combined value.
  const SweepSpec a = parse_spec("precision: {apply_to: [weights, [weights, activations], \"gradients,updates\"]}");
  ASSERT_EQ(a.points.size(), 3u);
  EXPECT_EQ(a.points[1].config.apply_to, unsigned(kApplyWeights | kApplyActivations));
  EXPECT_EQ(a.points[2].config.apply_to, unsigned(kApplyGradients | kApplyUpdates));
}

// ---- baselines ------------------------------------------------------------------------------

TEST(Spec, BaselineReusesFp32GridPoints) {
  const SweepSpec s = parse_spec(R"(
seed: [1, 2]
precision:
  format: [E5M2, fp32, E4M3]
  rounding: [toward_zero, stochastic]
baseline: true
)");
  // fp32 is already in the grid: no points added.
  ASSERT_EQ(s.points.size(), 12u);
  EXPECT_EQ(s.grid_points, 12);
  for (const Point& p : s.points) {
    EXPECT_FALSE(p.is_baseline);
    const Point& b = s.points[p.baseline_index];
    EXPECT_TRUE(b.config.format.is_identity());
    EXPECT_EQ(b.config.seed, p.config.seed);
    // The first fp32 point of the same seed: format index 1, rounding index 0.
    EXPECT_EQ(p.baseline_index, (p.config.seed == 1 ? 0 : 6) + 2);
  }
  const SweepSpec none = parse_spec("seed: [1, 2]\nprecision: {format: [E5M2, E5M3]}\n");
  for (const Point& p : none.points) EXPECT_EQ(p.baseline_index, -1);

  // One baseline per hyperparameter setting, shared by all precision settings.
  const SweepSpec b = parse_spec(R"(
train: {lr: [0.1, 0.2]}
precision: {format: [E5M2, E5M3], master_weights: [false, true], every: [1, 2]}
baseline: true
)");
  EXPECT_EQ(b.grid_points, 16);
  ASSERT_EQ(b.points.size(), 18u);
  for (int i = 0; i < 16; ++i) EXPECT_EQ(b.points[i].baseline_index, 16 + i / 8);
  EXPECT_FALSE(b.points[17].config.master_weights);
  EXPECT_EQ(b.points[17].config.every, 1);
  EXPECT_EQ(b.points[17].config.lr, 0.2);
}

// ---- variants -------------------------------------------------------------------------------

TEST(Spec, VariantsAreAUnionWithoutDuplicates) {
  const SweepSpec s = parse_spec(R"(
seed: [1, 2]
model: {hidden: [100], activation: sigmoid}
train: {lr: 0.1}
precision: {format: {exp: 8, man: [4, 8]}}
baseline: true
variants:
  - {}
  - train: {lr: [0.01, 0.1, 0.5]}
  - model: {hidden: [[50], [100, 100]]}
)");
  // base 2x2=4; lr variant 2x3x2=12 of which lr=0.1 (4) duplicates the base; hidden variant 8.
  EXPECT_EQ(s.grid_points, 4 + 8 + 8);
  // Baselines: seeds x (base, lr 0.01, lr 0.5, hidden 50, hidden 100,100) = 2 x 5.
  EXPECT_EQ(s.points.size(), 20u + 10u);
  const Axis* lr = find_axis(s.axes, "lr");
  ASSERT_NE(lr, nullptr);
  EXPECT_EQ(lr->values, (std::vector<std::string>{"0.1", "0.01", "0.5"}));
  EXPECT_EQ(s.points[4].config.lr, 0.01);
  EXPECT_EQ(s.points[12].config.hidden, std::vector<int>{50});
}

// The one-at-a-time example of docs/sweep-spec.md: 14 settings x 3 seeds x E8M0..E8M23, and
// E8M23 (binary32) in the grid serves as every setting's baseline.
TEST(Spec, DocsOneAtATimeExample) {
  const SweepSpec s = parse_spec(R"(
name: one-at-a-time
epochs: 2
seed: [1, 2, 3]
model: {hidden: [100], activation: sigmoid}
train: {lr: 0.1, batch: 64}
precision: {format: {exp: 8, man: {from: 0, to: 23, step: 1}}, rounding: toward_zero}
baseline: true
variants:
  - {}                                            # the base network
  - model: {hidden: [[100, 100], [100, 100, 100]]}
  - model: {hidden: [[25], [50], [200], [400]]}
  - train: {lr: [0.01, 0.5, 1.0]}
  - train: {batch: [16, 256]}
  - model: {activation: [tanh, relu]}
)");
  EXPECT_EQ(s.points.size(), 14u * 3 * 24);
  EXPECT_EQ(s.grid_points, 14 * 3 * 24);
  for (const Point& p : s.points) {
    const Point& b = s.points[p.baseline_index];
    EXPECT_EQ(b.config.format, parse_format("E8M23"));
    EXPECT_EQ(b.config.hidden, p.config.hidden);
    EXPECT_EQ(b.config.seed, p.config.seed);
    EXPECT_EQ(b.config.lr, p.config.lr);
    EXPECT_EQ(b.config.batch, p.config.batch);
    EXPECT_EQ(b.config.activation, p.config.activation);
  }
}

// ---- determinism ----------------------------------------------------------------------------

TEST(Spec, PointOrderIsDeterministicAndIndependentOfKeyOrder) {
  const SweepSpec a = parse_spec(kExample);
  const SweepSpec b = parse_spec(kExample);
  const SweepSpec c = parse_spec(R"(baseline: true
precision:
  rounding: [toward_zero, nearest_even]
  format: {man: {from: 2, to: 10, step: 2}, exp: [5, 8]}
train: {batch: 64, lr: [0.1, 0.5]}
model: {activation: sigmoid, hidden: [[100], [200, 100]]}
seed: [1, 2]
epochs: 2
)");
  ASSERT_EQ(a.points.size(), b.points.size());
  ASSERT_EQ(a.points.size(), c.points.size());
  for (std::size_t i = 0; i < a.points.size(); ++i)
    for (const std::string& name : parameter_names()) {
      EXPECT_EQ(parameter_text(a.points[i], name), parameter_text(b.points[i], name));
      EXPECT_EQ(parameter_text(a.points[i], name), parameter_text(c.points[i], name)) << i << name;
      EXPECT_EQ(a.points[i].baseline_index, c.points[i].baseline_index);
    }
  EXPECT_NE(a.sha256, c.sha256);
}

TEST(Spec, LargeSpecExpands) {
  // 10 seeds x 10 lr x 5 batch x 10 widths x 20 formats = 100,000 points (no
  // wall-clock threshold here: speed is measured in benchmarks/bench_spec.cpp).
  const SweepSpec s = parse_spec(R"(
seed: {from: 1, to: 10, step: 1}
train: {lr: {from: 0.1, to: 1.0, step: 0.1}, batch: [16, 32, 64, 128, 256]}
model: {hidden: {from: 10, to: 100, step: 10}}
precision: {format: {exp: [5, 8], man: {from: 1, to: 10, step: 1}}, rounding: stochastic}
)");
  EXPECT_EQ(s.points.size(), 10u * 10 * 5 * 10 * 20);
  EXPECT_EQ(s.points.back().id, 99'999);
  EXPECT_EQ(s.points.back().config.format, parse_format("E8M10"));
  EXPECT_EQ(s.points.back().config.lr, 1.0);
  EXPECT_EQ(s.points.back().config.seed, 10u);
}

// ---- errors: key path and line --------------------------------------------------------------

TEST(SpecErrors, NameKeyPathAndLine) {
  struct Case {
    std::string yaml;
    std::string expected;  // substring of the message
  };
  const std::vector<Case> cases = {
      {"name: a\nepoch: 2\n", "x.yaml:2: epoch: unknown key; did you mean 'epochs'?"},
      {"name: a\ntrain:\n  epochs: 2\n", "x.yaml:3: train.epochs: unknown key here; 'epochs' belongs at epochs"},
      {"train:\n  lr: 0.1\n  threads: 2\n", "x.yaml:3: train.threads: unknown key: threads are chosen at run time"},
      {"precision:\n  rouding: stochastic\n", "x.yaml:2: precision.rouding: unknown key; did you mean 'rounding'?"},
      // PyTorch-style names are not keys, but the message names precsweep's
      {"train:\n  learning_rate: 0.1\n",
       "x.yaml:2: train.learning_rate: unknown key; did you mean 'lr' (under train:)?"},
      {"batch_size: 64\n", "x.yaml:1: batch_size: unknown key; did you mean 'batch' (under train:)?"},
      {"num_epochs: 2\n", "x.yaml:1: num_epochs: unknown key; did you mean 'epochs'?"},
      {"train:\n  batch: abc\n", "x.yaml:2: train.batch: expected an integer, got 'abc'"},
      {"train:\n  batch: 0\n", "x.yaml:2: train.batch: must be in 1..1000000, got 0"},
      {"train:\n  batch: 6.4\n", "x.yaml:2: train.batch: expected an integer"},
      {"train:\n  lr: -0.1\n", "x.yaml:2: train.lr: must be > 0, got -0.1"},
      {"train:\n  lr: [0.1, -1]\n", "x.yaml:2: train.lr[1]: must be > 0, got -1"},
      {"train:\n  momentum: 1.5\n", "train.momentum: must be in [0, 1), got 1.5"},
      {"train:\n  lr_schedule: linear\n", "x.yaml:2: train.lr_schedule: expected constant, cosine or step"},
      {"seed: []\n", "x.yaml:1: seed: empty list: an axis needs at least one value"},
      {"seed: -3\n", "x.yaml:1: seed: expected an integer in 0..18446744073709551615, got '-3'"},
      {"seed:\n", "x.yaml:1: seed: missing value"},
      {"seed: [1, 2, 1]\n", "x.yaml:1: seed: duplicate value '1' in the list"},
      {"epochs: {from: 1, to: 3}\n", "x.yaml:1: epochs: range is missing 'step'"},
      {"epochs: {from: 1, to: 3, step: 1, by: 2}\n", "x.yaml:1: epochs.by: unknown key in a range"},
      {"name: a\n\nprecision:\n  format:\n    exp: 5\n    man: {from: 2, to: 10,\n          step: 0}\n",
       "x.yaml:7: precision.format.man.step: range step must be > 0"},
      {"precision:\n  format: {exp: 5, man: {from: 2, to: 10, step: -2}}\n",
       "x.yaml:2: precision.format.man.step: range step must be > 0"},
      {"train:\n  lr: {from: 0.5, to: 0.1, step: 0.1}\n", "x.yaml:2: train.lr: range from (0.5) must be <= to (0.1)"},
      {"train:\n  lr: {from: 0.1, to: 0.5, step: 0}\n", "x.yaml:2: train.lr.step: range step must be > 0"},
      {"epochs: {from: 1, to: 3, step: 0.5}\n", "x.yaml:1: epochs: this range must have integer from, to and step"},
      {"precision:\n  format: E9M2\n", "x.yaml:2: precision.format: "},
      {"precision:\n  format: [fp32, nonsense]\n", "x.yaml:2: precision.format[1]: "},
      {"precision:\n  format: {exp: 5}\n", "x.yaml:2: precision.format: missing 'man'"},
      {"precision:\n  format: {exp: 5, man: 2, frac: 3}\n", "precision.format: give either {exp, man} or {int, frac}"},
      {"precision:\n  format: {exp: 5, man: 2, options: [fast]}\n", "precision.format.options: unknown option 'fast'"},
      {"precision:\n  format: [fp16, E5M10]\n", "x.yaml:2: precision.format: duplicate value"},
      {"precision:\n  rounding: sideways\n", "x.yaml:2: precision.rounding: "},
      {"precision:\n  every: sometimes\n", "x.yaml:2: precision.every: expected batch, epoch or a number"},
      {"precision:\n  master_weights: maybe\n", "x.yaml:2: precision.master_weights: expected true or false"},
      {"precision:\n  apply_to: everything\n", "x.yaml:2: precision.apply_to: "},
      {"model:\n  activation: softsign\n", "x.yaml:2: model.activation: "},
      {"model:\n  hidden: [100, [200]]\n", "x.yaml:2: model.hidden: mixes widths and lists"},
      {"model:\n  hidden: [[100], []]\n", "x.yaml:2: model.hidden[1]: empty list of layer widths"},
      {"model:\n  hidden: [0]\n", "x.yaml:2: model.hidden[0]: layer width must be in 1..65536"},
      // One width cap, the trainer's (it was 1..1000000 here and 1..65536 in train).
      {"model:\n  hidden: [65537]\n", "x.yaml:2: model.hidden[0]: layer width must be in 1..65536, got 65537"},
      // -0.0 is 0: the same point twice.
      {"train:\n  weight_decay: [0, -0.0]\n", "x.yaml:2: train.weight_decay: duplicate value '0' in the list"},
      {"train:\n  momentum: [-0.0, 0]\n", "x.yaml:2: train.momentum: duplicate value '0' in the list"},
      {"model: [100]\n", "x.yaml:1: model: expected a map of keys"},
      {"dataset: cifar\n", "x.yaml:1: dataset: unknown dataset 'cifar'"},
      {"baseline: yes please\n", "x.yaml:1: baseline: expected true or false"},
      {"name: a\nname: b\n", "x.yaml:2: name: duplicate key"},
      {"variants: {}\n", "x.yaml:1: variants: expected a non-empty list"},
      {"variants:\n  - name: b\n", "x.yaml:2: variants[0].name: unknown key"},
      {"variants:\n  - 3\n", "x.yaml:2: variants[0]: expected a map of overrides"},
      {"dataset: [mnist, fashion-mnist]\ndata_dir: d\n", "x.yaml:2: data_dir: data_dir cannot be combined"},
      {"seed: [1, 2\nname: x\n", "x.yaml:"},
      {"name: a\n  b: c\n", "x.yaml:2: invalid YAML"},
      {"- 1\n- 2\n", "x.yaml:1: a spec must be a map"},
      {"", "x.yaml: the spec is empty"},
      {"name: a\n---\nname: b\n", "more than one YAML document"},
  };
  for (const Case& c : cases) {
    const std::string msg = error_of(c.yaml);
    EXPECT_NE(msg.find(c.expected), std::string::npos)
        << "yaml:\n" << c.yaml << "\nmessage: " << msg << "\nexpected: " << c.expected;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;  // one line
  }
}

// Mangled specs (characters replaced, deleted, lines duplicated) either parse or throw
// InputError with a one-line message: never another exception or a crash.
TEST(SpecErrors, MutatedSpecsFailCleanly) {
  const std::string base = kExample;
  const std::string alphabet = "{}[]:,-#&*!|>'\"% \n\t0123456789.eEmMxyz";
  std::uint64_t state = 12345;
  auto next = [&state](std::uint64_t n) {  // 64-bit LCG (Knuth MMIX), deterministic
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return (state >> 33) % n;
  };
  int errors = 0;
  for (int trial = 0; trial < 400; ++trial) {
    std::string text = base;
    const int edits = 1 + static_cast<int>(next(3));
    for (int e = 0; e < edits; ++e) {
      const std::size_t at = next(text.size());
      switch (next(3)) {
        case 0: text[at] = alphabet[next(alphabet.size())]; break;
        case 1: text.erase(at, 1 + next(4)); break;
        default: text.insert(at, text.substr(at, next(40))); break;
      }
    }
    try {
      parse_spec(text, "m.yaml");
    } catch (const InputError& err) {
      ++errors;
      EXPECT_EQ(std::string(err.what()).find('\n'), std::string::npos) << err.what();
      EXPECT_EQ(std::string(err.what()).rfind("m.yaml", 0), 0u) << err.what();
    } catch (const std::exception& err) {
      ADD_FAILURE() << "non-input exception " << err.what() << " for:\n" << text;
    }
  }
  EXPECT_GT(errors, 100);  // the mutations do break most specs
}

// Issue 14: a network within every per-layer cap can still be far too big (64 layers of 65536
// are 1.1 TB of weights): `list` refuses it with the parameter count and memory it needs.
TEST(SpecErrors, NetworkTooLargeIsRefused) {
  std::string widths = "65536";
  for (int i = 1; i < 64; ++i) widths += ", 65536";
  const std::string msg = error_of("model:\n  hidden: [" + widths + "]\n");
  EXPECT_NE(msg.find("hidden: a network of 270639169546 parameters (784 inputs, 64 hidden layers "
                     "up to 65536 wide, 10 classes) needs at least 4040.84 GiB of memory; one run "
                     "holds at most 2147483647 parameters"),
            std::string::npos)
      << msg;
}

// A control byte in a key (here a NUL) is shown escaped: the whole one-line message survives
// printing and nothing reaches the terminal raw.
TEST(SpecErrors, ControlBytesInKeysAreEscaped) {
  const std::string msg = error_of(std::string("name: a\nse\0ed: 1\n", 17));
  EXPECT_EQ(msg.rfind("x.yaml:2: se\\x", 0), 0u) << msg;
  EXPECT_NE(msg.find("d: unknown key; did you mean 'seed'?"), std::string::npos) << msg;
  EXPECT_TRUE(std::none_of(msg.begin(), msg.end(),
                           [](char c) { return static_cast<unsigned char>(c) < 0x20; }))
      << msg;
}

TEST(SpecErrors, DeepNestingSaysSoWithTheLine) {
  std::string yaml = "name: x\nmodel: ";
  yaml += std::string(600, '[') + std::string(600, ']') + "\n";
  const std::string msg = error_of(yaml);
  EXPECT_EQ(msg.rfind("x.yaml:2: nested too deeply (", 0), 0u) << msg;
  std::string block = "name: x\nmodel:\n";
  for (int i = 1; i < 600; ++i) block += std::string(2 * i, ' ') + "k" + std::to_string(i) + ":\n";
  const std::string msg2 = error_of(block);
  EXPECT_NE(msg2.find("nested too deeply"), std::string::npos) << msg2;
}

TEST(SpecErrors, DirectoryOrFifoAsTheSpecIsNamed) {
  precsweep::test::TempDir d;
  try {
    load_spec(d.path);
    ADD_FAILURE();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find(": is a directory, not a spec file"), std::string::npos)
        << e.what();
  }
  ASSERT_EQ(::mkfifo((d.path / "fifo.yaml").c_str(), 0600), 0);
  try {
    load_spec(d.path / "fifo.yaml");  // must not block opening it
    ADD_FAILURE();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("fifo.yaml: is not a regular file"), std::string::npos)
        << e.what();
  }
}

TEST(SpecErrors, MissingFileAndTooManyPoints) {
  try {
    load_spec("no/such/spec.yaml");
    ADD_FAILURE();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("no/such/spec.yaml: cannot read"), std::string::npos);
  }
  const std::string msg = error_of(
      "seed: {from: 1, to: 1000, step: 1}\ntrain: {lr: {from: 0.001, to: 1, step: 0.001}, batch: {from: 1, to: 100, step: 1}}\n");
  EXPECT_NE(msg.find("more than"), std::string::npos) << msg;
}

// ---- the `list` command ---------------------------------------------------------------------

namespace {
using test::CliRun;
CliRun run_cli(const std::string& args) { return test::run_precsweep(args); }
}  // namespace

TEST(ListCommand, PrintsCountsAxesAndCost) {
  const std::string spec = (fs::path(PRECSWEEP_SOURCE_DIR) / "sweeps/example.yaml").string();
  const CliRun r = run_cli("list " + spec + " --show 3");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("points    168 = 160 grid + 8 fp32 baselines"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("E5M2, E5M4, E5M6, E5M8, E5M10, E8M2"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("200,100"), std::string::npos);
  EXPECT_NE(r.out.find("seed=1  hidden=100  lr=0.1  format=E5M2  rounding=nearest_even"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("points=168 grid_points=160 baselines=8 "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("sample_passes=2.016e+07"), std::string::npos) << r.out;  // 168 x 2 x 60000

  const CliRun j = run_cli("list " + spec + " --json");
  EXPECT_EQ(j.code, 0) << j.err;
  EXPECT_EQ(std::count(j.out.begin(), j.out.end(), '\n'), 1);
  EXPECT_NE(j.out.find("\"points\":168,\"grid_points\":160,\"baselines\":8"), std::string::npos) << j.out;
  EXPECT_NE(j.out.find("\"rounding\":[\"toward_zero\",\"nearest_even\"]"), std::string::npos) << j.out;
}

TEST(ListCommand, BadSpecExitsTwoWithOneLine) {
  const fs::path dir = fs::temp_directory_path() / ("precsweep_badspec_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const fs::path bad = dir / "bad.yaml";
  std::ofstream(bad) << "name: bad\nprecision:\n  format: {exp: 5, man: {from: 2, to: 10, step: 0}}\n";
  const CliRun r = run_cli("list " + bad.string());
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(r.out.empty()) << r.out;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_NE(r.err.find(bad.string() + ":3: precision.format.man.step: range step must be > 0"),
            std::string::npos) << r.err;
  const CliRun missing = run_cli("list " + (dir / "missing.yaml").string());
  EXPECT_EQ(missing.code, 2);
  fs::remove_all(dir);
}
