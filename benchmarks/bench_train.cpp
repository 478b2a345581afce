// Speed of one training epoch of the seed-style network (784-100-10 sigmoid, batch 64, MNIST)
// at 1 and 2 threads, in fp32 and with per-batch E5M10 truncation of the weights (and fp32 for
// the wider 784-256-128-10 relu network), next to the time of the sgemm calls alone for the
// same shapes (the floor for this design), those calls cut into the trainer's fixed blocks (or
// smaller ones), and the weight rounding alone. The PyTorch peer is benchmarks/torch_peer.py;
// results: docs/performance.md.
// Deliberately leaves out: the MNIST loading time (measured once, outside the loops).
#include <benchmark/benchmark.h>
#include <cblas.h>
#include <omp.h>

#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>

#include "precsweep/build_info.hpp"
#include "precsweep/dataset.hpp"
#include "precsweep/mlp.hpp"
#include "precsweep/train.hpp"

using namespace precsweep;

namespace {

const DatasetPair* mnist() {
  static const DatasetPair* d = [] () -> const DatasetPair* {
    try {
      return new DatasetPair(load_dataset("mnist"));
    } catch (const std::exception& e) {
      std::fprintf(stderr, "bench_train: %s\n", e.what());
      return nullptr;
    }
  }();
  return d;
}

double process_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

// One epoch through train(): the whole training pass plus the test-set evaluation, which is
// what an epoch line of `precsweep train` reports. Counters: seconds per epoch (wall, as
// measured inside train()) and the test accuracy, as a sanity check.
void run_epoch(benchmark::State& state, const TrainConfig& config) {
  const DatasetPair* d = mnist();
  if (!d) {
    state.SkipWithError("MNIST not found (run scripts/setup)");
    return;
  }
  double acc = 0, epoch_s = 1e300, cpu_s = 1e300;
  for (auto _ : state) {
    const double c0 = process_cpu_seconds();
    const RunResult r = train(config, *d);
    cpu_s = std::min(cpu_s, process_cpu_seconds() - c0);
    acc = r.final_test_accuracy;
    epoch_s = std::min(epoch_s, r.epochs.at(0).wall_seconds);
    state.SetIterationTime(r.epochs.at(0).wall_seconds);
  }
  state.counters["test_acc"] = acc;
  state.counters["min_epoch_s"] = epoch_s;      // wall, best of the iterations
  state.counters["min_process_cpu_s"] = cpu_s;  // CPU of all threads, whole train() call
  state.SetLabel("blas core " + build_info::blas_core());
}

void BM_EpochFp32(benchmark::State& state) {
  TrainConfig c;  // 784-100-10 sigmoid, lr 0.1, batch 64, 1 epoch, fp32
  c.threads = static_cast<int>(state.range(0));
  run_epoch(state, c);
}

// The issue-14 network, 784-256-128-10 relu, batch 64, fp32: the first layer's dW is cut into
// two 128-row blocks (src/mlp.cpp), so this shows what the fixed blocks cost where they cut.
void BM_EpochFp32Relu256x128(benchmark::State& state) {
  TrainConfig c;
  c.hidden = {256, 128};
  c.activation = Activation::relu;
  c.threads = static_cast<int>(state.range(0));
  run_epoch(state, c);
}

void BM_EpochE5M10Truncate(benchmark::State& state) {
  TrainConfig c;
  c.format = parse_format("E5M10");
  c.rounding = Rounding::toward_zero;
  c.threads = static_cast<int>(state.range(0));
  run_epoch(state, c);
}

// The cost of per-batch E5M10 truncation on a shared, noisy machine: fp32 and truncated epochs
// run alternately (A B A B ...), and the counter is the median over the pairs of
// t(truncated) / t(fp32) - 1, so a slow phase of the machine hits both sides of a pair.
void BM_TruncationOverheadPaired(benchmark::State& state) {
  const DatasetPair* d = mnist();
  if (!d) {
    state.SkipWithError("MNIST not found (run scripts/setup)");
    return;
  }
  TrainConfig fp32;
  fp32.threads = 1;
  TrainConfig trunc = fp32;
  trunc.format = parse_format("E5M10");
  trunc.rounding = Rounding::toward_zero;
  std::vector<double> overhead, t_fp32, t_trunc;
  for (auto _ : state) {
    const double a = train(fp32, *d).epochs.at(0).wall_seconds;
    const double b = train(trunc, *d).epochs.at(0).wall_seconds;
    t_fp32.push_back(a);
    t_trunc.push_back(b);
    overhead.push_back(b / a - 1.0);
  }
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
  };
  state.counters["median_overhead_pct"] = 100.0 * median(overhead);
  state.counters["median_fp32_s"] = median(t_fp32);
  state.counters["median_trunc_s"] = median(t_trunc);
  state.SetLabel("blas core " + build_info::blas_core());
}

// The sgemm calls of one epoch alone: per batch, forward [B,784]x[784,100]^T and
// [B,100]x[100,10]^T, backward dW1 = D1^T A1, dA1 = D1 W1, dW0 = D0^T X; 937 batches of 64 and
// one of 32; then the test forward in chunks of 256 rows. Same buffers sizes as the trainer.
void BM_SgemmOnlyEpoch(benchmark::State& state) {
  const int n_train = 60000, n_test = 10000, in = 784, hid = 100, out = 10, batch = 64, chunk = 256;
  std::vector<float> X(static_cast<std::size_t>(chunk) * in, 0.5f), W0(hid * in, 0.01f),
      W1(out * hid, 0.01f), A1(static_cast<std::size_t>(chunk) * hid), Z2(chunk * out),
      D2(batch * out, 0.01f), D1(batch * hid), dW0(hid * in), dW1(out * hid);
  const int saved = omp_get_max_threads();
  omp_set_num_threads(static_cast<int>(state.range(0)));  // OpenBLAS (OpenMP) follows this
  double best_wall = 1e300, best_cpu = 1e300;
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    const double c0 = process_cpu_seconds();
    for (int r0 = 0; r0 < n_train; r0 += batch) {
      const int B = std::min(batch, n_train - r0);
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, B, hid, in, 1.f, X.data(), in, W0.data(), in, 0.f, A1.data(), hid);
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, B, out, hid, 1.f, A1.data(), hid, W1.data(), hid, 0.f, Z2.data(), out);
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, out, hid, B, 1.f, D2.data(), out, A1.data(), hid, 0.f, dW1.data(), hid);
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, B, hid, out, 1.f, D2.data(), out, W1.data(), hid, 0.f, D1.data(), hid);
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, hid, in, B, 1.f, D1.data(), hid, X.data(), in, 0.f, dW0.data(), in);
    }
    for (int r0 = 0; r0 < n_test; r0 += chunk) {
      const int B = std::min(chunk, n_test - r0);
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, B, hid, in, 1.f, X.data(), in, W0.data(), in, 0.f, A1.data(), hid);
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, B, out, hid, 1.f, A1.data(), hid, W1.data(), hid, 0.f, Z2.data(), out);
    }
    benchmark::DoNotOptimize(dW0.data());
    benchmark::ClobberMemory();
    best_cpu = std::min(best_cpu, process_cpu_seconds() - c0);
    best_wall = std::min(
        best_wall, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  omp_set_num_threads(saved);
  state.counters["min_epoch_s"] = best_wall;
  state.counters["min_process_cpu_s"] = best_cpu;
  state.SetLabel("blas core " + build_info::blas_core());
}

// What cutting the products into fixed blocks costs at 1 thread (src/mlp.cpp: the trainer cuts
// the forward and delta products into blocks of 64 batch rows and dW into blocks of 128 output
// rows): the sgemm calls of BM_SgemmOnlyEpoch (784-100-10, batch 64, test chunks of 256 rows),
// each product cut into blocks of range(0) rows (forward, delta; 0 = not cut) and dW into
// blocks of range(1) output rows (0 = not cut). Counter: the fastest epoch's CPU time (one
// thread, so it is the calls' own time, less disturbed by other load than wall time).
void BM_SgemmBlockedEpoch(benchmark::State& state) {
  const int n_train = 60000, n_test = 10000, in = 784, hid = 100, out = 10, batch = 64, chunk = 256;
  const int rows = state.range(0) > 0 ? static_cast<int>(state.range(0)) : chunk;
  const int dw_rows = state.range(1) > 0 ? static_cast<int>(state.range(1)) : hid;
  std::vector<float> X(static_cast<std::size_t>(chunk) * in, 0.5f), W0(hid * in, 0.01f),
      W1(out * hid, 0.01f), A1(static_cast<std::size_t>(chunk) * hid), Z2(chunk * out),
      D2(batch * out, 0.01f), D1(batch * hid, 0.01f), dW0(hid * in), dW1(out * hid);
  // C[M, N] = A[M, K] op(B) in blocks of `rows` rows of C
  auto by_rows = [&](bool transB, int M, int N, int K, const float* A, const float* B, float* C) {
    for (int r = 0; r < M; r += rows)
      cblas_sgemm(CblasRowMajor, CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                  std::min(rows, M - r), N, K, 1.f, A + static_cast<std::size_t>(r) * K, K, B,
                  transB ? K : N, 0.f, C + static_cast<std::size_t>(r) * N, N);
  };
  // dW[n_out, n_in] = D[B, n_out]^T A[B, n_in] in blocks of dw_rows output rows
  auto dw = [&](int n_out, int n_in, int B, const float* D, const float* A, float* G) {
    for (int j = 0; j < n_out; j += dw_rows)
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, std::min(dw_rows, n_out - j), n_in, B,
                  1.f, D + j, n_out, A, n_in, 0.f, G + static_cast<std::size_t>(j) * n_in, n_in);
  };
  const int saved = omp_get_max_threads();
  omp_set_num_threads(1);
  double best_cpu = 1e300;
  for (auto _ : state) {
    const double c0 = process_cpu_seconds();
    for (int r0 = 0; r0 < n_train; r0 += batch) {
      const int B = std::min(batch, n_train - r0);
      by_rows(true, B, hid, in, X.data(), W0.data(), A1.data());
      by_rows(true, B, out, hid, A1.data(), W1.data(), Z2.data());
      dw(out, hid, B, D2.data(), A1.data(), dW1.data());
      by_rows(false, B, hid, out, D2.data(), W1.data(), D1.data());
      dw(hid, in, B, D1.data(), X.data(), dW0.data());
    }
    for (int r0 = 0; r0 < n_test; r0 += chunk) {
      const int B = std::min(chunk, n_test - r0);
      by_rows(true, B, hid, in, X.data(), W0.data(), A1.data());
      by_rows(true, B, out, hid, A1.data(), W1.data(), Z2.data());
    }
    benchmark::DoNotOptimize(dW0.data());
    benchmark::ClobberMemory();
    best_cpu = std::min(best_cpu, process_cpu_seconds() - c0);
  }
  omp_set_num_threads(saved);
  state.counters["min_process_cpu_s"] = best_cpu;
  state.SetLabel("blas core " + build_info::blas_core());
}

// One weight update over the 79,510 parameters of 784-100-10 at 1 thread: Arg 0 fp32 add only,
// Arg 1 add + E5M10 truncation + lost-update count (the difference is what each batch pays for
// rounding), Arg 2 the same plus the overflow/underflow counts. The weights are the network's
// initial ones (Glorot uniform, biases 0), so the share of values outside fp16's normal range
// (|w| < 2^-14, which the kernel's fast path hands to its general loop) is a real network's.
void BM_ApplyUpdateE5M10(benchmark::State& state) {
  const MlpLayout layout({784, 100, 10});
  const std::size_t P = static_cast<std::size_t>(layout.count);
  std::vector<float> w(P), step(P);
  init_params(layout, Activation::sigmoid, 1, w);
  // Steps of up to 5e-5 in magnitude. Each update starts from the initial weights again (copied
  // outside the timed region), so truncation's drift toward zero does not pile up.
  for (std::size_t i = 0; i < P; ++i) step[i] = 1e-6f * static_cast<float>(i % 97) - 48e-6f;
  const std::vector<float> w0 = w;
  const Format fmt = parse_format("E5M10");
  const int saved = omp_get_max_threads();
  omp_set_num_threads(1);
  QuantizeStats st;
  for (auto _ : state) {
    std::copy(w0.begin(), w0.end(), w.begin());
    benchmark::ClobberMemory();
    const auto t0 = std::chrono::steady_clock::now();
    benchmark::DoNotOptimize(apply_update(w, {}, step, state.range(0) != 0, fmt,
                                          Rounding::toward_zero, {},
                                          state.range(0) == 2 ? &st : nullptr));
    benchmark::ClobberMemory();
    state.SetIterationTime(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  omp_set_num_threads(saved);
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * P));
}

// quantize() alone over the same 79,510 values, whole array at once (for comparison).
void BM_QuantizeE5M10(benchmark::State& state) {
  const std::size_t P = 79510;
  std::vector<float> w(P, 0.25f);
  const Format fmt = parse_format("E5M10");
  const int saved = omp_get_max_threads();
  omp_set_num_threads(1);
  QuantizeStats st;
  for (auto _ : state) {
    quantize(w, fmt, Rounding::toward_zero, {}, state.range(0) ? &st : nullptr);
    benchmark::ClobberMemory();
  }
  omp_set_num_threads(saved);
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * P));
}

}  // namespace

BENCHMARK(BM_QuantizeE5M10)->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_EpochFp32)->Arg(1)->Arg(2)->UseManualTime()->Iterations(5)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_EpochFp32Relu256x128)
    ->Arg(1)
    ->Arg(2)
    ->UseManualTime()
    ->Iterations(5)
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_EpochE5M10Truncate)->Arg(1)->Arg(2)->UseManualTime()->Iterations(5)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_TruncationOverheadPaired)->Iterations(9)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_SgemmOnlyEpoch)->Arg(1)->Arg(2)->Iterations(5)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_SgemmBlockedEpoch)
    ->Args({0, 0})
    ->Args({64, 128})
    ->Args({32, 128})
    ->Args({32, 64})
    ->Args({16, 64})
    ->Iterations(5)
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ApplyUpdateE5M10)
    ->Arg(0)
    ->Arg(1)
    ->Arg(2)
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);

BENCHMARK_MAIN();
