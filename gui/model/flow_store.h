#pragma once

// FlowStore: the inspector's data, without any UI. Rows are flows in arrival order. Their
// summaries live in a SummaryTable (the flow table and the filters read nothing else); the full
// flows stay out of the UI thread's memory: the latest snapshot of each LIVE flow is kept in a
// map until the flow is final, and FINAL snapshots go to a private temporary session file,
// written in batches by a background thread. detail(row) returns the live snapshot, or loads the
// flow from the session file it is in (the temporary one, or a file opened with load_file).
//
// Threads: add(), load_file() and take_changes() are for one thread (the UI's). detail(),
// load_key(), revision() and the table's readers are thread-safe (a filter worker uses them).

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "core/proxy/flow.h"
#include "core/store/session_file.h"
#include "core/store/summary_table.h"

namespace sightglass::gui {

class FlowStore {
  struct PrivateTag {
    explicit PrivateTag() = default;
  };

 public:
  // create makes an empty store with its temporary session file and writer thread; nullptr
  // with *error when the session cannot be created.
  static std::unique_ptr<FlowStore> create(std::string* error);

  explicit FlowStore(PrivateTag /*unused*/);
  // ~FlowStore stops the writer thread (what is still queued is dropped with the session).
  ~FlowStore();
  FlowStore(const FlowStore&) = delete;
  FlowStore& operator=(const FlowStore&) = delete;

  // add applies snapshots of the live capture in publish order: a flow's first snapshot adds
  // a row, a newer revision updates the row in place, a revision not newer than the row's is
  // ignored. Returns how many snapshots were applied.
  // With |new_flows| false (capture paused), only flows that already have a row are updated.
  size_t add(const std::vector<core::FlowSnapshotConstSharedPtr>& snapshots, bool new_flows = true);

  // clear removes every row (the table, the live flows, the loaded files); what the
  // temporary session already holds stays on disk until the store goes. Waits for the writer.
  // No filter worker may be scanning the table meanwhile.
  void clear();

  // load_file appends every flow of a session, JSON Lines or HAR file (open_capture) as rows
  // whose details come from that file. false with a one-line *error.
  bool load_file(const std::string& path, std::string* error);

  // size is the number of rows.
  size_t size() const { return table_.size(); }
  // table holds the summaries (row numbers are the store's).
  const core::SummaryTable& table() const { return table_; }

  // detail returns the full flow of |row|: the latest live snapshot, a final one not yet
  // written, or the flow loaded from its session file. nullptr with *error if it cannot be read.
  core::FlowSnapshotConstSharedPtr detail(size_t row, std::string* error = nullptr) const;
  // revision is the revision of |row|'s flow as the store has it (0 for rows read from files).
  uint64_t revision(size_t row) const;
  // is_live says whether |row| is a live flow.
  bool is_live(size_t row) const;

  // load_key returns the flow of a table key (SummaryTable::LoadFn, for the filter's detail
  // terms); thread-safe.
  core::FlowSnapshotConstSharedPtr load_key(uint64_t key) const;
  core::SummaryTable::LoadFn loader() const;

  // take_changes returns the rows added or updated since the last call, in order, once each.
  std::vector<uint32_t> take_changes();

  // flush blocks until every final snapshot added so far is in the temporary session; false
  // with *error if writing failed (the flows stay in memory then).
  bool flush(std::string* error);

  // total_bytes is the request and response bytes of the finished flows (as captured: the sizes
  // on the wire, not the bytes kept).
  uint64_t total_bytes() const { return total_bytes_.load(std::memory_order_relaxed); }
  // live_count is the number of live flows.
  size_t live_count() const;
  // stored_count is the number of final snapshots written to the temporary session.
  uint64_t stored_count() const;
  // memory_bytes estimates the memory of the summaries and the row bookkeeping.
  size_t memory_bytes() const;

  // The key of a row read from the index-th loaded file (1-based) at |seq|.
  static constexpr uint64_t kFileKeyBit = uint64_t{1} << 63;
  static uint64_t file_key(uint32_t source, int64_t seq) {
    return kFileKeyBit | (uint64_t{source} << 40) | static_cast<uint64_t>(seq);
  }

 private:
  // RowInfo is where a row's details are. source 0 is the live capture (details in live_,
  // pending_ or the temporary session at seq), n > 0 the n-th loaded file.
  struct RowInfo {
    core::FlowId id = 0;
    uint64_t revision = 0;
    int64_t seq = -1;  // Row number in its session file, -1 until written.
    uint32_t source = 0;
    bool live = false;
  };
  struct WriteItem {
    uint32_t row;
    core::FlowSnapshotConstSharedPtr flow;
  };

  void run_writer();
  core::FlowSnapshotConstSharedPtr load_from(uint32_t source, int64_t seq,
                                             std::string* error) const;

  core::SummaryTable table_;
  std::unique_ptr<core::SessionFile> session_;  // The temporary session of the live capture.
  std::vector<std::unique_ptr<core::SessionFile>> files_;  // Loaded files; source = index + 1.

  // Lock order: the table's lock, then mutex_ (a filter scan holds the table's read lock while
  // it loads details); the table is never locked under mutex_.
  mutable std::mutex mutex_;
  std::vector<RowInfo> rows_;                                                // Guarded by mutex_.
  std::unordered_map<core::FlowId, uint32_t> row_of_id_;                     // Guarded by mutex_.
  std::unordered_map<core::FlowId, core::FlowSnapshotConstSharedPtr> live_;  // Guarded.
  std::unordered_map<uint32_t, core::FlowSnapshotConstSharedPtr> pending_;   // Guarded.
  std::vector<uint32_t> changes_;                                            // UI thread only.
  std::vector<bool> changed_;  // UI thread only: rows in changes_.
  std::atomic<uint64_t> total_bytes_{0};

  // The writer thread's queue.
  mutable std::mutex queue_mutex_;
  std::condition_variable queue_wake_;
  std::condition_variable queue_idle_;
  std::vector<WriteItem> queue_;  // Guarded by queue_mutex_.
  bool writing_ = false;          // Guarded by queue_mutex_: a batch is being written.
  bool stopping_ = false;         // Guarded by queue_mutex_.
  std::string write_error_;       // Guarded by queue_mutex_.
  uint64_t stored_ = 0;           // Guarded by queue_mutex_.
  std::thread writer_;            // Last: stops before the rest goes away.
};

}  // namespace sightglass::gui
