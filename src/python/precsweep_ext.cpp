// precsweep._ext: the Python face of the formats library (pybind11). quantize() rounds any
// C-contiguous float32 buffer (numpy arrays; PyTorch CPU tensors through .numpy(), which shares
// their memory) with exactly the kernel the C++ tool runs, the GIL released and OpenMP threads
// on large arrays; format_info() describes a format. Built by setup.py (pip install .).
// dot() and matmul() compute products whose additions round into an accumulator format (the
// accumulation kernels of accumulate.hpp).
// Deliberately leaves out: other dtypes (no silent conversion: a float64 array is an error, the
// caller decides where the copy goes), strided arrays, and BLAS (fp32 products belong to numpy).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#if defined(__SSE2__)
#include <immintrin.h>
#endif

#include "precsweep/accumulate.hpp"
#include "precsweep/error.hpp"
#include "precsweep/formats.hpp"

namespace py = pybind11;

namespace {
using precsweep::Format;
using precsweep::Rounding;
using precsweep::StochasticKey;

// Rounds src[0..n) into dst (src itself for in-place calls), `row` being the length of the
// array's last axis. Element formats: the array is cut into pieces of kPiece values spread over
// OpenMP threads; out of place, each piece is copied into a per-thread buffer that stays in
// cache, rounded there and streamed to dst with non-temporal stores, so memory sees one read of
// src and one write of dst (as np.copyto), not a read-for-ownership of dst besides. The
// stochastic key's offset moves with the piece, so the bits are those of one call on the whole
// array. Block formats share a scale within blocks along the last axis (docs/library.md):
// quantize_matrix with BlockAxis::rows on the whole array (nvfp4's tensor scale is the whole
// array's), whose stochastic index r * row + c is the flat index.
constexpr std::size_t kPiece = std::size_t{1} << 14;

// dst[0..n) = src[0..n), bypassing the cache where the CPU can (x86: movntps).
void stream_copy(float* dst, const float* src, std::size_t n) {
#if defined(__SSE2__)
  std::size_t i = 0;
  for (; i < n && reinterpret_cast<std::uintptr_t>(dst + i) % 16 != 0; ++i) dst[i] = src[i];
  for (; i + 4 <= n; i += 4) _mm_stream_ps(dst + i, _mm_loadu_ps(src + i));
  for (; i < n; ++i) dst[i] = src[i];
  _mm_sfence();  // the streamed stores are visible before the call returns
#else
  std::memcpy(dst, src, n * sizeof(float));
#endif
}

void quantize_elements(float* dst, const float* src, std::size_t n, const Format& fmt,
                       Rounding mode, const StochasticKey& key) {
  const auto pieces = static_cast<std::int64_t>((n + kPiece - 1) / kPiece);
#pragma omp parallel if (n >= 4 * kPiece)
  {
    std::vector<float> buffer(dst == src ? 0 : kPiece);  // shape [kPiece], this thread's
#pragma omp for schedule(static)
    for (std::int64_t i = 0; i < pieces; ++i) {
      const std::size_t begin = static_cast<std::size_t>(i) * kPiece;
      const std::size_t len = std::min(kPiece, n - begin);
      StochasticKey k = key;
      k.offset += begin;
      if (dst == src) {
        precsweep::quantize(std::span<float>(dst + begin, len), fmt, mode, k);
      } else {
        std::memcpy(buffer.data(), src + begin, len * sizeof(float));
        precsweep::quantize(std::span<float>(buffer.data(), len), fmt, mode, k);
        stream_copy(dst + begin, buffer.data(), len);
      }
    }
  }
}

void quantize_rows(float* dst, const float* src, std::size_t n, std::size_t row, const Format& fmt,
                   Rounding mode, const StochasticKey& key) {
  if (n == 0) return;
  if (!fmt.is_block()) return quantize_elements(dst, src, n, fmt, mode, key);
  if (dst != src) std::memcpy(dst, src, n * sizeof(float));
  row = std::max<std::size_t>(row, 1);
  precsweep::quantize_matrix(dst, n / row, row, row, precsweep::BlockAxis::rows, fmt, mode, key);
}

// obj as a C-contiguous float32 array, or a TypeError/ValueError naming `what` (e.g. "quantize:
// x", the function and argument) and the fix.
py::array float32_array(const py::object& obj, const char* what, bool writeable) {
  py::buffer_info info = py::reinterpret_borrow<py::buffer>(obj).request(writeable);
  if (info.format != py::format_descriptor<float>::format() || info.itemsize != 4)
    throw py::type_error(std::string("precsweep.") + what +
                         " must hold float32 (format '" + info.format +
                         "'); convert it first, e.g. x.astype(numpy.float32)");
  py::ssize_t stride = 4;
  for (py::ssize_t d = info.ndim - 1; d >= 0; --d) {
    if (info.shape[d] != 1 && info.strides[d] != stride)
      throw py::value_error(std::string("precsweep.") + what +
                            " must be C-contiguous; pass numpy.ascontiguousarray(x) "
                            "(or tensor.contiguous())");
    stride *= info.shape[d];
  }
  return py::array(py::dtype::of<float>(), info.shape, info.strides, info.ptr, obj);
}

py::object quantize(const py::object& x, const std::string& format, const std::string& rounding,
                   std::uint64_t seed, std::uint64_t stream, std::uint64_t offset,
                   const py::object& out) {
  const Format fmt = precsweep::parse_format(format);
  const Rounding mode = precsweep::parse_rounding(rounding);
  py::array in = float32_array(x, "quantize: x", false);
  py::array result;
  if (out.is_none()) {
    result = py::array(py::dtype::of<float>(),
                       std::vector<py::ssize_t>(in.shape(), in.shape() + in.ndim()));
  } else {
    result = float32_array(out, "quantize: out", true);
    if (result.size() != in.size() || result.ndim() != in.ndim() ||
        !std::equal(in.shape(), in.shape() + in.ndim(), result.shape()))
      throw py::value_error("precsweep.quantize: out must have the shape of x");
  }
  const auto n = static_cast<std::size_t>(in.size());
  const auto row =
      in.ndim() == 0 ? std::size_t{1} : static_cast<std::size_t>(in.shape(in.ndim() - 1));
  const auto* src = static_cast<const float*>(in.data());
  auto* dst = static_cast<float*>(result.mutable_data());
  {
    py::gil_scoped_release release;
    if (dst != src && dst < src + n && src < dst + n) {  // overlapping views: copy, then round
      std::memmove(dst, src, n * sizeof(float));
      src = dst;
    }
    quantize_rows(dst, src, n, row, fmt, mode, StochasticKey{seed, stream, offset});
  }
  return out.is_none() ? py::object(result) : out;  // `out` itself, so quantize(x, out=x) is x
}

py::dict format_info(const std::string& name) {
  const Format f = precsweep::parse_format(name);
  const Format e = f.element();  // a block format's numbers are its element's, before scaling
  const bool floating = e.kind == Format::Kind::floating;
  py::dict d;
  d["name"] = f.name();
  d["kind"] = floating ? "floating" : "fixed";
  d["bits"] = floating ? 1 + e.exp_bits + e.man_bits : e.int_bits + e.frac_bits;
  d["exp_bits"] = floating ? e.exp_bits : 0;
  d["man_bits"] = floating ? e.man_bits : e.frac_bits;
  d["bias"] = e.bias();
  d["emin"] = e.emin();
  d["emax"] = e.emax();
  d["max"] = e.max_finite();
  d["min_normal"] = e.min_normal();
  d["min_subnormal"] = e.subnormals ? e.min_subnormal() : e.min_normal();
  // the gap between 1 and the next value (floating: 2^-m; fixed: the resolution 2^-f)
  d["epsilon"] = floating ? std::ldexp(1.0, -e.man_bits) : std::ldexp(1.0, -e.frac_bits);
  d["encoding"] = floating ? precsweep::to_string(e.encoding) : "fixed";
  d["subnormals"] = e.subnormals;
  d["saturate"] = e.saturate;
  // block formats: k values share a scale (E8M0 for MX; fp8-e4m3 times a binary32 tensor
  // scale for nvfp4); element formats: every value has its own exponent
  d["block_size"] = f.is_block() ? f.block_size : 1;
  d["element"] = e.name();
  d["scale_format"] = f.scaling == precsweep::Scaling::mx      ? py::object(py::str("E8M0"))
                      : f.scaling == precsweep::Scaling::nvfp4 ? py::object(py::str("fp8-e4m3"))
                                                               : py::object(py::none());
  return d;
}

// The accumulator of dot/matmul: `accumulate` in parse_accumulator's syntax
// ("E5M10:stochastic,chunk=64,outer=bf16"), the keyword arguments overriding its parts.
precsweep::Accumulator accumulator(const std::string& accumulate, const py::object& rounding,
                                   const py::object& chunk, const py::object& outer) {
  precsweep::Accumulator acc = precsweep::parse_accumulator(accumulate);
  if (!rounding.is_none()) acc.rounding = precsweep::parse_rounding(rounding.cast<std::string>());
  if (!chunk.is_none()) {
    const auto c = chunk.cast<std::int64_t>();
    if (c < 0 || c > 0xffffffffLL)
      throw py::value_error("precsweep: chunk must be 0 (no chunks) or a positive count");
    acc.chunk = static_cast<std::uint32_t>(c);
  }
  if (!outer.is_none()) {
    const precsweep::Accumulator o = precsweep::parse_accumulator(outer.cast<std::string>());
    acc.outer = o.format;
    acc.outer_rounding = o.rounding;
  }
  acc.check();
  return acc;
}

py::dict stats_dict(const precsweep::AccumulateStats& s) {
  py::dict d;
  d["additions"] = s.additions;
  d["swamped"] = s.swamped;
  return d;
}

py::object dot(const py::object& a, const py::object& b, const std::string& accumulate,
               const py::object& rounding, const py::object& chunk, const py::object& outer,
               std::uint64_t seed, std::uint64_t stream, std::uint32_t index, bool return_stats) {
  const precsweep::Accumulator acc = accumulator(accumulate, rounding, chunk, outer);
  py::array x = float32_array(a, "dot: a", false), y = float32_array(b, "dot: b", false);
  if (x.ndim() != 1 || y.ndim() != 1 || x.size() != y.size())
    throw py::value_error("precsweep.dot: a and b must be 1-D arrays of the same length (got " +
                          std::to_string(x.size()) + " and " + std::to_string(y.size()) +
                          " values); use precsweep.matmul for matrices");
  precsweep::AccumulateStats stats;
  float r;
  {
    py::gil_scoped_release release;
    const auto n = static_cast<std::size_t>(x.size());
    r = precsweep::dot({static_cast<const float*>(x.data()), n},
                       {static_cast<const float*>(y.data()), n}, acc,
                       StochasticKey{seed, stream, 0}, &stats, index);
  }
  if (return_stats) return py::make_tuple(r, stats_dict(stats));
  return py::float_(r);
}

// C = a @ b with every output element a dot product in increasing k (the accumulate issue's
// semantics): gemm_backward_data computes dA[batch x in] = D[batch x out] * W[out x in], which
// is C[M x N] = a[M x K] * b[K x N]. a may have leading batch axes (flattened into M) or be 1-D
// (a row); b is 2-D, or 1-D (a column), as numpy's matmul.
py::object matmul(const py::object& a, const py::object& b, const std::string& accumulate,
                  const py::object& rounding, const py::object& chunk, const py::object& outer,
                  std::uint64_t seed, std::uint64_t stream, bool return_stats) {
  const precsweep::Accumulator acc = accumulator(accumulate, rounding, chunk, outer);
  py::array x = float32_array(a, "matmul: a", false);
  py::array y = float32_array(b, "matmul: b", false);
  if (x.ndim() < 1 || y.ndim() < 1 || y.ndim() > 2)
    throw py::value_error("precsweep.matmul: a must have at least 1 axis and b 1 or 2 axes "
                          "(a: [..., M, K] or [K]; b: [K, N] or [K])");
  const auto K = static_cast<std::size_t>(x.shape(x.ndim() - 1));
  const auto N = y.ndim() == 2 ? static_cast<std::size_t>(y.shape(1)) : std::size_t{1};
  if (static_cast<std::size_t>(y.shape(0)) != K)
    throw py::value_error("precsweep.matmul: a's last axis has " + std::to_string(K) +
                          " values but b's first axis " + std::to_string(y.shape(0)) +
                          "; they are the summed axis and must match");
  const std::size_t M = K == 0 ? static_cast<std::size_t>(x.size()) : x.size() / K;
  std::vector<py::ssize_t> shape(x.shape(), x.shape() + x.ndim() - 1);  // a's leading axes
  if (x.ndim() == 1) shape.clear();
  if (y.ndim() == 2) shape.push_back(static_cast<py::ssize_t>(N));
  py::array result(py::dtype::of<float>(), shape);
  precsweep::AccumulateStats stats;
  {
    py::gil_scoped_release release;
    precsweep::gemm_backward_data({static_cast<const float*>(x.data()), M * K},
                                  {static_cast<const float*>(y.data()), K * N},
                                  {static_cast<float*>(result.mutable_data()), M * N}, M, K, N,
                                  acc, StochasticKey{seed, stream, 0}, &stats);
  }
  if (return_stats) return py::make_tuple(result, stats_dict(stats));
  return std::move(result);
}

}  // namespace

PYBIND11_MODULE(_ext, m) {
  m.doc() = "precsweep's number formats, bit-exact (docs/library.md)";
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const precsweep::InputError& e) {
      PyErr_SetString(PyExc_ValueError, e.what());
    }
  });
  m.def("quantize", &quantize, py::arg("x"), py::arg("format"),
        py::arg("rounding") = "nearest_even", py::kw_only(), py::arg("seed") = 0,
        py::arg("stream") = 0, py::arg("offset") = 0, py::arg("out") = py::none(),
        "Round the float32 values of x into `format` with `rounding`; returns the result (a new\n"
        "array, or `out`, which may be x itself). Stochastic rounding draws its bits from\n"
        "(seed, stream, offset + flat index), as `precsweep quantize --seed --stream --offset`.");
  m.def("format_info", &format_info, py::arg("name"),
        "bias, max, min_normal, min_subnormal, epsilon, encoding, block_size, ... of a format");
  m.def("dot", &dot, py::arg("a"), py::arg("b"), py::arg("accumulate") = "fp32",
        py::arg("rounding") = py::none(), py::kw_only(), py::arg("chunk") = py::none(),
        py::arg("outer") = py::none(), py::arg("seed") = 0, py::arg("stream") = 0,
        py::arg("index") = 0, py::arg("return_stats") = false,
        "sum_k a[k] * b[k], each product added exactly into an accumulator of format\n"
        "`accumulate` and rounded once (docs/accumulation.md); chunk/outer sum runs of `chunk`\n"
        "products into an outer accumulator. Stochastic bits: output element `index`, as line\n"
        "`index` of `precsweep dot --seed S --stream T`.");
  m.def("matmul", &matmul, py::arg("a"), py::arg("b"), py::arg("accumulate") = "fp32",
        py::arg("rounding") = py::none(), py::kw_only(), py::arg("chunk") = py::none(),
        py::arg("outer") = py::none(), py::arg("seed") = 0, py::arg("stream") = 0,
        py::arg("return_stats") = false,
        "a @ b (a: [..., M, K] or [K]; b: [K, N] or [K]) with every output element summed in\n"
        "increasing k as precsweep.dot (element index: its row-major position in the result).\n"
        "Not BLAS: fp32 here is the sequential order, not numpy's.");
}
