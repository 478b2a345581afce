// Time of the accumulation kernels (accumulate.hpp) on the seed network's GEMMs (784-100-10,
// batch 64): forward, backward_data and backward_weights of both layers, for E8M7 and E5M10
// accumulators with and without chunks of 64 (outer fp32) and stochastic E5M10, next to
// cblas_sgemm of the same shape. One thread (OpenMP and OpenBLAS); the target of issue 18 is at
// most 6x sgemm's time; benchmarks/accumulate_ratios.py runs this binary with the cases
// interleaved and prints the ratios. Results: docs/performance.md ("Accumulation").
// Deliberately leaves out: correctness (tests/test_accumulate.cpp).
#include <benchmark/benchmark.h>
#include <cblas.h>
#include <omp.h>

#include <cmath>
#include <vector>

#include "precsweep/accumulate.hpp"
#include "precsweep/rng.hpp"

namespace {

using precsweep::Accumulator;

enum Kind : int { kForward, kBackwardData, kBackwardWeights };

// Activations/gradients-like operands: normal-ish around 0.1 with a spread of binades.
std::vector<float> values(std::size_t n, std::uint64_t key) {
  std::vector<float> v(n);  // shape [n]
  for (std::size_t i = 0; i < n; ++i) {
    const double u = precsweep::rng::uniform01(key, i) - 0.5;
    v[i] = static_cast<float>(std::ldexp(u, -static_cast<int>(i % 6)));
  }
  return v;
}

struct Operands {
  std::size_t batch, in, out;
  std::vector<float> X, Y, C;  // see run()
};

// X, Y as the kind takes them: forward A[batch x in], W[out x in]; backward_data D[batch x out],
// W[out x in]; backward_weights D[batch x out], A[batch x in].
Operands make(Kind kind, std::size_t in, std::size_t out) {
  const std::size_t batch = 64;
  Operands o{batch, in, out, {}, {}, {}};
  switch (kind) {
    case kForward:
      o.X = values(batch * in, 1);
      o.Y = values(out * in, 2);
      o.C.resize(batch * out);
      break;
    case kBackwardData:
      o.X = values(batch * out, 3);
      o.Y = values(out * in, 2);
      o.C.resize(batch * in);
      break;
    case kBackwardWeights:
      o.X = values(batch * out, 3);
      o.Y = values(batch * in, 1);
      o.C.resize(out * in);
      break;
  }
  return o;
}

void one_thread() {
  omp_set_num_threads(1);
  openblas_set_num_threads(1);
}

void BM_sgemm(benchmark::State& state) {
  one_thread();
  const auto kind = static_cast<Kind>(state.range(0));
  Operands o = make(kind, static_cast<std::size_t>(state.range(1)),
                    static_cast<std::size_t>(state.range(2)));
  const int B = static_cast<int>(o.batch), I = static_cast<int>(o.in), O = static_cast<int>(o.out);
  for (auto _ : state) {
    switch (kind) {
      case kForward:
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, B, O, I, 1.f, o.X.data(), I,
                    o.Y.data(), I, 0.f, o.C.data(), O);
        break;
      case kBackwardData:
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, B, I, O, 1.f, o.X.data(), O,
                    o.Y.data(), I, 0.f, o.C.data(), I);
        break;
      case kBackwardWeights:
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, O, I, B, 1.f, o.X.data(), O,
                    o.Y.data(), I, 0.f, o.C.data(), I);
        break;
    }
    benchmark::DoNotOptimize(o.C.data());
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * o.batch * o.in * o.out));
}

void BM_accumulate(benchmark::State& state, const char* accumulator) {
  one_thread();
  const auto kind = static_cast<Kind>(state.range(0));
  Operands o = make(kind, static_cast<std::size_t>(state.range(1)),
                    static_cast<std::size_t>(state.range(2)));
  const Accumulator acc = precsweep::parse_accumulator(accumulator);
  precsweep::AccumulateStats st;
  std::uint64_t step = 0;
  for (auto _ : state) {
    const precsweep::StochasticKey key{1, step++, 0};
    switch (kind) {
      case kForward:
        precsweep::gemm_forward(o.X, o.Y, o.C, o.batch, o.in, o.out, acc, key, &st);
        break;
      case kBackwardData:
        precsweep::gemm_backward_data(o.X, o.Y, o.C, o.batch, o.out, o.in, acc, key, &st);
        break;
      case kBackwardWeights:
        precsweep::gemm_backward_weights(o.X, o.Y, o.C, o.batch, o.out, o.in, acc, key, &st);
        break;
    }
    benchmark::DoNotOptimize(o.C.data());
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * o.batch * o.in * o.out));
  state.counters["swamped"] =
      static_cast<double>(st.swamped) / static_cast<double>(st.additions ? st.additions : 1);
}

// (kind, in, out) of the seed network's two layers
void shapes(benchmark::internal::Benchmark* b) {
  b->ArgNames({"kind", "in", "out"});
  for (int kind : {kForward, kBackwardData, kBackwardWeights}) {
    b->Args({kind, 784, 100});
    b->Args({kind, 100, 10});
  }
}

}  // namespace

BENCHMARK(BM_sgemm)->Apply(shapes);
BENCHMARK_CAPTURE(BM_accumulate, E8M7, "E8M7")->Apply(shapes);
BENCHMARK_CAPTURE(BM_accumulate, E8M7_chunk64, "E8M7,chunk=64")->Apply(shapes);
BENCHMARK_CAPTURE(BM_accumulate, E5M10, "E5M10")->Apply(shapes);
BENCHMARK_CAPTURE(BM_accumulate, E5M10_chunk64, "E5M10,chunk=64")->Apply(shapes);
BENCHMARK_CAPTURE(BM_accumulate, E5M10_stochastic, "E5M10:stochastic")->Apply(shapes);

BENCHMARK_MAIN();
