// Writing and reading a trained network in a results file (layout: docs/results-format.md,
// "Stored weights"), through the h5.hpp wrappers.
// Deliberately leaves out: parallel creation for sweeps (the sweep writer would have to create
// every point's datasets collectively at file creation; see the issue 8 report).
#include "precsweep/weights.hpp"

#include <cstdint>
#include <vector>

#include "precsweep/error.hpp"
#include "precsweep/mlp.hpp"

namespace precsweep {

void write_weights(h5::Group& parent, const std::string& name, const StoredNetwork& net) {
  const MlpLayout layout(net.sizes);
  if (net.params.size() != layout.count)
    throw InputError("write_weights: " + std::to_string(net.params.size()) +
                     " parameters for layer sizes needing " + std::to_string(layout.count));
  if (parent.exists(name))
    throw InputError("write_weights: " + parent.path() + " already has '" + name + "'");
  h5::Group g = parent.create_group(name);
  const int L = layout.layers();
  std::vector<std::int32_t> sizes(net.sizes.begin(), net.sizes.end());  // [L+1]
  g.create_dataset("layer_sizes", h5::Type::i32, {sizes.size()})
      .write_rows(0, sizes.size(), sizes.data());
  for (int l = 0; l < L; ++l) {
    const auto out = static_cast<hsize_t>(layout.out(l)), in = static_cast<hsize_t>(layout.in(l));
    const std::size_t li = static_cast<std::size_t>(l);
    g.create_dataset("W" + std::to_string(l), h5::Type::f32, {out, in})
        .write_rows(0, out, net.params.data() + layout.w_offset[li]);
    g.create_dataset("b" + std::to_string(l), h5::Type::f32, {out})
        .write_rows(0, out, net.params.data() + layout.b_offset[li]);
  }
  g.write_attr("activation", to_string(net.activation));
  g.write_attr("layers", static_cast<std::int64_t>(L));
  g.write_attr("parameter_count", static_cast<std::int64_t>(layout.count));
}

StoredNetwork read_weights(const std::filesystem::path& path, const std::string& point) {
  const std::string where = path.string() + (point.empty() ? ":/weights" : ":/weights/" + point);
  if (!std::filesystem::exists(path)) throw InputError("--weights: no such file '" + path.string() + "'");
  if (!h5::File::is_hdf5(path))
    throw InputError("--weights: '" + path.string() + "' is not an HDF5 file");
  try {
    h5::File f = h5::File::open(path, false, h5::Access::serial());
    if (!f.root().exists("weights"))
      throw InputError(path.string() + " has no /weights group (train with --save-weights)");
    h5::Group g = f.root().open_group("weights");
    if (!point.empty()) {
      if (!g.exists(point))
        throw InputError(where + " does not exist (no stored weights for point '" + point + "')");
      g = g.open_group(point);
    } else if (!g.exists("layer_sizes")) {
      throw InputError(where + " holds per-point groups: pass --point ID");
    }
    StoredNetwork net;
    const std::vector<std::int32_t> sizes = g.open_dataset("layer_sizes").read_all<std::int32_t>();
    net.sizes.assign(sizes.begin(), sizes.end());
    net.activation = parse_activation(g.read_attr_string("activation"));
    const MlpLayout layout(net.sizes);
    net.params.assign(layout.count, 0.0f);
    for (int l = 0; l < layout.layers(); ++l) {
      const std::size_t li = static_cast<std::size_t>(l);
      const auto out = static_cast<hsize_t>(layout.out(l)), in = static_cast<hsize_t>(layout.in(l));
      h5::Dataset W = g.open_dataset("W" + std::to_string(l));
      h5::Dataset b = g.open_dataset("b" + std::to_string(l));
      if (W.dims() != std::vector<hsize_t>{out, in} || b.dims() != std::vector<hsize_t>{out})
        throw InputError(where + ": W" + std::to_string(l) + "/b" + std::to_string(l) +
                         " shapes disagree with layer_sizes");
      const std::vector<float> w = W.read_all<float>(), bv = b.read_all<float>();
      std::copy(w.begin(), w.end(), net.params.begin() + static_cast<std::ptrdiff_t>(layout.w_offset[li]));
      std::copy(bv.begin(), bv.end(), net.params.begin() + static_cast<std::ptrdiff_t>(layout.b_offset[li]));
    }
    return net;
  } catch (const h5::Error& e) {
    throw InputError(where + ": cannot read stored weights (" + std::string(e.what()) + ")");
  }
}

}  // namespace precsweep
