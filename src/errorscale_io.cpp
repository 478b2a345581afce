// The error-scaling HDF5 file (layout: docs/results-format.md, "Error-scaling file"), written
// serially through the h5.hpp wrappers.
// Deliberately leaves out: reading it back in C++ (analysis/errorscale.py reads it).
#include <cstdio>
#include <filesystem>

#include "precsweep/build_info.hpp"
#include "precsweep/errorscale.hpp"
#include "precsweep/error.hpp"
#include "precsweep/h5.hpp"

namespace precsweep {
namespace {

void write_f64(h5::Group& g, const std::string& name, const std::vector<double>& v,
               std::vector<hsize_t> dims) {
  g.create_dataset(name, h5::Type::f64, dims).write_rows(0, dims[0], v.data());
}

void write_series(h5::Group& root, const QuantitySeries& q, hsize_t F, hsize_t L) {
  h5::Group g = root.create_group(q.name);
  write_f64(g, "rel", q.rel, {F, L});
  write_f64(g, "worst", q.worst, {F, L});
  write_f64(g, "floor_rel", q.floor_rel, {L});
  write_f64(g, "amplification", q.amplification, {F, L});
  write_f64(g, "bound_det", q.bound_det, {F, L});
  write_f64(g, "bound_prob", q.bound_prob, {F, L});
  write_f64(g, "bound_stored", q.bound_stored, {F, L});
  write_f64(g, "ratio_det", q.ratio_det, {F, L});
  write_f64(g, "ratio_prob", q.ratio_prob, {F, L});
  write_f64(g, "ratio_stored", q.ratio_stored, {F, L});
  write_f64(g, "residual", q.residual, {F, L});
  g.create_dataset("used", h5::Type::i8, {F, L}).write_rows(0, F, q.used.data());
  std::vector<double> a, b, rms, mx;
  std::vector<std::int32_t> n;
  for (const Fit& f : q.fits) {
    a.push_back(f.a);
    b.push_back(f.b);
    rms.push_back(f.rms);
    mx.push_back(f.max_residual);
    n.push_back(f.n);
  }
  write_f64(g, "fit_a", a, {L});
  write_f64(g, "fit_b", b, {L});
  write_f64(g, "fit_rms", rms, {L});
  write_f64(g, "fit_max_residual", mx, {L});
  g.create_dataset("fit_n", h5::Type::i32, {L}).write_rows(0, L, n.data());
}

}  // namespace

void write_error_scaling(const std::filesystem::path& path, const ErrorScaleResult& res,
                         const ErrorScaleConfig& cfg, const std::vector<int>& layer_sizes,
                         const std::vector<std::pair<std::string, std::string>>& attrs) {
  if (std::filesystem::exists(path))
    throw InputError("--out: '" + path.string() + "' exists; refusing to overwrite it");
  const std::filesystem::path tmp = path.string() + ".tmp";
  std::filesystem::remove(tmp);
  try {
    h5::File f = h5::File::create(tmp, h5::Access::serial());
    h5::Group& root = f.root();
    const auto F = static_cast<hsize_t>(res.formats.size()), L = static_cast<hsize_t>(res.layers);
    root.write_attr("kind", std::string("precsweep-errorscale"));
    root.write_attr("layout_version", std::int64_t{1});
    root.write_attr("precsweep_version", std::string(build_info::version));
    std::string sizes;
    for (int s : layer_sizes) sizes += (sizes.empty() ? "" : ",") + std::to_string(s);
    root.write_attr("layer_sizes", sizes);
    root.write_attr("rounding", to_string(cfg.rounding));
    root.write_attr("apply_to", apply_to_string(cfg.apply_to));
    root.write_attr("samples", static_cast<std::int64_t>(res.samples));
    root.write_attr("layers", static_cast<std::int64_t>(res.layers));
    root.write_attr("seed", static_cast<std::int64_t>(cfg.seed));
    root.write_attr("lambda", cfg.lambda);
    root.write_attr("saturation", cfg.saturation);
    root.write_attr("floor_factor", cfg.floor_factor);
    root.write_attr("reference", std::string("stored network evaluated in double"));
    root.write_attr("reference_accuracy", res.reference_accuracy);
    for (const auto& [k, v] : attrs) root.write_attr(k, v);

    h5::Group fg = root.create_group("formats");
    std::vector<std::string> names;
    std::vector<std::int32_t> man, ex;
    std::size_t longest = 1;
    for (std::size_t i = 0; i < res.formats.size(); ++i) {
      names.push_back(res.formats[i].name());
      longest = std::max(longest, names.back().size());
      man.push_back(res.man_bits[i]);
      ex.push_back(res.formats[i].kind == Format::Kind::floating ? res.formats[i].exp_bits : -1);
    }
    fg.create_dataset("name", h5::Type::string, {F}, nullptr, longest).write_strings(0, names);
    fg.create_dataset("man_bits", h5::Type::i32, {F}).write_rows(0, F, man.data());
    fg.create_dataset("exp_bits", h5::Type::i32, {F}).write_rows(0, F, ex.data());
    write_f64(fg, "u", res.u, {F});
    write_f64(fg, "accuracy", res.accuracy, {F});
    write_f64(fg, "changed_fraction", res.changed_fraction, {F});
    for (const QuantitySeries* q : {&res.z, &res.a, &res.delta, &res.dW}) write_series(root, *q, F, L);
    f.close();
  } catch (...) {
    std::error_code ec;
    std::filesystem::remove(tmp, ec);
    throw;
  }
  std::filesystem::rename(tmp, path);
}

}  // namespace precsweep
