// Shared by the fuzz targets: a per-process scratch folder for targets whose code under test reads
// a file, and the exception contract a target checks. Every target defines only
// LLVMFuzzerTestOneInput, so the same source runs under libFuzzer (build-sanitize, clang) and under
// replay_main.cpp (any build, the regression replay test).
// Deliberately leaves out: corpus handling (libFuzzer or replay_main.cpp do that).
#pragma once
#include <stdlib.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <string>

#include "precsweep/error.hpp"

namespace precsweep::fuzz {

// A folder of its own for this process (mkdtemp), removed at exit.
inline const std::filesystem::path& scratch_dir() {
  static const std::filesystem::path dir = [] {
    std::string tmpl = (std::filesystem::temp_directory_path() / "precsweep_fuzz_XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) std::abort();
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(scratch_dir(), ec);
    });
    return std::filesystem::path(tmpl);
  }();
  return dir;
}

// Writes the input to scratch_dir()/name (replacing it) and returns the path.
inline std::filesystem::path write_input(const std::string& name, const std::uint8_t* data,
                                         std::size_t size) {
  std::filesystem::path p = scratch_dir() / name;
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  if (!out) std::abort();
  return p;
}

// A contract violation that is not a memory error: print it and abort, so libFuzzer (and the
// replay test) report the input.
[[noreturn]] inline void violation(const char* target, const std::string& what) {
  std::fprintf(stderr, "fuzz_%s: contract violated: %s\n", target, what.c_str());
  std::abort();
}

// Runs f(). Bad input must come back as InputError (the CLI's exit 2); any other exception
// would be exit 1 ("internal error") for a user's typo, which the developers' guide forbids.
template <class F>
void only_input_errors(const char* target, F&& f) {
  try {
    f();
  } catch (const InputError&) {
  } catch (const std::exception& e) {
    violation(target, std::string("non-input exception: ") + e.what());
  }
}

}  // namespace precsweep::fuzz
