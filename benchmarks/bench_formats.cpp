// Throughput of the quantize kernel (values per second) for every rounding mode on 64 KiB,
// 1 MiB and 64 MiB arrays, next to a copy of the same array (memcpy, split over the same
// OpenMP threads as quantize above its parallel threshold), which is the memory-bound ceiling.
// fp16 exercises the per-element drop count (target subnormal range); bf16 the constant-mask
// path of e = 8 formats; mxfp8-e4m3, mxfp4 and nvfp4 the block formats (scale per block of 32
// or 16, element rounding, scale back). Run with OMP_NUM_THREADS=1 and =2; results:
// docs/performance.md.
// Deliberately leaves out: correctness (tests/test_formats.cpp).
#include <benchmark/benchmark.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "precsweep/formats.hpp"
#include "precsweep/rng.hpp"

namespace {

using precsweep::Rounding;

// Weights-like values: normal around 1e-2 with a spread of binades, a few tiny ones.
std::vector<float> make_values(std::size_t n) {
  std::vector<float> v(n);  // shape [n]
  for (std::size_t i = 0; i < n; ++i) {
    const double u = precsweep::rng::uniform01(1, i) - 0.5;
    v[i] = static_cast<float>(std::ldexp(u, -static_cast<int>(i % 24)));
  }
  return v;
}

std::size_t values_for(const benchmark::State& state) {
  return static_cast<std::size_t>(state.range(0)) / sizeof(float);
}

void BM_copy(benchmark::State& state) {
  const std::size_t n = values_for(state);
  std::vector<float> src = make_values(n), dst(n);
  const std::size_t chunk = std::size_t{1} << 13;
  const std::size_t n_chunks = (n + chunk - 1) / chunk;
  for (auto _ : state) {
#pragma omp parallel for schedule(static) if (n >= (std::size_t{1} << 16))
    for (std::size_t c = 0; c < n_chunks; ++c) {
      const std::size_t b = c * chunk, len = std::min(chunk, n - b);
      std::memcpy(dst.data() + b, src.data() + b, len * sizeof(float));
    }
    benchmark::DoNotOptimize(dst.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * n));
  state.counters["threads"] = omp_get_max_threads();
}

void BM_quantize(benchmark::State& state, const char* format, Rounding mode, bool with_stats) {
  const std::size_t n = values_for(state);
  std::vector<float> v = make_values(n);
  const precsweep::Format fmt = precsweep::parse_format(format);
  precsweep::QuantizeStats stats;
  std::uint64_t step = 0;
  for (auto _ : state) {
    precsweep::quantize(v, fmt, mode, {1, step++, 0}, with_stats ? &stats : nullptr);
    benchmark::DoNotOptimize(v.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * n));
  state.counters["threads"] = omp_get_max_threads();
}

// With --benchmark_repetitions=N a "min" row (fastest repetition) is reported next to the
// mean/median: on a shared machine it is the closest to the uncontended speed.
void sizes(benchmark::internal::Benchmark* b) {
  b->Arg(64 << 10)->Arg(1 << 20)->Arg(64 << 20)->Unit(benchmark::kMicrosecond);
  b->ComputeStatistics(
      "min", [](const std::vector<double>& v) { return *std::min_element(v.begin(), v.end()); });
}

BENCHMARK(BM_copy)->Apply(sizes);
BENCHMARK_CAPTURE(BM_quantize, fp16_toward_zero, "fp16", Rounding::toward_zero, false)
    ->Apply(sizes);
BENCHMARK_CAPTURE(BM_quantize, fp16_nearest_even, "fp16", Rounding::nearest_even, false)
    ->Apply(sizes);
BENCHMARK_CAPTURE(BM_quantize, fp16_up, "fp16", Rounding::up, false)->Apply(sizes);
BENCHMARK_CAPTURE(BM_quantize, fp16_down, "fp16", Rounding::down, false)->Apply(sizes);
BENCHMARK_CAPTURE(BM_quantize, fp16_stochastic, "fp16", Rounding::stochastic, false)->Apply(sizes);
BENCHMARK_CAPTURE(BM_quantize, fp16_nearest_even_stats, "fp16", Rounding::nearest_even, true)
    ->Apply(sizes);
BENCHMARK_CAPTURE(BM_quantize, bf16_toward_zero, "bf16", Rounding::toward_zero, false)
    ->Apply(sizes);
BENCHMARK_CAPTURE(BM_quantize, bf16_nearest_even, "bf16", Rounding::nearest_even, false)
    ->Apply(sizes);
BENCHMARK_CAPTURE(BM_quantize, bf16_stochastic, "bf16", Rounding::stochastic, false)->Apply(sizes);
BENCHMARK_CAPTURE(BM_quantize, mxfp8_e4m3_nearest_even, "mxfp8-e4m3", Rounding::nearest_even, false)
    ->Apply(sizes);
BENCHMARK_CAPTURE(BM_quantize, mxfp8_e4m3_stochastic, "mxfp8-e4m3", Rounding::stochastic, false)
    ->Apply(sizes);
BENCHMARK_CAPTURE(BM_quantize, mxfp8_e4m3_nearest_even_stats, "mxfp8-e4m3",
                  Rounding::nearest_even, true)
    ->Apply(sizes);
BENCHMARK_CAPTURE(BM_quantize, mxfp4_nearest_even, "mxfp4", Rounding::nearest_even, false)
    ->Apply(sizes);
BENCHMARK_CAPTURE(BM_quantize, nvfp4_nearest_even, "nvfp4", Rounding::nearest_even, false)
    ->Apply(sizes);

}  // namespace

BENCHMARK_MAIN();
