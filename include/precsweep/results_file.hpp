// The sweep results file (layout: docs/results-format.md): every dataset created at once, sized
// for every point, then filled row by row as points finish. Used by `sweep` (parallel, one
// file shared by all ranks), `train --out` (serial, one point) and `status` (serial, read-only).
//
// Crash safety: creation writes all metadata and ends with a collective H5Fflush; after that a
// point's row is raw data only (contiguous, early-allocated datasets, fixed-length strings), so
// each rank writes it independently with no HDF5 metadata change, status last, then makes it
// durable with fdatasync(2) on its own descriptor, off the critical path (H5Fflush is
// collective in parallel HDF5 and cannot be called by one rank). A job killed at any moment leaves a file that opens, whose
// `done` rows are complete. Attributes change only at collective points (start, end).
// Deliberately leaves out: scheduling and MPI (sweep.cpp), reading for analysis (h5py/pandas).
#pragma once
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "precsweep/h5.hpp"
#include "precsweep/spec.hpp"
#include "precsweep/train.hpp"

namespace precsweep {

// Who wrote the file and how (root attributes).
struct RunInfo {
  std::string created_by = "sweep";     // "sweep" or "train"
  int mpi_size = 1;
  int threads = 1;
  std::vector<std::string> hostnames;  // one per rank
  std::string start_time;              // ISO 8601 UTC
};

// The one-line reason a write to `file` failed: "no space left on device (12 KiB free in
// FOLDER)" when it was an HDF5 write failure on a (nearly) full file system, else e.what().
std::string io_failure_text(const std::filesystem::path& file, const std::exception& e);

// Throws h5::DiskFull ("no space left on device: the file needs about N KiB, FOLDER has M KiB
// free") unless `file`'s folder has `bytes` + 256 KiB free (for the metadata a run adds).
void check_free_space(const std::filesystem::path& file, std::uint64_t bytes);

// "2026-11-29T03:15:01Z"
std::string iso8601_utc_now();

// The per-epoch metrics stored as /results/<name> [N, max_epochs] (epoch_metrics(), params.hpp).
const std::vector<std::string>& per_epoch_metric_names();

class ResultsFile {
 public:
  static constexpr std::int64_t kSchemaVersion = 1;
  static constexpr std::size_t kMessageBytes = 512;  // /results/message, UTF-8, truncated
  static constexpr std::int64_t kMaxEpochs = precsweep::kMaxEpochs;  // the epochs cap

  // Creates `path` (fails if it exists) with every dataset sized for spec.points and the root
  // attributes. Collective when access.parallel; the /points columns are written by the rank
  // with `write_points` set (exactly one), then the file is flushed (collective). If anything
  // fails after the file was created, that rank removes it again (no partial output).
  static ResultsFile create(const std::filesystem::path& path, const SweepSpec& spec,
                            const RunInfo& info, h5::Access access, bool write_points);
  // Upper estimate of the bytes a new file for `spec` takes (every dataset is allocated at
  // creation, so later row writes need no space).
  static std::uint64_t estimated_bytes(const SweepSpec& spec);
  // Opens an existing results file (collective when parallel). Checks the schema version, the
  // sizes, shapes and types of everything the readers use, and every status value; any
  // disagreement is InputError "FILE: not a precsweep results file or damaged: ...".
  static ResultsFile open(const std::filesystem::path& path, h5::Access access, bool writable);

  ResultsFile();
  ResultsFile(ResultsFile&&) noexcept;
  ResultsFile& operator=(ResultsFile&&) noexcept;
  ~ResultsFile();

  std::int64_t size() const { return n_; }
  int max_epochs() const { return max_epochs_; }
  h5::File& file() { return file_; }
  const h5::Group& root() const { return file_.root(); }

  std::string spec_sha256() const;
  std::vector<std::int8_t> read_status() const;  // [N], each 0..3 (else InputError: damaged)
  // /results/<name> of a per-run metric, [N] (NaN where not written).
  std::vector<double> read_run_metric(const std::string& name) const;
  // /results/update_ratio (fp32 points' update-ratio histograms, update_ratio.hpp): per point
  // its last epoch with a nonzero histogram, one per layer (a file written before the per-layer
  // histogram: one pooled histogram); empty if none (or the file has no such dataset).
  std::vector<LayerRatios> read_update_ratio() const;

  // Search mode: one /search row per setting (search.hpp; the group is made with the file).
  // Independent: one rank writes every row.
  struct SearchRow {
    int critical = -1;            // the axis value found; -1: none (or not found yet)
    std::int64_t points_run = 0;  // the setting's points finished (its baselines included)
    int predicted = -1;           // the predicted value, -1 without a prediction
    bool non_monotone = false;
    bool done = false;
  };
  void write_search(const std::vector<SearchRow>& rows);

  // Writes point `id`'s row (every /results dataset, /weights if present), status last.
  // Independent: any rank, any time after create/open, no other rank involved.
  void write_point(std::int64_t id, const RunResult& result, int rank);
  // Makes rows written so far durable: fdatasync(2) on this rank's own descriptor, started on
  // a helper thread so training goes on meanwhile (the helper makes no MPI or HDF5 call; an
  // fdatasync error is thrown by the next sync() or by finish()). Independent.
  void sync();
  // Waits until every sync() requested so far has completed.
  void wait_synced();

  // Collective: records this run's mpi_size, threads, hostnames and start time (resume).
  void record_run(const RunInfo& info);
  // Collective: end_time attribute, flush, close.
  void finish(const std::string& end_time);

 private:
  void open_datasets();
  void fill_new_file(const SweepSpec& spec, const RunInfo& info, bool write_points);
  static void create_search_group(h5::Group& root, const SweepSpec& spec, bool write_points);

  h5::File file_;
  std::string sha256_;  // spec_sha256, read at a serial open
  std::int64_t n_ = 0;
  int max_epochs_ = 0;
  std::int64_t weight_slots_ = 0;  // /weights/params columns (0: no /weights group)
  struct Syncer;                   // helper thread running fdatasync on this rank's descriptor
  std::unique_ptr<Syncer> syncer_;
  // Open handles to every /results dataset (opening per write would touch the metadata cache).
  h5::Dataset status_, rank_, message_;
  std::vector<h5::Dataset> per_run_;    // in run_metrics() order (params.hpp)
  std::vector<h5::Dataset> per_epoch_;  // in epoch_metrics() order
  h5::Dataset weights_, weight_count_;
  int ratio_layers_ = 1;               // layers per epoch in update_ratio_
  h5::Dataset update_ratio_;            // [N, max_epochs * layers * kRatioBins], if any records
};

// `precsweep train --out FILE`: the same layout with one point (id 0), written serially.
// Fails (InputError) if `path` exists.
void write_single_run(const std::filesystem::path& path, const TrainConfig& config,
                      const std::string& dataset, const RunResult& result);

}  // namespace precsweep
