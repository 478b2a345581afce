// Internal interface between the quantize driver (formats.cpp) and the block formats
// (formats_blocks.cpp: OCP MX and NVFP4, their parsing and names). Not installed, not used
// outside src/formats*.cpp.
#pragma once
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "precsweep/formats.hpp"

namespace precsweep::detail {

// "mx:<element>:<k>" or a block preset (`lowered`: the text lower-cased and trimmed; `shown`:
// what the user typed, for messages). nullopt when the text is not a block format at all;
// InputError when it is one with a bad element or k.
std::optional<Format> parse_block_format(const std::string& lowered, std::string_view shown);
// The block presets in table order: mxfp8-e4m3, mxfp8-e5m2, mxfp6-e3m2, mxfp6-e2m3, mxfp4,
// mxint8, nvfp4.
const std::vector<std::string>& block_preset_names();
// Canonical name of a block format (its preset's, else "mx:<element>:<k>").
std::string block_format_name(const Format& fmt);
// Why a block format assembled field by field is not one parse_format could make ("" if it is).
std::string block_format_problem(const Format& fmt);

// quantize() and subtract_round() for block formats (fmt.check() already passed).
void quantize_blocks(std::span<float> x, const Format& fmt, Rounding mode, StochasticKey key,
                     QuantizeStats* stats);
std::uint64_t subtract_round_blocks(std::span<float> x, std::span<const float> step, float scale,
                                    const Format& fmt, Rounding mode, StochasticKey key,
                                    QuantizeStats* stats);

}  // namespace precsweep::detail
