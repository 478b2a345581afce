// MPI calls for precsweep (see mpi.hpp). Every MPI return code is checked; a failure throws
// std::runtime_error naming the call and MPI's error string.
// Deliberately leaves out: derived datatypes, nonblocking collectives, custom communicators.
#include "precsweep/mpi.hpp"

#include <chrono>
#include <cstring>
#include <cstdlib>
#include <stdexcept>
#include <thread>

namespace precsweep::mpi {

namespace {

void check(int rc, const char* what) {
  if (rc == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING] = "";
  int len = 0;
  MPI_Error_string(rc, text, &len);
  throw std::runtime_error(std::string("MPI: ") + what + " failed: " + std::string(text, len));
}

}  // namespace

Environment::Environment(int* argc, char*** argv) {
  if (initialized()) return;
  int provided = 0;
  check(MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
  // Errors come back as codes (and so as exceptions) instead of killing the job silently.
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  owns_ = true;
}

Environment::~Environment() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (owns_ && !finalized) MPI_Finalize();
}

bool initialized() {
  int flag = 0;
  MPI_Initialized(&flag);
  return flag != 0;
}

int rank() {
  int r = 0;
  check(MPI_Comm_rank(MPI_COMM_WORLD, &r), "MPI_Comm_rank");
  return r;
}

int size() {
  int s = 1;
  check(MPI_Comm_size(MPI_COMM_WORLD, &s), "MPI_Comm_size");
  return s;
}

MPI_Comm world() { return MPI_COMM_WORLD; }

void barrier() { check(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier"); }

void idle_barrier(double poll_seconds) {
  MPI_Request request = MPI_REQUEST_NULL;
  check(MPI_Ibarrier(MPI_COMM_WORLD, &request), "MPI_Ibarrier");
  for (;;) {
    int done = 0;
    check(MPI_Test(&request, &done, MPI_STATUS_IGNORE), "MPI_Test(barrier)");
    if (done) return;
    std::this_thread::sleep_for(std::chrono::duration<double>(poll_seconds));
  }
}

std::string hostname() {
  char name[MPI_MAX_PROCESSOR_NAME] = "";
  int len = 0;
  check(MPI_Get_processor_name(name, &len), "MPI_Get_processor_name");
  return std::string(name, static_cast<std::size_t>(len));
}

std::vector<std::string> all_hostnames() {
  std::string mine = hostname();
  mine.resize(MPI_MAX_PROCESSOR_NAME, '\0');
  std::vector<char> all(static_cast<std::size_t>(size()) * MPI_MAX_PROCESSOR_NAME);  // [size, MAX]
  check(MPI_Allgather(mine.data(), MPI_MAX_PROCESSOR_NAME, MPI_CHAR, all.data(),
                      MPI_MAX_PROCESSOR_NAME, MPI_CHAR, MPI_COMM_WORLD),
        "MPI_Allgather(hostnames)");
  std::vector<std::string> out;
  for (std::size_t off = 0; off < all.size(); off += MPI_MAX_PROCESSOR_NAME)
    out.emplace_back(all.data() + off);  // null terminated within MAX
  return out;
}

std::string broadcast(const std::string& value, int root) {
  std::int64_t n = broadcast(static_cast<std::int64_t>(value.size()), root);
  std::string out = value;
  out.resize(static_cast<std::size_t>(n));
  if (n > 0)
    check(MPI_Bcast(out.data(), static_cast<int>(n), MPI_CHAR, root, MPI_COMM_WORLD),
          "MPI_Bcast(string)");
  return out;
}

std::int64_t broadcast(std::int64_t value, int root) {
  check(MPI_Bcast(&value, 1, MPI_INT64_T, root, MPI_COMM_WORLD), "MPI_Bcast(int64)");
  return value;
}

static std::int64_t allreduce(std::int64_t v, MPI_Op op) {
  std::int64_t out = 0;
  check(MPI_Allreduce(&v, &out, 1, MPI_INT64_T, op, MPI_COMM_WORLD), "MPI_Allreduce(int64)");
  return out;
}

std::int64_t allreduce_sum(std::int64_t value) { return allreduce(value, MPI_SUM); }
std::int64_t allreduce_max(std::int64_t value) { return allreduce(value, MPI_MAX); }
std::int64_t allreduce_min(std::int64_t value) { return allreduce(value, MPI_MIN); }

double allreduce_max(double value) {
  double out = 0;
  check(MPI_Allreduce(&value, &out, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD),
        "MPI_Allreduce(double)");
  return out;
}

bool all_ok(bool ok, std::string& message) {
  // The lowest failing rank, or size() if none failed.
  std::int64_t first_bad = allreduce_min(ok ? size() : rank());
  if (first_bad == size()) return true;
  message = broadcast(message, static_cast<int>(first_bad));
  return false;
}

void abort(int exit_code) {
  MPI_Abort(MPI_COMM_WORLD, exit_code);
  std::abort();  // not reached
}

void poke_progress() {
  int flag = 0;
  MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, MPI_COMM_WORLD, &flag, MPI_STATUS_IGNORE);
}

double wall_time() { return MPI_Wtime(); }

// ---- WorkCounter ---------------------------------------------------------------------------

WorkCounter::WorkCounter() {
  MPI_Aint bytes = rank() == 0 ? static_cast<MPI_Aint>(3 * sizeof(std::int64_t)) : 0;
  check(MPI_Win_allocate(bytes, sizeof(std::int64_t), MPI_INFO_NULL, MPI_COMM_WORLD, &base_,
                         &win_),
        "MPI_Win_allocate(work counter)");
  root_ = rank() == 0;
  if (root_) {
    // Initialise under an exclusive lock so the store is visible to later atomics.
    check(MPI_Win_lock(MPI_LOCK_EXCLUSIVE, 0, 0, win_), "MPI_Win_lock");
    base_[0] = 0;
    base_[1] = 0;
    base_[2] = 0;
    check(MPI_Win_unlock(0, win_), "MPI_Win_unlock");
  }
  barrier();
  check(MPI_Win_lock_all(0, win_), "MPI_Win_lock_all");
}

WorkCounter::~WorkCounter() {
  if (win_ == MPI_WIN_NULL) return;
  MPI_Win_unlock_all(win_);
  MPI_Win_free(&win_);
}

static std::int64_t fetch_and_op(MPI_Win win, std::int64_t operand, MPI_Op op,
                                 MPI_Aint slot = 0) {
  std::int64_t before = 0;
  check(MPI_Fetch_and_op(&operand, &before, MPI_INT64_T, 0, slot, op, win), "MPI_Fetch_and_op");
  check(MPI_Win_flush(0, win), "MPI_Win_flush");
  return before;
}

std::int64_t WorkCounter::take() { return fetch_and_op(win_, 1, MPI_SUM); }
std::int64_t WorkCounter::peek() { return fetch_and_op(win_, 0, MPI_NO_OP); }
void WorkCounter::request_stop() { fetch_and_op(win_, kStopOffset, MPI_SUM); }
void WorkCounter::add_finished() { fetch_and_op(win_, 1, MPI_SUM, 1); }
void WorkCounter::request_stop_now() { fetch_and_op(win_, 1, MPI_REPLACE, 2); }
bool WorkCounter::stop_now_requested() { return fetch_and_op(win_, 0, MPI_NO_OP, 2) != 0; }

std::int64_t WorkCounter::finished_local() const {
  if (base_ == nullptr || !root_) return -1;
  return __atomic_load_n(&base_[1], __ATOMIC_RELAXED);
}

SearchBoard::SearchBoard(const std::vector<std::int64_t>& state, const std::vector<double>& value,
                         const std::vector<std::int64_t>& aux)
    : n_(static_cast<std::int64_t>(state.size())) {
  const bool root = rank() == 0;
  MPI_Aint bytes = root ? static_cast<MPI_Aint>(4 * n_ * sizeof(std::int64_t)) : 0;
  check(MPI_Win_allocate(bytes, sizeof(std::int64_t), MPI_INFO_NULL, MPI_COMM_WORLD, &base_,
                         &win_),
        "MPI_Win_allocate(search board)");
  if (root) {
    check(MPI_Win_lock(MPI_LOCK_EXCLUSIVE, 0, 0, win_), "MPI_Win_lock");
    for (std::int64_t i = 0; i < n_; ++i) {
      base_[i] = state[static_cast<std::size_t>(i)];
      std::memcpy(&base_[n_ + i], &value[static_cast<std::size_t>(i)], sizeof(double));
      base_[2 * n_ + i] = state[static_cast<std::size_t>(i)] == kUnclaimed ? 0 : 1;
      base_[3 * n_ + i] = aux[static_cast<std::size_t>(i)];
    }
    check(MPI_Win_unlock(0, win_), "MPI_Win_unlock");
  }
  barrier();
  check(MPI_Win_lock_all(0, win_), "MPI_Win_lock_all");
}

SearchBoard::~SearchBoard() {
  if (win_ == MPI_WIN_NULL) return;
  MPI_Win_unlock_all(win_);
  MPI_Win_free(&win_);
}

void SearchBoard::read(std::vector<std::int64_t>& state, std::vector<double>& value,
                       std::vector<std::int64_t>& claims, std::vector<std::int64_t>& aux) {
  const auto n = static_cast<std::size_t>(n_);
  state.assign(n, 0);
  claims.assign(n, 0);
  aux.assign(n, 0);
  std::vector<std::int64_t> bits(n);
  const int count = static_cast<int>(n_);
  if (count == 0) return;
  auto fetch = [&](std::int64_t* out, MPI_Aint at, const char* what) {
    check(MPI_Get_accumulate(nullptr, 0, MPI_INT64_T, out, count, MPI_INT64_T, 0, at, count,
                             MPI_INT64_T, MPI_NO_OP, win_),
          what);
    check(MPI_Win_flush(0, win_), "MPI_Win_flush");
  };
  fetch(state.data(), 0, "MPI_Get_accumulate(states)");
  fetch(bits.data(), n_, "MPI_Get_accumulate(values)");
  fetch(aux.data(), 3 * n_, "MPI_Get_accumulate(aux)");
  fetch(claims.data(), 2 * n_, "MPI_Get_accumulate(claims)");
  value.resize(n);
  std::memcpy(value.data(), bits.data(), bits.size() * sizeof(double));
}

bool SearchBoard::claim(std::int64_t id) {
  // A claim counter per point rather than a compare-and-swap on the state: Open MPI 4.1's
  // osc/rdma emulates MPI_Compare_and_swap over shared memory in a way that crashes here,
  // while fetch-and-add is what the work counter already relies on.
  return fetch_and_op(win_, 1, MPI_SUM, 2 * n_ + id) == 0;
}

void SearchBoard::publish(std::int64_t id, std::int8_t status, double value, std::int64_t aux) {
  std::int64_t bits = 0;
  std::memcpy(&bits, &value, sizeof bits);
  fetch_and_op(win_, bits, MPI_REPLACE, n_ + id);
  fetch_and_op(win_, aux, MPI_REPLACE, 3 * n_ + id);
  fetch_and_op(win_, kFinished + status, MPI_REPLACE, id);
}

}  // namespace precsweep::mpi
