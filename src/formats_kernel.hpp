// Internal interface between the quantize driver (formats.cpp: parsing, threading, splitting
// into chunks) and the bit-manipulation kernel (formats_kernel.cpp). Not installed, not used
// outside src/formats*.cpp.
//
// Every format is described to the kernel by a handful of binary32 bit patterns and shift
// counts (KernelParams); fixed point Q<i>.<f> is described as the float format whose subnormal
// grid is the fixed-point grid (emin = i-1, spacing 2^-f), with an asymmetric largest value.
#pragma once
#include <cstddef>
#include <cstdint>

#include "precsweep/formats.hpp"

namespace precsweep::detail {

struct KernelParams {
  // Bits dropped from a binary32 significand in the target's normal range: 23 - m for E<e>M<m>;
  // 24 - (i+f) for fixed point (may be -1 for 25-bit words; the kernel clamps at 0).
  std::int32_t base_drop = 0;
  // Biased binary32 exponent of 2^emin (1..151). Below it the target spacing stays 2^(emin-m),
  // so the drop count grows by one per binade. 1 means "never" (emin = -126: e = 8).
  std::int32_t emin_biased = 1;
  // Magnitude bit patterns (sign cleared) of:
  std::uint32_t max_pos = 0;       // largest finite positive result
  std::uint32_t max_neg = 0;       // largest finite negative result's magnitude (fixed: 2^(i-1))
  std::uint32_t overflow_pos = 0;  // result for a finite positive input that overflows
  std::uint32_t overflow_neg = 0;  // ... for a negative one (magnitude)
  std::uint32_t inf_pos = 0;       // result for +inf (magnitude)
  std::uint32_t inf_neg = 0;       // result for -inf (magnitude)
  std::uint32_t min_sub = 0;       // smallest positive value 2^(emin-m) (fixed: 2^-f)
  std::uint32_t min_normal = 0;    // 2^emin, the flush-to-zero threshold
  // nearest_even only: |x| at or above this pattern overflows even when the tie rule would
  // keep max finite. IEEE 754 sends |x| >= 2^emax (2 - 2^-(m+1)) to inf; add-then-mask agrees
  // except for m = 0, where max's encoding is even. 0x7FFFFFFF (a NaN) = no threshold.
  std::uint32_t nearest_overflow_at = 0x7FFFFFFFu;
  // Sign bit kept on a zero result: kSign, or 0 for fnuz (no -0: every zero result is +0).
  // Applied only in the kernel's loops for fnuz and finite formats (template flag kExtras).
  std::uint32_t zero_sign = 0x80000000u;
  // 1: inf and NaN inputs count as overflow (`finite`: the format has no such values). Also
  // only in those loops.
  std::uint32_t count_specials = 0;
  bool flush = false;  // no-subnormals
  Rounding mode = Rounding::nearest_even;
  // Stochastic: 64-bit key derived from (seed, stream); see stochastic_bits in formats.hpp.
  std::uint64_t key = 0;
};

KernelParams make_kernel_params(const Format& fmt, Rounding mode, const StochasticKey& key);

// Per 2^32-block of counters, two 32-bit hash keys (the counter's high half is folded in here so
// the vector loop only sees 32-bit lanes).
struct BlockKeys {
  std::uint32_t k1, k2;
};
BlockKeys block_keys(std::uint64_t key, std::uint32_t counter_hi);

// The per-element random word: a 32-bit hash of the counter's low half under the block keys.
// Two rounds of Wellons' "lowbias32" (xorshift-multiply) with the keys injected between them.
// (Templates so the kernel's fast paths can hash 16 or 8 counters at once: U is std::uint32_t
// or a GCC vector of them.)
template <class U>
[[gnu::always_inline]] constexpr U lowbias32(const U& in) {
  U x = in;
  x ^= x >> 16;
  x *= 0x7FEB352Du;
  x ^= x >> 15;
  x *= 0x846CA68Bu;
  x ^= x >> 16;
  return x;
}
template <class U>
[[gnu::always_inline]] constexpr U hash32(const U& counter_lo, BlockKeys k) {
  return lowbias32<U>(lowbias32<U>(counter_lo + k.k1) ^ k.k2);
}

struct ChunkCounts {
  std::uint32_t overflow = 0;
  std::uint32_t underflow = 0;
  std::uint32_t lost = 0;  // subtract_*_chunk only: nonzero steps that left the value unchanged
};

// Rounds x[0..n) (shape [n]) in place. Element j uses the random word
// hash32(counter_lo + j, keys); the caller guarantees counter_lo + n does not wrap.
// counts == nullptr: nothing is counted (a faster loop).
void quantize_chunk(float* x, std::uint32_t n, std::uint32_t counter_lo, BlockKeys keys,
                    const KernelParams& p, ChunkCounts* counts);

// The weight update fused with the rounding, one pass over x[0..n) and step[0..n):
//   s = scale * step[j];  x[j] <- round(x[j] - s);  counts->lost += (s != 0 && x[j] unchanged)
// counts must not be null; overflow/underflow are counted as in quantize_chunk only when
// count_range is set (the lost-update count alone is cheaper).
void subtract_round_chunk(float* x, const float* step, float scale, std::uint32_t n,
                          std::uint32_t counter_lo, BlockKeys keys, const KernelParams& p,
                          ChunkCounts* counts, bool count_range);

// The update alone, for binary32 itself (nothing to round): x[j] -= scale * step[j], counting
// into counts->lost the nonzero steps that left x[j] unchanged (binary32 swamping).
void subtract_chunk(float* x, const float* step, float scale, std::uint32_t n,
                    ChunkCounts* counts);

}  // namespace precsweep::detail
