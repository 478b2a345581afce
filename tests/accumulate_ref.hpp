// Reference accumulation for the tests, written from docs/accumulation.md with exact integer
// arithmetic: every binary32 operand, product and partial sum is an integer multiple of
// 2^-300 below 2^560, held in a 640-bit integer, so acc + a*b is exact and its rounding into a
// format is read off its bits (lower neighbour, remainder against half the gap, the 32 bits of
// the remainder for stochastic rounding). Slow and obviously correct; shares no code with
// src/accumulate*.cpp (only the Format and Accumulator structs, Format's constants and
// stochastic_bits, which are tested elsewhere; inf/NaN sums go through formats_ref).
#pragma once
#include <cstdint>
#include <span>

#include "precsweep/accumulate.hpp"

namespace precsweep::ref {

// round_F(acc + a*b) with the exact product and one rounding; `random_word` is used by
// stochastic rounding (away from zero iff random_word < floor(2^32 * remainder / gap)).
float fma_round_ref(float acc, float a, float b, const Format& fmt, Rounding mode,
                    std::uint32_t random_word);

// One output element under `acc` (chunks, outer accumulator), element index `index` for the
// stochastic counters. Adds to *swamped the nonzero products that left the inner accumulator
// unchanged.
float dot_ref(std::span<const float> a, std::span<const float> b, const Accumulator& acc,
              StochasticKey key, std::uint64_t index, std::uint64_t* swamped);

}  // namespace precsweep::ref
