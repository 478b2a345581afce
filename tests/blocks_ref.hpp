// Reference for the block formats (OCP MX, NVFP4), written from docs/formats.md ("Block
// formats") with exact arithmetic: element values are decoded from their integer codes (int<w>
// from its integers), every scaled value is an exact double, neighbours are found on the code
// grid, ties go to the even code, and NVFP4's binary32 operations are each an exact double
// result rounded once to binary32. Slow and obviously correct; used only by the tests. Shares
// nothing with src/formats*.cpp but the Format struct and its parser.
#pragma once
#include <cstdint>
#include <vector>

#include "precsweep/formats.hpp"

namespace precsweep::ref {

struct BlockRefStats {
  std::uint64_t saturated = 0, flushed = 0, blocks = 0, clamped = 0, nan_blocks = 0;
};

// Quantizes x as quantize(x, fmt, mode, key) defines it for a block format: blocks of
// fmt.block_size from x[0]; words[i] is element i's random word (stochastic rounding).
std::vector<float> quantize_blocks_ref(const std::vector<float>& x, const Format& fmt,
                                       Rounding mode, const std::vector<std::uint32_t>& words,
                                       BlockRefStats* stats = nullptr);

// The non-negative values of a block format's element (or of a <= 23-bit float format), from
// its codes, increasing, plus one more: the next point of the grid continued above max.
std::vector<double> element_grid(const Format& element);

}  // namespace precsweep::ref
