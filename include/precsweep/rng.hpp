// Counter-based random numbers: every value is a pure function of (key, counter), so results do
// not depend on thread count, array splitting, rank or scheduling. The mixer is the SplitMix64
// finalizer (Steele, Lea, Flood 2014), which passes BigCrush when fed a Weyl sequence.
// Deliberately leaves out: stateful engines and <random> distributions (not portable bit for bit).
#pragma once
#include <cstdint>

namespace precsweep::rng {

constexpr std::uint64_t kGolden = 0x9E3779B97F4A7C15ull;

constexpr std::uint64_t mix64(std::uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// Streams keep independent uses apart (initialisation, shuffling, stochastic rounding of a
// given tensor at a given step...). Pass a distinct stream constant or counter for each use.
constexpr std::uint64_t key(std::uint64_t seed, std::uint64_t stream) {
  return mix64(mix64(seed + kGolden) ^ (stream * 0xD1B54A32D192ED03ull + 0x632BE59BD9B4E019ull));
}

// The counter-th 64 random bits of the stream `key`.
constexpr std::uint64_t bits64(std::uint64_t key, std::uint64_t counter) {
  return mix64(key + (counter + 1) * kGolden);
}

// Uniform double in [0, 1) with 53 random bits.
constexpr double uniform01(std::uint64_t key, std::uint64_t counter) {
  return static_cast<double>(bits64(key, counter) >> 11) * 0x1p-53;
}

}  // namespace precsweep::rng
