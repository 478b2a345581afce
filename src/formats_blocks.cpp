// Block-scaled formats: OCP MX (`mx:<element>:<k>` and its presets) and NVIDIA's NVFP4, their
// parsing and names, and the quantize paths for arrays and matrices (quantize_matrix).
// Definitions, the exact binary32 operations of NVFP4 and the sources they follow:
// docs/formats.md, "Block formats".
// How: a piece of whole blocks (about 2048 values, so it stays in L1) is done in three
// passes: (1) per block, the scale from the block's largest magnitude, and each value scaled
// down into a buffer; (2) the element rounding, by the scalar bit kernel (formats_kernel.cpp)
// with the element's parameters, vectorised, element i's stochastic counter being its index;
// (3) each rounded element mapped back by the block's factor (NaN for a block holding inf or
// NaN: its factor is NaN).
// Deliberately leaves out: the scalar rounding itself (formats_kernel.cpp), threading of
// scalar formats (formats.cpp), and which axis a GEMM operand blocks along (the trainer's).
#include "formats_blocks.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>

#include "formats_kernel.hpp"
#include "precsweep/error.hpp"

// Passes 1 and 3 compiled for AVX-512, AVX2 and baseline x86-64 and picked at load time, as the
// kernel is (formats_kernel.cpp); clang (the fuzz build), other CPUs and the portable build get
// the baseline only.
#if defined(__clang__) || !defined(__x86_64__) || defined(PRECSWEEP_PORTABLE_KERNELS)
#define PRECSWEEP_BLOCK_CLONES
#else
#define PRECSWEEP_BLOCK_CLONES \
  __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#endif

namespace precsweep {
namespace {

constexpr std::uint32_t kAbs = 0x7FFFFFFFu;
constexpr std::uint32_t kInfBits = 0x7F800000u;
constexpr int kMaxBlock = 4096;
// Values per piece: whole blocks, about kPiece values (at most kMaxPiece = the largest k), so
// that a piece and its scaled copy stay in L1 (2 x 8 KiB).
constexpr std::size_t kPiece = 2048;
constexpr std::size_t kMaxPiece = 4096;
// Below this many values a parallel region costs more than it saves (as formats.cpp).
constexpr std::size_t kParallelThreshold = std::size_t{1} << 16;
// Columns gathered at once for blocks that run down the columns (one 64-byte line per row).
constexpr std::size_t kPanel = 16;

constexpr const char* kBlockForms =
    "block formats: mx:<element>:<k> with k = 1..4096 values per block and as element a float "
    "format (E<e>M<m> with its options, fp8-e4m3, fp6-e2m3, fp4-e2m1, ...) whose smallest "
    "subnormal is at least 2^-22, or int<w> with w = 2..24; presets mxfp8-e4m3, mxfp8-e5m2, "
    "mxfp6-e3m2, mxfp6-e2m3, mxfp4, mxint8 (k = 32) and nvfp4";

struct BlockPreset {
  const char* name;
  const char* element;  // parse_format text, or "int8"
  Scaling scaling;
  int k;
};
constexpr BlockPreset kBlockPresets[] = {
    {"mxfp8-e4m3", "fp8-e4m3", Scaling::mx, 32}, {"mxfp8-e5m2", "fp8-e5m2", Scaling::mx, 32},
    {"mxfp6-e3m2", "fp6-e3m2", Scaling::mx, 32}, {"mxfp6-e2m3", "fp6-e2m3", Scaling::mx, 32},
    {"mxfp4", "fp4-e2m1", Scaling::mx, 32},      {"mxint8", "int8", Scaling::mx, 32},
    {"nvfp4", "fp4-e2m1", Scaling::nvfp4, 16},
};

[[noreturn]] void bad_block(std::string_view shown, const std::string& why) {
  throw InputError("invalid number format \"" + std::string(shown) + "\": " + why + " (" +
                   kBlockForms + ")");
}

// 1..4 decimal digits, else -1.
int small_number(const std::string& s) {
  if (s.empty() || s.size() > 4) return -1;
  int v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return -1;
    v = v * 10 + (c - '0');
  }
  return v;
}

// An element as MX uses it: int<w>, or a float format, saturating.
Format parse_element(const std::string& text, std::string_view shown) {
  if (text.rfind("int", 0) == 0) {
    const int w = small_number(text.substr(3));
    if (w < 2 || w > 24) bad_block(shown, "int<w> elements need w = 2..24, got \"" + text + "\"");
    Format f = Format::fixed(2, w - 2);
    f.symmetric = true;
    return f;
  }
  Format e;
  try {
    e = parse_format(text);
  } catch (const InputError&) {
    bad_block(shown, "the element \"" + text + "\" is not a float format or int<w>");
  }
  if (e.is_block()) bad_block(shown, "the element cannot be a block format");
  if (e.kind != Format::Kind::floating)
    bad_block(shown, "fixed-point elements are written int<w>, not Q<i>.<f>");
  if (e.min_subnormal() < 0x1p-22)
    bad_block(shown, "element " + e.name() +
                         ": its smallest subnormal times the smallest scale 2^-127 lies below "
                         "binary32's smallest value 2^-149; an element needs a smallest "
                         "subnormal of at least 2^-22");
  e.saturate = true;  // MX saturates the elements
  return e;
}

Format preset_format(const BlockPreset& p) {
  Format f = parse_element(p.element, p.name);
  f.scaling = p.scaling;
  f.block_size = p.k;
  return f;
}

const std::vector<Format>& preset_formats() {
  static const std::vector<Format> formats = [] {
    std::vector<Format> out;
    for (const BlockPreset& p : kBlockPresets) out.push_back(preset_format(p));
    return out;
  }();
  return formats;
}

}  // namespace

namespace detail {

std::optional<Format> parse_block_format(const std::string& lowered, std::string_view shown) {
  for (const BlockPreset& p : kBlockPresets) {
    const std::string name = p.name;
    if (lowered == name) return preset_format(p);
    if (lowered.rfind(name + ",", 0) == 0)
      bad_block(shown,
                "a block preset takes no options; give them to the element, as in "
                "mx:fp8-e4m3,no-subnormals:32");
  }
  if (lowered.rfind("mx:", 0) != 0) return std::nullopt;
  const std::string rest = lowered.substr(3);
  const std::size_t colon = rest.rfind(':');
  if (colon == std::string::npos) bad_block(shown, "expected mx:<element>:<k>");
  const int k = small_number(rest.substr(colon + 1));
  if (k < 1 || k > kMaxBlock)
    bad_block(shown,
              "k (values per block) must be 1..4096, got \"" + rest.substr(colon + 1) + "\"");
  Format f = parse_element(rest.substr(0, colon), shown);
  f.scaling = Scaling::mx;
  f.block_size = k;
  return f;
}

const std::vector<std::string>& block_preset_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> out;
    for (const BlockPreset& p : kBlockPresets) out.emplace_back(p.name);
    return out;
  }();
  return names;
}

std::string block_format_name(const Format& fmt) {
  const std::vector<Format>& presets = preset_formats();
  for (std::size_t i = 0; i < presets.size(); ++i)
    if (presets[i] == fmt) return kBlockPresets[i].name;
  Format e = fmt.element();
  // the element's own name, without the saturation MX always applies
  if (e.kind == Format::Kind::floating && e.encoding != Encoding::finite) e.saturate = false;
  std::string out = "mx:";
  out.append(e.name()).append(":").append(std::to_string(fmt.block_size));
  return out;
}

std::string block_format_problem(const Format& fmt) {
  const Format e = fmt.element();
  try {
    e.check();
  } catch (const std::invalid_argument& err) {
    return std::string("element: ") + err.what();
  }
  if (fmt.scaling == Scaling::nvfp4) {
    if (fmt.block_size != 16 || e != preset_formats().back().element())
      return "nvfp4 is 16-value blocks of fp4-e2m1";
    return "";
  }
  if (fmt.scaling != Scaling::mx)
    return "unknown scaling " + std::to_string(static_cast<int>(fmt.scaling));
  if (fmt.block_size < 1 || fmt.block_size > kMaxBlock)
    return "block_size " + std::to_string(fmt.block_size) + " not in 1..4096";
  if (!e.saturate) return "mx elements saturate";
  if (e.kind == Format::Kind::fixed) return e.symmetric ? "" : "fixed-point mx elements are int<w>";
  if (e.min_subnormal() < 0x1p-22) return "mx element's smallest subnormal below 2^-22";
  return "";
}

}  // namespace detail

namespace {

// 64-bit counts over pieces.
struct Counts {
  std::uint64_t overflow = 0, underflow = 0, blocks = 0, clamped = 0, nan_blocks = 0;
};

// What one quantize call needs besides the values.
struct Plan {
  Scaling scaling = Scaling::none;
  std::size_t k = 0;
  int emax = 0;               // mx: element_emax
  detail::KernelParams elem;  // the element rounding (saturating for block formats)
  detail::KernelParams e4m3;  // nvfp4: block scales, E4M3FN nearest_even saturating
  float amax = 0, mult = 0, dec = 0, back = 0;  // nvfp4: A, M, D, F (docs/formats.md)
  bool count = false;
};

Plan make_plan(const Format& fmt, Rounding mode, const StochasticKey& key, bool count) {
  Plan p;
  p.scaling = fmt.scaling;
  p.k = static_cast<std::size_t>(fmt.block_size);
  p.emax = fmt.element_emax();
  p.elem = detail::make_kernel_params(fmt.element(), mode, key);
  p.count = count;
  // MX hands the kernel finite values only (a block with inf or NaN is zeroed first), so what
  // the element does with inf does not matter: saying "inf stays inf" lets the kernel take its
  // faster loop shape (symmetric, specials passed). Not for fnuz, whose +0 rule lives in the
  // other shape, nor for nvfp4.
  if (fmt.scaling == Scaling::mx && fmt.encoding != Encoding::fnuz) {
    p.elem.inf_pos = 0x7F800000u;
    p.elem.inf_neg = 0x7F800000u;
  }
  if (fmt.scaling == Scaling::nvfp4) {
    Format e4m3 = Format::floating(4, 3, Encoding::fn);
    e4m3.saturate = true;
    p.e4m3 = detail::make_kernel_params(e4m3, Rounding::nearest_even, {});
  }
  return p;
}

// NVFP4's tensor constants from the tensor's largest finite magnitude A (docs/formats.md,
// steps 1-2; Transformer Engine's compute_global_encode_scaling_factor_FP4).
void set_tensor_scale(Plan& p, float amax) {
  constexpr float kFltMax = std::numeric_limits<float>::max();
  float s = 2688.0f / amax;  // 448 * 6; A = 0 gives inf
  s = std::min(s, kFltMax);
  if (amax == 0.0f || s == 0.0f) s = 1.0f;
  p.amax = amax;
  p.mult = s * (1.0f / 6.0f);                        // M = S * RN(1/6)
  p.dec = 1.0f / s;                                  // D = RN(1/S)
  p.back = static_cast<float>(1.0 / (6.0 * 448.0));  // F = RN32(RN64(1/2688))
}

std::size_t piece_size(const Plan& p) { return p.k * std::max<std::size_t>(1, kPiece / p.k); }

// Rounds t[0..n) in place with kernel parameters p; element j has the 64-bit counter
// `counter + j` (split where it crosses a multiple of 2^32, as formats.cpp's driver does).
void round_elements(float* t, std::size_t n, std::uint64_t counter, const detail::KernelParams& p,
                    detail::ChunkCounts* counts) {
  while (n > 0) {
    const std::uint64_t to_boundary = (std::uint64_t{1} << 32) - (counter & 0xFFFFFFFFu);
    const std::size_t len = static_cast<std::size_t>(
        std::min<std::uint64_t>(to_boundary, static_cast<std::uint64_t>(n)));
    const detail::BlockKeys keys =
        p.mode == Rounding::stochastic
            ? detail::block_keys(p.key, static_cast<std::uint32_t>(counter >> 32))
            : detail::BlockKeys{0, 0};
    detail::quantize_chunk(t, static_cast<std::uint32_t>(len), static_cast<std::uint32_t>(counter),
                           keys, p, counts);
    t += len;
    n -= len;
    counter += len;
  }
}

// 2^s as a binary32, s in [-127, 127] (2^-127 is subnormal), without a libm call.
[[gnu::always_inline]] inline float pow2(int s) {
  return std::bit_cast<float>(s >= -126 ? static_cast<std::uint32_t>(s + 127) << 23 : 0x00400000u);
}

// The MX scale of a block from the bit pattern of its largest magnitude: the factor 2^-s that
// scales the values down and 2^s that maps the rounded elements back (NaN for a block holding
// inf or NaN, which also makes every result of the block NaN).
struct MxScale {
  float down, up;
};
[[gnu::always_inline]] inline MxScale mx_scale(std::uint32_t amax, int emax, Counts& c) {
  if (amax >= kInfBits) {
    ++c.nan_blocks;
    return {0.0f, std::numeric_limits<float>::quiet_NaN()};  // down unused
  }
  int s = -127;  // an all-zero block: any scale keeps its zeros; the smallest
  if (amax != 0) {
    // floor(log2(amax)), binary32 subnormals included
    const int e = amax >= 0x00800000u ? static_cast<int>(amax >> 23) - 127
                                      : 31 - std::countl_zero(amax) - 149;
    const int wanted = e - emax;
    s = std::clamp(wanted, -127, 127);
    c.clamped += s != wanted;
  }
  return {pow2(-s), pow2(s)};
}

// MX pass 1 for one block x[0..len) (len = K when K > 0, so the loops have constant trip
// counts and vectorise without remainders): the scaled values into t; returns the factor back.
// x * 2^-s is exact unless it lands below 2^-126, where every value rounds like any other
// nonzero value there (the element's smallest subnormal is >= 2^-22); only a product that
// underflowed to 0 would not, so it is replaced by the smallest binary32 of its sign (pattern
// sign | 1). A NaN block's values become 0 here (nothing to count in pass 2).
template <std::size_t K>
[[gnu::always_inline]] inline float mx_block_down(const float* __restrict x, float* __restrict t,
                                                  std::size_t len, int emax, Counts& c) {
  const std::size_t n = K ? K : len;
  std::uint32_t amax = 0;
  for (std::size_t j = 0; j < n; ++j)
    amax = std::max(amax, std::bit_cast<std::uint32_t>(x[j]) & kAbs);
  const MxScale sc = mx_scale(amax, emax, c);
  if (amax >= kInfBits) {  // x * 0 would still be NaN for inf and NaN
    std::fill(t, t + n, 0.0f);
    return sc.up;
  }
  for (std::size_t j = 0; j < n; ++j) {
    const std::uint32_t xb = std::bit_cast<std::uint32_t>(x[j]);
    const std::uint32_t vb = std::bit_cast<std::uint32_t>(x[j] * sc.down);
    const bool lost =
        static_cast<unsigned>((vb & kAbs) == 0) & static_cast<unsigned>((xb & kAbs) != 0);
    t[j] = std::bit_cast<float>(lost ? (xb & ~kAbs) | 1u : vb);
  }
  return sc.up;
}

// Pass 3 for one block: x = t * back, counting nonzero inputs whose result is 0.
template <std::size_t K, bool kCount>
[[gnu::always_inline]] inline void block_up(float* __restrict x, const float* __restrict t,
                                            std::size_t len, float back, std::uint64_t& under) {
  const std::size_t n = K ? K : len;
  std::uint32_t u = 0;
  for (std::size_t j = 0; j < n; ++j) {
    const float r = t[j] * back;
    if constexpr (kCount)
      u += static_cast<unsigned>(x[j] != 0.0f) & static_cast<unsigned>(r == 0.0f);
    x[j] = r;
  }
  under += u;
}

// Per-block loops of NVFP4's pass 1 with a constant trip count K when K > 0 (else len).
template <std::size_t K>
[[gnu::always_inline]] inline std::uint32_t amax_bits(const float* __restrict x,
                                                      std::size_t len) {
  std::uint32_t amax = 0;
  for (std::size_t j = 0; j < (K ? K : len); ++j)
    amax = std::max(amax, std::bit_cast<std::uint32_t>(x[j]) & kAbs);
  return amax;
}
template <std::size_t K>
[[gnu::always_inline]] inline void scale_into(const float* __restrict x, float* __restrict t,
                                              std::size_t len, float e) {
  for (std::size_t j = 0; j < (K ? K : len); ++j) t[j] = x[j] * e;
}

// NVFP4 pass 1 for the blocks of a piece (docs/formats.md, steps 3-5): scaled values into t,
// decode factors into back. Inlined into the per-instruction-set clones of block_piece.
template <std::size_t K>
[[gnu::always_inline]] inline void nvfp4_down(const float* __restrict x, float* __restrict t,
                                              std::size_t n, const Plan& p, Counts& c,
                                              float* __restrict back) {
  constexpr float kFltMax = std::numeric_limits<float>::max();
  const std::size_t k = p.k;
  const std::size_t full = K ? n / K : 0, n_blocks = (n + k - 1) / k;
  // per block d = E4M3(RN(b * M)), all blocks' scales rounded at once
  float d[kMaxPiece / 16 + 1];
  std::uint32_t amax[kMaxPiece / 16 + 1];
  for (std::size_t b = 0; b < n_blocks; ++b) {
    const std::size_t lo = b * k, len = std::min(k, n - lo);
    amax[b] = b < full ? amax_bits<K>(x + lo, len) : amax_bits<0>(x + lo, len);
    d[b] = amax[b] >= kInfBits ? std::numeric_limits<float>::quiet_NaN()
                               : std::bit_cast<float>(amax[b]) * p.mult;
  }
  // clamped: a scale that saturated at 448 (its rounding exceeded 448; NaN is not counted)
  detail::ChunkCounts sc;
  detail::quantize_chunk(d, static_cast<std::uint32_t>(n_blocks), 0, {0, 0}, p.e4m3, &sc);
  c.clamped += sc.overflow;
  for (std::size_t b = 0; b < n_blocks; ++b) {
    const std::size_t lo = b * k, len = std::min(k, n - lo);
    if (std::isnan(d[b])) {
      std::fill(t + lo, t + lo + len, 0.0f);
      ++c.nan_blocks;
      back[b] = d[b];
      continue;
    }
    // clamped: a nonzero block whose scale fell below E4M3's normal range (2^-6)
    c.clamped += amax[b] != 0 && d[b] < 0x1p-6f;
    // encode e = min(RN(1 / RN(d * D)), FLT_MAX); a zero scale (every result of the block
    // is then a zero) scales by 0 instead of FLT_MAX, which gives the same results
    const float e = d[b] == 0.0f ? 0.0f : std::min(1.0f / (d[b] * p.dec), kFltMax);
    if (b < full)
      scale_into<K>(x + lo, t + lo, len, e);
    else
      scale_into<0>(x + lo, t + lo, len, e);
    const float da = d[b] * p.amax;
    back[b] = da * p.back;  // decode f = RN(RN(d * A) * F)
  }
}

// Rounds one piece x[0..n) of whole blocks (the last may be shorter), element j having the
// counter `counter + j`. t and back are scratch of at least n and n / k + 1 values. K is the
// block size when it is a compile-time 16 or 32, else 0.
template <std::size_t K, bool kCount>
[[gnu::always_inline]] inline void block_piece(float* __restrict x, std::size_t n,
                                               std::uint64_t counter, const Plan& p, Counts& c,
                                               float* __restrict t, float* __restrict back) {
  const std::size_t k = K ? K : p.k;
  const std::size_t full = n / k, n_blocks = (n + k - 1) / k;
  c.blocks += n_blocks;
  if (p.scaling == Scaling::mx) {
    for (std::size_t b = 0; b < full; ++b)
      back[b] = mx_block_down<K>(x + b * k, t + b * k, k, p.emax, c);
    if (full < n_blocks)
      back[full] = mx_block_down<0>(x + full * k, t + full * k, n - full * k, p.emax, c);
  } else {
    nvfp4_down<K>(x, t, n, p, c, back);
  }
  detail::ChunkCounts cc;
  round_elements(t, n, counter, p.elem, kCount ? &cc : nullptr);
  c.overflow += cc.overflow;
  std::uint64_t under = 0;
  for (std::size_t b = 0; b < full; ++b)
    block_up<K, kCount>(x + b * k, t + b * k, k, back[b], under);
  if (full < n_blocks)
    block_up<0, kCount>(x + full * k, t + full * k, n - full * k, back[full], under);
  c.underflow += under;
}

template <bool kCount>
[[gnu::always_inline]] inline void block_piece_k(float* x, std::size_t n, std::uint64_t counter,
                                                 const Plan& p, Counts& c, float* t, float* back) {
  if (p.k == 32)
    block_piece<32, kCount>(x, n, counter, p, c, t, back);
  else if (p.k == 16)
    block_piece<16, kCount>(x, n, counter, p, c, t, back);
  else
    block_piece<0, kCount>(x, n, counter, p, c, t, back);
}

}  // namespace

namespace detail {
// Largest finite magnitude (as a bit pattern) of x[0..n): NVFP4's tensor amax.
PRECSWEEP_BLOCK_CLONES std::uint32_t finite_amax_bits(const float* x, std::size_t n) {
  std::uint32_t m = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint32_t a = std::bit_cast<std::uint32_t>(x[i]) & kAbs;
    m = std::max(m, a < kInfBits ? a : 0u);
  }
  return m;
}

// The two entry points of the block passes, one clone per instruction set each.
PRECSWEEP_BLOCK_CLONES void block_piece_counted(float* x, std::size_t n, std::uint64_t counter,
                                                const Plan& p, Counts& c, float* t, float* back) {
  block_piece_k<true>(x, n, counter, p, c, t, back);
}
PRECSWEEP_BLOCK_CLONES void block_piece_uncounted(float* x, std::size_t n, std::uint64_t counter,
                                                  const Plan& p, Counts& c, float* t, float* back) {
  block_piece_k<false>(x, n, counter, p, c, t, back);
}
}  // namespace detail

namespace {

// Rounds a line x[0..n) whose blocks start at x[0] (an array, or one row or column), element
// j having the counter `counter + j`.
void quantize_line(float* x, std::size_t n, std::uint64_t counter, const Plan& p, Counts& c) {
  if (p.scaling == Scaling::none) {
    detail::ChunkCounts cc;
    round_elements(x, n, counter, p.elem, p.count ? &cc : nullptr);
    c.overflow += cc.overflow;
    c.underflow += cc.underflow;
    return;
  }
  alignas(64) float t[kMaxPiece];
  float back[kMaxPiece + 1];
  const std::size_t per = piece_size(p);
  for (std::size_t start = 0; start < n; start += per) {
    if (p.count)
      detail::block_piece_counted(x + start, std::min(per, n - start), counter + start, p, c, t,
                                  back);
    else
      detail::block_piece_uncounted(x + start, std::min(per, n - start), counter + start, p, c, t,
                                    back);
  }
}

void store(const Counts& c, QuantizeStats* stats) {
  if (stats) *stats = {c.overflow, c.underflow, c.blocks, c.clamped, c.nan_blocks};
}

// Runs f(i, Counts&) for i in [0, n_items), threaded when `parallel`, and sums the counts.
template <class F>
Counts for_each_item(std::size_t n_items, bool parallel, F f) {
  std::uint64_t ov = 0, un = 0, bl = 0, cl = 0, nb = 0;
#pragma omp parallel for schedule(static) reduction(+ : ov, un, bl, cl, nb) if (parallel)
  for (std::size_t i = 0; i < n_items; ++i) {
    Counts c;
    f(i, c);
    ov += c.overflow;
    un += c.underflow;
    bl += c.blocks;
    cl += c.clamped;
    nb += c.nan_blocks;
  }
  return {ov, un, bl, cl, nb};
}

}  // namespace

namespace detail {

void quantize_blocks(std::span<float> x, const Format& fmt, Rounding mode, StochasticKey key,
                     QuantizeStats* stats) {
  if (x.empty()) return;
  Plan p = make_plan(fmt, mode, key, stats != nullptr);
  float* data = x.data();  // shape [n], blocks of k from data[0]
  const std::size_t n = x.size();
  const bool parallel = n >= kParallelThreshold;
  const std::size_t per = piece_size(p);
  const std::size_t n_pieces = (n + per - 1) / per;
  if (p.scaling == Scaling::nvfp4) {
    std::uint32_t amax = 0;
#pragma omp parallel for schedule(static) reduction(max : amax) if (parallel)
    for (std::size_t i = 0; i < n_pieces; ++i)
      amax = std::max(amax, detail::finite_amax_bits(data + i * per, std::min(per, n - i * per)));
    set_tensor_scale(p, std::bit_cast<float>(amax));
  }
  const Counts c = for_each_item(n_pieces, parallel, [&](std::size_t i, Counts& ci) {
    quantize_line(data + i * per, std::min(per, n - i * per), key.offset + i * per, p, ci);
  });
  store(c, stats);
}

std::uint64_t subtract_round_blocks(std::span<float> x, std::span<const float> step, float scale,
                                    const Format& fmt, Rounding mode, StochasticKey key,
                                    QuantizeStats* stats) {
  const std::vector<float> old(x.begin(), x.end());  // shape [n]
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = x[i] - scale * step[i];
  quantize_blocks(x, fmt, mode, key, stats);
  std::uint64_t lost = 0;
  for (std::size_t i = 0; i < x.size(); ++i)
    lost += static_cast<unsigned>(scale * step[i] != 0.0f) & static_cast<unsigned>(x[i] == old[i]);
  return lost;
}

}  // namespace detail

void quantize_matrix(float* a, std::size_t rows, std::size_t cols, std::size_t ld, BlockAxis axis,
                     const Format& fmt, Rounding mode, StochasticKey key, QuantizeStats* stats) {
  fmt.check();
  if (stats) *stats = {};
  if (rows == 0 || cols == 0) return;
  if (a == nullptr) throw std::invalid_argument("quantize_matrix: null matrix");
  if (ld < cols)
    throw std::invalid_argument("quantize_matrix: leading dimension " + std::to_string(ld) +
                                " < cols " + std::to_string(cols));
  if (fmt.is_identity()) return;
  Plan p = make_plan(fmt, mode, key, stats != nullptr);
  const bool parallel = rows * cols >= kParallelThreshold;
  if (p.scaling == Scaling::nvfp4) {
    std::uint32_t amax = 0;
#pragma omp parallel for schedule(static) reduction(max : amax) if (parallel)
    for (std::size_t r = 0; r < rows; ++r)
      amax = std::max(amax, detail::finite_amax_bits(a + r * ld, cols));
    set_tensor_scale(p, std::bit_cast<float>(amax));
  }
  Counts c;
  if (axis == BlockAxis::rows) {
    c = for_each_item(rows, parallel, [&](std::size_t r, Counts& ci) {
      quantize_line(a + r * ld, cols, key.offset + r * cols, p, ci);
    });
  } else {
    // Panels of kPanel columns gathered into contiguous columns (buf[j * rows + r]), rounded as
    // lines, scattered back.
    const std::size_t n_panels = (cols + kPanel - 1) / kPanel;
    c = for_each_item(n_panels, parallel, [&](std::size_t pi, Counts& ci) {
      const std::size_t c0 = pi * kPanel, w = std::min(kPanel, cols - c0);
      std::vector<float> buf(w * rows);  // shape [w][rows]
      for (std::size_t r = 0; r < rows; ++r)
        for (std::size_t j = 0; j < w; ++j) buf[j * rows + r] = a[r * ld + c0 + j];
      for (std::size_t j = 0; j < w; ++j)
        quantize_line(buf.data() + j * rows, rows, key.offset + (c0 + j) * rows, p, ci);
      for (std::size_t r = 0; r < rows; ++r)
        for (std::size_t j = 0; j < w; ++j) a[r * ld + c0 + j] = buf[j * rows + r];
    });
  }
  store(c, stats);
}

}  // namespace precsweep
