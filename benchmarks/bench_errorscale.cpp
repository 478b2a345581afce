// Speed of the error-scaling measurement (issue 8): measure_error_scaling on N = 1000 samples of
// 784 inputs for the seed-style 784-100-10 sigmoid network and the deeper 784-256-256-256-10
// relu network, with 1 and with 22 formats (E8M2..E8M23), so the cost per format (one forward
// and backward pass in double, plus the bound recursion) can be read off; 1 and 2 threads.
// Results: docs/performance.md ("Error scaling").
// Deliberately leaves out: MNIST loading and the HDF5 output (small next to the passes); the
// inputs are the synthetic generator's, which costs the same as images.
#include <benchmark/benchmark.h>
#include <omp.h>

#include <vector>

#include "precsweep/dataset.hpp"
#include "precsweep/errorscale.hpp"
#include "precsweep/mlp.hpp"

using namespace precsweep;

namespace {

const DatasetPair& data() {
  static const DatasetPair d = make_synthetic(10, 1000, 784, 10, 1);
  return d;
}

StoredNetwork network(bool deep) {
  StoredNetwork net;
  net.sizes = deep ? std::vector<int>{784, 256, 256, 256, 10} : std::vector<int>{784, 100, 10};
  net.activation = deep ? Activation::relu : Activation::sigmoid;
  const MlpLayout layout(net.sizes);
  net.params.assign(layout.count, 0.0f);  // [count]
  init_params(layout, net.activation, 1, net.params);
  return net;
}

// range(0): 0 seed network, 1 deep; range(1): formats (1 or 22); range(2): threads.
void BM_MeasureErrorScaling(benchmark::State& state) {
  const StoredNetwork net = network(state.range(0) == 1);
  ErrorScaleConfig cfg;
  cfg.formats = parse_format_list(state.range(1) == 1 ? "E8M10" : "E8M2..E8M23");
  cfg.apply_to = kApplyWeights | kApplyActivations;
  omp_set_num_threads(static_cast<int>(state.range(2)));
  const DatasetPair& d = data();
  const std::vector<float> X = features(d.test, 0, 1000);  // [1000, 784]
  for (auto _ : state) {
    ErrorScaleResult r = measure_error_scaling(net, X.data(), d.test.y.data(), 1000, cfg);
    benchmark::DoNotOptimize(r.a.rel.data());
  }
  state.counters["formats"] = static_cast<double>(cfg.formats.size());
}

}  // namespace

BENCHMARK(BM_MeasureErrorScaling)
    ->ArgNames({"deep", "formats", "threads"})
    ->Args({0, 1, 1})->Args({0, 22, 1})->Args({0, 22, 2})
    ->Args({1, 1, 1})->Args({1, 22, 1})->Args({1, 22, 2})
    ->Unit(benchmark::kMillisecond)->Iterations(1)->Repetitions(2)->UseRealTime();

BENCHMARK_MAIN();
