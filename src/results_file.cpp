// The results file layout (docs/results-format.md) over the h5 wrappers: creation of every
// dataset at start, row writes with status last, durability by fdatasync, run attributes.
// Deliberately leaves out: MPI calls (the caller passes h5::Access and does the collectives).
#include "precsweep/results_file.hpp"

#include "precsweep/search.hpp"

#include <fcntl.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <condition_variable>
#include <cstring>
#include <ctime>
#include <functional>
#include <limits>
#include <mutex>
#include <thread>

#include "precsweep/build_info.hpp"
#include "precsweep/error.hpp"
#include "precsweep/params.hpp"
#include "spec_internal.hpp"

#ifndef PRECSWEEP_CXX_FLAGS
#define PRECSWEEP_CXX_FLAGS ""
#endif

namespace precsweep {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// A /points column: a parameter of the table, or one derived from the point.
struct PointColumn {
  std::string name;
  Column type;
  std::function<std::string(const Point&)> text;      // Column::text
  std::function<double(const Point&)> real;           // Column::f64
  std::function<std::int64_t(const Point&)> integer;  // integer columns
};

// Every /points column: the parameters in table order, then exp_bits and man_bits (-1 for
// fixed-point formats) and is_baseline.
std::vector<PointColumn> point_columns() {
  std::vector<PointColumn> cols;
  for (const Param& p : params()) cols.push_back({p.name, p.column, p.text, p.real, p.integer});
  auto float_field = [](int Format::*field) {
    return [field](const Point& p) -> std::int64_t {
      return p.config.format.kind == Format::Kind::floating ? p.config.format.*field : -1;
    };
  };
  cols.push_back({"exp_bits", Column::i32, {}, {}, float_field(&Format::exp_bits)});
  cols.push_back({"man_bits", Column::i32, {}, {}, float_field(&Format::man_bits)});
  cols.push_back({"is_baseline", Column::i8, {}, {}, [](const Point& p) -> std::int64_t {
                    return p.is_baseline;
                  }});
  // What each role was rounded into after the recipe, shorthand and overrides ("" = not
  // rounded), the loss scaling in effect, and whether the run kept a master copy.
  for (Role r : kAllRoles)
    cols.push_back({"round_" + to_string(r), Column::text, [r](const Point& p) {
                      return describe(resolve_precision(p.config)[r]);
                    }, {}, {}});
  cols.push_back({"loss_scaling", Column::text, [](const Point& p) {
                    return to_string(resolve_precision(p.config).loss);
                  }, {}, {}});
  cols.push_back({"master_copy", Column::i8, {}, {}, [](const Point& p) -> std::int64_t {
                    return resolve_precision(p.config).master;
                  }});
  return cols;
}

h5::Type h5_type(Column c) {
  switch (c) {
    case Column::text: return h5::Type::string;
    case Column::f64: return h5::Type::f64;
    case Column::i32: return h5::Type::i32;
    case Column::u64: return h5::Type::u64;
    case Column::i8: return h5::Type::i8;
  }
  return h5::Type::string;
}

// Writes one numeric /points column for every point, rows [0, N).
void write_point_column(h5::Dataset& d, const PointColumn& c, const std::vector<Point>& pts) {
  auto column = [&](auto value_of) {
    using T = decltype(value_of(pts[0]));
    std::vector<T> v(pts.size());  // [N]
    for (std::size_t i = 0; i < pts.size(); ++i) v[i] = value_of(pts[i]);
    d.write_rows(0, pts.size(), v.data());
  };
  if (pts.empty()) return;
  switch (c.type) {
    case Column::f64: column([&](const Point& p) { return c.real(p); }); break;
    case Column::i32:
      column([&](const Point& p) { return static_cast<std::int32_t>(c.integer(p)); });
      break;
    case Column::u64:
      column([&](const Point& p) { return static_cast<std::uint64_t>(c.integer(p)); });
      break;
    case Column::i8:
      column([&](const Point& p) { return static_cast<std::int8_t>(c.integer(p)); });
      break;
    case Column::text: break;
  }
}

// The table as root attributes, so readers need no copy of it (docs/results-format.md).
void write_table_attrs(h5::Group& root) {
  std::vector<std::string> names, kinds, epoch, run;
  for (const Param& p : params()) {
    names.push_back(p.name);
    kinds.push_back(to_string(p.column));
  }
  for (const Metric& m : epoch_metrics()) epoch.push_back(m.name);
  for (const Metric& m : run_metrics()) run.push_back(m.name);
  root.write_attr("parameters", names);
  root.write_attr("parameter_kinds", kinds);
  root.write_attr("epoch_metrics", epoch);
  root.write_attr("run_metrics", run);
}

// Weight slots per point: the largest parameter count among points that save weights.
std::int64_t weight_slots(const std::vector<Point>& pts) {
  std::int64_t slots = 0;
  for (const Point& p : pts) {
    if (!p.config.save_weights) continue;
    const DatasetShape shape = dataset_shape(p.dataset);
    slots = std::max(slots, parameter_count(p.config.hidden, shape.dim, shape.classes));
  }
  return slots;
}

[[noreturn]] void damaged(const std::filesystem::path& path, const std::string& why) {
  throw InputError(path.string() + ": not a precsweep results file or damaged: " + why);
}

std::string dims_text(const std::vector<hsize_t>& d) {
  std::string s = "[";
  for (std::size_t i = 0; i < d.size(); ++i) s += (i ? ", " : "") + std::to_string(d[i]);
  return s + "]";
}

// Opens `name` and checks its shape and kind (string or numeric) before anything reads it.
h5::Dataset open_checked(const h5::Group& g, const std::string& name,
                         const std::vector<hsize_t>& shape, bool string = false) {
  h5::Dataset d = g.open_dataset(name);
  if (d.dims() != shape)
    throw h5::Error(d.path() + " has shape " + dims_text(d.dims()) + ", expected " +
                    dims_text(shape));
  if ((d.type() == h5::Type::string) != string)
    throw h5::Error(d.path() + (string ? " is not a string dataset" : " is not numeric"));
  if (string) d.string_size();  // fixed-length only
  return d;
}

// Root attributes describing the build (same for every rank).
void write_build_attrs(h5::Group& root) {
  root.write_attr("tool_version", std::string(build_info::version));
  root.write_attr("git_commit", std::string(build_info::git_commit));
  root.write_attr("compiler", std::string(build_info::compiler));
  root.write_attr("build_type", std::string(build_info::build_type));
  root.write_attr("compiler_flags", std::string(PRECSWEEP_CXX_FLAGS));
  root.write_attr("blas", build_info::blas_description());
  root.write_attr("blas_core", build_info::blas_core());
}

}  // namespace

std::string io_failure_text(const std::filesystem::path& file, const std::exception& e) {
  if (!h5::is_write_failure(e)) return e.what();
  const std::filesystem::path folder =
      file.parent_path().empty() ? std::filesystem::path(".") : file.parent_path();
  struct statvfs fs {};
  if (::statvfs(folder.c_str(), &fs) != 0) return e.what();
  const unsigned long long free_kib =
      static_cast<unsigned long long>(fs.f_bavail) * fs.f_frsize / 1024;
  // HDF5's own writes are small: a write that failed with less than this left was out of space.
  constexpr unsigned long long kNearlyFullKiB = 16 * 1024;
  if (dynamic_cast<const h5::DiskFull*>(&e) == nullptr && free_kib >= kNearlyFullKiB)
    return e.what();
  return "no space left on device (" + std::to_string(free_kib) + " KiB free in " +
         folder.string() + ")";
}

void check_free_space(const std::filesystem::path& file, std::uint64_t bytes) {
  constexpr std::uint64_t kMargin = std::uint64_t{256} << 10;  // metadata of a resume or finish
  const std::filesystem::path folder =
      file.parent_path().empty() ? std::filesystem::path(".") : file.parent_path();
  struct statvfs fs {};
  if (::statvfs(folder.c_str(), &fs) != 0) return;  // no answer: let the writes tell
  const std::uint64_t free_bytes = static_cast<std::uint64_t>(fs.f_bavail) * fs.f_frsize;
  if (free_bytes >= bytes + kMargin) return;
  throw h5::DiskFull("no space left on device: the file needs about " +
                     std::to_string((bytes + kMargin) / 1024) + " KiB, " + folder.string() +
                     " has " + std::to_string(free_bytes / 1024) + " KiB free");
}

std::uint64_t ResultsFile::estimated_bytes(const SweepSpec& spec) {
  const std::uint64_t n = spec.points.size();
  int epochs = 0;
  for (const Point& p : spec.points) epochs = std::max(epochs, p.config.epochs);
  // Per point: the /points columns (numbers and parameter texts, generously 64 bytes each), the
  // message, status/rank/baseline/final/wall, the per-epoch metrics, and the weights.
  const std::uint64_t per_point = 64 * (parameter_names().size() + 3) + kMessageBytes + 40 +
                                  8 * per_epoch_metric_names().size() *
                                      static_cast<std::uint64_t>(epochs) +
                                  4 * static_cast<std::uint64_t>(weight_slots(spec.points)) + 8 +
                                  8 * kRatioBins * static_cast<std::uint64_t>(epochs);
  // Attributes (the spec text twice over) and object headers.
  return n * per_point + 2 * spec.text.size() + (std::uint64_t{64} << 10);
}

std::string iso8601_utc_now() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

const std::vector<std::string>& per_epoch_metric_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> out;
    for (const Metric& m : epoch_metrics()) out.push_back(m.name);
    return out;
  }();
  return names;
}

ResultsFile ResultsFile::create(const std::filesystem::path& path, const SweepSpec& spec,
                                const RunInfo& info, h5::Access access, bool write_points) {
  ResultsFile r;
  r.n_ = static_cast<std::int64_t>(spec.points.size());
  for (const Point& p : spec.points) r.max_epochs_ = std::max(r.max_epochs_, p.config.epochs);
  r.weight_slots_ = weight_slots(spec.points);
  r.file_ = h5::File::create(path, access);
  try {
    r.fill_new_file(spec, info, write_points);
  } catch (...) {
    // No partial output: the file this call created goes (once: by the writing rank). It is
    // emptied before it is closed: on a full disk HDF5's close must still write its metadata,
    // and a failed close leaves the library holding a broken file that crashes MPI_Finalize.
    if (write_points) {
      const int ignored_rc = ::truncate(path.c_str(), 0);
      (void)ignored_rc;
    }
    r = ResultsFile();
    std::error_code ignored;
    if (write_points) std::filesystem::remove(path, ignored);
    throw;
  }
  return r;
}

namespace {

// "E8M*" for a setting searched along `man`: the format with the searched width left open.
std::string setting_format(const Format& f, const std::string& axis) {
  const std::string name = f.name();
  const std::string options = name.find(',') == std::string::npos ? "" : name.substr(name.find(','));
  const std::string e = std::to_string(f.exp_bits), m = std::to_string(f.man_bits);
  const std::string i = std::to_string(f.int_bits), q = std::to_string(f.frac_bits);
  if (axis == "man") return "E" + e + "M*" + options;
  if (axis == "exp") return "E*M" + m + options;
  if (axis == "int") return "Q*." + q;
  return "Q" + i + ".*";
}

}  // namespace

// /search (docs/results-format.md): one row per setting, created with the file (the settings
// follow from the spec) so that a search only ever writes rows. Parameter columns as in
// /points, for the setting's lowest point, with `format` naming the searched width `*`.
void ResultsFile::create_search_group(h5::Group& root, const SweepSpec& spec, bool write_points) {
  const std::vector<SearchSetting> settings = search_settings(spec, spec.search_spec.axis);
  std::vector<Point> firsts;
  for (const SearchSetting& s : settings) {
    firsts.push_back(spec.points[static_cast<std::size_t>(s.first_point)]);
  }
  const hsize_t n = settings.size();
  h5::Group g = root.create_group("search");
  const SearchSpec& ss = spec.search_spec;
  g.write_attr("axis", ss.axis);
  g.write_attr("target", ss.target);
  g.write_attr("tolerance", ss.tolerance);
  g.write_attr("relative", std::int64_t{ss.relative});
  g.write_attr("start", ss.start == SearchSpec::Start::middle    ? std::string("middle")
                        : ss.start == SearchSpec::Start::predict ? std::string("predict")
                                                                 : std::to_string(ss.start_value));
  for (const PointColumn& c : point_columns()) {
    if (c.name == "seed" || c.name == "is_baseline" || c.name == ss.axis + "_bits") continue;
    if (c.type == Column::text) {
      std::vector<std::string> text(firsts.size());
      std::size_t len = 1;
      for (std::size_t i = 0; i < firsts.size(); ++i) {
        text[i] = c.name == "format" ? setting_format(firsts[i].config.format, ss.axis)
                                     : c.text(firsts[i]);
        len = std::max(len, text[i].size());
      }
      h5::Dataset d = g.create_dataset(c.name, h5::Type::string, {n}, nullptr, len);
      if (write_points) d.write_strings(0, text);
    } else {
      h5::Dataset d = g.create_dataset(c.name, h5_type(c.type), {n});
      if (write_points) write_point_column(d, c, firsts);
    }
  }
  h5::Dataset first = g.create_dataset("first_point", h5::Type::i64, {n});
  h5::Dataset cells = g.create_dataset("cells", h5::Type::i32, {n});
  if (write_points && n > 0) {
    std::vector<std::int64_t> ids;   // [settings]
    std::vector<std::int32_t> count;  // [settings]
    for (const SearchSetting& s : settings) {
      ids.push_back(s.first_point);
      count.push_back(static_cast<std::int32_t>(s.cells.size()));
    }
    first.write_rows(0, n, ids.data());
    cells.write_rows(0, n, count.data());
  }
  const std::int32_t none = -1;
  const std::int64_t zero = 0;
  const std::int8_t no = 0;
  g.create_dataset("critical", h5::Type::i32, {n}, &none);
  g.create_dataset("points_run", h5::Type::i64, {n}, &zero);
  g.create_dataset("predicted", h5::Type::i32, {n}, &none);
  g.create_dataset("non_monotone", h5::Type::i8, {n}, &no);
  g.create_dataset("done", h5::Type::i8, {n}, &no);
}

void ResultsFile::fill_new_file(const SweepSpec& spec, const RunInfo& info, bool write_points) {
  ResultsFile& r = *this;
  h5::Group& root = r.file_.root();
  const hsize_t n = static_cast<hsize_t>(r.n_);
  const hsize_t e = static_cast<hsize_t>(r.max_epochs_);

  // Root attributes (collective: every rank passes the same values).
  root.write_attr("schema_version", kSchemaVersion);
  root.write_attr_long_text("spec", spec.text);  // may exceed an attribute's 64 KiB
  root.write_attr("spec_sha256", spec.sha256);
  root.write_attr("spec_name", spec.name);
  std::vector<std::string> axes;
  for (const Axis& a : spec.axes) axes.push_back(a.name);
  root.write_attr("axes", axes);
  root.write_attr("n_points", r.n_);
  root.write_attr("max_epochs", std::int64_t{r.max_epochs_});
  write_build_attrs(root);
  root.write_attr("start_time", info.start_time);
  root.write_attr("end_time", std::string());
  r.record_run(info);

  // /points: one column per parameter, written once here.
  write_table_attrs(root);
  h5::Group points = root.create_group("points");
  for (const PointColumn& c : point_columns()) {
    if (c.type == Column::text) {
      // String width must agree on every rank (collective create): computed from the points,
      // which every rank holds; only the writer fills the data.
      std::vector<std::string> text(spec.points.size());
      std::size_t len = 1;
      for (std::size_t i = 0; i < spec.points.size(); ++i) {
        text[i] = c.text(spec.points[i]);
        len = std::max(len, text[i].size());
      }
      h5::Dataset d = points.create_dataset(c.name, h5::Type::string, {n}, nullptr, len);
      if (write_points) d.write_strings(0, text);
    } else {
      h5::Dataset d = points.create_dataset(c.name, h5_type(c.type), {n});
      if (write_points) write_point_column(d, c, spec.points);
    }
  }

  // /results: fill values mark "not run" (status 0 pending, NaN metrics, rank -1).
  h5::Group results = root.create_group("results");
  const std::int8_t pending = 0;
  const std::int32_t no_rank = -1;
  results.create_dataset("status", h5::Type::i8, {n}, &pending);
  for (const Metric& m : run_metrics()) results.create_dataset(m.name, h5::Type::f64, {n}, &kNaN);
  for (const Metric& m : epoch_metrics())
    results.create_dataset(m.name, h5::Type::f64, {n, e}, &kNaN);
  results.create_dataset("rank", h5::Type::i32, {n}, &no_rank);
  h5::Dataset baseline = results.create_dataset("baseline_index", h5::Type::i64, {n});
  if (write_points && n > 0) {
    std::vector<std::int64_t> b(spec.points.size());  // [N]
    for (std::size_t i = 0; i < b.size(); ++i) b[i] = spec.points[i].baseline_index;
    baseline.write_rows(0, n, b.data());
  }
  results.create_dataset("message", h5::Type::string, {n}, nullptr, kMessageBytes);
  // [N, max_epochs x L x bins], L the most layers of a recording point (docs/results-format.md).
  hsize_t layers = 0;
  for (const Point& p : spec.points)
    if (records_update_ratio(p.config))
      layers = std::max<hsize_t>(layers, p.config.hidden.size() + 1);
  if (layers > 0) {
    const std::uint64_t zero = 0;
    results.create_dataset("update_ratio", h5::Type::u64, {n, e * layers * kRatioBins}, &zero);
  }

  if (spec.search) create_search_group(root, spec, write_points);

  if (r.weight_slots_ > 0) {
    h5::Group w = root.create_group("weights");
    const float nanf = std::numeric_limits<float>::quiet_NaN();
    const std::int64_t zero = 0;
    w.create_dataset("params", h5::Type::f32, {n, static_cast<hsize_t>(r.weight_slots_)}, &nanf);
    w.create_dataset("count", h5::Type::i64, {n}, &zero);
  }
  // Everything above is metadata (plus the /points rows): make it durable before any rank
  // writes a result row, so the file opens even if the job dies right after.
  r.file_.flush();
  r.open_datasets();
}

ResultsFile ResultsFile::open(const std::filesystem::path& path, h5::Access access,
                              bool writable) {
  try {
    ResultsFile r;
    // A collective open follows rank 0's serial one (check_output in sweep.cpp), which checked.
    if (!access.parallel) h5::File::check_headers(path);
    r.file_ = h5::File::open(path, writable, access);
    const h5::Group& root = r.file_.root();
    root.check_attributes();  // resume rewrites some, which walks them all
    if (!root.has_attr("schema_version") || !root.exists("results"))
      damaged(path, "no schema_version attribute or /results group");
    std::int64_t v = root.read_attr_int("schema_version");
    if (v != kSchemaVersion)
      throw InputError(path.string() + ": results schema version " + std::to_string(v) +
                       ", this precsweep reads " + std::to_string(kSchemaVersion));
    const std::int64_t n = root.read_attr_int("n_points");
    const std::int64_t e = root.read_attr_int("max_epochs");
    if (n < 0 || n > spec_detail::kMaxPoints)
      damaged(path, "n_points " + std::to_string(n) + " is outside 0.." +
                        std::to_string(spec_detail::kMaxPoints));
    if (e < 0 || e > kMaxEpochs)
      damaged(path, "max_epochs " + std::to_string(e) + " is outside 0.." +
                        std::to_string(kMaxEpochs));
    r.n_ = n;
    r.max_epochs_ = static_cast<int>(e);
    if (root.has_attr("runs")) root.read_attr_int("runs");  // record_run reads it to count on
    // Serial opens only: in an older file it is variable-length, read in a forked child,
    // which must not run MPI-IO (the sweep's collective open reads no string attribute).
    if (!access.parallel) r.sha256_ = root.read_attr_string("spec_sha256");
    r.open_datasets();
    r.read_status();  // checks every value
    return r;
  } catch (const h5::Error& e) {
    damaged(path, e.what());
  }
}

void ResultsFile::open_datasets() {
  const hsize_t n = static_cast<hsize_t>(n_), e = static_cast<hsize_t>(max_epochs_);
  h5::Group results = file_.root().open_group("results");
  status_ = open_checked(results, "status", {n});
  rank_ = open_checked(results, "rank", {n});
  message_ = open_checked(results, "message", {n}, true);
  per_run_.clear();
  for (const Metric& m : run_metrics()) per_run_.push_back(open_checked(results, m.name, {n}));
  per_epoch_.clear();
  // A file from before a metric existed (the recipes' skipped_steps, loss_scale and per-role
  // counts) lacks its dataset: it is left closed, and that metric is not written to the file.
  for (const Metric& m : epoch_metrics())
    per_epoch_.push_back(results.exists(m.name) ? open_checked(results, m.name, {n, e})
                                                : h5::Dataset());
  if (results.exists("update_ratio")) {
    // The layer count is the row length's: a whole number of layers per epoch (files written
    // before the per-layer histogram hold one pooled histogram per epoch, read as one layer).
    const std::vector<hsize_t> d = results.open_dataset("update_ratio").dims();
    const hsize_t per_epoch = e * kRatioBins;
    ratio_layers_ = d.size() == 2 && per_epoch > 0 && d[1] % per_epoch == 0 && d[1] > 0
                        ? static_cast<int>(d[1] / per_epoch) : 1;
    update_ratio_ = open_checked(results, "update_ratio",
                                 {n, e * static_cast<hsize_t>(ratio_layers_) * kRatioBins});
  }
  if (file_.root().exists("weights")) {
    h5::Group w = file_.root().open_group("weights");
    weights_ = w.open_dataset("params");
    const std::vector<hsize_t> d = weights_.dims();
    if (d.size() != 2 || d[1] == 0) throw h5::Error("/weights/params is not [N, slots]");
    weights_ = open_checked(w, "params", {n, d[1]});
    weight_count_ = open_checked(w, "count", {n});
    weight_slots_ = static_cast<std::int64_t>(d[1]);
  }
}

// fdatasync on a helper thread: sync() asks for one more and returns; the thread coalesces
// requests that arrive while it is busy (one fdatasync covers every row written before it).
struct ResultsFile::Syncer {
  explicit Syncer(const std::string& path) : path_(path) {
    fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0)
      throw std::runtime_error("open(" + path + ") for fdatasync: " + std::strerror(errno));
    thread_ = std::thread([this] { loop(); });
  }
  ~Syncer() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    thread_.join();
    ::close(fd_);
  }
  void request() {
    std::lock_guard<std::mutex> lock(mutex_);
    rethrow_locked();
    ++requested_;
    wake_.notify_all();
  }
  void wait() {
    std::unique_lock<std::mutex> lock(mutex_);
    done_cv_.wait(lock, [this] { return completed_ >= requested_ || !error_.empty(); });
    rethrow_locked();
  }

 private:
  void rethrow_locked() {
    if (!error_.empty()) throw std::runtime_error(error_);
  }
  void loop() {
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
      wake_.wait(lock, [this] { return stopping_ || requested_ > completed_; });
      if (requested_ == completed_ && stopping_) return;
      const std::uint64_t target = requested_;
      lock.unlock();
      // EINVAL: the file system has nothing to sync (e.g. tmpfs).
      const bool failed = ::fdatasync(fd_) != 0 && errno != EINVAL;
      const std::string why = failed ? std::strerror(errno) : "";
      lock.lock();
      if (failed && error_.empty()) error_ = "fdatasync(" + path_ + "): " + why;
      completed_ = target;
      done_cv_.notify_all();
    }
  }

  std::string path_;
  int fd_ = -1;
  std::mutex mutex_;
  std::condition_variable wake_, done_cv_;
  std::uint64_t requested_ = 0, completed_ = 0;
  bool stopping_ = false;
  std::string error_;
  std::thread thread_;
};

ResultsFile::ResultsFile() = default;
ResultsFile::ResultsFile(ResultsFile&&) noexcept = default;
ResultsFile& ResultsFile::operator=(ResultsFile&&) noexcept = default;
ResultsFile::~ResultsFile() = default;

std::string ResultsFile::spec_sha256() const {
  if (!sha256_.empty()) return sha256_;
  try {
    return root().read_attr_string("spec_sha256");
  } catch (const h5::Error& e) {
    damaged(file_.path(), e.what());
  }
}

std::vector<double> ResultsFile::read_run_metric(const std::string& name) const {
  try {
    return file_.root().open_group("results").open_dataset(name).read_all<double>();
  } catch (const h5::Error& e) {
    damaged(file_.path(), e.what());
  }
}

std::vector<LayerRatios> ResultsFile::read_update_ratio() const {
  std::vector<LayerRatios> out(static_cast<std::size_t>(n_));
  if (update_ratio_.id() == H5I_INVALID_HID) return out;
  std::vector<std::uint64_t> all;
  try {
    all = update_ratio_.read_all<std::uint64_t>();  // [N, max_epochs, layers, bins]
  } catch (const h5::Error& e) {
    damaged(file_.path(), e.what());
  }
  const std::size_t e = static_cast<std::size_t>(max_epochs_);
  const std::size_t L = static_cast<std::size_t>(ratio_layers_), row = L * kRatioBins;
  for (std::size_t i = 0; i < out.size(); ++i)
    for (std::size_t k = e; k-- > 0;) {  // the last epoch with a histogram
      const auto first = all.begin() + static_cast<std::ptrdiff_t>((i * e + k) * row);
      if (std::all_of(first, first + static_cast<std::ptrdiff_t>(row),
                      [](std::uint64_t c) { return c == 0; }))
        continue;
      out[i].assign(L, RatioHistogram{});
      for (std::size_t l = 0; l < L; ++l)
        std::copy(first + static_cast<std::ptrdiff_t>(l * kRatioBins),
                  first + static_cast<std::ptrdiff_t>((l + 1) * kRatioBins), out[i][l].begin());
      break;
    }
  return out;
}

void ResultsFile::write_search(const std::vector<SearchRow>& rows) {
  h5::Group g = file_.root().open_group("search");
  const hsize_t n = rows.size();
  if (n == 0) return;
  auto column = [&](const char* name, auto value_of) {
    using T = decltype(value_of(rows[0]));
    std::vector<T> v(rows.size());  // [settings]
    for (std::size_t i = 0; i < rows.size(); ++i) v[i] = value_of(rows[i]);
    g.open_dataset(name).write_rows(0, n, v.data());
  };
  column("critical", [](const SearchRow& r) { return std::int32_t{r.critical}; });
  column("points_run", [](const SearchRow& r) { return std::int64_t{r.points_run}; });
  column("predicted", [](const SearchRow& r) { return std::int32_t{r.predicted}; });
  column("non_monotone", [](const SearchRow& r) { return std::int8_t{r.non_monotone}; });
  column("done", [](const SearchRow& r) { return std::int8_t{r.done}; });
}

std::vector<std::int8_t> ResultsFile::read_status() const {
  std::vector<std::int8_t> s;
  try {
    s = status_.read_all<std::int8_t>();
  } catch (const h5::Error& e) {
    damaged(file_.path(), e.what());
  }
  for (std::size_t i = 0; i < s.size(); ++i)
    if (s[i] < 0 || s[i] > 3)
      damaged(file_.path(), "/results/status of point " + std::to_string(i) + " is " +
                                std::to_string(s[i]) + " (0 pending, 1 done, 2 diverged, 3 failed)");
  return s;
}

void ResultsFile::write_point(std::int64_t id, const RunResult& result, int rank) {
  if (id < 0 || id >= n_) throw std::out_of_range("write_point: id " + std::to_string(id));
  const hsize_t row = static_cast<hsize_t>(id);
  const std::size_t e = static_cast<std::size_t>(max_epochs_);
  const std::size_t run = std::min(result.epochs.size(), e);
  std::vector<double> values(e);  // [max_epochs], NaN past the epochs run
  for (std::size_t m = 0; m < per_epoch_.size(); ++m) {
    std::fill(values.begin(), values.end(), kNaN);
    for (std::size_t k = 0; k < run; ++k) values[k] = epoch_metrics()[m].of_epoch(result.epochs[k]);
    if (e > 0 && per_epoch_[m].id() != H5I_INVALID_HID) per_epoch_[m].write_rows(row, 1, values.data());
  }
  for (std::size_t m = 0; m < per_run_.size(); ++m) {
    const double v = run_metrics()[m].of_run(result);
    per_run_[m].write_rows(row, 1, &v);
  }
  if (update_ratio_.id() != H5I_INVALID_HID && e > 0) {
    const std::size_t L = static_cast<std::size_t>(ratio_layers_);
    std::vector<std::uint64_t> h(e * L * kRatioBins, 0);  // [max_epochs, layers, bins]
    for (std::size_t k = 0; k < run; ++k) {
      const LayerRatios& r = result.epochs[k].update_ratio;
      for (std::size_t l = 0; l < std::min(L, r.size()); ++l)
        std::copy(r[l].begin(), r[l].end(),
                  h.begin() + static_cast<std::ptrdiff_t>((k * L + l) * kRatioBins));
    }
    update_ratio_.write_rows(row, 1, h.data());
  }
  const std::int32_t r = rank;
  rank_.write_rows(row, 1, &r);
  message_.write_strings(row, {result.message});
  if (weight_slots_ > 0) {
    std::vector<float> w(static_cast<std::size_t>(weight_slots_),
                         std::numeric_limits<float>::quiet_NaN());  // [slots]
    const std::size_t count = std::min(result.params.size(), w.size());
    std::copy_n(result.params.begin(), count, w.begin());
    weights_.write_rows(row, 1, w.data());
    const std::int64_t c = static_cast<std::int64_t>(count);
    weight_count_.write_rows(row, 1, &c);
  }
  // Status last: a row whose status says done/diverged/failed is complete.
  const std::int8_t status = static_cast<std::int8_t>(result.status);
  status_.write_rows(row, 1, &status);
}

void ResultsFile::sync() {
  // fdatasync flushes the file's dirty pages whichever descriptor wrote them (MPI-IO wrote
  // through its own).
  if (!syncer_) syncer_ = std::make_unique<Syncer>(file_.path());
  syncer_->request();
}

void ResultsFile::wait_synced() {
  if (syncer_) syncer_->wait();
}

void ResultsFile::record_run(const RunInfo& info) {
  h5::Group& root = file_.root();
  root.write_attr("created_by", info.created_by);
  root.write_attr("mpi_size", std::int64_t{info.mpi_size});
  root.write_attr("threads", std::int64_t{info.threads});
  root.write_attr("hostnames", info.hostnames.empty() ? std::vector<std::string>{""}
                                                      : info.hostnames);
  root.write_attr("last_start_time", info.start_time);
  std::int64_t runs = root.has_attr("runs") ? root.read_attr_int("runs") : 0;
  root.write_attr("runs", runs + 1);
}

void ResultsFile::finish(const std::string& end_time) {
  wait_synced();
  syncer_.reset();
  file_.root().write_attr("end_time", end_time);
  // Every dataset handle closed before the file (the MPI-IO driver refuses to close a file with
  // open objects).
  for (h5::Dataset* d : {&status_, &rank_, &message_, &weights_, &weight_count_, &update_ratio_})
    *d = h5::Dataset();
  per_epoch_.clear();
  per_run_.clear();
  file_.flush();
  file_.close();
}

void write_single_run(const std::filesystem::path& path, const TrainConfig& config,
                      const std::string& dataset, const RunResult& result) {
  if (std::filesystem::exists(path))
    throw InputError("--out " + path.string() + ": file exists (not overwritten)");
  SweepSpec spec;
  spec.name = "train";
  spec.text = "";
  spec.sha256 = sha256_hex(spec.text);
  spec.dataset = dataset;
  Point p;
  p.id = 0;
  p.config = config;
  p.dataset = dataset;
  spec.points.push_back(p);
  spec.grid_points = 1;
  RunInfo info;
  info.created_by = "train";
  info.threads = config.threads;
  char host[256] = "";
  ::gethostname(host, sizeof host - 1);
  info.hostnames = {host};
  info.start_time = iso8601_utc_now();
  // Room first: HDF5 crashes at exit after a close that failed for want of space.
  check_free_space(path, ResultsFile::estimated_bytes(spec));
  try {
    ResultsFile r = ResultsFile::create(path, spec, info, h5::Access::serial(), true);
    try {
      r.write_point(0, result, 0);
      r.finish(iso8601_utc_now());
    } catch (...) {
      const int ignored_rc = ::truncate(path.c_str(), 0);  // room for the close (see create)
      (void)ignored_rc;
      r = ResultsFile();
      std::error_code ignored;
      std::filesystem::remove(path, ignored);  // no partial output
      throw;
    }
  } catch (const h5::Error& e) {
    const std::string text = io_failure_text(path, e);
    if (text == e.what()) throw;
    throw h5::DiskFull(text);
  }
}

}  // namespace precsweep
