#pragma once

// FlowListModel: what the flow table shows of a FlowStore. It owns the filter (parsed from the
// filter bar's text, or a positioned error), the visible rows (the rows that match, in the
// chosen order), the selection (kept on the same flow as rows come and go) and the follow-tail
// flag. Recomputing the visible rows of a large store runs on a worker thread: the table keeps
// showing the previous rows (filtering() is true) until the new ones are swapped in.
//
// A store has one list model (it takes the store's changes). One thread (the UI's) calls
// everything. While filtering() is true the worker reads the
// store's table; adding to the store meanwhile is allowed (the table locks) but blocks until
// the scan ends, so the UI should leave new flows queued until it is done.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/filter/filter.h"
#include "gui/model/flow_store.h"
#include "gui/model/format.h"

namespace sightglass::gui {

enum class SelectionMove : uint8_t { kUp, kDown, kPageUp, kPageDown, kHome, kEnd };

class FlowListModel {
 public:
  // Rows at or above |sync_limit| are filtered and sorted on a worker thread.
  static constexpr size_t kDefaultSyncLimit = 50'000;

  explicit FlowListModel(FlowStore* store, size_t sync_limit = kDefaultSyncLimit);
  ~FlowListModel();
  FlowListModel(const FlowListModel&) = delete;
  FlowListModel& operator=(const FlowListModel&) = delete;

  // set_filter_text parses |text| (blank: no filter). A malformed expression sets
  // filter_error() and keeps the previous filter and rows. Returns whether it parsed.
  bool set_filter_text(const std::string& text);
  const std::string& filter_text() const { return filter_text_; }
  // filter_error is the position and message of the last malformed text, if the current text
  // is malformed.
  const std::optional<core::FilterError>& filter_error() const { return filter_error_; }
  // active_filter is the filter the rows are filtered by (nullptr: none).
  const core::FlowFilterConstSharedPtr& active_filter() const { return filter_; }

  // set_sort orders the rows by |column|; kIndex ascending is arrival order (the default).
  void set_sort(Column column, bool ascending);
  Column sort_column() const { return sort_column_; }
  bool sort_ascending() const { return sort_ascending_; }

  // refresh takes the store's changes into the visible rows and swaps in a finished worker's
  // result; call it once a frame. Returns whether the visible rows changed.
  bool refresh();
  // filtering says whether a worker is computing rows (the UI should keep redrawing).
  bool filtering() const { return worker_.joinable(); }
  // wait_idle blocks until no worker runs, then refreshes (for tests and shutdown).
  void wait_idle();

  // visible are store rows, in display order.
  const std::vector<uint32_t>& visible() const { return visible_; }
  size_t visible_count() const { return visible_.size(); }

  // The selection is a store row; selected_index is its position among the visible rows.
  std::optional<uint32_t> selected_row() const { return selected_row_; }
  std::optional<size_t> selected_index() const;
  // select selects the |index|-th visible row (clamped); no-op when nothing is visible.
  void select(size_t index);
  void clear_selection() { selected_row_.reset(); }
  // move_selection moves it as the keys do; |page| is the rows of a page (at least 1). With
  // no selection, Down/PageDown/Home select the first row, Up/PageUp/End the last.
  void move_selection(SelectionMove move, size_t page);
  // selection_moved says whether the selection changed since the last call (the UI scrolls
  // to it then).
  bool take_selection_moved();

  // follow_tail: keep the end of the table in view as flows arrive. End sets it; moving up,
  // Home and selecting a row above the end clear it.
  bool follow_tail() const { return follow_tail_; }
  void set_follow_tail(bool follow) { follow_tail_ = follow; }

 private:
  struct Job;
  struct Result;

  // less is the sort order of two store rows; the table's read lock must be held.
  bool less(uint32_t a, uint32_t b) const;
  static std::vector<uint32_t> compute(const FlowStore& store, const core::FlowFilter* filter,
                                       Column column, bool ascending);
  void recompute();
  void start_worker();
  // install makes |rows| the visible rows and marks them as members.
  void install(std::vector<uint32_t> rows);
  void take_result();
  void apply_changes(const std::vector<uint32_t>& changes);
  void sort_visible();
  bool matches(uint32_t row) const;

  FlowStore* store_;
  size_t sync_limit_;
  std::string filter_text_;
  std::optional<core::FilterError> filter_error_;
  core::FlowFilterConstSharedPtr filter_;
  Column sort_column_ = Column::kIndex;
  bool sort_ascending_ = true;

  std::vector<uint32_t> visible_;
  std::vector<bool> member_;  // By store row: in visible_.
  bool unsorted_ = false;     // Rows changed in a way that may break the order.

  std::optional<uint32_t> selected_row_;
  mutable std::optional<size_t> selected_index_cache_;
  bool selection_moved_ = false;
  bool follow_tail_ = true;

  // The worker: the parameters it runs with, its result and whether it is done.
  bool recompute_queued_ = false;  // Parameters changed while a worker ran.
  std::shared_ptr<Result> result_;
  std::thread worker_;
};

}  // namespace sightglass::gui
