#pragma once

// SummaryTable: the in-memory column store of flow summaries that serves the filters and the
// GUI's table, while headers and bodies stay on disk. A row costs about 100 bytes plus its URL
// and client address: low-cardinality strings (method, scheme, host, server, content types)
// are interned, the rest live in an append-only arena, and every column grows in fixed chunks
// (no doubling, no copy of a million rows when it grows).
//
// Rows are keyed by a caller's 64-bit key (a session's row number, or a live flow's id) and
// appended in order; a key seen again (a newer revision of a live flow) updates its row in
// place. One writer and many readers: writers take the lock exclusively, readers hold
// read_lock() while they use views (a view's strings live until the next write).

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <shared_mutex>
#include <vector>

#include "core/filter/filter.h"
#include "core/filter/flow_summary.h"

namespace sightglass::core {

class SummaryTable {
 public:
  SummaryTable();
  ~SummaryTable();
  SummaryTable(const SummaryTable&) = delete;
  SummaryTable& operator=(const SummaryTable&) = delete;

  // upsert adds a row for |key|, or replaces the row that has it if |summary| is live or the
  // row is still live (rows of finished flows are never looked up again). Returns the row.
  size_t upsert(uint64_t key, const SummaryView& summary);

  // clear removes every row.
  void clear();

  // read_lock must be held while views are used.
  std::shared_lock<std::shared_mutex> read_lock() const {
    return std::shared_lock<std::shared_mutex>(mutex_);
  }
  // size is the number of rows (take read_lock() for a size consistent with view()).
  size_t size() const;
  // view returns row |row|'s summary (row < size()); hold read_lock().
  SummaryView view(size_t row) const;
  // key returns row |row|'s key; hold read_lock().
  uint64_t key(size_t row) const;

  // LoadFn returns the full flow of a key, for the filter's detail terms.
  using LoadFn = std::function<FlowSnapshotConstSharedPtr(uint64_t key)>;
  // ScanControl lets another thread follow a scan and stop it: |scanned| counts the rows looked
  // at so far (updated every few thousand rows), and the scan returns early once |cancel| is set.
  // |max_threads| (0: every core) bounds the threads of a parallel scan, so that a scan in the
  // background leaves a core to the thread that draws.
  struct ScanControl {
    std::atomic<size_t> scanned{0};
    std::atomic<bool> cancel{false};
    size_t max_threads = 0;
  };
  // filter returns the rows that match |filter|, in row order. Summary-only filters never call
  // |load|. Takes the read lock itself. Large scans and scans that load flows run on several
  // threads at once, so |load| must be thread-safe (SessionFile::load is). With |control|, a
  // cancelled scan returns what it found so far (callers discard it).
  std::vector<uint32_t> filter(const FlowFilter& filter, const LoadFn& load,
                               ScanControl* control = nullptr) const;

  // memory_bytes estimates the bytes the table holds.
  size_t memory_bytes() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  mutable std::shared_mutex mutex_;
};

}  // namespace sightglass::core
