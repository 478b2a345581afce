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
#include "precsweep/rng.hpp"

namespace precsweep {
namespace {

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
  if (e == 0x1F) v = f ? std::numeric_limits<double>::quiet_NaN() : HUGE_VAL;
  else if (e == 0) v = std::ldexp(f, -24);
  else v = std::ldexp(1024 + f, e - 25);
  return static_cast<float>(neg ? -v : v);
}

// The formats checked exhaustively: presets, the shapes and corner shapes.
const std::vector<std::string>& exhaustive_format_names() {
  static const std::vector<std::string> names = {
      "fp32", "tf32", "fp16", "bf16", "fp8-e5m2", "fp8-e4m3", "E8M23", "E2M0", "E8M0",
      "E5M10", "E2M1", "E3M2", "E4M3", "E6M5", "E7M22", "E2M23", "E8M22", "E5M0",
      "Q8.8", "Q1.0", "Q1.24", "Q16.8", "Q25.0", "Q4.4", "Q2.13", "Q12.4"};
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
  for (std::uint32_t h = 0; h < 65536; ++h) in.push_back(half_to_float(static_cast<std::uint16_t>(h)));
  std::vector<double> grid = ref::representable_values(fmt, 40000);
  // One step past the largest finite value (the value an unbounded exponent would give).
  const double top = grid.back();
  grid.push_back(top + (fmt.kind == Format::Kind::fixed ? fmt.min_subnormal()
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
  std::vector<double> grid;        // sample of the format's values, increasing
  std::vector<float> boundary;     // max, overflow thresholds, 2^(emax+1)
  int lo_exp, hi_exp;              // binary exponent range to draw log-uniform magnitudes from
  std::uint64_t key;

  explicit RandomInputs(const Format& f, std::uint64_t seed)
      : fmt(f), grid(ref::representable_values(f, 1 << 16)), key(rng::key(seed, 77)) {
    const double max = f.max_finite();
    const double gap = f.kind == Format::Kind::fixed ? f.min_subnormal()
                                                     : std::ldexp(1.0, f.emax() - f.man_bits);
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
      case 0: return from_bits(static_cast<std::uint32_t>(r2));
      case 1:
      case 2: {
        const std::size_t k = r2 % (grid.size() - 1);
        return sign * nudge(static_cast<float>((grid[k] + grid[k + 1]) / 2));
      }
      case 3: return sign * nudge(static_cast<float>(grid[r2 % grid.size()]));
      case 4: {  // below and around the smallest normal
        const int e = std::ilogb(fmt.min_subnormal()) - 3 +
                      static_cast<int>(r2 % static_cast<std::uint64_t>(
                                                std::ilogb(fmt.min_normal()) -
                                                std::ilogb(fmt.min_subnormal()) + 5));
        const float m = 1.0f + static_cast<float>((r2 >> 20) & 0x7FFFFF) * 0x1p-23f;
        return sign * std::ldexp(m, e);
      }
      case 5: return sign * nudge(boundary[r2 % boundary.size()]);
      case 6: {
        switch (r2 % 5) {
          case 0: return sign * 0.0f;
          case 1: return sign * inf;
          case 2: return from_bits(0x7F800001u | static_cast<std::uint32_t>(r2 >> 40));  // sNaN
          case 3: return from_bits(0xFFC00000u | static_cast<std::uint32_t>((r2 >> 40) & 0xF));
          default: return from_bits(0x7F800000u | static_cast<std::uint32_t>(1 + (r2 >> 48) % 7));
        }
      }
      default: {
        const int e = lo_exp + static_cast<int>(r2 % static_cast<std::uint64_t>(hi_exp - lo_exp + 1));
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
  const char* names[] = {"fp16",     "bf16", "tf32", "fp8-e5m2", "fp8-e4m3",
                         "E2M0",     "E8M0", "E3M2", "E6M5,no-subnormals",
                         "fp8-e4m3,saturate", "E5M10,saturate", "Q8.8", "Q1.24"};
  for (const char* name : names) {
    const Format fmt = parse_format(name);
    for (Rounding mode : kDeterministicModes)
      EXPECT_EQ(random_mismatches(fmt, mode), 0u) << fmt.name() << " " << to_string(mode);
  }
}

}  // namespace
}  // namespace precsweep
