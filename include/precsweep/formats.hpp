// Number formats emulated inside binary32: IEEE-style floats E<e>M<m>, the named ML formats,
// saturating fixed point Q<i>.<f>, and the block-scaled formats (OCP MX, NVFP4), with every
// rounding mode. The format is a runtime value so that one binary sweeps all formats.
// Definitions and edge cases: docs/formats.md.
// Deliberately leaves out: formats wider than binary32 and arithmetic *in* the format (we round
// stored values; see Higham and Pranesh 2019 for why that is not the same thing).
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace precsweep {

enum class Rounding : std::uint8_t { toward_zero, nearest_even, up, down, stochastic };

// How a float format's codes are used (docs/formats.md, "Encodings"):
//   ieee   the top exponent code holds inf and NaN; bias 2^(e-1) - 1.
//   fn     no infinities; only the all-ones code (either sign) is NaN (OCP FP8 E4M3).
//          Overflow gives NaN unless `saturate`.
//   finite every code is a number, no inf and no NaN (OCP FP6/FP4). Always saturates; NaN
//          inputs stay NaN and are counted (QuantizeStats::overflow).
//   fnuz   no infinities and no -0: the negative-zero code is the only NaN; bias 2^(e-1).
//          A result that is zero is +0. Overflow gives NaN unless `saturate`.
// The non-ieee encodings need e <= 7 and m >= 1 (e = 8 would leave binary32's range; with m = 0
// the tie-to-even parity would need a second rule); the factories refuse anything else.
enum class Encoding : std::uint8_t { ieee, fn, finite, fnuz };

// Block scaling (docs/formats.md, "Block formats"). A block format is a Format whose scalar
// fields describe the *element* format and whose `scaling` says how each block of
// `block_size` consecutive values shares a scale:
//   none   a scalar format (block_size 0).
//   mx     OCP MX: scale 2^s, s = floor(log2(block amax)) - element emax, clamped to
//          [-127, 127] (E8M0); elements saturate. `mx:<element>:<k>`, presets mxfp8-e4m3, ...
//   nvfp4  NVIDIA NVFP4: 16 E2M1 elements, an E4M3 block scale and a binary32 tensor scale
//          over the whole array, in the exact binary32 operations of docs/formats.md.
// A block holding an inf or NaN becomes all NaN.
enum class Scaling : std::uint8_t { none, mx, nvfp4 };

struct Format {
  enum class Kind : std::uint8_t { floating, fixed };
  Kind kind = Kind::floating;
  // floating: exp_bits in 2..8, man_bits (fraction bits, without the implicit bit) in 0..23.
  int exp_bits = 8;
  int man_bits = 23;
  // fixed: Q<int_bits>.<frac_bits>, word length int_bits + frac_bits including the sign bit.
  int int_bits = 0;
  int frac_bits = 0;
  bool subnormals = true;  // false: results below 2^emin are flushed to a signed zero
  bool saturate = false;   // true: finite overflow gives +-max finite instead of inf (or NaN)
  Encoding encoding = Encoding::ieee;  // floating only
  // fixed only: `int<w>` (an MX element): Q2.(w-2) with the symmetric range |k| <= 2^(w-1) - 1
  // (no -2^(w-1)); int_bits = 2, frac_bits = w - 2. Only as the element of a block format.
  bool symmetric = false;
  Scaling scaling = Scaling::none;  // block formats: the scalar fields are the element's
  int block_size = 0;               // k, values per block (mx: 1..4096, nvfp4: 16); none: 0

  // Checked factories (throw InputError naming the bad width): E<e>M<m> with e in 2..8 and
  // m in 0..23; Q<i>.<f> with i >= 1 (sign included), f >= 0, i + f <= 25 (always saturating).
  static Format floating(int exp_bits, int man_bits);
  static Format fixed(int int_bits, int frac_bits);
  // The same with an encoding (InputError when the widths do not allow it, see Encoding);
  // `finite` sets saturate.
  static Format floating(int exp_bits, int man_bits, Encoding encoding);
  // Throws std::invalid_argument naming the field when a Format assembled field by field is
  // not one the factories (plus the subnormals/saturate options) could have made.
  // quantize() and subtract_round() call it, so a malformed format never reaches the kernel.
  void check() const;

  // binary32 itself (E8M23 with subnormals): quantizing is the identity.
  bool is_identity() const;
  bool is_block() const { return scaling != Scaling::none; }
  // The element format of a block format (scaling none; saturate as the block applies it);
  // a scalar format itself.
  Format element() const;
  // The exponent emax_elem that MX subtracts from floor(log2(amax)): the exponent of the
  // element's largest finite value (E4M3FN 8, E5M2 15, E2M1 2; int<w> 0).
  int element_emax() const;
  // Canonical text: "E5M10", "fp8-e4m3", "fp4-e2m1", "E5M2,fn", "Q8.8", with
  // ",no-subnormals", ",saturate" suffixes (`finite` formats never print ",saturate");
  // block formats: the preset name ("mxfp8-e4m3", "nvfp4") or "mx:<element>:<k>".
  std::string name() const;
  int bias() const;              // floating: 2^(e-1) - 1, fnuz 2^(e-1); fixed: 0
  int emax() const;              // exponent of max_finite (E4M3FN: 8, E4M3FNUZ: 7); fixed: i - 1
  int emin() const;              // floating: 1 - bias (E4M3FN: -6, E4M3FNUZ: -7); fixed: -f
  double max_finite() const;     // largest finite value (fixed: 2^(i-1) - 2^-f)
  double min_normal() const;     // floating: 2^emin; fixed: 2^-f
  double min_subnormal() const;  // floating: 2^(emin-m); fixed: 2^-f
  bool operator==(const Format&) const = default;
};

// Parses "E5M10", "e5m10", "fp16", "bf16", "tf32", "fp32", "fp8-e5m2", "fp8-e4m3",
// "fp8-e4m3fnuz", "fp8-e5m2fnuz", "fp8-e3m4", "fp6-e2m3", "fp6-e3m2", "fp4-e2m1", "Q8.8",
// optionally followed by an encoding (",ieee", ",fn", ",finite", ",fnuz"; floating only),
// ",no-subnormals" and/or ",saturate"; other libraries' names for the named formats
// ("bfloat16", "half", "float8_e4m3fn", ...: docs/formats.md); and the block formats
// "mx:<element>:<k>" (element: any float format above with its options, or int<w>, w = 2..24),
// "mxfp8-e4m3", "mxfp8-e5m2", "mxfp6-e3m2", "mxfp6-e2m3", "mxfp4", "mxint8" (k = 32) and
// "nvfp4". Throws InputError with one line naming the nearest formats and `precsweep formats`.
Format parse_format(std::string_view text);
// Every named format (the presets of parse_format), scalar ones first, in the order of the
// table in docs/formats.md and `precsweep formats`.
const std::vector<std::string>& named_formats();
// "toward_zero" (aliases "truncate", "rtz"), "nearest_even" ("nearest", "rne"), "up" ("ceil"),
// "down" ("floor"), "stochastic" ("sr"); any case, '-' as '_'. Throws InputError listing the
// accepted names (and the nearest one).
Rounding parse_rounding(std::string_view text);
std::string to_string(Rounding mode);
std::string to_string(Encoding encoding);  // "ieee", "fn", "finite", "fnuz"

// Counts from one quantize call (for the trainer's instrumentation).
struct QuantizeStats {
  // finite inputs whose result is +-inf, NaN, or saturated to max; with the `finite` encoding
  // also inf and NaN inputs (the format has no such values)
  std::uint64_t overflow = 0;
  std::uint64_t underflow = 0;  // nonzero finite inputs whose result is zero
  // Block formats only (0 otherwise). There `overflow` counts the elements that saturated
  // (the scaled value rounded above the element's max) and `underflow` the nonzero finite
  // inputs flushed to zero (by the element's grid or, nvfp4, a block scale of 0).
  std::uint64_t blocks = 0;          // blocks quantized (the last one may be shorter)
  std::uint64_t clamped_blocks = 0;  // mx: scale exponent clamped at -127 (or 127); nvfp4:
                                     // E4M3 block scale outside E4M3's normal range
  std::uint64_t nan_blocks = 0;      // blocks that held an inf or NaN (now all NaN)
  QuantizeStats& operator+=(const QuantizeStats& o) {
    overflow += o.overflow;
    underflow += o.underflow;
    blocks += o.blocks;
    clamped_blocks += o.clamped_blocks;
    nan_blocks += o.nan_blocks;
    return *this;
  }
};

// Stochastic rounding draws its random bits from a counter-based generator keyed by
// (seed, stream, offset + element index), so a result depends only on those and never on
// threading or on how an array is split into calls.
struct StochasticKey {
  std::uint64_t seed = 0;
  std::uint64_t stream = 0;
  std::uint64_t offset = 0;
};

// Round x[i] in place to the nearest value of `fmt` in direction `mode`. Vectorised, and
// threaded with OpenMP above a size threshold. Returns overflow/underflow counts when `stats`
// is non-null. A block format blocks consecutive runs of block_size values from x[0] (the
// last block may be shorter); nvfp4's tensor scale is taken over all of x. The mode applies
// to the elements; element i's stochastic bits are stochastic_bits(key, i), as for scalars.
void quantize(std::span<float> x, const Format& fmt, Rounding mode, StochasticKey key = {},
              QuantizeStats* stats = nullptr);

// Which way a block format's blocks run in a matrix (docs/formats.md, "Block formats").
enum class BlockAxis : std::uint8_t {
  rows,     // along each row (contiguous): blocks of row r are columns [0, k), [k, 2k), ...
  columns,  // down each column (strided): blocks of column c are rows [0, k), [k, 2k), ...
};

// Quantizes the row-major matrix a[r * ld + c] (r < rows, c < cols, ld >= cols; entries
// between cols and ld are not touched) in place, with blocks running along `axis` and
// restarting at each row (rows) or column (columns); nvfp4's tensor scale is taken over the
// whole matrix. For a scalar format the axis does not matter. Stochastic bits: the element's
// index in the order the blocks run, r * cols + c for rows and c * rows + r for columns (so
// axis rows with ld == cols equals quantize() on the array). Throws std::invalid_argument
// when ld < cols (and cols > 0) or a is null with rows * cols > 0.
void quantize_matrix(float* a, std::size_t rows, std::size_t cols, std::size_t ld,
                     BlockAxis axis, const Format& fmt, Rounding mode, StochasticKey key = {},
                     QuantizeStats* stats = nullptr);

// The SGD weight update fused with the rounding, in one pass over both arrays:
//   s = scale * step[i];  x[i] <- q(x[i] - s)
// with q as in quantize (stochastic bits at key.offset + i; the identity for binary32), so the
// result equals subtracting and then calling quantize. Returns how many i had s != 0 but an
// unchanged x[i] (compared as floats): updates lost to the rounding, or to binary32 swamping.
// Overflow and underflow are counted only when `stats` is given (that costs a little).
// Throws std::invalid_argument when the sizes differ. For a block format: the update of the
// whole array first, then quantize() of it (blocks from x[0]).
std::uint64_t subtract_round(std::span<float> x, std::span<const float> step, float scale,
                             const Format& fmt, Rounding mode, StochasticKey key = {},
                             QuantizeStats* stats = nullptr);

// One value (same result as the array kernel with index 0; a block format sees a block of one).
float quantize_one(float x, const Format& fmt, Rounding mode, StochasticKey key = {});

// The 32-bit random word stochastic rounding uses for element `index` of an array quantized with
// `key` (counter key.offset + index). An element rounds away from zero iff this word is below
// floor(2^32 * distance to the lower neighbour / gap) (docs/formats.md). Part of the definition
// of stochastic rounding: another implementation reproduces precsweep's bits with it.
std::uint32_t stochastic_bits(const StochasticKey& key, std::uint64_t index);

}  // namespace precsweep
