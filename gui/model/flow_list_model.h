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
  // progress is the share of the table the worker's filter has scanned (0 without a worker).
  float progress() const;
  // clear_rows forgets every row, mark and the selection (after FlowStore::clear); waits for a
  // running worker first.
  void clear_rows();
  // wait_idle blocks until no worker runs, then refreshes (for tests and shutdown).
  void wait_idle();

  // visible are store rows, in display order.
  const std::vector<uint32_t>& visible() const { return visible_; }
  size_t visible_count() const { return visible_.size(); }

  // The selection is a store row; selected_index is its position among the visible rows.
  std::optional<uint32_t> selected_row() const { return selected_row_; }
  std::optional<size_t> selected_index() const;
  // select selects the |index|-th visible row (clamped) alone; no-op when nothing is visible.
  void select(size_t index);
  void clear_selection();
  // Multi-selection, as in a file manager: toggle (Ctrl+click) adds or removes the |index|-th
  // row and makes it the current one; extend_to (Shift+click, Shift+arrows) selects the rows
  // from the anchor (the last row selected alone or toggled) to |index|; select_all selects
  // every visible row. The current row (selected_row) is the one the detail pane shows.
  void toggle(size_t index);
  void extend_to(size_t index);
  void select_all();
  // is_marked says whether store row |row| is among the selected rows.
  bool is_marked(uint32_t row) const { return row < marked_.size() && marked_[row]; }
  // marked_rows are the selected rows that are visible, in display order (at least the current
  // row when there is one).
  std::vector<uint32_t> marked_rows() const;
  size_t marked_count() const { return marked_count_; }
  // move_selection moves it as the keys do; |page| is the rows of a page (at least 1). With
  // no selection, Down/PageDown/Home select the first row, Up/PageUp/End the last. With
  // |extend| (Shift held) the rows from the anchor to the new current row are selected.
  void move_selection(SelectionMove move, size_t page, bool extend = false);
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
                                       Column column, bool ascending,
                                       core::SummaryTable::ScanControl* control);
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

  void mark(uint32_t row, bool on);
  void clear_marks();

  std::optional<uint32_t> selected_row_;
  std::vector<bool> marked_;  // By store row: selected.
  size_t marked_count_ = 0;
  std::optional<uint32_t> anchor_row_;  // Where a Shift range starts.
  mutable std::optional<size_t> selected_index_cache_;
  bool selection_moved_ = false;
  bool follow_tail_ = true;

  // The worker: the parameters it runs with, its result and whether it is done.
  bool recompute_queued_ = false;  // Parameters changed while a worker ran.
  std::shared_ptr<Result> result_;
  std::thread worker_;
};

}  // namespace sightglass::gui
