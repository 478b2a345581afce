// Reference rounding for the number formats, written straight from the definitions in
// docs/formats.md with exact double arithmetic (every quantity here needs at most ~60 bits of
// range and 26 bits of precision, so double is exact). Slow and obviously correct; used only
// by tests to check the bit kernel. Deliberately shares no code with src/formats*.cpp except
// the Format struct and its parser.
#pragma once
#include <cstdint>
#include <vector>

#include "precsweep/formats.hpp"

namespace precsweep::ref {

// Rounds x into `fmt` in direction `mode`. For stochastic rounding, `random_word` is the 32-bit
// word of the element (precsweep::stochastic_bits): the value rounds away from zero iff
// random_word < floor(2^32 * (|x| - lower neighbour) / gap).
float quantize_ref(float x, const Format& fmt, Rounding mode, std::uint32_t random_word = 0);

// All finite non-negative values of `fmt` in increasing order (from the encodings), or, when
// there are more than `limit`, the first and last limit/4 values plus an even sample of the
// rest. Always includes 0, the smallest subnormal, the smallest normal and the largest finite.
std::vector<double> representable_values(const Format& fmt, std::size_t limit);

// True if v (finite) is a value of the format (ignores no-subnormals' flushing: a subnormal
// counts as representable only when fmt.subnormals is true).
bool is_representable(double v, const Format& fmt);

}  // namespace precsweep::ref
