// HDF5 C API wrappers: each call made once here, checked, and turned into h5::Error with the
// library's error stack (walked with H5Ewalk2) in the message.
// Deliberately leaves out: anything the results file does not use (see h5.hpp).
#include "precsweep/h5.hpp"

#include "h5_child.hpp"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <limits>
#include <cstring>
#include <mutex>

namespace precsweep::h5 {

namespace {

herr_t append_frame(unsigned n, const H5E_error2_t* err, void* client) {
  auto* text = static_cast<std::string*>(client);
  char major[128] = "";
  char minor[128] = "";
  H5Eget_msg(err->maj_num, nullptr, major, sizeof major);
  H5Eget_msg(err->min_num, nullptr, minor, sizeof minor);
  // Built with append(): GCC 12 reports a false -Wrestrict on `"lit" + std::string&&`.
  std::string frame("#");
  frame.append(std::to_string(n)).append(" ").append(err->func_name ? err->func_name : "?");
  frame.append(": ").append(err->desc ? err->desc : "").append(" (").append(major);
  frame.append(": ").append(minor).append(")");
  for (char& c : frame)
    if (c == '\n') c = ' ';  // HDF5 puts ctime() text (with its newline) in some frames
  *text += (text->empty() ? " [" : "; ") + frame;
  return 0;
}

hid_t native(Type t) {
  switch (t) {
    case Type::i8: return H5T_NATIVE_INT8;
    case Type::i32: return H5T_NATIVE_INT32;
    case Type::i64: return H5T_NATIVE_INT64;
    case Type::u64: return H5T_NATIVE_UINT64;
    case Type::f32: return H5T_NATIVE_FLOAT;
    case Type::f64: return H5T_NATIVE_DOUBLE;
    case Type::string: break;
  }
  throw Error("h5: no native type for a string element");
}

// Fixed-length UTF-8 string type of `len` bytes, null padded.
Datatype string_type(std::size_t len) {
  Datatype t(check_id(H5Tcopy(H5T_C_S1), "H5Tcopy(C_S1)"));
  check(H5Tset_size(t.id(), std::max<std::size_t>(len, 1)), "H5Tset_size");
  check(H5Tset_strpad(t.id(), H5T_STR_NULLPAD), "H5Tset_strpad");
  check(H5Tset_cset(t.id(), H5T_CSET_UTF8), "H5Tset_cset");
  return t;
}

// Variable-length UTF-8 (h5py reads it as str): only for the one attribute that may outgrow an
// object-header message (Group::write_attr_long_text) and for reading older files.
Datatype vlen_string_type() {
  Datatype t(check_id(H5Tcopy(H5T_C_S1), "H5Tcopy(C_S1)"));
  check(H5Tset_size(t.id(), H5T_VARIABLE), "H5Tset_size(variable)");
  check(H5Tset_cset(t.id(), H5T_CSET_UTF8), "H5Tset_cset");
  return t;
}

// Strings packed into [n, len] bytes, truncated and null padded.
std::vector<char> pack(const std::vector<std::string>& values, std::size_t len) {
  std::vector<char> buf(values.size() * len, '\0');  // [n, len]
  for (std::size_t i = 0; i < values.size(); ++i)
    std::memcpy(buf.data() + i * len, values[i].data(), std::min(len, values[i].size()));
  return buf;
}

std::vector<std::string> unpack(const std::vector<char>& buf, std::size_t len) {
  std::vector<std::string> out;
  for (std::size_t off = 0; off + len <= buf.size(); off += len) {
    std::size_t n = 0;
    while (n < len && buf[off + n] != '\0') ++n;
    out.emplace_back(buf.data() + off, n);
  }
  return out;
}

// Largest value an attribute can hold: attributes live in object-header messages of at most
// 64 KiB (the file format this layer writes), so any larger claim is damage.
constexpr hsize_t kMaxAttrBytes = 65536;

// The child's side of read_vlen_strings_isolated: each string as an 8-byte length and its
// bytes. Exits nonzero if the read fails.
void send_vlen_strings(hid_t attr, std::size_t n, int fd) {
  std::vector<char*> ptrs(n, nullptr);
  Datatype mt = vlen_string_type();
  Datatype ft(H5Aget_type(attr));
  if (ft.id() < 0 || H5Tset_cset(mt.id(), H5Tget_cset(ft.id())) < 0 ||
      H5Aread(attr, mt.id(), ptrs.data()) < 0)
    ::_exit(3);
  for (const char* p : ptrs) {
    const std::uint64_t len = p ? std::strlen(p) : 0;
    if (!detail::write_all(fd, &len, sizeof len) || !detail::write_all(fd, p, len)) ::_exit(4);
  }
}

// The child's records (8-byte length, bytes) back into exactly `n` strings; false otherwise.
bool decode_child_output(const std::string& data, std::size_t n, std::vector<std::string>& out) {
  std::size_t off = 0;
  while (out.size() < n && off + 8 <= data.size()) {
    std::uint64_t len = 0;
    std::memcpy(&len, data.data() + off, 8);
    off += 8;
    if (len > data.size() - off) return false;
    out.emplace_back(data.data() + off, len);
    off += len;
  }
  return out.size() == n && off == data.size();
}

// HDF5 1.10 follows a variable-length string's global-heap reference without checking the
// stored length against the heap object, so a damaged file can crash the reading process: the
// values are read by a forked child (h5_child.hpp). (Files this layer writes now hold
// fixed-length attributes; this path serves older files.)
std::vector<std::string> read_vlen_strings_isolated(hid_t attr, const std::string& what,
                                                    std::size_t n) {
  const detail::ChildOutcome child =
      detail::run_in_child([&](int fd) { send_vlen_strings(attr, n, fd); });
  std::vector<std::string> out;
  if (!child.finished || !decode_child_output(child.output, n, out))
    throw Error("h5: attribute " + what + " (variable-length strings) is damaged: reading it " +
                (child.how.empty() ? std::string("failed") : child.how));
  return out;
}

void init_library() {
  static std::once_flag once;
  std::call_once(once, [] { silence_automatic_errors(); });
}

}  // namespace

std::string error_stack_text() {
  std::string text;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, append_frame, &text);
  H5Eclear2(H5E_DEFAULT);
  return text.empty() ? text : text + "]";
}

void silence_automatic_errors() { H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); }

// A failed call's exception; a full disk (or quota) noticed by errno is named as such in one
// short line (the MPI-IO driver's short writes often leave errno alone: see is_write_failure).
[[noreturn]] static void throw_failure(const std::string& what, int err) {
  std::string stack = error_stack_text();
  const bool write_failed = stack.find("Write failed") != std::string::npos;
  if (write_failed && (err == ENOSPC || err == EDQUOT))
    throw DiskFull("no space left on device (HDF5: " + what + " failed)");
  throw Error("HDF5: " + what + " failed" + stack);
}

bool is_write_failure(const std::exception& e) {
  if (dynamic_cast<const DiskFull*>(&e) != nullptr) return true;
  return dynamic_cast<const Error*>(&e) != nullptr &&
         std::string(e.what()).find("Write failed") != std::string::npos;
}

herr_t check(herr_t status, const std::string& what) {
  if (status < 0) throw_failure(what, errno);
  return status;
}

hid_t check_id(hid_t id, const std::string& what) {
  if (id < 0) throw_failure(what, errno);
  return id;
}

Datatype make_type(Type type, std::size_t string_len) {
  if (type == Type::string) return string_type(string_len);
  return Datatype(check_id(H5Tcopy(native(type)), "H5Tcopy"));
}

// ---- Dataset -------------------------------------------------------------------------------

Dataset::Dataset(Handle<H5Dclose> h, std::string path) : h_(std::move(h)), path_(std::move(path)) {}

std::vector<hsize_t> Dataset::dims() const {
  Dataspace space(check_id(H5Dget_space(id()), "H5Dget_space(" + path_ + ")"));
  int rank = check(H5Sget_simple_extent_ndims(space.id()), "H5Sget_simple_extent_ndims");
  std::vector<hsize_t> d(static_cast<std::size_t>(rank));
  check(H5Sget_simple_extent_dims(space.id(), d.data(), nullptr), "H5Sget_simple_extent_dims");
  return d;
}

// Checks, before anything is allocated for a read, that the stored bytes are exactly shape x
// element size and fit in the file: every dataset here is contiguous and allocated at
// creation, so a mismatch means a damaged header (which could claim any shape or size).
std::size_t Dataset::element_count() const {
  constexpr std::size_t kMax = std::numeric_limits<std::size_t>::max();
  std::size_t n = 1;
  for (hsize_t d : dims()) {
    if (d != 0 && n > kMax / d) throw Error("h5: dataset " + path_ + " claims an impossible shape");
    n *= static_cast<std::size_t>(d);
  }
  if (n == 0) return 0;
  Datatype t(check_id(H5Dget_type(id()), "H5Dget_type(" + path_ + ")"));
  const std::size_t elem = H5Tget_size(t.id());
  if (elem == 0 || n > kMax / elem)
    throw Error("h5: dataset " + path_ + " claims an impossible element size");
  const hsize_t bytes = static_cast<hsize_t>(n) * elem;
  const hsize_t stored = H5Dget_storage_size(id());
  // The size on disk (H5Fget_filesize fails under the MPI-IO driver).
  char name[4096] = "";
  check(static_cast<herr_t>(H5Fget_name(id(), name, sizeof name)), "H5Fget_name(" + path_ + ")");
  std::error_code ec;
  const hsize_t file_size = std::filesystem::file_size(name, ec);
  if (ec) throw Error("h5: size of " + std::string(name) + ": " + ec.message());
  if (stored != bytes || bytes > file_size)
    throw Error("h5: dataset " + path_ + " stores " + std::to_string(stored) + " bytes; its shape " +
                "and type need " + std::to_string(bytes) + " (file size " +
                std::to_string(file_size) + ")");
  return n;
}

Type Dataset::type() const {
  Datatype t(check_id(H5Dget_type(id()), "H5Dget_type(" + path_ + ")"));
  H5T_class_t cls = H5Tget_class(t.id());
  std::size_t size = H5Tget_size(t.id());
  if (cls == H5T_STRING) return Type::string;
  if (cls == H5T_FLOAT) return size == 4 ? Type::f32 : Type::f64;
  if (cls == H5T_INTEGER) {
    if (H5Tget_sign(t.id()) == H5T_SGN_NONE) return Type::u64;
    return size == 1 ? Type::i8 : size == 4 ? Type::i32 : Type::i64;
  }
  throw Error("h5: dataset " + path_ + " has an unsupported element type");
}

std::size_t Dataset::string_size() const {
  Datatype t(check_id(H5Dget_type(id()), "H5Dget_type(" + path_ + ")"));
  if (H5Tget_class(t.id()) != H5T_STRING) throw Error("h5: " + path_ + " is not a string dataset");
  if (H5Tis_variable_str(t.id()) > 0)
    throw Error("h5: " + path_ + " holds variable-length strings (expected fixed-length)");
  return H5Tget_size(t.id());
}

void Dataset::write_rows_raw(hsize_t first, hsize_t count, const void* data, Type mem) {
  if (count == 0) return;
  std::vector<hsize_t> d = dims();
  if (d.empty() || first + count > d[0])
    throw Error("h5: rows [" + std::to_string(first) + ", " + std::to_string(first + count) +
                ") out of range for " + path_);
  std::vector<hsize_t> start(d.size(), 0), extent = d;
  start[0] = first;
  extent[0] = count;
  Dataspace file_space(check_id(H5Dget_space(id()), "H5Dget_space(" + path_ + ")"));
  check(H5Sselect_hyperslab(file_space.id(), H5S_SELECT_SET, start.data(), nullptr,
                            extent.data(), nullptr),
        "H5Sselect_hyperslab(" + path_ + ")");
  Dataspace mem_space(check_id(H5Screate_simple(static_cast<int>(extent.size()), extent.data(),
                                                nullptr),
                               "H5Screate_simple"));
  Datatype mem_type;
  hid_t mt;
  if (mem == Type::string) {
    mem_type = string_type(string_size());
    mt = mem_type.id();
  } else {
    mt = native(mem);
  }
  check(H5Dwrite(id(), mt, mem_space.id(), file_space.id(), H5P_DEFAULT, data),
        "H5Dwrite(" + path_ + ", rows " + std::to_string(first) + "+" + std::to_string(count) +
            ")");
}

void Dataset::write_strings(hsize_t first, const std::vector<std::string>& values) {
  std::vector<char> buf = pack(values, string_size());  // [n, len]
  write_rows_raw(first, values.size(), buf.data(), Type::string);
}

void Dataset::read_raw(void* data, Type mem) const {
  if (element_count() == 0) return;
  Datatype mem_type;
  hid_t mt;
  if (mem == Type::string) {
    mem_type = string_type(string_size());
    mt = mem_type.id();
  } else {
    mt = native(mem);
  }
  check(H5Dread(id(), mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, data), "H5Dread(" + path_ + ")");
}

std::vector<std::string> Dataset::read_strings() const {
  std::size_t len = string_size();
  std::vector<char> buf(element_count() * len);  // [n, len]
  read_raw(buf.data(), Type::string);
  return unpack(buf, len);
}

// ---- Group ---------------------------------------------------------------------------------

Group::Group(Handle<H5Gclose> h, std::string path) : h_(std::move(h)), path_(std::move(path)) {}

static std::string join(const std::string& parent, const std::string& name) {
  return parent == "/" ? "/" + name : parent + "/" + name;
}

Group Group::create_group(const std::string& name) {
  std::string p = join(path_, name);
  return Group(Handle<H5Gclose>(check_id(
                   H5Gcreate2(id(), name.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
                   "H5Gcreate2(" + p + ")")),
               p);
}

Group Group::open_group(const std::string& name) const {
  std::string p = join(path_, name);
  return Group(Handle<H5Gclose>(check_id(H5Gopen2(id(), name.c_str(), H5P_DEFAULT),
                                         "H5Gopen2(" + p + ")")),
               p);
}

bool Group::exists(const std::string& name) const {
  return check(H5Lexists(id(), name.c_str(), H5P_DEFAULT), "H5Lexists(" + join(path_, name) + ")") >
         0;
}

Dataset Group::create_dataset(const std::string& name, Type type, const std::vector<hsize_t>& dims,
                              const void* fill, std::size_t string_len) {
  std::string p = join(path_, name);
  Datatype file_type = make_type(type, string_len);
  Dataspace space(check_id(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr),
                           "H5Screate_simple(" + p + ")"));
  PropList dcpl(check_id(H5Pcreate(H5P_DATASET_CREATE), "H5Pcreate(dcpl)"));
  check(H5Pset_layout(dcpl.id(), H5D_CONTIGUOUS), "H5Pset_layout(" + p + ")");
  // Early allocation + fill at allocation: every byte of the dataset exists (and holds the
  // fill value) from creation on, so later independent row writes change no metadata.
  check(H5Pset_alloc_time(dcpl.id(), H5D_ALLOC_TIME_EARLY), "H5Pset_alloc_time(" + p + ")");
  check(H5Pset_fill_time(dcpl.id(), H5D_FILL_TIME_ALLOC), "H5Pset_fill_time(" + p + ")");
  if (fill) check(H5Pset_fill_value(dcpl.id(), file_type.id(), fill), "H5Pset_fill_value(" + p + ")");
  Handle<H5Dclose> d(check_id(H5Dcreate2(id(), name.c_str(), file_type.id(), space.id(),
                                         H5P_DEFAULT, dcpl.id(), H5P_DEFAULT),
                              "H5Dcreate2(" + p + ")"));
  return Dataset(std::move(d), p);
}

Dataset Group::open_dataset(const std::string& name) const {
  std::string p = join(path_, name);
  return Dataset(Handle<H5Dclose>(check_id(H5Dopen2(id(), name.c_str(), H5P_DEFAULT),
                                           "H5Dopen2(" + p + ")")),
                 p);
}

bool Group::has_attr(const std::string& name) const {
  return check(H5Aexists(id(), name.c_str()), "H5Aexists(" + path_ + "@" + name + ")") > 0;
}

Attribute Group::create_attr(const std::string& name, hid_t type, hid_t space) {
  if (has_attr(name))
    check(H5Adelete(id(), name.c_str()), "H5Adelete(" + path_ + "@" + name + ")");
  return Attribute(check_id(H5Acreate2(id(), name.c_str(), type, space, H5P_DEFAULT, H5P_DEFAULT),
                            "H5Acreate2(" + path_ + "@" + name + ")"));
}

void Group::write_attr(const std::string& name, const std::string& value) {
  Datatype t = string_type(value.size());
  Dataspace scalar(check_id(H5Screate(H5S_SCALAR), "H5Screate(scalar)"));
  Attribute a = create_attr(name, t.id(), scalar.id());
  std::vector<char> buf = pack({value}, H5Tget_size(t.id()));
  check(H5Awrite(a.id(), t.id(), buf.data()), "H5Awrite(" + path_ + "@" + name + ")");
}

void Group::write_attr(const std::string& name, const std::vector<std::string>& values) {
  std::size_t len = 1;
  for (const auto& v : values) len = std::max(len, v.size());
  Datatype t = string_type(len);
  hsize_t n = values.size();
  Dataspace space(check_id(H5Screate_simple(1, &n, nullptr), "H5Screate_simple"));
  Attribute a = create_attr(name, t.id(), space.id());
  if (values.empty()) return;  // an empty attribute; H5Awrite refuses a null buffer
  std::vector<char> buf = pack(values, len);  // [n, len]
  check(H5Awrite(a.id(), t.id(), buf.data()), "H5Awrite(" + path_ + "@" + name + ")");
}

void Group::write_attr_long_text(const std::string& name, const std::string& value) {
  Datatype t = vlen_string_type();
  Dataspace scalar(check_id(H5Screate(H5S_SCALAR), "H5Screate(scalar)"));
  Attribute a = create_attr(name, t.id(), scalar.id());
  const char* p = value.c_str();
  check(H5Awrite(a.id(), t.id(), &p), "H5Awrite(" + path_ + "@" + name + ")");
}

void Group::write_attr(const std::string& name, std::int64_t value) {
  Dataspace scalar(check_id(H5Screate(H5S_SCALAR), "H5Screate(scalar)"));
  Attribute a = create_attr(name, H5T_NATIVE_INT64, scalar.id());
  check(H5Awrite(a.id(), H5T_NATIVE_INT64, &value), "H5Awrite(" + path_ + "@" + name + ")");
}

void Group::write_attr(const std::string& name, double value) {
  Dataspace scalar(check_id(H5Screate(H5S_SCALAR), "H5Screate(scalar)"));
  Attribute a = create_attr(name, H5T_NATIVE_DOUBLE, scalar.id());
  check(H5Awrite(a.id(), H5T_NATIVE_DOUBLE, &value), "H5Awrite(" + path_ + "@" + name + ")");
}

// Elements of an attribute's dataspace: 1 for a scalar, 0 for a null space, the product of
// the extent for a simple one (at most 1-D here).
static hssize_t attr_elements(hid_t attr, const std::string& what) {
  Dataspace space(check_id(H5Aget_space(attr), "H5Aget_space(" + what + ")"));
  const H5S_class_t cls = H5Sget_simple_extent_type(space.id());
  if (cls == H5S_SCALAR) return 1;
  if (cls == H5S_NULL) return 0;
  if (cls != H5S_SIMPLE || H5Sget_simple_extent_ndims(space.id()) > 1)
    throw Error("h5: attribute " + what + " has an unexpected shape");
  const hssize_t n = H5Sget_simple_extent_npoints(space.id());
  if (n < 0) check(-1, "H5Sget_simple_extent_npoints(" + what + ")");
  return n;
}

void Group::check_attributes() const {
  // H5Aexists of a name no attribute has decodes every attribute message on its way. Not
  // H5Aiterate2: on a damaged message HDF5 1.10 frees its half-built attribute table and can
  // crash doing so.
  const std::string none = "\x01precsweep: no such attribute";
  check(H5Aexists(id(), none.c_str()), "H5Aexists(" + path_ + ", walking every attribute)");
}

std::vector<std::string> Group::read_attr_strings(const std::string& name) const {
  std::string what = path_ + "@" + name;
  Attribute a(check_id(H5Aopen(id(), name.c_str(), H5P_DEFAULT), "H5Aopen(" + what + ")"));
  Datatype t(check_id(H5Aget_type(a.id()), "H5Aget_type(" + what + ")"));
  if (H5Tget_class(t.id()) != H5T_STRING) throw Error("h5: attribute " + what + " is not a string");
  const hssize_t n = attr_elements(a.id(), what);
  if (n == 0) return {};
  const hsize_t stored = H5Aget_storage_size(a.id());
  if (check(H5Tis_variable_str(t.id()), "H5Tis_variable_str(" + what + ")") > 0) {
    // Written by precsweep before fixed-length attributes, or by another tool (h5py's default).
    if (static_cast<hsize_t>(n) > kMaxAttrBytes / 16)
      throw Error("h5: attribute " + what + " claims " + std::to_string(n) + " strings");
    return read_vlen_strings_isolated(a.id(), what, static_cast<std::size_t>(n));
  }
  // Fixed length: the values sit in the attribute's header message, n * len bytes of it.
  const std::size_t len = H5Tget_size(t.id());
  if (len == 0 || static_cast<hsize_t>(n) > kMaxAttrBytes / len ||
      stored != static_cast<hsize_t>(n) * len)
    throw Error("h5: attribute " + what + " claims " + std::to_string(n) + " strings of " +
                std::to_string(len) + " bytes but stores " + std::to_string(stored));
  Datatype mt = string_type(len);
  std::vector<char> buf(static_cast<std::size_t>(n) * len);  // [n, len]
  check(H5Aread(a.id(), mt.id(), buf.data()), "H5Aread(" + what + ")");
  return unpack(buf, len);
}

std::string Group::read_attr_string(const std::string& name) const {
  std::vector<std::string> v = read_attr_strings(name);
  if (v.size() != 1) throw Error("h5: attribute " + path_ + "@" + name + " is not one string");
  return v[0];
}

// One number: class `want` (integer, or integer/float for a double), one element of a
// standard size, so H5Aread writes exactly one native value.
static void read_attr_number(hid_t group, const std::string& path, const std::string& name,
                             hid_t mem_type, void* out) {
  std::string what = path + "@" + name;
  Attribute a(check_id(H5Aopen(group, name.c_str(), H5P_DEFAULT), "H5Aopen(" + what + ")"));
  Datatype t(check_id(H5Aget_type(a.id()), "H5Aget_type(" + what + ")"));
  const H5T_class_t cls = H5Tget_class(t.id());
  const std::size_t size = H5Tget_size(t.id());
  const bool want_int = H5Tget_class(mem_type) == H5T_INTEGER;
  const bool ok = cls == H5T_INTEGER ? (size == 1 || size == 2 || size == 4 || size == 8)
                                     : (!want_int && cls == H5T_FLOAT && (size == 4 || size == 8));
  if (!ok) throw Error("h5: attribute " + what + " is not " + (want_int ? "an integer" : "a number"));
  if (attr_elements(a.id(), what) != 1)
    throw Error("h5: attribute " + what + " is not a single value");
  check(H5Aread(a.id(), mem_type, out), "H5Aread(" + what + ")");
}

std::int64_t Group::read_attr_int(const std::string& name) const {
  std::int64_t v = 0;
  read_attr_number(id(), path_, name, H5T_NATIVE_INT64, &v);
  return v;
}

double Group::read_attr_double(const std::string& name) const {
  double v = 0;
  read_attr_number(id(), path_, name, H5T_NATIVE_DOUBLE, &v);
  return v;
}

// ---- File ----------------------------------------------------------------------------------

static PropList file_access(Access access) {
  PropList fapl(check_id(H5Pcreate(H5P_FILE_ACCESS), "H5Pcreate(fapl)"));
  if (access.parallel)
    check(H5Pset_fapl_mpio(fapl.id(), access.comm, MPI_INFO_NULL), "H5Pset_fapl_mpio");
  // The oldest format that holds our objects: its superblock carries no "file open for write"
  // flag, so a file left by a killed job opens without h5clear.
  check(H5Pset_libver_bounds(fapl.id(), H5F_LIBVER_EARLIEST, H5F_LIBVER_V18),
        "H5Pset_libver_bounds");
  return fapl;
}

File File::create(const std::filesystem::path& path, Access access) {
  init_library();
  PropList fapl = file_access(access);
  File f;
  f.path_ = path.string();
  f.parallel_ = access.parallel;
  f.h_ = Handle<H5Fclose>(check_id(H5Fcreate(f.path_.c_str(), H5F_ACC_EXCL, H5P_DEFAULT,
                                             fapl.id()),
                                   "H5Fcreate(" + f.path_ + ")"));
  f.root_ = Group(Handle<H5Gclose>(check_id(H5Gopen2(f.h_.id(), "/", H5P_DEFAULT), "H5Gopen2(/)")),
                  "/");
  return f;
}

File File::open(const std::filesystem::path& path, bool writable, Access access) {
  init_library();
  PropList fapl = file_access(access);
  File f;
  f.path_ = path.string();
  f.parallel_ = access.parallel;
  f.h_ = Handle<H5Fclose>(check_id(H5Fopen(f.path_.c_str(),
                                           writable ? H5F_ACC_RDWR : H5F_ACC_RDONLY, fapl.id()),
                                   "H5Fopen(" + f.path_ + ")"));
  f.root_ = Group(Handle<H5Gclose>(check_id(H5Gopen2(f.h_.id(), "/", H5P_DEFAULT), "H5Gopen2(/)")),
                  "/");
  return f;
}

bool File::is_hdf5(const std::filesystem::path& path) {
  init_library();
  htri_t r = H5Fis_hdf5(path.string().c_str());
  if (r < 0) H5Eclear2(H5E_DEFAULT);
  return r > 0;
}

// ---- File::check_headers: a walk of every header, in a child -------------------------------

namespace {

// Reads one attribute whole (fixed-size values into a buffer of their stored size; strings of
// variable length through the global heap, then reclaimed). Failures are ignored: only a crash
// matters here.
herr_t read_attribute(hid_t loc, const char* name, const H5A_info_t*, void*) {
  Attribute a(H5Aopen(loc, name, H5P_DEFAULT));
  if (a.id() < 0) return 0;
  Datatype t(H5Aget_type(a.id()));
  Dataspace space(H5Aget_space(a.id()));
  const hssize_t n = t.id() < 0 || space.id() < 0 ? -1 : H5Sget_simple_extent_npoints(space.id());
  if (n <= 0 || static_cast<hsize_t>(n) > kMaxAttrBytes) return 0;
  if (H5Tis_variable_str(t.id()) > 0) {
    std::vector<char*> ptrs(static_cast<std::size_t>(n), nullptr);
    Datatype mt(H5Tcopy(t.id()));
    if (H5Aread(a.id(), mt.id(), ptrs.data()) >= 0)
      H5Dvlen_reclaim(mt.id(), space.id(), H5P_DEFAULT, ptrs.data());
    return 0;
  }
  const std::size_t size = H5Tget_size(t.id());
  if (size == 0 || static_cast<hsize_t>(n) * size > kMaxAttrBytes) return 0;
  std::vector<char> buf(static_cast<std::size_t>(n) * size);
  H5Aread(a.id(), t.id(), buf.data());
  return 0;
}

// Opens one object and decodes what a reader of it would: its attributes and, for a dataset,
// its type, shape, creation properties (layout, fill value) and storage size.
herr_t decode_object(hid_t parent, const char* name, const H5O_info_t* info, void*) {
  const hid_t obj = H5Oopen(parent, name, H5P_DEFAULT);
  if (obj < 0) return 0;
  H5Aiterate2(obj, H5_INDEX_NAME, H5_ITER_NATIVE, nullptr, read_attribute, nullptr);
  if (info->type == H5O_TYPE_DATASET) {
    Datatype t(H5Dget_type(obj));
    Dataspace space(H5Dget_space(obj));
    PropList dcpl(H5Dget_create_plist(obj));
    H5Dget_storage_size(obj);
  }
  H5Oclose(obj);
  return 0;
}

}  // namespace

// libhdf5 1.10 decodes object headers, attribute messages and heap references without checking
// their lengths against the file, so some damaged files crash it (found by fuzz/fuzz_results).
// Every header this layer could decode is therefore decoded once by a forked child first: if
// that survives, the caller's own reads of the same headers do too (the decoding is
// deterministic); if it crashes, the file is reported damaged.
void File::check_headers(const std::filesystem::path& path) {
  init_library();
  const std::string p = path.string();
  const detail::ChildOutcome child = detail::run_in_child([&](int) {
    PropList fapl = file_access(Access::serial());
    const hid_t f = H5Fopen(p.c_str(), H5F_ACC_RDONLY, fapl.id());
    if (f < 0) return;  // the caller's own open reports why
    H5Ovisit2(f, H5_INDEX_NAME, H5_ITER_NATIVE, decode_object, nullptr, H5O_INFO_BASIC);
    H5Fclose(f);
  });
  if (!child.finished)
    throw Error("h5: decoding the file's object headers " + child.how + " inside libhdf5");
}

File::~File() {
  root_ = Group();
  h_.reset();
}

void File::flush() { check(H5Fflush(h_.id(), H5F_SCOPE_GLOBAL), "H5Fflush(" + path_ + ")"); }

void File::close() {
  if (!h_) return;
  root_ = Group();
  check(H5Fclose(h_.release()), "H5Fclose(" + path_ + ")");
}

}  // namespace precsweep::h5
