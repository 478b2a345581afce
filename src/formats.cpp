// Number formats: parsing and naming, derived constants, and the quantize driver that splits an
// array into chunks, threads them with OpenMP and hands each to the bit kernel
// (formats_kernel.cpp). Definitions of every format, mode and edge case: docs/formats.md.
// Deliberately leaves out: the rounding itself (formats_kernel.cpp) and the exact reference
// used by the tests (tests/formats_ref.cpp).
#include "precsweep/formats.hpp"

#include <algorithm>
#include <bit>
#include <cctype>
#include <cmath>
#include <limits>
#include <optional>
#include <stdexcept>
#include <vector>

#include "formats_blocks.hpp"
#include "formats_kernel.hpp"
#include "precsweep/error.hpp"
#include "precsweep/rng.hpp"
#include "precsweep/suggest.hpp"

namespace precsweep {
namespace {

// The named float formats besides E<e>M<m>: name, widths, encoding. A format that equals one of
// these (options aside) prints under this name, except the ieee ones, which print as E<e>M<m>.
struct Preset {
  const char* name;
  int e, m;
  Encoding encoding;
};
constexpr Preset kPresets[] = {
    {"fp32", 8, 23, Encoding::ieee},         {"tf32", 8, 10, Encoding::ieee},
    {"fp16", 5, 10, Encoding::ieee},         {"bf16", 8, 7, Encoding::ieee},
    {"fp8-e5m2", 5, 2, Encoding::ieee},      {"fp8-e4m3", 4, 3, Encoding::fn},
    {"fp8-e4m3fnuz", 4, 3, Encoding::fnuz},  {"fp8-e5m2fnuz", 5, 2, Encoding::fnuz},
    {"fp8-e3m4", 3, 4, Encoding::ieee},      {"fp6-e2m3", 2, 3, Encoding::finite},
    {"fp6-e3m2", 3, 2, Encoding::finite},    {"fp4-e2m1", 2, 1, Encoding::finite},
};

constexpr const char* kAcceptedRoundings =
    "accepted: toward_zero (aliases truncate, rtz), nearest_even (nearest, nearest-even, rne), "
    "up (ceil), down (floor), stochastic (sr)";

// Other spellings of the named formats (PyTorch, ml_dtypes, IEEE names), looked up before
// parsing: the alias's options suffix (",saturate", ...) is kept.
struct Alias {
  const char* name;
  const char* format;
};
constexpr Alias kFormatAliases[] = {
    {"float32", "fp32"},       {"single", "fp32"},          {"float16", "fp16"},
    {"half", "fp16"},          {"bfloat16", "bf16"},        {"tensorfloat32", "tf32"},
    {"e4m3fn", "fp8-e4m3"},    {"float8_e4m3fn", "fp8-e4m3"}, {"float8_e5m2", "fp8-e5m2"},
    {"e4m3fnuz", "fp8-e4m3fnuz"}, {"float8_e4m3fnuz", "fp8-e4m3fnuz"},
    {"e5m2fnuz", "fp8-e5m2fnuz"}, {"float8_e5m2fnuz", "fp8-e5m2fnuz"},
    {"float6_e2m3fn", "fp6-e2m3"}, {"float6_e3m2fn", "fp6-e3m2"}, {"float4_e2m1fn", "fp4-e2m1"},
};

// One line: what is wrong, the named formats nearest to what was typed, and where the full
// list is (`precsweep formats`, docs/formats.md).
[[noreturn]] void bad_format(std::string_view text, const std::string& why) {
  std::vector<std::string> names;
  for (const Preset& p : kPresets) names.emplace_back(p.name);
  for (const Alias& a : kFormatAliases) names.emplace_back(a.name);
  for (const std::string& b : detail::block_preset_names()) names.push_back(b);
  names.insert(names.end(), {"E5M10", "E4M3", "Q8.8"});
  const std::string typed(text.substr(0, text.find(',')));
  std::string nearest;
  for (const std::string& n : nearest_names(typed, names))
    nearest += (nearest.empty() ? "" : ", ") + n;
  throw InputError("invalid number format \"" + std::string(text) + "\": " + why +
                   " (nearest: " + nearest + "; also E<e>M<m>, Q<i>.<f>, mx:<element>:<k>; " +
                   "all accepted formats and options: `precsweep formats`, docs/formats.md)");
}

std::string lower_trimmed(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Parses a run of 1..3 decimal digits at s[pos]; returns -1 if there is none (or too many).
int parse_small_uint(const std::string& s, std::size_t& pos) {
  std::size_t start = pos;
  int v = 0;
  while (pos < s.size() && std::isdigit(static_cast<unsigned char>(s[pos])) && pos - start < 4)
    v = v * 10 + (s[pos++] - '0');
  if (pos == start || pos - start > 3) return -1;
  return v;
}

// The factories' checks; `shown` is the text an error message quotes (what the user typed).
Format make_floating(int e, int m, std::string_view shown, Encoding enc = Encoding::ieee) {
  if (e < 2 || e > 8) bad_format(shown, "exponent bits must be 2..8, got " + std::to_string(e));
  if (m < 0 || m > 23) bad_format(shown, "fraction bits must be 0..23, got " + std::to_string(m));
  if (enc != Encoding::ieee && (e > 7 || m < 1))
    bad_format(shown, "encoding " + to_string(enc) +
                          " needs at most 7 exponent bits and at least 1 fraction bit, got E" +
                          std::to_string(e) + "M" + std::to_string(m));
  Format f;
  f.kind = Format::Kind::floating;
  f.exp_bits = e;
  f.man_bits = m;
  f.encoding = enc;
  f.saturate = enc == Encoding::finite;  // finite has nothing else to overflow to
  return f;
}

Format make_fixed(int i, int fr, std::string_view shown) {
  if (i < 1) bad_format(shown, "integer bits (including the sign bit) must be >= 1");
  if (fr < 0) bad_format(shown, "fraction bits must be >= 0");
  if (i + fr > 25)
    bad_format(shown, "word length i+f = " + std::to_string(i + fr) +
                          " exceeds 25 bits, which binary32 cannot hold exactly");
  Format f;
  f.kind = Format::Kind::fixed;
  f.exp_bits = 0;
  f.man_bits = 0;
  f.int_bits = i;
  f.frac_bits = fr;
  f.saturate = true;  // fixed point always saturates
  return f;
}

std::uint32_t bits_of(double v) { return std::bit_cast<std::uint32_t>(static_cast<float>(v)); }

}  // namespace

// ---- Format ---------------------------------------------------------------------------------

Format Format::floating(int exp_bits, int man_bits) {
  return make_floating(exp_bits, man_bits,
                       "E" + std::to_string(exp_bits) + "M" + std::to_string(man_bits));
}

Format Format::floating(int exp_bits, int man_bits, Encoding encoding) {
  std::string shown = "E" + std::to_string(exp_bits) + "M" + std::to_string(man_bits);
  shown.append(",").append(to_string(encoding));
  return make_floating(exp_bits, man_bits, shown, encoding);
}

Format Format::fixed(int int_bits, int frac_bits) {
  return make_fixed(int_bits, frac_bits,
                    "Q" + std::to_string(int_bits) + "." + std::to_string(frac_bits));
}

void Format::check() const {
  auto bad = [](const std::string& why) {
    throw std::invalid_argument("malformed Format: " + why +
                                " (build formats with Format::floating / Format::fixed)");
  };
  if (symmetric && (kind != Kind::fixed || int_bits != 2 || frac_bits > 22))
    bad("symmetric (int<w>) needs fixed point with int_bits 2 and frac_bits <= 22");
  if (scaling == Scaling::none) {
    if (block_size != 0) bad("block_size set on a scalar format");
  } else {
    const std::string why = detail::block_format_problem(*this);
    if (!why.empty()) bad(why);
  }
  if (kind == Kind::floating) {
    if (exp_bits < 2 || exp_bits > 8) bad("exp_bits " + std::to_string(exp_bits) + " not in 2..8");
    if (man_bits < 0 || man_bits > 23) bad("man_bits " + std::to_string(man_bits) + " not in 0..23");
    if (int_bits != 0 || frac_bits != 0) bad("int_bits/frac_bits set on a floating format");
    if (static_cast<int>(encoding) > static_cast<int>(Encoding::fnuz))
      bad("unknown encoding " + std::to_string(static_cast<int>(encoding)));
    if (encoding != Encoding::ieee && (exp_bits > 7 || man_bits < 1))
      bad("encoding " + to_string(encoding) + " needs exp_bits <= 7 and man_bits >= 1");
    if (encoding == Encoding::finite && !saturate) bad("encoding finite always saturates");
  } else if (kind == Kind::fixed) {
    if (int_bits < 1 || frac_bits < 0 || int_bits + frac_bits > 25)
      bad("Q" + std::to_string(int_bits) + "." + std::to_string(frac_bits) +
          " needs int_bits >= 1, frac_bits >= 0, int_bits + frac_bits <= 25");
    if (exp_bits != 0 || man_bits != 0) bad("exp_bits/man_bits set on a fixed-point format");
    if (!saturate || !subnormals || encoding != Encoding::ieee)
      bad("fixed point always saturates and has no options");
  } else {
    bad("unknown kind " + std::to_string(static_cast<int>(kind)));
  }
}

bool Format::is_identity() const {
  return kind == Kind::floating && exp_bits == 8 && man_bits == 23 && subnormals &&
         encoding == Encoding::ieee && scaling == Scaling::none;
}

Format Format::element() const {
  Format e = *this;
  e.scaling = Scaling::none;
  e.block_size = 0;
  return e;
}

int Format::element_emax() const {
  // int<w>: the largest value 2 - 2^-(w-2) has exponent 0 (the INT8 emax 0).
  return kind == Kind::fixed && symmetric ? 0 : emax();
}

std::string Format::name() const {
  if (scaling != Scaling::none) return detail::block_format_name(*this);
  // Built by appending: GCC 12 warns falsely (-Wrestrict) on "literal" + std::string&&.
  std::string out;
  if (kind == Kind::fixed && symmetric) return out.append("int").append(
      std::to_string(int_bits + frac_bits));
  if (kind == Kind::fixed) {
    out.append("Q").append(std::to_string(int_bits)).append(".");
    out.append(std::to_string(frac_bits));
    return out;
  }
  const Preset* preset = nullptr;
  if (encoding != Encoding::ieee)
    for (const Preset& p : kPresets)
      if (p.e == exp_bits && p.m == man_bits && p.encoding == encoding) preset = &p;
  if (preset) {
    out.append(preset->name);
  } else {
    out.append("E").append(std::to_string(exp_bits)).append("M");
    out.append(std::to_string(man_bits));
    if (encoding != Encoding::ieee) out.append(",").append(to_string(encoding));
  }
  if (!subnormals) out.append(",no-subnormals");
  if (saturate && encoding != Encoding::finite) out.append(",saturate");
  return out;
}

int Format::bias() const {
  if (kind == Kind::fixed) return 0;
  const int b = (1 << (exp_bits - 1)) - 1;
  return encoding == Encoding::fnuz ? b + 1 : b;
}

int Format::emax() const {
  if (kind == Kind::fixed) return int_bits - 1;
  // Top exponent code 2^e - 1: inf/NaN for ieee, finite values otherwise (non-ieee has m >= 1).
  const int top_code = (1 << exp_bits) - 1;
  return encoding == Encoding::ieee ? top_code - 1 - bias() : top_code - bias();
}

int Format::emin() const {
  if (kind == Kind::fixed) return -frac_bits;
  return 1 - bias();
}

double Format::max_finite() const {
  if (kind == Kind::fixed) return std::ldexp(1.0, int_bits - 1) - std::ldexp(1.0, -frac_bits);
  // fn: the all-ones significand at the top exponent is NaN, so one step below it.
  const double top = 2.0 - std::ldexp(encoding == Encoding::fn ? 2.0 : 1.0, -man_bits);
  return std::ldexp(top, emax());
}

double Format::min_normal() const {
  if (kind == Kind::fixed) return std::ldexp(1.0, -frac_bits);
  return std::ldexp(1.0, emin());
}

double Format::min_subnormal() const {
  if (kind == Kind::fixed) return std::ldexp(1.0, -frac_bits);
  return std::ldexp(1.0, emin() - man_bits);
}

// ---- parsing --------------------------------------------------------------------------------

Format parse_format(std::string_view text) {
  std::string s = lower_trimmed(text);
  for (const Alias& a : kFormatAliases)
    if (s.substr(0, s.find(',')) == a.name)
      s = a.format + s.substr(std::min(s.find(','), s.size()));  // options kept
  // mx:<element>:<k> and the block presets (formats_blocks.cpp)
  if (std::optional<Format> block = detail::parse_block_format(s, text)) return *block;
  std::vector<std::string> parts;
  for (std::size_t start = 0;;) {
    const std::size_t comma = s.find(',', start);
    parts.push_back(lower_trimmed(std::string_view(s).substr(start, comma - start)));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  const std::string& base = parts[0];
  Format f;
  const Preset* preset = nullptr;
  for (const Preset& p : kPresets)
    if (base == p.name) preset = &p;
  if (preset) {
    f = make_floating(preset->e, preset->m, text, preset->encoding);
  } else if (!base.empty() && base[0] == 'e') {
    std::size_t pos = 1;
    const int e = parse_small_uint(base, pos);
    if (e < 0 || pos >= base.size() || base[pos] != 'm') bad_format(text, "unrecognised");
    ++pos;
    const int m = parse_small_uint(base, pos);
    if (m < 0 || pos != base.size()) bad_format(text, "unrecognised");
    f = make_floating(e, m, text);
  } else if (!base.empty() && base[0] == 'q') {
    std::size_t pos = 1;
    const int i = parse_small_uint(base, pos);
    if (i < 0 || pos >= base.size() || base[pos] != '.') bad_format(text, "unrecognised");
    ++pos;
    const int fr = parse_small_uint(base, pos);
    if (fr < 0 || pos != base.size()) bad_format(text, "unrecognised");
    f = make_fixed(i, fr, text);
  } else {
    bad_format(text, "unrecognised");
  }
  bool encoding_given = false;
  for (std::size_t k = 1; k < parts.size(); ++k) {
    const Encoding encodings[] = {Encoding::ieee, Encoding::fn, Encoding::finite, Encoding::fnuz};
    const Encoding* enc = nullptr;
    for (const Encoding& e : encodings)
      if (parts[k] == to_string(e)) enc = &e;
    if (enc) {
      if (f.kind == Format::Kind::fixed)
        bad_format(text, "an encoding applies only to floating-point formats");
      if (encoding_given || preset)
        bad_format(text, "give one encoding, on E<e>M<m> (a named format has its own)");
      encoding_given = true;
      const bool saturate = f.saturate, subnormals = f.subnormals;
      f = make_floating(f.exp_bits, f.man_bits, text, *enc);
      f.saturate = f.saturate || saturate;
      f.subnormals = subnormals;
    } else if (parts[k] == "no-subnormals") {
      if (f.kind == Format::Kind::fixed)
        bad_format(text, "no-subnormals applies only to floating-point formats");
      f.subnormals = false;
    } else if (parts[k] == "saturate") {
      f.saturate = true;
    } else {
      bad_format(text, "unknown option \"" + parts[k] + "\"");
    }
  }
  return f;
}

const std::vector<std::string>& named_formats() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> out;
    for (const Preset& p : kPresets) out.emplace_back(p.name);
    for (const std::string& b : detail::block_preset_names()) out.push_back(b);
    return out;
  }();
  return names;
}

Rounding parse_rounding(std::string_view text) {
  const std::string s = lower_trimmed(text);
  // '-' and '_' are the same ("nearest-even"); the aliases are other libraries' names.
  std::string k = s;
  std::replace(k.begin(), k.end(), '-', '_');
  if (k == "toward_zero" || k == "truncate" || k == "rtz" || k == "towardzero")
    return Rounding::toward_zero;
  if (k == "nearest_even" || k == "nearest" || k == "rne" || k == "round_nearest_even" ||
      k == "nearesteven")
    return Rounding::nearest_even;
  if (k == "up" || k == "toward_positive" || k == "ceil") return Rounding::up;
  if (k == "down" || k == "toward_negative" || k == "floor") return Rounding::down;
  if (k == "stochastic" || k == "sr") return Rounding::stochastic;
  throw InputError("invalid rounding mode \"" + std::string(text) + "\"" +
                   did_you_mean(k, {"toward_zero", "truncate", "nearest_even", "nearest", "up",
                                    "down", "stochastic"}) +
                   " (" + kAcceptedRoundings + ")");
}

std::string to_string(Encoding encoding) {
  switch (encoding) {
    case Encoding::ieee:
      return "ieee";
    case Encoding::fn:
      return "fn";
    case Encoding::finite:
      return "finite";
    case Encoding::fnuz:
      return "fnuz";
  }
  return "unknown";
}

std::string to_string(Rounding mode) {
  switch (mode) {
    case Rounding::toward_zero:
      return "toward_zero";
    case Rounding::nearest_even:
      return "nearest_even";
    case Rounding::up:
      return "up";
    case Rounding::down:
      return "down";
    case Rounding::stochastic:
      return "stochastic";
  }
  return "unknown";
}

// ---- kernel parameters ----------------------------------------------------------------------

namespace detail {

KernelParams make_kernel_params(const Format& fmt, Rounding mode, const StochasticKey& key) {
  constexpr std::uint32_t kInfBits = 0x7F800000u;
  constexpr std::uint32_t kNanBits = 0x7FC00000u;
  KernelParams p;
  p.mode = mode;
  p.key = rng::key(key.seed, key.stream);
  if (fmt.kind == Format::Kind::fixed) {
    // The float format whose subnormal grid is the fixed-point grid: emin = i-1, spacing 2^-f.
    const int w = fmt.int_bits + fmt.frac_bits;
    p.base_drop = 24 - w;
    p.emin_biased = fmt.int_bits - 1 + 127;
    p.max_pos = bits_of(fmt.max_finite());
    // int<w> (symmetric): -2^(i-1) is not a value, the range ends at -max
    p.max_neg = fmt.symmetric ? p.max_pos : bits_of(std::ldexp(1.0, fmt.int_bits - 1));
    p.overflow_pos = p.inf_pos = p.max_pos;
    p.overflow_neg = p.inf_neg = p.max_neg;
    p.min_sub = bits_of(std::ldexp(1.0, -fmt.frac_bits));
    p.min_normal = 0;
    p.flush = false;
    return p;
  }
  const int m = fmt.man_bits;
  p.base_drop = 23 - m;
  p.emin_biased = fmt.emin() + 127;
  p.max_pos = p.max_neg = bits_of(fmt.max_finite());
  p.min_sub = bits_of(fmt.min_subnormal());
  p.min_normal = bits_of(fmt.min_normal());
  p.flush = !fmt.subnormals;

  const bool ieee = fmt.encoding == Encoding::ieee;
  if (mode == Rounding::nearest_even && m == 0 && ieee)
    p.nearest_overflow_at = bits_of(std::ldexp(1.5, fmt.emax()));
  // Without infinities, what would be inf is NaN (fn, fnuz) or max (finite: saturate is set).
  const std::uint32_t inf = ieee ? kInfBits : kNanBits;
  const std::uint32_t max = p.max_pos;
  p.inf_pos = p.inf_neg = ieee ? kInfBits : (fmt.saturate ? max : kNanBits);
  if (fmt.encoding == Encoding::fnuz) p.zero_sign = 0;
  if (fmt.encoding == Encoding::finite) p.count_specials = 1;
  if (fmt.saturate) {
    p.overflow_pos = p.overflow_neg = max;
  } else {
    switch (mode) {
      case Rounding::toward_zero:
        p.overflow_pos = max;
        p.overflow_neg = max;
        break;
      case Rounding::nearest_even:
      case Rounding::stochastic:
        p.overflow_pos = inf;
        p.overflow_neg = inf;
        break;
      case Rounding::up:
        p.overflow_pos = inf;
        p.overflow_neg = max;
        break;
      case Rounding::down:
        p.overflow_pos = max;
        p.overflow_neg = inf;
        break;
    }
  }
  return p;
}

BlockKeys block_keys(std::uint64_t key, std::uint32_t counter_hi) {
  const std::uint64_t z = rng::bits64(key, counter_hi);
  return {static_cast<std::uint32_t>(z), static_cast<std::uint32_t>(z >> 32)};
}

}  // namespace detail

// ---- driver ---------------------------------------------------------------------------------

namespace {
// 8192 values (32 KiB) per kernel call: small enough for L1/L2, big enough to amortise calls.
constexpr std::size_t kChunk = std::size_t{1} << 13;
// Below this many values a parallel region costs more than it saves.
constexpr std::size_t kParallelThreshold = std::size_t{1} << 16;

// Rounds x[begin, end) (a part of the caller's array; element i has counter offset + i),
// splitting where the 64-bit counter crosses a multiple of 2^32. With `step`, each element is
// first updated: x[i] - scale * step[i] (subtract_round).
void run_range(float* x, const float* step, float scale, std::size_t begin, std::size_t end,
               const detail::KernelParams& p, std::uint64_t offset, detail::ChunkCounts* counts,
               bool count_range) {
  while (begin < end) {
    const std::uint64_t c = offset + begin;
    const std::uint64_t to_boundary = (std::uint64_t{1} << 32) - (c & 0xFFFFFFFFu);
    const std::size_t n = static_cast<std::size_t>(
        std::min<std::uint64_t>(to_boundary, static_cast<std::uint64_t>(end - begin)));
    const detail::BlockKeys keys =
        p.mode == Rounding::stochastic
            ? detail::block_keys(p.key, static_cast<std::uint32_t>(c >> 32))
            : detail::BlockKeys{0, 0};
    if (step)
      detail::subtract_round_chunk(x + begin, step + begin, scale, static_cast<std::uint32_t>(n),
                                   static_cast<std::uint32_t>(c), keys, p, counts, count_range);
    else
      detail::quantize_chunk(x + begin, static_cast<std::uint32_t>(n),
                             static_cast<std::uint32_t>(c), keys, p, counts);
    begin += n;
  }
}

// 64-bit totals over the chunks of an array.
struct Totals {
  std::uint64_t overflow = 0, underflow = 0, lost = 0;
};

// Calls chunk(begin, end) -> detail::ChunkCounts for the kChunk-sized pieces of [0, n),
// threaded above kParallelThreshold, and sums the counts (32-bit per chunk: kChunk < 2^32).
template <class F>
Totals run_chunks(std::size_t n, F chunk) {
  const std::size_t n_chunks = (n + kChunk - 1) / kChunk;
  std::uint64_t overflow = 0, underflow = 0, lost = 0;
#pragma omp parallel for schedule(static) reduction(+ : overflow, underflow, lost) \
    if (n >= kParallelThreshold)
  for (std::size_t ci = 0; ci < n_chunks; ++ci) {
    const detail::ChunkCounts c = chunk(ci * kChunk, std::min(n, (ci + 1) * kChunk));
    overflow += c.overflow;
    underflow += c.underflow;
    lost += c.lost;
  }
  return {overflow, underflow, lost};
}
}  // namespace

void quantize(std::span<float> x, const Format& fmt, Rounding mode, StochasticKey key,
              QuantizeStats* stats) {
  fmt.check();
  if (stats) *stats = {};
  if (fmt.is_block()) {
    detail::quantize_blocks(x, fmt, mode, key, stats);
    return;
  }
  if (x.empty() || fmt.is_identity()) return;
  const detail::KernelParams p = detail::make_kernel_params(fmt, mode, key);
  float* data = x.data();  // shape [n], rounded in place
  const Totals t = run_chunks(x.size(), [&](std::size_t begin, std::size_t end) {
    detail::ChunkCounts c;
    run_range(data, nullptr, 0.0f, begin, end, p, key.offset, stats ? &c : nullptr,
              stats != nullptr);
    return c;
  });
  if (stats) *stats = {t.overflow, t.underflow};
}

std::uint64_t subtract_round(std::span<float> x, std::span<const float> step, float scale,
                             const Format& fmt, Rounding mode, StochasticKey key,
                             QuantizeStats* stats) {
  if (step.size() != x.size()) throw std::invalid_argument("subtract_round: sizes differ");
  fmt.check();
  if (stats) *stats = {};
  if (fmt.is_block()) return detail::subtract_round_blocks(x, step, scale, fmt, mode, key, stats);
  float* w = x.data();  // shape [n], updated in place
  const float* g = step.data();  // shape [n]
  Totals t;
  if (fmt.is_identity()) {
    // binary32 itself: the update alone (lost only to binary32 swamping)
    t = run_chunks(x.size(), [&](std::size_t begin, std::size_t end) {
      detail::ChunkCounts c;
      detail::subtract_chunk(w + begin, g + begin, scale, static_cast<std::uint32_t>(end - begin),
                             &c);
      return c;
    });
  } else {
    const detail::KernelParams p = detail::make_kernel_params(fmt, mode, key);
    t = run_chunks(x.size(), [&](std::size_t begin, std::size_t end) {
      detail::ChunkCounts c;
      run_range(w, g, scale, begin, end, p, key.offset, &c, stats != nullptr);
      return c;
    });
  }
  if (stats) *stats = {t.overflow, t.underflow};
  return t.lost;
}

float quantize_one(float x, const Format& fmt, Rounding mode, StochasticKey key) {
  quantize(std::span<float>(&x, 1), fmt, mode, key);
  return x;
}

std::uint32_t stochastic_bits(const StochasticKey& key, std::uint64_t index) {
  const std::uint64_t c = key.offset + index;
  const auto keys =
      detail::block_keys(rng::key(key.seed, key.stream), static_cast<std::uint32_t>(c >> 32));
  return detail::hash32(static_cast<std::uint32_t>(c), keys);
}

}  // namespace precsweep
