// Internal to src/h5.cpp: running a libhdf5 read in a forked child, for reads that a damaged file
// can turn into a crash inside libhdf5 1.10 (it decodes object headers and follows heap
// references without checking lengths). The parent survives and reports the damage.
// Deliberately leaves out: any MPI (the child must not touch MPI-IO; callers read serially).
#pragma once
#include <functional>
#include <string>

namespace precsweep::h5::detail {

// What came back from a child: `finished` is false when it crashed, failed (nonzero exit, which
// includes a sanitizer's report), spun over 2 s of CPU, was killed after 60 s, or sent over
// 64 MiB; `output` is everything it wrote to its pipe; `how` says what went wrong ("crashed
// (signal 11)", ...).
struct ChildOutcome {
  bool finished = false;
  std::string output;
  std::string how;
};

// Forks; the child silences stdout/stderr, restores default crash handlers, caps its address
// space at what it maps now plus 256 MiB and its CPU time at 2 s, runs body(fd) (which writes
// its answer to fd), and exits 0. The parent collects the answer and reaps the child.
ChildOutcome run_in_child(const std::function<void(int fd)>& body);

// write(2) until all of `data` is written; false on error.
bool write_all(int fd, const void* data, std::size_t n);

}  // namespace precsweep::h5::detail
