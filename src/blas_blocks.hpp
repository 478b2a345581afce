// Thread-count-independent BLAS: run a product as fixed blocks, each block one single-threaded
// BLAS call, the blocks spread over the run's OpenMP threads. The partition depends only on the
// product's shape, so 1, 2 or 16 threads give the same bits (docs/training.md, "Threads").
// Used by the MLP (src/mlp.cpp) and the error-scaling measurement (src/errorscale*.cpp).
// Deliberately leaves out: the block sizes (each caller's, chosen by what it multiplies).
#pragma once
#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <cstddef>

namespace precsweep::blas_blocks {

// Runs body(i) for i = 0 .. n-1 on the run's OpenMP threads, each call on one thread, with
// OpenBLAS single-threaded inside it. OpenBLAS's OpenMP build (0.3.21: num_cpu_avail in
// common_thread.h) runs a call on one thread when omp_get_max_threads() == 1 or
// omp_in_parallel() (an active region: a team of two or more), and otherwise on
// omp_get_max_threads() threads. So one block, or a 1-thread run, runs here on the calling
// thread with the thread count set to 1 around it (no parallel region: it would cost more than
// the call at batch 64); and a region whose team turns out to have one thread (not active) sets
// its own count to 1 (an ICV of the region's task: it ends with the region). Checked by CPU time
// on this build. openblas_set_num_threads(1) would not do: in that build the next call resets
// it from omp_get_max_threads(), and it sets OpenMP's thread count as well.
template <class F>
void for_each_block(int n, F body) {
  const int threads = omp_get_max_threads();
  if (n == 1 || threads == 1) {
    if (threads > 1) omp_set_num_threads(1);
    for (int i = 0; i < n; ++i) body(i);
    if (threads > 1) omp_set_num_threads(threads);
    return;
  }
#pragma omp parallel
  {
    if (!omp_in_parallel()) omp_set_num_threads(1);
#pragma omp for schedule(static)
    for (int i = 0; i < n; ++i) body(i);
  }
}

// One single-threaded BLAS call (or any code calling BLAS) on the calling thread.
template <class F>
void single_threaded(F body) {
  for_each_block(1, [&](int) { body(); });
}

inline int block_count(int n, int block) { return (n + block - 1) / block; }

// One row-major product C = op(A) op(B) in float or double (the only difference between the
// callers' products).
inline void gemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int m, int n, int k, const float* A,
                 int lda, const float* B, int ldb, float* C, int ldc) {
  cblas_sgemm(CblasRowMajor, ta, tb, m, n, k, 1.0f, A, lda, B, ldb, 0.0f, C, ldc);
}
inline void gemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int m, int n, int k, const double* A,
                 int lda, const double* B, int ldb, double* C, int ldc) {
  cblas_dgemm(CblasRowMajor, ta, tb, m, n, k, 1.0, A, lda, B, ldb, 0.0, C, ldc);
}

// Row-major C[M, N] = A[M, K] op(B) (op(B) = B[K, N], or B[N, K]^T when transB), in blocks of
// `rows` rows of C: row r of C depends on row r of A only, so each block is a smaller product.
template <class T>
void gemm_row_blocks(bool transB, int M, int N, int K, const T* A, int lda, const T* B, int ldb,
                     T* C, int ldc, int rows) {
  for_each_block(block_count(M, rows), [&](int i) {
    const int r0 = i * rows, m = std::min(rows, M - r0);
    gemm(CblasNoTrans, transB ? CblasTrans : CblasNoTrans, m, N, K,
         A + static_cast<std::size_t>(r0) * lda, lda, B, ldb,
         C + static_cast<std::size_t>(r0) * ldc, ldc);
  });
}

// Row-major C[M, N] = A[K, M]^T B[K, N] in blocks of `rows` rows of C (columns of A).
inline void dgemm_tn_row_blocks(int M, int N, int K, const double* A, int lda, const double* B,
                                int ldb, double* C, int ldc, int rows) {
  for_each_block(block_count(M, rows), [&](int i) {
    const int j0 = i * rows, m = std::min(rows, M - j0);
    gemm(CblasTrans, CblasNoTrans, m, N, K, A + j0, lda, B, ldb,
         C + static_cast<std::size_t>(j0) * ldc, ldc);
  });
}

}  // namespace precsweep::blas_blocks
