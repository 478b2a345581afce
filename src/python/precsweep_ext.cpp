// precsweep._ext: the Python face of the formats library (pybind11). quantize() rounds any
// C-contiguous float32 buffer (numpy arrays; PyTorch CPU tensors through .numpy(), which shares
// their memory) with exactly the kernel the C++ tool runs, the GIL released and OpenMP threads
// on large arrays; format_info() describes a format. Built by setup.py (pip install .).
// Deliberately leaves out: other dtypes (no silent conversion: a float64 array is an error, the
// caller decides where the copy goes), strided arrays, and the accumulation kernels.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "precsweep/error.hpp"
#include "precsweep/formats.hpp"

namespace py = pybind11;

namespace {
using precsweep::Format;
using precsweep::Rounding;
using precsweep::StochasticKey;

// The one place the binding calls the formats library: rounds src[0..n) into dst (src itself
// for in-place calls). `row` is the length of the array's last axis: block formats share a scale
// within blocks along that axis (docs/library.md), so an array is only ever cut at whole rows,
// or, inside a row longer than kPiece, at multiples of kPiece from the row's start (kPiece is a
// multiple of every power-of-two block size up to itself). Element formats do not care.
// Out of place, each piece is copied and rounded while it is in cache, spread over OpenMP
// threads (two passes over memory, not four); the stochastic key's offset moves with the piece,
// so the bits are those of one call on the whole array.
constexpr std::size_t kPiece = std::size_t{1} << 15;

void quantize_rows(float* dst, const float* src, std::size_t n, std::size_t row, const Format& fmt,
                   Rounding mode, const StochasticKey& key) {
  if (n == 0) return;
  if (dst == src) {
    precsweep::quantize(std::span<float>(dst, n), fmt, mode, key);
    return;
  }
  row = std::max<std::size_t>(row, 1);
  // pieces of whole rows, or kPiece-sized parts of one row
  const std::size_t rows_per_piece = row <= kPiece ? kPiece / row : 1;
  const std::size_t parts_per_row = row <= kPiece ? 1 : (row + kPiece - 1) / kPiece;
  const std::size_t rows = n / row;
  const std::size_t pieces = row <= kPiece ? (rows + rows_per_piece - 1) / rows_per_piece
                                           : rows * parts_per_row;
  const auto count = static_cast<std::int64_t>(pieces);
#pragma omp parallel for schedule(static) if (n >= 2 * kPiece)
  for (std::int64_t i = 0; i < count; ++i) {
    const auto pi = static_cast<std::size_t>(i);
    std::size_t begin, end;
    if (row <= kPiece) {
      begin = pi * rows_per_piece * row;
      end = std::min(n, begin + rows_per_piece * row);
    } else {
      const std::size_t r = pi / parts_per_row, part = pi % parts_per_row;
      begin = r * row + part * kPiece;
      end = std::min((r + 1) * row, begin + kPiece);
    }
    std::memcpy(dst + begin, src + begin, (end - begin) * sizeof(float));
    StochasticKey k = key;
    k.offset += begin;
    precsweep::quantize(std::span<float>(dst + begin, end - begin), fmt, mode, k);
  }
}

// x as a C-contiguous float32 array, or a TypeError/ValueError naming `what` and the fix.
py::array float32_array(const py::object& obj, const char* what, bool writeable) {
  py::buffer_info info = py::reinterpret_borrow<py::buffer>(obj).request(writeable);
  if (info.format != py::format_descriptor<float>::format() || info.itemsize != 4)
    throw py::type_error(std::string("precsweep.quantize: ") + what +
                         " must hold float32 (format '" + info.format +
                         "'); convert it first, e.g. x.astype(numpy.float32)");
  py::ssize_t stride = 4;
  for (py::ssize_t d = info.ndim - 1; d >= 0; --d) {
    if (info.shape[d] != 1 && info.strides[d] != stride)
      throw py::value_error(std::string("precsweep.quantize: ") + what +
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
  py::array in = float32_array(x, "x", false);
  py::array result;
  if (out.is_none()) {
    result = py::array(py::dtype::of<float>(),
                       std::vector<py::ssize_t>(in.shape(), in.shape() + in.ndim()));
  } else {
    result = float32_array(out, "out", true);
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
  const bool floating = f.kind == Format::Kind::floating;
  py::dict d;
  d["name"] = f.name();
  d["kind"] = floating ? "floating" : "fixed";
  d["bits"] = floating ? 1 + f.exp_bits + f.man_bits : f.int_bits + f.frac_bits;
  d["exp_bits"] = floating ? f.exp_bits : 0;
  d["man_bits"] = floating ? f.man_bits : f.frac_bits;
  d["bias"] = f.bias();
  d["emin"] = f.emin();
  d["emax"] = f.emax();
  d["max"] = f.max_finite();
  d["min_normal"] = f.min_normal();
  d["min_subnormal"] = f.subnormals ? f.min_subnormal() : f.min_normal();
  // the gap between 1 and the next value (floating: 2^-m; fixed: the resolution 2^-f)
  d["epsilon"] = floating ? std::ldexp(1.0, -f.man_bits) : std::ldexp(1.0, -f.frac_bits);
  d["encoding"] = floating ? precsweep::to_string(f.encoding) : "fixed";
  d["subnormals"] = f.subnormals;
  d["saturate"] = f.saturate;
  d["block_size"] = 1;  // element formats: every value has its own exponent
  return d;
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
}
