// Spec expansion and SHA-256 speed: parsing and expanding a 100,000-point spec (the issue's
// bound for expansion plus file creation is 10 s; bench_sweep measures the two together) and
// hashing spec-sized and larger texts. Results: docs/performance.md, "Sweep specs".
// Deliberately leaves out: creating the results file (bench_sweep).
#include <benchmark/benchmark.h>

#include <string>

#include "precsweep/spec.hpp"

namespace {

// 10 seeds x 10 lr x 5 batch x 10 widths x 20 formats = 100,000 points, with baselines.
const char* kBigSpec = R"(
name: big
seed: {from: 1, to: 10, step: 1}
train: {lr: {from: 0.1, to: 1.0, step: 0.1}, batch: [16, 32, 64, 128, 256]}
model: {hidden: {from: 10, to: 100, step: 10}}
precision: {format: {exp: [5, 8], man: {from: 1, to: 10, step: 1}}, rounding: stochastic}
baseline: true
)";

void BM_ExpandSpec100k(benchmark::State& state) {
  std::size_t points = 0;
  for (auto _ : state) {
    const precsweep::SweepSpec spec = precsweep::parse_spec(kBigSpec, "big.yaml");
    points = spec.points.size();
    benchmark::DoNotOptimize(spec.points.data());
  }
  state.counters["points"] = static_cast<double>(points);
  state.counters["points_per_s"] =
      benchmark::Counter(static_cast<double>(points), benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_ExpandSpec100k)->Unit(benchmark::kMillisecond);

void BM_Sha256(benchmark::State& state) {
  const std::string text(static_cast<std::size_t>(state.range(0)), 'x');
  for (auto _ : state) benchmark::DoNotOptimize(precsweep::sha256_hex(text));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * state.range(0));
}
BENCHMARK(BM_Sha256)->Arg(4 << 10)->Arg(1 << 20);

}  // namespace

BENCHMARK_MAIN();
