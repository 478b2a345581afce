// The fast rounding kernel: rounds binary32 values in place by integer arithmetic on their bit
// patterns (CPFloat's add-then-mask idea, Fasi and Mikaitis 2023), one branch-free loop per
// rounding mode so GCC auto-vectorises it, compiled twice (x86-64-v3 = AVX2, and baseline
// SSE2) with the right one picked at load time (target_clones).
// Deliberately leaves out: threading and splitting (formats.cpp), parsing, the reference
// (tests/formats_ref.cpp). Definitions of every mode and edge case: docs/formats.md.
//
// Per element, on the magnitude pattern a = |x| bits (sign handled separately, so "up" for a
// negative number is truncation of the magnitude):
//   be    = biased binary32 exponent (0 for binary32 subnormals, which have the spacing of be=1)
//   drop  = base_drop + max(0, emin_biased - max(be, 1))
//           the number of low pattern bits below the target's spacing at |x|; in the target's
//           subnormal range the spacing stays 2^(emin-m), so one more bit per binade below.
//   drop <= 23: within one binade (and across the binary32 subnormal/normal boundary) the pattern
//           is linear in the value, so rounding |x| to a multiple of 2^drop pattern units is
//           rounding the value; a carry out of the significand bumps the exponent, which is
//           exactly the next binade's first value.
//             toward_zero: a & ~mask
//             nearest_even: (a + mask/2 + lsb) & ~mask, lsb = bit `drop` of a (ties to even)
//             away from zero (up for +, down for -): (a + mask) & ~mask
//             stochastic: (a + R) & ~mask, R = top `drop` bits of ~h for the random word h, so
//                          it rounds away iff h < (a & mask) * 2^(32-drop)  (exactly unbiased)
//   drop >= 24: |x| < min_sub, the neighbours are 0 and min_sub; the choice is made by comparing:
//             nearest: |x| > min_sub/2 (a tie goes to 0, which is even)
//             stochastic: h < floor(2^32 * |x| / min_sub) = floor(sig * 2^(32-drop))
// Then: result > largest finite -> overflow value for the mode; result < 2^emin with
// no-subnormals -> 0; inf and NaN inputs are replaced by their own rules (NaN keeps its bits).
#include "formats_kernel.hpp"

#include <algorithm>
#include <bit>

namespace precsweep::detail {
namespace {

constexpr std::uint32_t kSign = 0x80000000u;
constexpr std::uint32_t kInf = 0x7F800000u;

// One loop per (mode, whether the drop count varies per element, flush, counting). kVarDrop is
// false for e = 8 formats (emin = -126: the binary32 subnormal range is the target's too), which
// then need no per-lane variable shifts at all.
template <Rounding kMode, bool kVarDrop, bool kFlush, bool kCount>
[[gnu::always_inline]] inline void round_loop(float* __restrict x, std::uint32_t n,
                                              std::uint32_t counter_lo, BlockKeys keys,
                                              const KernelParams& p, ChunkCounts* counts) {
  const std::int32_t base_drop = p.base_drop;
  const std::int32_t emin_biased = p.emin_biased;
  const std::uint32_t const_mask = (1u << std::clamp(base_drop, 0, 23)) - 1u;
  const std::uint32_t max_pos = p.max_pos, max_neg = p.max_neg;
  const std::uint32_t ovf_pos = p.overflow_pos, ovf_neg = p.overflow_neg;
  const std::uint32_t inf_pos = p.inf_pos, inf_neg = p.inf_neg;
  const std::uint32_t min_sub = p.min_sub, half_min_sub = p.half_min_sub;
  const std::uint32_t min_normal = p.min_normal;
  const std::uint32_t nearest_overflow_at = p.nearest_overflow_at;
  std::uint32_t n_overflow = 0, n_underflow = 0;

  for (std::uint32_t j = 0; j < n; ++j) {
    const std::uint32_t u = std::bit_cast<std::uint32_t>(x[j]);
    const std::uint32_t s = u & kSign;
    const std::uint32_t a = u ^ s;
    const bool neg = s != 0;

    std::int32_t drop = base_drop;
    std::int32_t extra = 0;  // binades below 2^emin
    std::uint32_t mask = const_mask;
    bool tiny = false;
    if constexpr (kVarDrop) {
      const std::int32_t be = static_cast<std::int32_t>(a >> 23);
      extra = emin_biased - std::min(std::max(be, 1), emin_biased);
      drop += extra;
      tiny = drop >= 24;
      mask = (1u << std::clamp(drop, 0, 23)) - 1u;
    }

    std::uint32_t h = 0;
    if constexpr (kMode == Rounding::stochastic) h = hash32(counter_lo + j, keys);

    // Rounding of the magnitude on the target's grid (valid when !tiny).
    std::uint32_t inc = 0;
    bool tiny_up = false;
    if constexpr (kMode == Rounding::nearest_even) {
      // bit `drop` of a, or 0 when drop == 0 ((mask+1)>>1 is then 0).
      std::uint32_t lsb = ((a >> 1) & ((mask + 1u) >> 1)) != 0 ? 1u : 0u;
      // drop = 23 below 2^emin: |x| in [min_sub, 2 min_sub) (or a binary32 subnormal below
      // min_sub), where the kept bit is binary32's exponent bit, not the target's code: the
      // lower neighbour is min_sub (code 1, odd) or 0 (even).
      if constexpr (kVarDrop) lsb = (drop == 23 && extra > 0) ? (a >= 0x00800000u ? 1u : 0u) : lsb;
      inc = (mask >> 1) + lsb;
      tiny_up = a > half_min_sub;
    } else if constexpr (kMode == Rounding::up || kMode == Rounding::down) {
      const bool away = (kMode == Rounding::up) ? !neg : neg;
      inc = away ? mask : 0u;
      tiny_up = away && a != 0;
    } else if constexpr (kMode == Rounding::stochastic) {
      // Top `drop` bits of ~h: ((~h) >> 9) holds its top 23 bits.
      const std::int32_t dc = kVarDrop ? std::clamp(drop, 0, 23) : std::clamp(base_drop, 0, 23);
      inc = ((~h) >> 9) >> (23 - dc);
      if constexpr (kVarDrop) {
        const std::uint32_t sig = (a & 0x007FFFFFu) | (a >= 0x00800000u ? 0x00800000u : 0u);
        const std::int32_t shl = std::max(32 - drop, 0);           // 0..8
        const std::int32_t shr = std::clamp(drop - 32, 0, 31);     // sig < 2^24, so >> 31 is 0
        const std::uint32_t threshold = (sig << shl) >> shr;
        tiny_up = h < threshold;
      }
    }
    std::uint32_t r = (a + inc) & ~mask;
    if constexpr (kVarDrop) r = tiny ? (tiny_up ? min_sub : 0u) : r;

    bool over = r > (neg ? max_neg : max_pos);
    if constexpr (kMode == Rounding::nearest_even) over = over || a >= nearest_overflow_at;
    r = over ? (neg ? ovf_neg : ovf_pos) : r;
    if constexpr (kFlush) r = r < min_normal ? 0u : r;

    const bool special = a >= kInf;
    const bool nan = a > kInf;
    r = special ? (nan ? a : (neg ? inf_neg : inf_pos)) : r;
    x[j] = std::bit_cast<float>(s | r);

    if constexpr (kCount) {
      n_overflow += (!special && over) ? 1u : 0u;
      n_underflow += (!special && a != 0 && r == 0) ? 1u : 0u;
    }
  }
  if constexpr (kCount) {
    counts->overflow += n_overflow;
    counts->underflow += n_underflow;
  }
}

template <Rounding kMode, bool kVarDrop>
[[gnu::always_inline]] inline void dispatch_flags(float* x, std::uint32_t n,
                                                  std::uint32_t c, BlockKeys k,
                                                  const KernelParams& p, ChunkCounts* counts) {
  if (p.flush) {
    if (counts) round_loop<kMode, kVarDrop, true, true>(x, n, c, k, p, counts);
    else round_loop<kMode, kVarDrop, true, false>(x, n, c, k, p, counts);
  } else {
    if (counts) round_loop<kMode, kVarDrop, false, true>(x, n, c, k, p, counts);
    else round_loop<kMode, kVarDrop, false, false>(x, n, c, k, p, counts);
  }
}

template <Rounding kMode>
[[gnu::always_inline]] inline void dispatch_drop(float* x, std::uint32_t n,
                                                 std::uint32_t c, BlockKeys k,
                                                 const KernelParams& p, ChunkCounts* counts) {
  if (p.emin_biased > 1) dispatch_flags<kMode, true>(x, n, c, k, p, counts);
  else dispatch_flags<kMode, false>(x, n, c, k, p, counts);
}

}  // namespace

__attribute__((target_clones("arch=x86-64-v3", "default")))
void quantize_chunk(float* x, std::uint32_t n, std::uint32_t counter_lo, BlockKeys keys,
                    const KernelParams& p, ChunkCounts* counts) {
  switch (p.mode) {
    case Rounding::toward_zero:
      dispatch_drop<Rounding::toward_zero>(x, n, counter_lo, keys, p, counts);
      break;
    case Rounding::nearest_even:
      dispatch_drop<Rounding::nearest_even>(x, n, counter_lo, keys, p, counts);
      break;
    case Rounding::up:
      dispatch_drop<Rounding::up>(x, n, counter_lo, keys, p, counts);
      break;
    case Rounding::down:
      dispatch_drop<Rounding::down>(x, n, counter_lo, keys, p, counts);
      break;
    case Rounding::stochastic:
      dispatch_drop<Rounding::stochastic>(x, n, counter_lo, keys, p, counts);
      break;
  }
}

}  // namespace precsweep::detail
