// Fuzz target: the IDX reader. The input is read three ways: as a raw file, as a file named .gz
// holding the same bytes (not gzip data: zlib's handling of that), and gzip-compressed under a
// .gz name, so the header and length checks are fuzzed on both the raw and the gunzip path. A
// bad file must be an InputError; an accepted one must hold exactly product(dims) bytes.
// Deliberately leaves out: writing (write_idx is only used by tests and the seed generator).
#include <zlib.h>

#include <functional>
#include <numeric>

#include "fuzz_support.hpp"
#include "precsweep/error.hpp"
#include "precsweep/idx.hpp"

namespace {

void read_and_check(const std::filesystem::path& path) {
  using namespace precsweep;
  fuzz::only_input_errors("idx", [&] {
    const IdxArray a = read_idx(path);
    const std::uint64_t count = std::accumulate(a.dims.begin(), a.dims.end(), std::uint64_t{1},
                                                std::multiplies<>());
    if (a.dims.empty() || count != a.data.size())
      fuzz::violation("idx", "accepted array whose size does not match its dimensions");
  });
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace precsweep;
  read_and_check(fuzz::write_input("in.idx", data, size));
  read_and_check(fuzz::write_input("raw.idx.gz", data, size));
  const auto gz = fuzz::scratch_dir() / "in.idx.gz";
  gzFile f = gzopen(gz.c_str(), "wb1");
  if (!f) std::abort();
  if (size > 0 && gzwrite(f, data, static_cast<unsigned>(size)) != static_cast<int>(size)) std::abort();
  if (gzclose(f) != Z_OK) std::abort();
  read_and_check(gz);
  return 0;
}
