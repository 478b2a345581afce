// Reading a stored network from a results file (layout: docs/results-format.md, "Stored
// weights"): row `id` of /weights/params holds the first /weights/count[id] values of the
// parameter buffer in mlp.hpp's order (W[0] b[0] W[1] b[1] ..., NaN padding after); the layer
// sizes are dataset_shape(/points/dataset).dim, /points/hidden, .classes.
// Deliberately leaves out: writing (ResultsFile::write_point).
#include "precsweep/weights.hpp"

#include <cmath>
#include <cstdint>
#include <vector>

#include "precsweep/error.hpp"
#include "precsweep/h5.hpp"
#include "precsweep/mlp.hpp"
#include "precsweep/params.hpp"
#include "precsweep/train.hpp"

namespace precsweep {
StoredNetwork read_weights(const std::filesystem::path& path, const std::string& point) {
  const std::string file = path.string();
  if (!std::filesystem::exists(path)) throw InputError("--weights: no such file '" + file + "'");
  if (!h5::File::is_hdf5(path)) throw InputError("--weights: '" + file + "' is not an HDF5 file");
  try {
    h5::File f = h5::File::open(path, false, h5::Access::serial());
    const h5::Group& root = f.root();
    if (!root.exists("points") || !root.has_attr("n_points"))
      throw InputError("--weights: '" + file + "' is not a precsweep results file");
    if (!root.exists("weights"))
      throw InputError("--weights: '" + file +
                       "' has no /weights (train with --save-weights, or save_weights: true)");
    const std::int64_t n = root.read_attr_int("n_points");
    std::int64_t id = 0;
    if (point.empty()) {
      if (n != 1)
        throw InputError("--weights: '" + file + "' holds " + std::to_string(n) +
                         " points: pass --point ID");
    } else {
      std::size_t used = 0;
      try {
        id = std::stoll(point, &used);
      } catch (const std::exception&) {
        used = 0;
      }
      if (used != point.size() || id < 0 || id >= n)
        throw InputError("--point: '" + point + "' is not a point id of '" + file + "' (0.." +
                         std::to_string(n - 1) + ")");
    }
    const std::string where = file + " point " + std::to_string(id);
    const auto row = static_cast<std::size_t>(id);
    const h5::Group points = root.open_group("points");
    Point point;  // the network's parameters, read back through the parameter table
    for (const char* name : {"dataset", "hidden", "activation"}) {
      const std::string text = points.open_dataset(name).read_strings().at(row);
      try {
        find_param(name)->parse(text).apply(point);
      } catch (const InputError& e) {
        throw InputError(where + ": " + name + ": " + e.what());
      }
    }
    StoredNetwork net;
    net.activation = point.config.activation;
    const DatasetShape shape = dataset_shape(point.dataset);
    net.sizes.push_back(shape.dim);
    net.sizes.insert(net.sizes.end(), point.config.hidden.begin(), point.config.hidden.end());
    net.sizes.push_back(shape.classes);
    const MlpLayout layout(net.sizes);

    const h5::Group wg = root.open_group("weights");
    const std::int64_t count = wg.open_dataset("count").read_all<std::int64_t>().at(row);
    if (count == 0)
      throw InputError(where + " has no stored weights (not finished, or run without "
                       "--save-weights / save_weights: true)");
    if (count != static_cast<std::int64_t>(layout.count))
      throw InputError(where + ": " + std::to_string(count) + " stored parameters, layer sizes " +
                       "need " + std::to_string(layout.count));
    // Row `id`, first `count` columns, as one hyperslab (a sweep's [N, slots] can be large).
    const h5::Dataset params = wg.open_dataset("params");
    net.params.assign(layout.count, 0.0f);  // [count]
    const hsize_t start[2] = {static_cast<hsize_t>(id), 0};
    const hsize_t block[2] = {1, static_cast<hsize_t>(layout.count)};
    if (params.dims().size() != 2 || params.dims()[1] < block[1])
      throw InputError(where + ": /weights/params is narrower than the network");
    h5::Dataspace file_space(h5::check_id(H5Dget_space(params.id()), "H5Dget_space(/weights/params)"));
    h5::check(H5Sselect_hyperslab(file_space.id(), H5S_SELECT_SET, start, nullptr, block, nullptr),
              "H5Sselect_hyperslab(/weights/params)");
    h5::Dataspace mem_space(h5::check_id(H5Screate_simple(2, block, nullptr), "H5Screate_simple"));
    h5::check(H5Dread(params.id(), H5T_NATIVE_FLOAT, mem_space.id(), file_space.id(), H5P_DEFAULT,
                      net.params.data()),
              "H5Dread(/weights/params row " + std::to_string(id) + ")");
    for (float v : net.params)
      if (!std::isfinite(v)) throw InputError(where + ": stored weights contain NaN or inf");
    return net;
  } catch (const h5::Error& e) {
    throw InputError("--weights: cannot read '" + file + "' (" + std::string(e.what()) + ")");
  } catch (const std::out_of_range&) {
    throw InputError("--weights: '" + file + "' has fewer /points rows than n_points");
  }
}

}  // namespace precsweep
