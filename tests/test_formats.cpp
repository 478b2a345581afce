// Tests of the number formats: the fast bit kernel (quantize) against the exact reference
// (formats_ref.cpp) on every binary16 value and every neighbour midpoint of many formats, in
// every mode and option; >= 10^7 biased random inputs per (format, deterministic mode);
// properties; stochastic rounding statistics and reproducibility; pinned values; parsing.
// The `precsweep quantize` command is tested in test_cli_quantize.cpp.
// Deliberately leaves out: timing (benchmarks/bench_formats.cpp).
#include <gtest/gtest.h>
#include <omp.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <string>
#include <vector>

#include "formats_ref.hpp"
#include "precsweep/error.hpp"
#include "precsweep/formats.hpp"
#include "precsweep/suggest.hpp"
#include "precsweep/rng.hpp"

namespace precsweep {
namespace {

#ifdef PRECSWEEP_KERNEL_ARCH
// This binary's kernel was compiled for one instruction set only (tests/CMakeLists.txt): skip
// everything on a CPU that cannot run it.
class KernelArchEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    const std::string arch = PRECSWEEP_KERNEL_ARCH;
    __builtin_cpu_init();
    if (arch == "x86-64-v3" && !(__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
                                 __builtin_cpu_supports("bmi2")))
      GTEST_SKIP() << "this CPU cannot run x86-64-v3 code";
  }
};
const auto* const kArchEnvironment =
    ::testing::AddGlobalTestEnvironment(new KernelArchEnvironment);
#endif

constexpr Rounding kAllModes[] = {Rounding::toward_zero, Rounding::nearest_even, Rounding::up,
                                  Rounding::down, Rounding::stochastic};
constexpr Rounding kDeterministicModes[] = {Rounding::toward_zero, Rounding::nearest_even,
                                            Rounding::up, Rounding::down};

std::uint32_t bits(float v) { return std::bit_cast<std::uint32_t>(v); }
float from_bits(std::uint32_t b) { return std::bit_cast<float>(b); }

// Same value bit for bit (so -0 != +0); any NaN equals any NaN.
bool same(float a, float b) {
  if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b);
  return bits(a) == bits(b);
}

std::string hex(float v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%a (0x%08x)", static_cast<double>(v), bits(v));
  return buf;
}

// binary16 bit pattern -> value, from the definition (bias 15, 10 fraction bits).
float half_to_float(std::uint16_t h) {
  const bool neg = (h >> 15) != 0;
  const int e = (h >> 10) & 0x1F;
  const int f = h & 0x3FF;
  double v;
  if (e == 0x1F)
    v = f ? std::numeric_limits<double>::quiet_NaN() : HUGE_VAL;
  else if (e == 0)
    v = std::ldexp(f, -24);
  else
    v = std::ldexp(1024 + f, e - 25);
  return static_cast<float>(neg ? -v : v);
}

// The formats checked exhaustively: presets, the issue's shapes and corner shapes.
const std::vector<std::string>& exhaustive_format_names() {
  static const std::vector<std::string> names = {
      "fp32",  "tf32", "fp16",  "bf16",  "fp8-e5m2", "fp8-e4m3", "E8M23", "E2M0",  "E8M0",
      "E5M10", "E2M1", "E3M2",  "E4M3",  "E6M5",     "E7M22",    "E2M23", "E8M22", "E5M0",
      "Q8.8",  "Q1.0", "Q1.24", "Q16.8", "Q25.0",    "Q4.4",     "Q2.13", "Q12.4",
      // the encodings (docs/formats.md, "Encodings"): every <= 8-bit preset, and corner shapes
      "fp8-e4m3fnuz", "fp8-e5m2fnuz", "fp8-e3m4", "fp6-e2m3", "fp6-e3m2", "fp4-e2m1",
      "E2M1,fn", "E5M2,fn", "E7M1,fn", "E4M10,fn", "E2M1,fnuz", "E7M1,fnuz", "E5M10,fnuz",
      "E7M5,finite", "E3M4,finite", "E5M10,finite"};
  return names;
}

// Option variants of a format: plain, no-subnormals (floating only), saturate, both.
std::vector<Format> variants(const std::string& name) {
  std::vector<Format> out = {parse_format(name)};
  if (out[0].kind == Format::Kind::floating) {
    out.push_back(parse_format(name + ",no-subnormals"));
    out.push_back(parse_format(name + ",saturate"));
    out.push_back(parse_format(name + ",no-subnormals,saturate"));
  }
  return out;
}

// Inputs: every binary16 value, and around each pair of neighbours (v, w) of the target (up to
// 40000 pairs): v, just above v, the midpoint and its two binary32 neighbours, just below w;
// all with both signs; plus the overflow thresholds.
std::vector<float> exhaustive_inputs(const Format& fmt) {
  std::vector<float> in;  // shape [count]
  for (std::uint32_t h = 0; h < 65536; ++h)
    in.push_back(half_to_float(static_cast<std::uint16_t>(h)));
  std::vector<double> grid = ref::representable_values(fmt, 40000);
  // One step past the largest finite value (the value an unbounded exponent would give).
  const double top = grid.back();
  grid.push_back(top + (fmt.kind == Format::Kind::fixed
                            ? fmt.min_subnormal()
                            : std::ldexp(1.0, fmt.emax() - fmt.man_bits)));
  const float inf = std::numeric_limits<float>::infinity();
  for (std::size_t k = 0; k + 1 < grid.size(); ++k) {
    const float v = static_cast<float>(grid[k]);
    const float w = static_cast<float>(grid[k + 1]);
    const double mid = (grid[k] + grid[k + 1]) / 2;
    std::vector<float> pts = {v, std::nextafter(v, inf), std::nextafter(w, 0.0f)};
    if (static_cast<double>(static_cast<float>(mid)) == mid) {
      const float m = static_cast<float>(mid);
      pts.insert(pts.end(), {m, std::nextafter(m, 0.0f), std::nextafter(m, inf)});
    }
    for (float p : pts) {
      in.push_back(p);
      in.push_back(-p);
    }
  }
  return in;
}

// Runs the kernel on `in` and compares every element with the reference. Returns the number of
// mismatches and prints the first few.
std::size_t compare_with_ref(const std::vector<float>& in, const Format& fmt, Rounding mode,
                             StochasticKey key) {
  std::vector<float> out = in;  // shape [n]
  quantize(out, fmt, mode, key);
  std::size_t bad = 0;
  const std::size_t n = in.size();
#pragma omp parallel for reduction(+ : bad) schedule(static)
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint32_t word = mode == Rounding::stochastic ? stochastic_bits(key, i) : 0u;
    const float want = ref::quantize_ref(in[i], fmt, mode, word);
    if (!same(out[i], want)) {
      ++bad;
      if (bad <= 3) {
#pragma omp critical
        std::printf("  mismatch %s %s: x = %s kernel %s reference %s\n", fmt.name().c_str(),
                    to_string(mode).c_str(), hex(in[i]).c_str(), hex(out[i]).c_str(),
                    hex(want).c_str());
      }
    }
  }
  return bad;
}

TEST(FormatsExhaustive, Binary16AndMidpointsMatchReferenceInEveryModeAndOption) {
  const StochasticKey key{12345, 7, 0};
  for (const auto& name : exhaustive_format_names()) {
    for (const Format& fmt : variants(name)) {
      const std::vector<float> in = exhaustive_inputs(fmt);
      for (Rounding mode : kAllModes) {
        EXPECT_EQ(compare_with_ref(in, fmt, mode, key), 0u)
            << fmt.name() << " " << to_string(mode) << " over " << in.size() << " inputs";
      }
    }
  }
}

// A second reference for formats of at most 8 bits, from their code tables alone: every code
// (sign, exponent field E, fraction field F) is decoded by the encoding's definition, with
// integer fields; the non-negative finite values, in code order, are the grid, and a value's
// index there is its code, so "even" is the index's parity. Above max the grid continues with
// one more point, max + 2^(emax-m) (code max + 1); beyond that every mode overflows. Shares
// nothing with formats_ref.cpp or the kernel but the Format fields.
struct CodeTable {
  std::vector<double> grid;  // non-negative finite values, increasing (index = code)
  double next = 0;           // the point after max on the continued grid
};
CodeTable code_table(const Format& f) {
  const int e = f.exp_bits, m = f.man_bits;
  const int bias = (1 << (e - 1)) - (f.encoding == Encoding::fnuz ? 0 : 1);
  CodeTable t;
  for (std::uint32_t code = 0; code < (1u << (e + m)); ++code) {  // sign bit 0
    const std::uint32_t E = code >> m, F = code & ((1u << m) - 1);
    const bool top = E == (1u << e) - 1;
    if (f.encoding == Encoding::ieee && top) break;                       // inf, NaN
    if (f.encoding == Encoding::fn && top && F == (1u << m) - 1) break;   // NaN
    const std::int64_t sig = E == 0 ? F : (std::int64_t{1} << m) + F;
    const int scale = (E == 0 ? 1 : static_cast<int>(E)) - bias - m;
    t.grid.push_back(std::ldexp(static_cast<double>(sig), scale));
  }
  const double max = t.grid.back();
  t.next = max + std::ldexp(1.0, std::ilogb(max) - m);  // max's binade has spacing 2^(E-m)
  return t;
}
float table_quantize(float x, const Format& f, const CodeTable& t, Rounding mode,
                     std::uint32_t word) {
  if (std::isnan(x)) return x;
  const bool neg = std::signbit(x), fnuz = f.encoding == Encoding::fnuz;
  const bool saturating = f.saturate || f.encoding == Encoding::finite;
  const double max = t.grid.back(), nan = std::numeric_limits<double>::quiet_NaN();
  auto out = [&](double mag) {
    if (std::isnan(mag)) return static_cast<float>(mag);
    if (mag == 0 && fnuz) return 0.0f;
    return static_cast<float>(neg ? -mag : mag);
  };
  const double inf_result =
      f.encoding == Encoding::ieee ? HUGE_VAL : (saturating ? max : nan);
  if (std::isinf(x)) return out(inf_result);
  const double a = std::fabs(static_cast<double>(x));
  // neighbours lo <= a < hi (indices), on the grid plus `next`
  std::vector<double> g = t.grid;
  g.push_back(t.next);
  double chosen;
  if (a >= t.next) {
    chosen = HUGE_VAL;  // beyond the continued grid: overflows whatever the mode
    if (mode == Rounding::toward_zero || (mode == Rounding::up && neg) ||
        (mode == Rounding::down && !neg))
      chosen = t.next;  // rounds down to >= next: still overflow
  } else {
    const std::size_t hi = static_cast<std::size_t>(
        std::upper_bound(g.begin(), g.end(), a) - g.begin());
    const std::size_t lo = hi - 1;
    bool away = false;
    if (g[lo] != a) {
      const double gap = g[hi] - g[lo], d = a - g[lo];
      switch (mode) {
        case Rounding::toward_zero: away = false; break;
        case Rounding::up: away = !neg; break;
        case Rounding::down: away = neg; break;
        case Rounding::nearest_even: away = d > gap / 2 || (d == gap / 2 && lo % 2 == 1); break;
        case Rounding::stochastic:
          away = static_cast<double>(word) < std::floor(d / gap * 4294967296.0);
          break;
      }
    }
    chosen = away ? g[hi] : g[lo];
  }
  if (chosen > max) {
    const bool to_max = saturating || mode == Rounding::toward_zero ||
                        (mode == Rounding::up && neg) || (mode == Rounding::down && !neg);
    return out(to_max ? max : inf_result);
  }
  if (!f.subnormals && chosen < t.grid[std::size_t{1} << f.man_bits]) chosen = 0;  // 2^emin
  return out(chosen);
}

TEST(FormatsExhaustive, EightBitFormatsMatchTheirCodeTablesInEveryMode) {
  const StochasticKey key{4242, 3, 0};
  for (const char* name : {"fp8-e4m3", "fp8-e5m2", "fp8-e4m3fnuz", "fp8-e5m2fnuz", "fp8-e3m4",
                           "fp6-e2m3", "fp6-e3m2", "fp4-e2m1", "E2M1,fn", "E2M1,fnuz",
                           "E3M4,finite", "E4M3", "E2M3,fn", "E6M1,fnuz"}) {
    for (const Format& fmt : variants(name)) {
      const CodeTable table = code_table(fmt);
      const std::vector<float> in = exhaustive_inputs(fmt);
      for (Rounding mode : kAllModes) {
        std::vector<float> out = in;
        quantize(out, fmt, mode, key);
        std::size_t bad = 0;
        for (std::size_t i = 0; i < in.size(); ++i) {
          const std::uint32_t word = mode == Rounding::stochastic ? stochastic_bits(key, i) : 0u;
          const float want = table_quantize(in[i], fmt, table, mode, word);
          if (!same(out[i], want) && ++bad <= 3)
            ADD_FAILURE() << fmt.name() << " " << to_string(mode) << ": x = " << hex(in[i])
                          << " kernel " << hex(out[i]) << " table " << hex(want);
        }
        EXPECT_EQ(bad, 0u) << fmt.name() << " " << to_string(mode);
      }
    }
  }
}

TEST(FormatsExhaustive, StochasticResultIsOneOfTheTwoNeighbours) {
  const StochasticKey key{99, 1, 0};
  for (const auto& name : exhaustive_format_names()) {
    for (const Format& fmt : variants(name)) {
      const std::vector<float> in = exhaustive_inputs(fmt);
      std::vector<float> out = in;
      quantize(out, fmt, Rounding::stochastic, key);
      std::size_t bad = 0;
      for (std::size_t i = 0; i < in.size(); ++i) {
        const bool neg = std::signbit(in[i]);
        const float toward = ref::quantize_ref(in[i], fmt, Rounding::toward_zero);
        const float away = ref::quantize_ref(in[i], fmt, neg ? Rounding::down : Rounding::up);
        if (!same(out[i], toward) && !same(out[i], away)) ++bad;
      }
      EXPECT_EQ(bad, 0u) << fmt.name();
    }
  }
}

// ---- >= 10^7 biased random inputs per (format, deterministic mode) ---------------------------

// Input number i of a biased random stream: raw patterns (NaN payloads, binary32 subnormals),
// near ties, grid values, the target's subnormal range, the overflow boundary, specials and
// log-uniform magnitudes across the format's range.
struct RandomInputs {
  const Format& fmt;
  std::vector<double> grid;     // sample of the format's values, increasing
  std::vector<float> boundary;  // max, overflow thresholds, 2^(emax+1)
  int lo_exp, hi_exp;           // binary exponent range to draw log-uniform magnitudes from
  std::uint64_t key;

  explicit RandomInputs(const Format& f, std::uint64_t seed)
      : fmt(f), grid(ref::representable_values(f, 1 << 16)), key(rng::key(seed, 77)) {
    const double max = f.max_finite();
    const double gap =
        f.kind == Format::Kind::fixed ? f.min_subnormal() : std::ldexp(1.0, f.emax() - f.man_bits);
    for (double b : {max, max + gap / 2, max + gap, 2 * max, std::ldexp(1.0, f.emax() + 1),
                     f.min_normal(), f.min_subnormal(), f.min_subnormal() / 2})
      if (b < 3.4e38) boundary.push_back(static_cast<float>(b));
    lo_exp = std::ilogb(f.min_subnormal()) - 4;
    hi_exp = std::min(std::ilogb(max) + 3, 127);
  }

  float operator()(std::uint64_t i) const {
    const std::uint64_t r = rng::bits64(key, i);
    const std::uint64_t r2 = rng::bits64(key ^ 0x5555, i);
    const float sign = (r >> 8) & 1 ? -1.0f : 1.0f;
    const float inf = std::numeric_limits<float>::infinity();
    auto nudge = [&](float v) {  // move by -3..+3 binary32 ulps
      const int steps = static_cast<int>((r >> 9) % 7) - 3;
      for (int s = 0; s < std::abs(steps); ++s) v = std::nextafter(v, steps > 0 ? inf : 0.0f);
      return v;
    };
    switch (r % 8) {
      case 0:
        return from_bits(static_cast<std::uint32_t>(r2));
      case 1:
      case 2: {
        const std::size_t k = r2 % (grid.size() - 1);
        return sign * nudge(static_cast<float>((grid[k] + grid[k + 1]) / 2));
      }
      case 3:
        return sign * nudge(static_cast<float>(grid[r2 % grid.size()]));
      case 4: {  // below and around the smallest normal
        const int e =
            std::ilogb(fmt.min_subnormal()) - 3 +
            static_cast<int>(r2 % static_cast<std::uint64_t>(std::ilogb(fmt.min_normal()) -
                                                             std::ilogb(fmt.min_subnormal()) + 5));
        const float m = 1.0f + static_cast<float>((r2 >> 20) & 0x7FFFFF) * 0x1p-23f;
        return sign * std::ldexp(m, e);
      }
      case 5:
        return sign * nudge(boundary[r2 % boundary.size()]);
      case 6: {
        switch (r2 % 5) {
          case 0:
            return sign * 0.0f;
          case 1:
            return sign * inf;
          case 2:
            return from_bits(0x7F800001u | static_cast<std::uint32_t>(r2 >> 40));  // sNaN
          case 3:
            return from_bits(0xFFC00000u | static_cast<std::uint32_t>((r2 >> 40) & 0xF));
          default:
            return from_bits(0x7F800000u | static_cast<std::uint32_t>(1 + (r2 >> 48) % 7));
        }
      }
      default: {
        const int e =
            lo_exp + static_cast<int>(r2 % static_cast<std::uint64_t>(hi_exp - lo_exp + 1));
        const float m = 1.0f + static_cast<float>((r2 >> 20) & 0x7FFFFF) * 0x1p-23f;
        return sign * std::ldexp(m, e);
      }
    }
  }
};

// 10 chunks of 2^20 = 10,485,760 inputs.
constexpr std::size_t kRandomChunk = std::size_t{1} << 20;
constexpr int kRandomChunks = 10;

std::size_t random_mismatches(const Format& fmt, Rounding mode) {
  const RandomInputs gen(fmt, 2024);
  std::vector<float> in(kRandomChunk);  // shape [kRandomChunk]
  std::size_t bad = 0;
  for (int c = 0; c < kRandomChunks; ++c) {
#pragma omp parallel for schedule(static)
    for (std::size_t i = 0; i < kRandomChunk; ++i) in[i] = gen(c * kRandomChunk + i);
    bad += compare_with_ref(in, fmt, mode, {});
  }
  return bad;
}

TEST(FormatsRandom, TenMillionBiasedInputsPerFormatAndModeMatchReference) {
  // The presets (fp32 is the identity, tested below) and a handful of shapes and options.
  const char* names[] = {"fp16",     "bf16",     "tf32",
                         "fp8-e5m2", "fp8-e4m3", "fp8-e4m3,saturate",
                         "E2M0",     "E8M0",     "E3M2,no-subnormals,saturate",
                         "Q8.8",     "Q1.24",    "fp8-e5m2fnuz",
                         "E5M10,fnuz", "E5M10,finite", "E7M9,fn,saturate"};
  for (const char* name : names) {
    const Format fmt = parse_format(name);
    for (Rounding mode : kDeterministicModes)
      EXPECT_EQ(random_mismatches(fmt, mode), 0u) << fmt.name() << " " << to_string(mode);
  }
}

// ---- properties --------------------------------------------------------------------------

// A fixed sample of inputs for the property tests: the exhaustive set of fp16 (covers binary16,
// specials, both signs) plus 2^20 biased random ones for the format.
std::vector<float> property_inputs(const Format& fmt) {
  std::vector<float> in = exhaustive_inputs(fmt);
  const RandomInputs gen(fmt, 7);
  for (std::uint64_t i = 0; i < (1u << 20); ++i) in.push_back(gen(i));
  return in;
}

TEST(FormatsProperties, IdempotentAndResultsRepresentable) {
  const StochasticKey key{5, 5, 5};
  for (const char* name : {"fp16", "bf16", "fp8-e4m3", "fp8-e5m2,no-subnormals", "E2M0",
                           "E8M0,saturate", "E3M2", "Q8.8", "Q1.24", "Q4.0", "fp8-e4m3fnuz",
                           "fp8-e5m2fnuz,saturate", "fp4-e2m1", "fp6-e3m2,no-subnormals"}) {
    const Format fmt = parse_format(name);
    const std::vector<float> in = property_inputs(fmt);
    for (Rounding mode : kAllModes) {
      std::vector<float> once = in;
      quantize(once, fmt, mode, key);
      std::vector<float> twice = once;
      quantize(twice, fmt, mode, StochasticKey{6, 6, 6});  // other random bits: still a no-op
      std::size_t not_idempotent = 0, not_representable = 0;
      for (std::size_t i = 0; i < in.size(); ++i) {
        if (!same(once[i], twice[i])) ++not_idempotent;
        const float v = once[i];
        if (std::isnan(v)) continue;
        if (std::isinf(v)) {
          if (fmt.encoding != Encoding::ieee || fmt.kind == Format::Kind::fixed) ++not_representable;
          continue;
        }
        if (!ref::is_representable(v, fmt)) ++not_representable;
      }
      EXPECT_EQ(not_idempotent, 0u) << fmt.name() << " " << to_string(mode);
      EXPECT_EQ(not_representable, 0u) << fmt.name() << " " << to_string(mode);
    }
  }
}

TEST(FormatsProperties, MonotoneInEveryDeterministicMode) {
  for (const char* name : {"fp16", "bf16", "fp8-e4m3", "fp8-e5m2,no-subnormals", "E2M0", "E8M0",
                           "E3M2,saturate", "Q8.8", "Q1.24", "fp8-e4m3fnuz", "fp4-e2m1",
                           "fp6-e2m3"}) {
    const Format fmt = parse_format(name);
    std::vector<float> in = property_inputs(fmt);
    std::erase_if(in, [](float v) { return std::isnan(v); });
    std::sort(in.begin(), in.end());
    for (Rounding mode : kDeterministicModes) {
      std::vector<float> out = in;
      quantize(out, fmt, mode);
      std::size_t violations = 0;
      for (std::size_t i = 1; i < out.size(); ++i) {
        // NaN results (E4M3FN overflow) are outside the order; skip pairs that involve one.
        if (std::isnan(out[i]) || std::isnan(out[i - 1])) continue;
        if (out[i] < out[i - 1]) ++violations;
      }
      EXPECT_EQ(violations, 0u) << fmt.name() << " " << to_string(mode);
    }
  }
}

TEST(FormatsProperties, E8M23IsTheIdentityBitForBit) {
  const Format fmt = parse_format("E8M23");
  EXPECT_TRUE(fmt.is_identity());
  EXPECT_EQ(fmt, parse_format("fp32"));
  std::vector<float> in(std::size_t{1} << 20);  // raw patterns: NaN payloads, subnormals, -0
  for (std::size_t i = 0; i < in.size(); ++i)
    in[i] = from_bits(static_cast<std::uint32_t>(rng::bits64(11, i)));
  in[0] = -0.0f;
  in[1] = from_bits(0x7F800001u);
  in[2] = from_bits(0x00000001u);
  for (Rounding mode : kAllModes) {
    std::vector<float> out = in;
    quantize(out, fmt, mode, {1, 2, 3});
    std::size_t changed = 0;
    for (std::size_t i = 0; i < in.size(); ++i) changed += bits(in[i]) != bits(out[i]);
    EXPECT_EQ(changed, 0u) << to_string(mode);
  }
  // The same format spelled with options that change nothing keeps every finite value too.
  std::vector<float> out = in;
  quantize(out, parse_format("E8M23,saturate"), Rounding::nearest_even);
  std::size_t changed = 0;
  for (std::size_t i = 0; i < in.size(); ++i) changed += !same(in[i], out[i]);
  EXPECT_EQ(changed, 0u);
}

// ---- stochastic rounding -------------------------------------------------------------------

// Fraction of 10^5 draws of x that round away from zero (x between lo and lo + gap).
double fraction_away(float x, float lo, const Format& fmt, std::uint64_t seed) {
  std::vector<float> v(100000, x);
  quantize(v, fmt, Rounding::stochastic, {seed, 3, 0});
  std::size_t away = 0;
  for (float r : v) {
    EXPECT_TRUE(same(r, lo) || std::fabs(r) > std::fabs(lo)) << hex(r);
    away += std::fabs(r) > std::fabs(lo);
  }
  return static_cast<double>(away) / static_cast<double>(v.size());
}

TEST(FormatsStochastic, MeanMatchesInputWithinStatisticalTolerance) {
  struct Case {
    const char* fmt;
    double lo, gap;
  };
  const Case cases[] = {
      {"fp16", 1.0, 0x1p-10},        // normal range
      {"fp16", -3.0, -0x1p-9},       // negative
      {"fp16", 0x1p-20, 0x1p-24},    // subnormal range
      {"fp16", 0.0, 0x1p-24},        // below the smallest subnormal
      {"bf16", 0x1p100, 0x1p93},     // e = 8, constant drop
      {"fp8-e4m3", 0x1p-9, 0x1p-9},  // min_sub to 2 min_sub
      {"E2M0", 1.0, 1.0},            // one significant bit
      {"Q8.8", -1.5, -0x1p-8},       // fixed point
      {"Q4.0", 0.0, 1.0},            // fixed point below its step
      {"fp4-e2m1", 4.0, 2.0},        // finite: the top gap, 4 to 6
      {"fp6-e3m2", -24.0, -4.0},     // finite, negative
      {"fp8-e4m3fnuz", 0x1p-7, 0x1p-10},  // fnuz: its min normal
      {"fp8-e5m2fnuz", 0.0, 0x1p-17},     // fnuz below its smallest subnormal
  };
  std::uint64_t seed = 100;
  for (const Case& c : cases) {
    const Format fmt = parse_format(c.fmt);
    for (double frac : {0.25, 0.5, 0.75}) {
      const float x = static_cast<float>(c.lo + frac * c.gap);
      const double p = fraction_away(x, static_cast<float>(c.lo), fmt, ++seed);
      // 5 standard deviations of a binomial proportion over 10^5 draws (<= 0.0079).
      const double tol = 5 * std::sqrt(frac * (1 - frac) / 1e5);
      EXPECT_NEAR(p, frac, tol) << c.fmt << " x = " << hex(x);
    }
  }
}

TEST(FormatsStochastic, SameBitsForOneAndTwoThreadsAndAnySplit) {
  const Format fmt = parse_format("fp8-e5m2");
  const std::size_t n = (std::size_t{1} << 18) + 12345;  // above the parallel threshold
  std::vector<float> in(n);                              // shape [n]
  for (std::size_t i = 0; i < n; ++i)
    in[i] =
        std::ldexp(static_cast<float>(rng::uniform01(3, i)) - 0.5f, static_cast<int>(i % 20) - 10);
  const StochasticKey key{42, 9, 1000};
  const int saved = omp_get_max_threads();

  omp_set_num_threads(1);
  std::vector<float> one = in;
  quantize(one, fmt, Rounding::stochastic, key);
  omp_set_num_threads(2);
  std::vector<float> two = in;
  quantize(two, fmt, Rounding::stochastic, key);
  omp_set_num_threads(saved);

  // Split into three calls at odd places, offsets advanced by the split points.
  std::vector<float> split = in;
  const std::size_t cut1 = 777, cut2 = 100001;
  std::span<float> all(split);
  quantize(all.subspan(0, cut1), fmt, Rounding::stochastic, key);
  quantize(all.subspan(cut1, cut2 - cut1), fmt, Rounding::stochastic,
           {key.seed, key.stream, key.offset + cut1});
  quantize(all.subspan(cut2), fmt, Rounding::stochastic, {key.seed, key.stream, key.offset + cut2});
  // One element at a time through quantize_one.
  std::size_t diff_threads = 0, diff_split = 0, diff_one = 0;
  for (std::size_t i = 0; i < n; ++i) {
    diff_threads += bits(one[i]) != bits(two[i]);
    diff_split += bits(one[i]) != bits(split[i]);
    if (i % 97 == 0)
      diff_one += bits(one[i]) != bits(quantize_one(in[i], fmt, Rounding::stochastic,
                                                    {key.seed, key.stream, key.offset + i}));
  }
  EXPECT_EQ(diff_threads, 0u);
  EXPECT_EQ(diff_split, 0u);
  EXPECT_EQ(diff_one, 0u);
  // And a different seed or stream changes the draws.
  std::vector<float> other = in;
  quantize(other, fmt, Rounding::stochastic, {43, 9, 1000});
  std::size_t diff_seed = 0;
  for (std::size_t i = 0; i < n; ++i) diff_seed += bits(one[i]) != bits(other[i]);
  EXPECT_GT(diff_seed, n / 10);
}

TEST(FormatsStochastic, CountersCrossing2To32MatchTheReference) {
  const Format fmt = parse_format("fp16");
  const StochasticKey key{1, 2, (std::uint64_t{1} << 32) - 3000};
  std::vector<float> in(7000);
  for (std::size_t i = 0; i < in.size(); ++i)
    in[i] = 1.0f + static_cast<float>(i % 1024) * 0x1p-20f;
  EXPECT_EQ(compare_with_ref(in, fmt, Rounding::stochastic, key), 0u);
  // The words on both sides of the boundary are not a repeat of each other.
  std::size_t equal = 0;
  for (std::uint64_t i = 0; i < 1000; ++i)
    equal += stochastic_bits({1, 2, 0}, i) == stochastic_bits({1, 2, std::uint64_t{1} << 32}, i);
  EXPECT_LT(equal, 5u);
}

TEST(FormatsStochastic, RandomWordsLookUniform) {
  // Chi-square of the top 8 bits and of the low 8 bits over 2^20 consecutive counters, and
  // the frequency of each of the 32 bits: a coarse check that the 32-bit hash is not broken.
  const std::size_t n = std::size_t{1} << 20;
  std::vector<double> hi(256, 0), lo(256, 0), ones(32, 0);
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint32_t w = stochastic_bits({7, 0, 0}, i);
    hi[w >> 24] += 1;
    lo[w & 0xFF] += 1;
    for (int b = 0; b < 32; ++b) ones[b] += (w >> b) & 1;
  }
  auto chi2 = [&](const std::vector<double>& h) {
    const double e = static_cast<double>(n) / 256;
    double s = 0;
    for (double c : h) s += (c - e) * (c - e) / e;
    return s;
  };
  // 255 degrees of freedom: mean 255, sd 22.6; 400 is beyond 6 sd.
  EXPECT_LT(chi2(hi), 400.0);
  EXPECT_LT(chi2(lo), 400.0);
  for (int b = 0; b < 32; ++b) EXPECT_NEAR(ones[b] / static_cast<double>(n), 0.5, 0.005) << b;
}

// ---- pinned values -------------------------------------------------------------------------

float q(float x, const char* fmt, Rounding mode = Rounding::nearest_even) {
  return quantize_one(x, parse_format(fmt), mode);
}

TEST(FormatsPinned, KnownValuesFromTheIssue) {
  EXPECT_EQ(q(3.14159265f, "fp16"), 3.140625f);
  EXPECT_EQ(q(1.0f + 0x1p-11f, "fp16"), 1.0f);                // tie to even
  EXPECT_EQ(q(1.0f + 3 * 0x1p-11f, "fp16"), 1.0f + 0x1p-9f);  // tie to even, upwards
  EXPECT_EQ(q(65519.99f, "fp16"), 65504.0f);
  EXPECT_TRUE(std::isinf(q(65520.0f, "fp16")));
  EXPECT_EQ(q(61439.9f, "fp8-e5m2"), 57344.0f);
  EXPECT_TRUE(std::isinf(q(61440.0f, "fp8-e5m2")));
  EXPECT_EQ(q(464.0f, "fp8-e4m3"), 448.0f);
  EXPECT_TRUE(std::isnan(q(464.01f, "fp8-e4m3")));
  EXPECT_EQ(q(464.01f, "fp8-e4m3,saturate"), 448.0f);
  EXPECT_EQ(q(-1e9f, "fp8-e4m3,saturate"), -448.0f);
  EXPECT_TRUE(std::isnan(q(std::numeric_limits<float>::infinity(), "fp8-e4m3")));
  EXPECT_EQ(q(-std::numeric_limits<float>::infinity(), "fp8-e4m3,saturate"), -448.0f);
  EXPECT_EQ(q(500.0f, "fp8-e4m3", Rounding::toward_zero), 448.0f);  // no inf to reach
}

// The issue's vectors for the encodings, on the kernel and on the reference alike.
TEST(FormatsPinned, EncodingsFromTheIssue) {
  const float inf = std::numeric_limits<float>::infinity();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  auto both = [](float x, const char* name, Rounding mode = Rounding::nearest_even) {
    const float kernel = q(x, name, mode);
    const float ref = ref::quantize_ref(x, parse_format(name), mode);
    EXPECT_TRUE(same(kernel, ref)) << name << " " << x << ": " << kernel << " vs " << ref;
    return kernel;
  };
  // fp8-e4m3 (fn): 464 is the tie between 448 and the missing 480, and goes to 448 (even).
  EXPECT_EQ(both(448.0f, "fp8-e4m3"), 448.0f);
  EXPECT_EQ(both(464.0f, "fp8-e4m3"), 448.0f);
  EXPECT_TRUE(std::isnan(both(465.0f, "fp8-e4m3")));
  EXPECT_EQ(both(465.0f, "fp8-e4m3,saturate"), 448.0f);
  // fp8-e5m2 (ieee)
  EXPECT_EQ(both(58000.0f, "fp8-e5m2"), 57344.0f);
  EXPECT_TRUE(std::isinf(both(61440.0f, "fp8-e5m2")));
  // E2M1 (finite): 5 ties to 4 (even), 7 ties to 8, which saturates to 6
  EXPECT_EQ(both(5.0f, "fp4-e2m1"), 4.0f);
  EXPECT_EQ(both(5.01f, "fp4-e2m1"), 6.0f);
  EXPECT_EQ(both(7.0f, "fp4-e2m1"), 6.0f);
  EXPECT_EQ(both(-1e30f, "fp4-e2m1"), -6.0f);
  EXPECT_EQ(both(1e30f, "fp4-e2m1", Rounding::up), 6.0f);
  EXPECT_EQ(both(inf, "fp4-e2m1"), 6.0f);
  EXPECT_EQ(both(-inf, "fp4-e2m1", Rounding::stochastic), -6.0f);
  EXPECT_TRUE(std::isnan(both(nan, "fp4-e2m1")));
  EXPECT_EQ(both(0.25f, "fp4-e2m1"), 0.0f);   // tie between 0 and 0.5: 0 is even
  EXPECT_EQ(both(0.75f, "fp4-e2m1"), 1.0f);   // tie between 0.5 (odd) and 1
  std::vector<float> e2m1_values;
  for (double v : ref::representable_values(parse_format("fp4-e2m1"), 100))
    e2m1_values.push_back(static_cast<float>(v));
  EXPECT_EQ(e2m1_values, (std::vector<float>{0, 0.5f, 1, 1.5f, 2, 3, 4, 6}));
  EXPECT_EQ(both(7.6f, "fp6-e2m3"), 7.5f);
  EXPECT_EQ(both(1000.0f, "fp6-e3m2"), 28.0f);
  // fnuz: no -0, max 240 / 57344, overflow NaN unless saturate, inf -> NaN
  EXPECT_FALSE(std::signbit(both(-0.0f, "fp8-e4m3fnuz")));
  EXPECT_EQ(both(-0.0f, "fp8-e4m3fnuz"), 0.0f);
  EXPECT_FALSE(std::signbit(both(-1e-30f, "fp8-e5m2fnuz")));
  EXPECT_FALSE(std::signbit(both(-1e-30f, "fp8-e4m3fnuz", Rounding::up)));
  EXPECT_FALSE(std::signbit(both(-0x1p-12f, "fp8-e4m3fnuz,no-subnormals")));
  EXPECT_EQ(both(-0x1p-10f, "fp8-e4m3fnuz", Rounding::down), -0x1p-10f);  // min subnormal
  EXPECT_EQ(both(240.0f, "fp8-e4m3fnuz"), 240.0f);
  EXPECT_EQ(both(247.9f, "fp8-e4m3fnuz"), 240.0f);
  EXPECT_TRUE(std::isnan(both(248.0f, "fp8-e4m3fnuz")));  // tie to 256 (even): overflow
  EXPECT_EQ(both(1e9f, "fp8-e4m3fnuz", Rounding::toward_zero), 240.0f);
  EXPECT_EQ(both(-1e9f, "fp8-e4m3fnuz,saturate"), -240.0f);
  EXPECT_TRUE(std::isnan(both(inf, "fp8-e4m3fnuz")));
  EXPECT_EQ(both(-inf, "fp8-e5m2fnuz,saturate"), -57344.0f);
  EXPECT_EQ(both(57344.0f, "fp8-e5m2fnuz"), 57344.0f);
  EXPECT_TRUE(std::isnan(both(61440.0f, "fp8-e5m2fnuz")));
  EXPECT_EQ(both(0x1p-7f, "fp8-e4m3fnuz", Rounding::toward_zero), 0x1p-7f);
  EXPECT_EQ(both(0x1.ffp-8f, "fp8-e4m3fnuz", Rounding::toward_zero), 0x1.cp-8f);  // subnormal
  // fp8-e3m4 (ieee): max 15.5, inf above
  EXPECT_EQ(both(15.7f, "fp8-e3m4"), 15.5f);
  EXPECT_TRUE(std::isinf(both(15.75f, "fp8-e3m4")));
}

TEST(FormatsPinned, OverflowPerModeSignedZerosAndSpecials) {
  const float inf = std::numeric_limits<float>::infinity();
  EXPECT_EQ(q(70000.0f, "fp16", Rounding::toward_zero), 65504.0f);
  EXPECT_EQ(q(-70000.0f, "fp16", Rounding::toward_zero), -65504.0f);
  EXPECT_EQ(q(65505.0f, "fp16", Rounding::up), inf);
  EXPECT_EQ(q(-70000.0f, "fp16", Rounding::up), -65504.0f);
  EXPECT_EQ(q(70000.0f, "fp16", Rounding::down), 65504.0f);
  EXPECT_EQ(q(-65505.0f, "fp16", Rounding::down), -inf);
  EXPECT_EQ(q(1e6f, "fp16,saturate", Rounding::up), 65504.0f);
  EXPECT_EQ(q(inf, "fp16,saturate"), inf);  // inf stays inf; saturate is about finite overflow
  EXPECT_EQ(q(-inf, "bf16", Rounding::toward_zero), -inf);
  EXPECT_EQ(bits(q(-0.0f, "fp8-e5m2")), 0x80000000u);
  EXPECT_EQ(bits(q(-1e-30f, "fp16")), 0x80000000u);  // underflow keeps the sign
  EXPECT_EQ(bits(q(-1e-30f, "fp16", Rounding::down)), bits(-0x1p-24f));
  EXPECT_EQ(q(1e-30f, "fp16", Rounding::up), 0x1p-24f);
  // A NaN whose payload sits only in the dropped bits stays NaN (not inf), bits unchanged.
  EXPECT_EQ(bits(q(from_bits(0x7F800001u), "fp8-e5m2", Rounding::toward_zero)), 0x7F800001u);
  EXPECT_EQ(bits(q(from_bits(0xFFC00001u), "fp16")), 0xFFC00001u);
  // E<e>M0 under nearest: IEEE's overflow threshold 1.5 * 2^emax although max's code is even.
  EXPECT_EQ(q(0x1.8p+15f, "E5M0"), inf);
  EXPECT_EQ(q(0x1.7ffffep+15f, "E5M0"), 0x1p+15f);
  // m = 0: "even" is the encoding's last bit, the exponent field's (bias 15): 2 = field 16.
  EXPECT_EQ(q(3.0f, "E5M0"), 2.0f);
  EXPECT_EQ(q(6.0f, "E5M0"), 8.0f);
  // flush to zero after rounding: 2^-14 * (1 - 2^-12) rounds up to 2^-14 and is kept.
  EXPECT_EQ(q(0x1.ffep-15f, "fp16,no-subnormals"), 0x1p-14f);
  EXPECT_EQ(bits(q(-0x1p-15f, "fp16,no-subnormals")), 0x80000000u);
}

TEST(FormatsPinned, FixedPoint) {
  const float inf = std::numeric_limits<float>::infinity();
  EXPECT_EQ(q(1.00390625f, "Q8.8"), 1.00390625f);
  EXPECT_EQ(q(0x1p-9f, "Q8.8"), 0.0f);         // tie to the even word 0
  EXPECT_EQ(q(3 * 0x1p-9f, "Q8.8"), 0x1p-7f);  // tie to the even word 2
  EXPECT_EQ(q(200.0f, "Q8.8"), 127.99609375f);
  EXPECT_EQ(q(-200.0f, "Q8.8"), -128.0f);
  EXPECT_EQ(q(-128.001f, "Q8.8", Rounding::down), -128.0f);
  EXPECT_EQ(q(127.999f, "Q8.8", Rounding::up), 127.99609375f);
  EXPECT_EQ(q(inf, "Q8.8"), 127.99609375f);
  EXPECT_EQ(q(-inf, "Q8.8"), -128.0f);
  EXPECT_TRUE(std::isnan(q(std::numeric_limits<float>::quiet_NaN(), "Q8.8")));
  EXPECT_EQ(bits(q(-0.001f, "Q8.8", Rounding::toward_zero)), 0x80000000u);
  EXPECT_EQ(q(-0.001f, "Q8.8", Rounding::down), -0x1p-8f);
  EXPECT_EQ(q(2.7f, "Q4.0", Rounding::toward_zero), 2.0f);
  EXPECT_EQ(q(-2.7f, "Q4.0", Rounding::down), -3.0f);
  EXPECT_EQ(q(7.5f, "Q4.0"), 7.0f);  // saturates at 2^3 - 1
  EXPECT_EQ(q(-9.0f, "Q4.0"), -8.0f);
  EXPECT_EQ(q(0.75f, "Q1.0"), 0.0f);  // Q1.0 holds only -1 and 0
  EXPECT_EQ(q(-0.75f, "Q1.0"), -1.0f);
  EXPECT_EQ(q(16777215.0f, "Q25.0"), 16777215.0f);
  EXPECT_EQ(q(-16777216.0f, "Q25.0"), -16777216.0f);
  EXPECT_EQ(q(1e30f, "Q25.0"), 16777215.0f);
  EXPECT_EQ(q(1.0f, "Q1.24"), 1.0f - 0x1p-24f);
}

TEST(FormatsStats, CountsOverflowAndUnderflow) {
  const float inf = std::numeric_limits<float>::infinity();
  std::vector<float> v = {1e5f,
                          -1e5f,
                          65504.0f,
                          65520.0f,
                          1e-9f,
                          -1e-9f,
                          0.0f,
                          -0.0f,
                          inf,
                          -inf,
                          std::numeric_limits<float>::quiet_NaN(),
                          1.0f};
  {
    // `finite` has no inf or NaN: those inputs count as overflow; fnuz's +0 is not an underflow
    // of a zero input.
    std::vector<float> w = v;
    QuantizeStats fs;
    quantize(w, parse_format("fp4-e2m1"), Rounding::nearest_even, {}, &fs);
    EXPECT_EQ(fs.overflow, 7u);   // 1e5, -1e5, 65504, 65520, inf, -inf, NaN
    EXPECT_EQ(fs.underflow, 2u);  // +-1e-9
    w = v;
    quantize(w, parse_format("fp8-e4m3fnuz"), Rounding::nearest_even, {}, &fs);
    EXPECT_EQ(fs.overflow, 4u);   // 1e5, -1e5, 65504, 65520 (to NaN)
    EXPECT_EQ(fs.underflow, 2u);
    EXPECT_FALSE(std::signbit(w[5]));  // -1e-9 -> +0
    EXPECT_FALSE(std::signbit(w[7]));  // -0 -> +0
  }
  QuantizeStats st;
  quantize(v, parse_format("fp16"), Rounding::nearest_even, {}, &st);
  EXPECT_EQ(st.overflow, 3u);   // 1e5, -1e5, 65520 (inf and NaN inputs are not counted)
  EXPECT_EQ(st.underflow, 2u);  // +-1e-9 (zeros were zero already)
  std::vector<float> w = {1e5f, 100.0f, 0.001f};
  quantize(w, parse_format("Q8.8"), Rounding::toward_zero, {}, &st);
  EXPECT_EQ(st.overflow, 1u);
  EXPECT_EQ(st.underflow, 1u);
  // Counts over a threaded array equal the sum over pieces.
  std::vector<float> big(300000);
  for (std::size_t i = 0; i < big.size(); ++i)
    big[i] = std::ldexp(1.0f, static_cast<int>(i % 60) - 30);
  std::vector<float> big2 = big;
  quantize(big, parse_format("fp8-e4m3"), Rounding::nearest_even, {}, &st);
  QuantizeStats a, b;
  quantize(std::span<float>(big2).first(1000), parse_format("fp8-e4m3"), Rounding::nearest_even, {},
           &a);
  quantize(std::span<float>(big2).subspan(1000), parse_format("fp8-e4m3"), Rounding::nearest_even,
           {}, &b);
  a += b;
  EXPECT_EQ(st.overflow, a.overflow);
  EXPECT_EQ(st.underflow, a.underflow);
  EXPECT_GT(st.overflow, 0u);
  EXPECT_GT(st.underflow, 0u);
}

// subtract_round(x0, step, scale) against its definition: every value is the reference's
// rounding of x0 - scale * step (the same random word as quantize at that index), the lost
// count is the nonzero steps whose rounded value equals x0, overflow/underflow are those of
// quantize on the plain update, and the uncounted loop gives the same values and lost count.
// Returns the lost count.
std::uint64_t check_subtract_round(const std::vector<float>& x0, const std::vector<float>& step,
                                   float scale, const Format& fmt, Rounding mode,
                                   StochasticKey key) {
  const std::size_t n = x0.size();
  std::vector<float> x = x0, y = x0;
  QuantizeStats st;
  const std::uint64_t lost = subtract_round(x, step, scale, fmt, mode, key, &st);
  EXPECT_EQ(subtract_round(y, step, scale, fmt, mode, key), lost);  // uncounted loop
  std::vector<float> plain(n);
  for (std::size_t i = 0; i < n; ++i) plain[i] = x0[i] - scale * step[i];
  QuantizeStats want_st;
  quantize(plain, fmt, mode, key, &want_st);
  std::size_t bad = 0;
  std::uint64_t want_lost = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint32_t word = mode == Rounding::stochastic ? stochastic_bits(key, i) : 0u;
    const float s = scale * step[i];
    // x0 - s, not the input it was built from: a NaN's sign follows x86's rule
    const float want = ref::quantize_ref(x0[i] - s, fmt, mode, word);
    if ((!same(x[i], want) || !same(y[i], x[i])) && ++bad <= 3)
      ADD_FAILURE() << "i=" << i << " x0=" << hex(x0[i]) << " step=" << hex(s) << " got "
                    << hex(x[i]) << " (uncounted " << hex(y[i]) << ") want " << hex(want);
    want_lost += s != 0.0f && want == x0[i];
  }
  EXPECT_EQ(bad, 0u);
  EXPECT_EQ(lost, want_lost);
  EXPECT_EQ(st.overflow, want_st.overflow);
  EXPECT_EQ(st.underflow, want_st.underflow);
  return lost;
}

// The fused weight update (subtract_round) on the exhaustive inputs of formats that cover every
// loop shape (e = 8 and e < 8, flush, saturate, E4M3FN, fixed point): half the elements get their
// value v as x - step with x = 0 and step = -v, the others keep x = v with a zero step. Values
// must match the reference, the lost count the definition, and the counts a plain quantize.
TEST(FormatsSubtractRound, EqualsSubtractThenRoundInEveryShapeAndMode) {
  for (const char* name : {"E5M10", "bf16", "fp8-e4m3", "E2M0", "E3M2,no-subnormals,saturate",
                           "Q8.8", "Q25.0", "fp8-e4m3fnuz", "fp4-e2m1", "E5M10,fnuz"}) {
    const Format fmt = parse_format(name);
    const std::vector<float> v = exhaustive_inputs(fmt);
    const std::size_t n = v.size();
    std::vector<float> x0(n), step(n);
    for (std::size_t i = 0; i < n; ++i) {
      x0[i] = i % 2 ? v[i] : 0.0f;
      step[i] = i % 2 ? 0.0f : -v[i];
    }
    for (Rounding mode : kAllModes) {
      SCOPED_TRACE(std::string(name) + " " + to_string(mode));
      check_subtract_round(x0, step, 1.0f, fmt, mode, StochasticKey{5, 6, 7});
    }
  }
  // binary32 itself: the plain update, lost only to swamping; the scale multiplies the step.
  std::vector<float> w = {1.0f, 1.0f, 2.0f};
  const std::vector<float> s = {0x1p-30f, 0.25f, 0.0f};
  EXPECT_EQ(subtract_round(w, s, 2.0f, parse_format("fp32"), Rounding::nearest_even), 1u);
  EXPECT_EQ(w, (std::vector<float>{1.0f, 0.5f, 2.0f}));
  std::vector<float> short_step(2);
  EXPECT_THROW(subtract_round(w, short_step, 1.0f, parse_format("fp16"), Rounding::up),
               std::invalid_argument);
}

// The update as training makes it: weights on the format's grid, steps from 1e-2 down to far
// below the spacing (so many are lost), a few zeros, tiny, huge and non-finite values, and a
// length that is not a multiple of 16. On an AVX-512 (AVX2) CPU most vectors of 16 (8) values
// take the kernel's fast path and the rest its general loop; either way each value, the lost
// count and the range counts must be the reference's.
TEST(FormatsSubtractRound, WeightsLikeTrainingMatchTheReferenceInEveryMode) {
  const std::size_t n = 20011;
  for (const char* name : {"E5M10", "bf16", "fp8-e4m3", "fp8-e5m2", "E3M2,no-subnormals,saturate",
                           "E8M3,no-subnormals", "E4M23", "Q8.8", "fp8-e5m2fnuz", "fp6-e3m2",
                           "E5M10,fnuz"}) {
    const Format fmt = parse_format(name);
    std::vector<float> x0(n), step(n);
    for (std::size_t i = 0; i < n; ++i) {
      x0[i] = static_cast<float>(0.2 * rng::uniform01(21, i) - 0.1);
      step[i] = static_cast<float>(std::ldexp(rng::uniform01(22, i) - 0.5, -static_cast<int>(i % 23)));
      if (i % 13 == 0) step[i] = 0.0f;
    }
    quantize(x0, fmt, Rounding::nearest_even);  // stored weights lie on the grid
    for (std::size_t i = 0; i < n; ++i) {  // and now and then a value off it, in its own range
      const double u = rng::uniform01(23, i) - 0.5;
      if (i % 211 == 5) x0[i] = 0.0f;
      if (i % 307 == 7) x0[i] = static_cast<float>(std::ldexp(u, -12 - static_cast<int>(i % 20)));
      if (i % 307 == 7) step[i] = static_cast<float>(std::ldexp(u, -30));
      if (i % 401 == 9) x0[i] = static_cast<float>(std::ldexp(u, 4 + static_cast<int>(i % 20)));
      if (i % 997 == 3) step[i] = std::numeric_limits<float>::infinity();
      if (i % 1009 == 4) step[i] = std::numeric_limits<float>::quiet_NaN();
    }
    const float scale = 0.75f;
    for (Rounding mode : kAllModes) {
      SCOPED_TRACE(std::string(name) + " " + to_string(mode));
      const std::uint64_t lost = check_subtract_round(x0, step, scale, fmt, mode, {8, 9, 1000});
      // the case the fast path exists for (E4M23's spacing is below most steps)
      EXPECT_GT(lost, fmt.man_bits < 23 ? n / 10 : 20);
    }
  }
}

TEST(FormatsKernel, AnyLengthIncludingZero) {
  const Format fmt = parse_format("bf16");
  std::vector<float> empty;
  QuantizeStats st{5, 5};
  quantize(empty, fmt, Rounding::stochastic, {}, &st);
  EXPECT_EQ(st.overflow, 0u);
  EXPECT_EQ(st.underflow, 0u);
  for (std::size_t n : {1u, 3u, 17u, 8191u, 8193u, 65537u}) {
    std::vector<float> v(n), w(n);
    for (std::size_t i = 0; i < n; ++i) v[i] = w[i] = 1.0f + static_cast<float>(i) * 0x1p-12f;
    quantize(v, fmt, Rounding::nearest_even);
    std::size_t bad = 0;
    for (std::size_t i = 0; i < n; ++i)
      bad += !same(v[i], ref::quantize_ref(w[i], fmt, Rounding::nearest_even));
    EXPECT_EQ(bad, 0u) << n;
  }
}

// ---- parsing -------------------------------------------------------------------------------

TEST(FormatsParse, PresetsShapesAndOptions) {
  const Format fp16 = parse_format("fp16");
  EXPECT_EQ(fp16, parse_format("E5M10"));
  EXPECT_EQ(fp16, parse_format("e5m10"));
  EXPECT_EQ(parse_format("bf16"), parse_format("E8M7"));
  EXPECT_EQ(parse_format("tf32"), parse_format("E8M10"));
  EXPECT_EQ(parse_format("fp8-e5m2"), parse_format("E5M2"));
  EXPECT_NE(parse_format("fp8-e4m3"), parse_format("E4M3"));  // E4M3FN vs IEEE-style E4M3
  EXPECT_EQ(parse_format("fp8-e4m3").max_finite(), 448.0);
  EXPECT_EQ(parse_format("E4M3").max_finite(), 240.0);
  EXPECT_EQ(fp16.max_finite(), 65504.0);
  EXPECT_EQ(fp16.min_normal(), 0x1p-14);
  EXPECT_EQ(fp16.min_subnormal(), 0x1p-24);
  EXPECT_EQ(parse_format("fp8-e4m3").min_normal(), 0x1p-6);
  EXPECT_EQ(parse_format("fp8-e4m3").min_subnormal(), 0x1p-9);
  EXPECT_EQ(parse_format("fp8-e5m2").max_finite(), 57344.0);
  EXPECT_EQ(parse_format("bf16").max_finite(), 0x1.fep+127);
  EXPECT_EQ(parse_format("Q8.8").max_finite(), 127.99609375);
  const Format opt = parse_format("E5M10,no-subnormals,saturate");
  EXPECT_FALSE(opt.subnormals);
  EXPECT_TRUE(opt.saturate);
  EXPECT_EQ(parse_format("Q8.8,saturate"), parse_format("Q8.8"));
  for (const char* name : {"fp16", "fp8-e4m3,saturate", "E2M0,no-subnormals", "Q1.24", "Q25.0",
                           "E8M23", "E3M2,no-subnormals,saturate"})
    EXPECT_EQ(parse_format(parse_format(name).name()), parse_format(name)) << name;
  EXPECT_EQ(parse_format("fp16").name(), "E5M10");
  EXPECT_EQ(parse_format("fp8-e4m3,saturate").name(), "fp8-e4m3,saturate");
}

// Every preset's constants (the table in docs/formats.md), its encoding and canonical name.
TEST(FormatsParse, EncodingPresetsConstantsAndNames) {
  struct Row {
    const char* name;
    Encoding encoding;
    int bias;
    double max, min_normal, min_sub;
    const char* canonical;
  };
  const Row rows[] = {
      {"fp8-e4m3", Encoding::fn, 7, 448, 0x1p-6, 0x1p-9, "fp8-e4m3"},
      {"fp8-e5m2", Encoding::ieee, 15, 57344, 0x1p-14, 0x1p-16, "E5M2"},
      {"fp8-e4m3fnuz", Encoding::fnuz, 8, 240, 0x1p-7, 0x1p-10, "fp8-e4m3fnuz"},
      {"fp8-e5m2fnuz", Encoding::fnuz, 16, 57344, 0x1p-15, 0x1p-17, "fp8-e5m2fnuz"},
      {"fp8-e3m4", Encoding::ieee, 3, 15.5, 0x1p-2, 0x1p-6, "E3M4"},
      {"fp6-e2m3", Encoding::finite, 1, 7.5, 1, 0.125, "fp6-e2m3"},
      {"fp6-e3m2", Encoding::finite, 3, 28, 0x1p-2, 0x1p-4, "fp6-e3m2"},
      {"fp4-e2m1", Encoding::finite, 1, 6, 1, 0.5, "fp4-e2m1"},
  };
  for (const Row& r : rows) {
    const Format f = parse_format(r.name);
    EXPECT_EQ(f.encoding, r.encoding) << r.name;
    EXPECT_EQ(f.bias(), r.bias) << r.name;
    EXPECT_EQ(f.max_finite(), r.max) << r.name;
    EXPECT_EQ(f.min_normal(), r.min_normal) << r.name;
    EXPECT_EQ(f.min_subnormal(), r.min_sub) << r.name;
    EXPECT_EQ(f.name(), r.canonical) << r.name;
    EXPECT_EQ(parse_format(f.name()), f) << r.name;
    // the reference's largest value (from the codes) agrees
    EXPECT_EQ(ref::representable_values(f, 1000).back(), r.max) << r.name;
  }
  EXPECT_EQ(parse_format("E4M3,fn"), parse_format("fp8-e4m3"));
  EXPECT_EQ(parse_format("e2m1,finite"), parse_format("fp4-e2m1"));
  EXPECT_EQ(parse_format("E4M3,saturate,fnuz").name(), "fp8-e4m3fnuz,saturate");
  EXPECT_EQ(parse_format("E4M3,ieee"), parse_format("E4M3"));
  EXPECT_EQ(parse_format("E5M2,fn").name(), "E5M2,fn");
  EXPECT_EQ(parse_format("E5M2,fn").max_finite(), 0x1.8p+16);  // 98304
  EXPECT_EQ(parse_format("fp4-e2m1,saturate"), parse_format("fp4-e2m1"));  // always saturates
  EXPECT_TRUE(parse_format("fp4-e2m1").saturate);
  EXPECT_EQ(parse_format("E3M2,finite,no-subnormals").name(), "fp6-e3m2,no-subnormals");
  EXPECT_EQ(Format::floating(4, 3, Encoding::fn), parse_format("fp8-e4m3"));
  EXPECT_THROW(Format::floating(8, 3, Encoding::fnuz), InputError);
  EXPECT_THROW(Format::floating(4, 0, Encoding::fn), InputError);
  for (Encoding e : {Encoding::ieee, Encoding::fn, Encoding::finite, Encoding::fnuz})
    EXPECT_EQ(parse_format(std::string("E4M3,") + to_string(e)).encoding, e);
  for (const char* bad : {"E8M3,fn", "E4M0,fnuz", "E8M0,finite", "Q8.8,fn", "fp8-e4m3,fnuz",
                          "E4M3,fn,fnuz", "E4M3,fn,fn", "E4M3,unsigned"})
    EXPECT_THROW(parse_format(bad), InputError) << bad;
  Format unsat = parse_format("fp4-e2m1");
  unsat.saturate = false;
  EXPECT_THROW(unsat.check(), std::invalid_argument);
  Format wide = parse_format("fp8-e4m3fnuz");
  wide.exp_bits = 8;
  EXPECT_THROW(wide.check(), std::invalid_argument);
}

TEST(FormatsParse, InvalidFormatsAreRejectedWithTheAcceptedForms) {
  for (const char* bad :
       {"E9M3", "E5M24", "E1M3", "Q0.8", "garbage", "", "E5", "E5M", "Q8", "Q8.-1", "Q20.6",
        "fp16,bogus", "Q8.8,no-subnormals", "E5M10,,", "E5M1000", "fp8"}) {
    try {
      parse_format(bad);
      ADD_FAILURE() << "accepted " << bad;
    } catch (const InputError& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find(std::string("\"") + bad + "\""), std::string::npos) << msg;
      EXPECT_NE(msg.find("E<e>M<m>"), std::string::npos) << msg;
      EXPECT_NE(msg.find("Q<i>.<f>"), std::string::npos) << msg;
    }
  }
}

// Other libraries' names (PyTorch, ml_dtypes, IEEE) are aliases of the named formats, options
// included; a name that is not a format gets one line with the nearest names and a pointer to
// `precsweep formats`.
TEST(FormatsParse, AliasesAndNearestNames) {
  const std::vector<std::pair<const char*, const char*>> aliases = {
      {"bfloat16", "bf16"}, {"float16", "fp16"}, {"half", "fp16"}, {"float32", "fp32"},
      {"e4m3fn", "fp8-e4m3"}, {"float8_e4m3fn", "fp8-e4m3"}, {"float8_e5m2", "fp8-e5m2"},
      {"Float8_E4M3FNUZ", "fp8-e4m3fnuz"}, {"float4_e2m1fn", "fp4-e2m1"},
      {"float8_e5m2,saturate", "fp8-e5m2,saturate"}, {"half,no-subnormals", "fp16,no-subnormals"}};
  for (const auto& [alias, name] : aliases)
    EXPECT_EQ(parse_format(alias), parse_format(name)) << alias;
  EXPECT_EQ(parse_format("bfloat16").name(), "E8M7");
  for (const char* r : {"nearest-even", "rne", "NEAREST_EVEN", "Nearest"})
    EXPECT_EQ(parse_rounding(r), Rounding::nearest_even) << r;
  EXPECT_EQ(parse_rounding("toward-zero"), Rounding::toward_zero);
  EXPECT_EQ(parse_rounding("SR"), Rounding::stochastic);
  const std::vector<std::pair<const char*, const char*>> near = {
      {"fp8-e4m2", "fp8-e4m3"}, {"bfloat61", "bfloat16"}, {"flaot16", "float16"},
      {"fp8_e5m2", "fp8-e5m2"}};
  for (const auto& [bad, nearest] : near) {
    try {
      parse_format(bad);
      ADD_FAILURE() << "accepted " << bad;
    } catch (const InputError& e) {
      const std::string msg = e.what();
      ASSERT_NE(msg.find("nearest: "), std::string::npos) << msg;
      EXPECT_NE(msg.find(nearest, msg.find("nearest: ")), std::string::npos) << msg;
      EXPECT_NE(msg.find("`precsweep formats`"), std::string::npos) << msg;
      EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    }
  }
  try {
    parse_rounding("stochastik");
    ADD_FAILURE();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("did you mean 'stochastic'?"), std::string::npos);
  }
}

TEST(Suggest, DistanceAndCloseNames) {
  EXPECT_EQ(edit_distance("trian", "train"), 1);  // a swap counts once
  EXPECT_EQ(edit_distance("HIDDEN", "hidden"), 0);
  EXPECT_EQ(edit_distance("", "abc"), 3);
  const std::vector<std::string> opts = {"--epochs", "--hidden", "--resume", "--seed"};
  EXPECT_EQ(close_names("--epoch", opts), std::vector<std::string>{"--epochs"});
  EXPECT_EQ(did_you_mean("--resum", opts), "; did you mean '--resume'?");
  EXPECT_EQ(did_you_mean("--zzzzzzzz", opts), "");
  EXPECT_EQ(nearest_names("--hiden", opts, 1), std::vector<std::string>{"--hidden"});
  EXPECT_EQ(nearest_names("--hiden", opts, 9).size(), opts.size());
}

TEST(FormatsParse, FactoriesCheckTheirWidths) {
  EXPECT_EQ(Format::floating(5, 10), parse_format("fp16"));
  EXPECT_EQ(Format::fixed(8, 8), parse_format("Q8.8"));
  EXPECT_THROW(Format::floating(9, 3), InputError);
  EXPECT_THROW(Format::floating(1, 3), InputError);
  EXPECT_THROW(Format::floating(5, 24), InputError);
  EXPECT_THROW(Format::floating(5, -1), InputError);
  EXPECT_THROW(Format::fixed(0, 8), InputError);
  EXPECT_THROW(Format::fixed(8, -1), InputError);
  EXPECT_THROW(Format::fixed(20, 6), InputError);
}

TEST(FormatsParse, QuantizeRefusesAMalformedFormat) {
  std::vector<Format> bad(8, parse_format("E5M10"));
  bad[0].exp_bits = 9;
  bad[1].man_bits = 24;
  bad[2].man_bits = -3;
  bad[3].int_bits = 4;  // a fixed-point field on a float
  bad[4] = parse_format("Q8.8");
  bad[4].frac_bits = 30;
  bad[5] = parse_format("Q8.8");
  bad[5].saturate = false;
  bad[6] = parse_format("Q8.8");
  bad[6].man_bits = 3;
  bad[7].kind = static_cast<Format::Kind>(7);
  std::vector<float> x{1.5f, -2.25f}, step{0.5f, 0.5f};
  for (const Format& f : bad) {
    EXPECT_THROW(f.check(), std::invalid_argument) << f.exp_bits << " " << f.man_bits;
    EXPECT_THROW(quantize(x, f, Rounding::nearest_even), std::invalid_argument);
    EXPECT_THROW(subtract_round(x, step, 1.0f, f, Rounding::nearest_even), std::invalid_argument);
  }
  EXPECT_EQ(x, (std::vector<float>{1.5f, -2.25f}));  // nothing was touched
  for (const char* ok : {"fp32", "E2M0,no-subnormals", "fp8-e4m3,saturate", "Q1.24", "Q25.0"})
    EXPECT_NO_THROW(parse_format(ok).check()) << ok;
}

TEST(FormatsParse, RoundingNamesAndAliases) {
  EXPECT_EQ(parse_rounding("truncate"), Rounding::toward_zero);
  EXPECT_EQ(parse_rounding("toward_zero"), Rounding::toward_zero);
  EXPECT_EQ(parse_rounding("nearest"), Rounding::nearest_even);
  EXPECT_EQ(parse_rounding("nearest_even"), Rounding::nearest_even);
  EXPECT_EQ(parse_rounding("up"), Rounding::up);
  EXPECT_EQ(parse_rounding("down"), Rounding::down);
  EXPECT_EQ(parse_rounding("stochastic"), Rounding::stochastic);
  for (Rounding m : kAllModes) EXPECT_EQ(parse_rounding(to_string(m)), m);
  try {
    parse_rounding("round");
    ADD_FAILURE();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("nearest_even"), std::string::npos);
  }
}

}  // namespace
}  // namespace precsweep
