// Reference rounding straight from the definitions (see formats_ref.hpp and docs/formats.md).
// Deliberately simple: one value at a time, neighbours found with floor() on the exact grid.
#include "formats_ref.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace precsweep::ref {
namespace {

bool is_fixed(const Format& f) { return f.kind == Format::Kind::fixed; }
bool ieee(const Format& f) { return f.encoding == Encoding::ieee; }

// The encodings' definitions (docs/formats.md, "Encodings"), from the codes, without Format's
// own emin()/max_finite(): bias 2^(e-1) - 1 (fnuz: 2^(e-1)); the largest finite code is, with
// exponent field E and fraction field F: ieee E = 2^e - 2, F = 2^m - 1 (the top exponent field
// is inf/NaN); fn E = 2^e - 1, F = 2^m - 2 (the all-ones code is NaN); finite and fnuz
// E = 2^e - 1, F = 2^m - 1 (every positive code is a number).
int bias_of(const Format& f) {
  return (1 << (f.exp_bits - 1)) - (f.encoding == Encoding::fnuz ? 0 : 1);
}
int emin_of(const Format& f) { return is_fixed(f) ? -f.frac_bits : 1 - bias_of(f); }
double code_value(const Format& f, std::uint64_t e_field, std::uint64_t frac) {
  if (e_field == 0) return std::ldexp(static_cast<double>(frac), emin_of(f) - f.man_bits);
  return std::ldexp(std::ldexp(1.0, f.man_bits) + static_cast<double>(frac),
                    static_cast<int>(e_field) - bias_of(f) - f.man_bits);
}
double max_of(const Format& f) {
  if (is_fixed(f)) return std::ldexp(1.0, f.int_bits - 1) - std::ldexp(1.0, -f.frac_bits);
  const std::uint64_t top_e = (std::uint64_t{1} << f.exp_bits) - 1;
  const std::uint64_t all_f = (std::uint64_t{1} << f.man_bits) - 1;
  switch (f.encoding) {
    case Encoding::ieee:
      return code_value(f, top_e - 1, all_f);
    case Encoding::fn:
      return code_value(f, top_e, all_f - 1);
    case Encoding::finite:
    case Encoding::fnuz:
      return code_value(f, top_e, all_f);
  }
  return 0;
}

// Spacing of the format's grid around magnitude a, with the exponent range unbounded above
// (IEEE 754 rounds as if the exponent were unbounded, then checks for overflow).
double spacing(double a, const Format& f) {
  if (is_fixed(f)) return std::ldexp(1.0, -f.frac_bits);
  const int e = a == 0 ? emin_of(f) : std::max(std::ilogb(a), emin_of(f));
  return std::ldexp(1.0, e - f.man_bits);
}

// Whether the encoding of grid value v (magnitude) has a 0 in its last bit ("even").
// With m = 0 fraction bits the last bit of a normal value's encoding is the exponent field's.
bool encoding_is_even(double v, const Format& f) {
  if (!is_fixed(f) && f.man_bits == 0 && v >= std::ldexp(1.0, emin_of(f)))
    return ((std::ilogb(v) + bias_of(f)) & 1) == 0;
  const double k = v / spacing(v, f);  // integer significand (fixed point: the word)
  return std::fmod(k, 2.0) == 0.0;
}

}  // namespace

float quantize_ref(float x, const Format& f, Rounding mode, std::uint32_t random_word) {
  if (std::isnan(x)) return x;
  const bool neg = std::signbit(x);
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  // Largest finite magnitude on x's side (fixed point is asymmetric: -2^(i-1) exists).
  const double max = is_fixed(f) && neg ? std::ldexp(1.0, f.int_bits - 1) : max_of(f);
  // fnuz has no -0: a zero result is +0.
  auto with_sign = [&](double mag) {
    if (mag == 0 && f.encoding == Encoding::fnuz && !is_fixed(f)) return 0.0f;
    return static_cast<float>(neg ? -mag : mag);
  };

  if (std::isinf(x)) {
    if (is_fixed(f)) return with_sign(max);
    // No infinity: saturate (finite always does) or NaN.
    if (!ieee(f)) return f.saturate || f.encoding == Encoding::finite ? with_sign(max)
                                                                       : static_cast<float>(nan);
    return x;
  }

  // 1. The two neighbours of |x| on the grid.
  const double a = std::fabs(static_cast<double>(x));
  const double q = spacing(a, f);
  const double lo = std::floor(a / q) * q;
  const double hi = lo + q;

  // 2. Choose one.
  double mag = lo;
  if (lo != a) {
    bool away = false;
    switch (mode) {
      case Rounding::toward_zero:
        away = false;
        break;
      case Rounding::up:
        away = !neg;
        break;
      case Rounding::down:
        away = neg;
        break;
      case Rounding::nearest_even: {
        const double d = a - lo;
        away = d > q / 2 || (d == q / 2 && !encoding_is_even(lo, f));
        break;
      }
      case Rounding::stochastic: {
        const double t = std::floor((a - lo) / q * 4294967296.0);
        away = static_cast<double>(random_word) < t;
        break;
      }
    }
    mag = away ? hi : lo;
  }

  // 3. Overflow. Besides "the rounded value exceeds max", IEEE 754 sends |x| >= 2^emax *
  // (2 - 2^-(m+1)) to infinity under ties-to-even (this matters only when m = 0, where the
  // tie at that threshold would otherwise go to max, whose encoding is even). The encodings
  // without infinity follow the OCP rule: only a rounded value above max overflows.
  bool over = mag > max;
  if (mode == Rounding::nearest_even && !is_fixed(f) && ieee(f) &&
      a >= std::ldexp(2.0 - std::ldexp(1.0, -(f.man_bits + 1)), bias_of(f)))
    over = true;
  if (over) {
    if (is_fixed(f) || f.saturate || f.encoding == Encoding::finite) {
      mag = max;
    } else {
      bool to_inf = false;
      switch (mode) {
        case Rounding::toward_zero:
          to_inf = false;
          break;
        case Rounding::nearest_even:
          to_inf = true;
          break;
        case Rounding::stochastic:
          to_inf = true;
          break;
        case Rounding::up:
          to_inf = !neg;
          break;
        case Rounding::down:
          to_inf = neg;
          break;
      }
      if (!to_inf)
        mag = max;
      else if (!ieee(f))
        return static_cast<float>(nan);
      else
        mag = inf;
    }
  }

  // 4. Flush to zero: a nonzero result below 2^emin becomes a zero of x's sign.
  if (!is_fixed(f) && !f.subnormals && mag < std::ldexp(1.0, emin_of(f))) mag = 0;
  return with_sign(mag);
}

std::vector<double> representable_values(const Format& f, std::size_t limit) {
  // Value number k (0-based, increasing), from the encoding.
  std::uint64_t count = 0;
  auto value = [&](std::uint64_t k) -> double {
    if (is_fixed(f)) return std::ldexp(static_cast<double>(k), -f.frac_bits);
    return code_value(f, k >> f.man_bits, k & ((std::uint64_t{1} << f.man_bits) - 1));
  };
  if (is_fixed(f)) {
    count = (std::uint64_t{1} << (f.int_bits + f.frac_bits - 1)) + 1;  // incl. 2^(i-1)
  } else {
    const std::uint64_t codes = std::uint64_t{1} << (f.exp_bits + f.man_bits);
    // Non-negative codes: ieee loses the top exponent field to inf/NaN, fn the all-ones code
    // to NaN; finite and fnuz (whose NaN is the negative-zero code) lose none.
    count = ieee(f) ? codes - (std::uint64_t{1} << f.man_bits)
                    : (f.encoding == Encoding::fn ? codes - 1 : codes);
  }
  std::vector<double> out;
  if (count <= limit) {
    for (std::uint64_t k = 0; k < count; ++k) out.push_back(value(k));
    return out;
  }
  const std::uint64_t edge = limit / 4;
  for (std::uint64_t k = 0; k < edge; ++k) out.push_back(value(k));
  const std::uint64_t middle = limit - 2 * edge;
  for (std::uint64_t j = 0; j < middle; ++j)
    out.push_back(value(edge + (count - 2 * edge) * j / middle));
  for (std::uint64_t k = count - edge; k < count; ++k) out.push_back(value(k));
  // The smallest normal (the value after the subnormals), for sure.
  if (!is_fixed(f)) out.push_back(std::ldexp(1.0, emin_of(f)));
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

bool is_representable(double v, const Format& f) {
  if (v == 0) return true;
  if (!std::isfinite(v)) return false;
  const bool neg = v < 0;
  const double a = std::fabs(v);
  if (is_fixed(f)) {
    const double max = neg ? std::ldexp(1.0, f.int_bits - 1) : f.max_finite();
    const double k = std::ldexp(a, f.frac_bits);
    return a <= max && k == std::floor(k);
  }
  if (a > max_of(f)) return false;
  if (a < std::ldexp(1.0, emin_of(f)) && !f.subnormals) return false;
  const double k = a / spacing(a, f);
  return k == std::floor(k);
}

}  // namespace precsweep::ref
