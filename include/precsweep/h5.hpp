// A thin HighFive-style layer over the HDF5 C API (1.10): one RAII owner per HDF5 handle kind
// (file, group, dataset, dataspace, property list, attribute, datatype), every C call wrapped
// once and checked, failures thrown as h5::Error carrying HDF5's own error stack as text.
// Files open serially (sec2 driver) or in parallel over MPI-IO (H5Pset_fapl_mpio).
//
// Parallel rules this layer leaves to the caller (see docs/results-format.md): creating files,
// groups, datasets and attributes, writing attributes, flushing and closing are collective;
// writing raw data into an existing fixed-size dataset is independent (the default transfer).
// Variable-length data cannot be written through MPI-IO in HDF5 1.10, so every string in a
// dataset is fixed-length UTF-8, null-padded (h5py: `.asstr()[:]`, numpy: `.astype(str)`).
// String attributes are fixed-length too (h5py reads bytes): HDF5 1.10 follows a stored
// variable-length reference without checking it, so a damaged file could crash a reader.
// Reading checks shapes, sizes and types before anything is allocated or read, and reads
// variable-length attributes (older files, other tools) in a child process.
// Deliberately leaves out: chunking, compression, extendible datasets, compound types, links —
// the results file needs none of them.
#pragma once
#include <hdf5.h>

#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace precsweep::h5 {

// An HDF5 call failed; what() holds the call, the object and HDF5's error stack.
struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};
// A write failed because the file system is full (ENOSPC) or over quota (EDQUOT); what() is one
// short line without HDF5's stack.
struct DiskFull : Error {
  using Error::Error;
};

// Owner of one HDF5 identifier, released with `Close` (H5Fclose, H5Dclose, ...).
template <herr_t (*Close)(hid_t)>
class Handle {
 public:
  Handle() = default;
  explicit Handle(hid_t id) : id_(id) {}
  ~Handle() { reset(); }
  Handle(Handle&& o) noexcept : id_(std::exchange(o.id_, H5I_INVALID_HID)) {}
  Handle& operator=(Handle&& o) noexcept {
    if (this != &o) {
      reset();
      id_ = std::exchange(o.id_, H5I_INVALID_HID);
    }
    return *this;
  }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;

  hid_t id() const { return id_; }
  explicit operator bool() const { return id_ >= 0; }
  // Closes now; errors on close are swallowed here (use File::close() to see them).
  void reset() {
    if (id_ >= 0) Close(id_);
    id_ = H5I_INVALID_HID;
  }
  hid_t release() { return std::exchange(id_, H5I_INVALID_HID); }

 private:
  hid_t id_ = H5I_INVALID_HID;
};

using Dataspace = Handle<H5Sclose>;
using PropList = Handle<H5Pclose>;
using Attribute = Handle<H5Aclose>;
using Datatype = Handle<H5Tclose>;

// True if `e` is an HDF5 failure to write to the file (DiskFull, or a stack with a write error).
bool is_write_failure(const std::exception& e);

// Throws Error with HDF5's error stack if `status` < 0; `what` names the call and its object.
herr_t check(herr_t status, const std::string& what);
hid_t check_id(hid_t id, const std::string& what);
// The current HDF5 error stack as one line " [#0 func: desc (major: minor); #1 ...]", then
// cleared (empty if the stack is empty).
std::string error_stack_text();
// Turns off HDF5's automatic stack printing (we put the stack into exceptions instead).
void silence_automatic_errors();

// Element types stored in the results file.
enum class Type : std::uint8_t { i8, i32, i64, u64, f32, f64, string };

// File type handle for `type` (`string_len` bytes for Type::string, at least 1).
Datatype make_type(Type type, std::size_t string_len = 1);

// Native C++ type -> Type (compile-time).
template <class T> constexpr Type type_of();
template <> constexpr Type type_of<std::int8_t>() { return Type::i8; }
template <> constexpr Type type_of<std::int32_t>() { return Type::i32; }
template <> constexpr Type type_of<std::int64_t>() { return Type::i64; }
template <> constexpr Type type_of<std::uint64_t>() { return Type::u64; }
template <> constexpr Type type_of<float>() { return Type::f32; }
template <> constexpr Type type_of<double>() { return Type::f64; }

// A fixed-size dataset with at most 2 dimensions [rows] or [rows, cols].
class Dataset {
 public:
  Dataset() = default;
  Dataset(Handle<H5Dclose> h, std::string path);

  hid_t id() const { return h_.id(); }
  const std::string& path() const { return path_; }
  std::vector<hsize_t> dims() const;
  // read_all/read_strings first check that the stored bytes match shape x element size and
  // fit in the file (h5::Error otherwise), so a damaged header cannot make them allocate.
  Type type() const;               // element class (integers by size and sign)
  std::size_t string_size() const; // bytes per element of a string dataset

  // Writes rows [first, first + count) from `data` ([count, cols] row-major), independently.
  template <class T> void write_rows(hsize_t first, hsize_t count, const T* data) {
    write_rows_raw(first, count, data, type_of<T>());
  }
  // Writes strings into rows [first, first + values.size()) of a 1-D string dataset; each is
  // truncated to the dataset's string size.
  void write_strings(hsize_t first, const std::vector<std::string>& values);

  // Whole dataset, row-major.
  template <class T> std::vector<T> read_all() const {
    std::vector<T> out(element_count());
    read_raw(out.data(), type_of<T>());
    return out;
  }
  std::vector<std::string> read_strings() const;  // 1-D string dataset, padding stripped

 private:
  void write_rows_raw(hsize_t first, hsize_t count, const void* data, Type mem);
  void read_raw(void* data, Type mem) const;
  std::size_t element_count() const;

  Handle<H5Dclose> h_;
  std::string path_;
};

// A group (the file's root group included) that creates and opens datasets and attributes.
class Group {
 public:
  Group() = default;
  Group(Handle<H5Gclose> h, std::string path);

  hid_t id() const { return h_.id(); }
  const std::string& path() const { return path_; }

  Group create_group(const std::string& name);
  Group open_group(const std::string& name) const;
  bool exists(const std::string& name) const;  // link `name` exists in this group

  // Collective in parallel. Contiguous layout, space allocated and filled with `fill` (of the
  // dataset's type; null: HDF5's zero fill) at creation, so later row writes touch no metadata.
  Dataset create_dataset(const std::string& name, Type type, const std::vector<hsize_t>& dims,
                         const void* fill = nullptr, std::size_t string_len = 1);
  Dataset open_dataset(const std::string& name) const;

  // Attributes on this group; writing replaces an existing attribute of that name.
  // Collective in parallel (every rank passes the same value).
  // Strings: fixed-length (the longest value), scalar or 1-D; at most 64 KiB in all.
  void write_attr(const std::string& name, const std::string& value);
  void write_attr(const std::string& name, const std::vector<std::string>& values);
  // A variable-length string, for text that may not fit in 64 KiB (the spec); readers that
  // must not fail on a damaged file should not depend on it.
  void write_attr_long_text(const std::string& name, const std::string& value);
  void write_attr(const std::string& name, std::int64_t value);
  void write_attr(const std::string& name, double value);
  bool has_attr(const std::string& name) const;
  // Decodes every attribute's header message (not its value): h5::Error if any is damaged,
  // so that a later H5Aexists/H5Acreate/H5Adelete (which walk them all) cannot fail.
  void check_attributes() const;
  // Readers check the attribute's class, size and shape first (h5::Error if they disagree);
  // numbers must be one value, strings may be fixed- or variable-length.
  std::string read_attr_string(const std::string& name) const;
  std::vector<std::string> read_attr_strings(const std::string& name) const;
  std::int64_t read_attr_int(const std::string& name) const;
  double read_attr_double(const std::string& name) const;

 private:
  Attribute create_attr(const std::string& name, hid_t type, hid_t space);

  Handle<H5Gclose> h_;
  std::string path_;
};

// How a file is opened: serially, or by every rank of `comm` through MPI-IO.
struct Access {
  bool parallel = false;
  MPI_Comm comm = MPI_COMM_NULL;
  static Access serial() { return {}; }
  static Access mpio(MPI_Comm c) { return {true, c}; }
};

class File {
 public:
  // Creates a new file; fails (Error) if it exists. Collective when parallel.
  static File create(const std::filesystem::path& path, Access access);
  // Opens an existing file. Collective when parallel.
  static File open(const std::filesystem::path& path, bool writable, Access access);
  // True if `path` is an HDF5 file that HDF5 can open (signature found).
  static bool is_hdf5(const std::filesystem::path& path);
  // Decodes every object header and attribute of `path` in a forked child (libhdf5 crashes on
  // some damaged headers); throws Error if that crashed, failed or hung. Serial use only.
  static void check_headers(const std::filesystem::path& path);

  File() = default;
  File(File&&) noexcept = default;
  File& operator=(File&&) noexcept = default;
  ~File();

  Group& root() { return root_; }
  const Group& root() const { return root_; }
  const std::string& path() const { return path_; }
  bool parallel() const { return parallel_; }

  void flush();  // H5Fflush(global); collective when parallel
  void close();  // collective when parallel; throws on failure (the destructor does not)

 private:
  Handle<H5Fclose> h_;
  Group root_;
  std::string path_;
  bool parallel_ = false;
};

}  // namespace precsweep::h5
