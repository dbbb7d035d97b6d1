#include "gui/model/flow_list_model.h"

#include <algorithm>
#include <functional>
#include <numeric>
#include <utility>

namespace sightglass::gui {

using core::SummaryTable;
using core::SummaryView;

struct FlowListModel::Result {
  std::atomic<bool> done{false};
  std::vector<uint32_t> rows;
  core::SummaryTable::ScanControl control;
  size_t total = 0;  // Rows in the table when the scan started.
};

namespace {

template <typename T>
int three_way(const T& a, const T& b) {
  return a < b ? -1 : (b < a ? 1 : 0);
}

// compare_rows orders two rows by |column| alone (0 when equal); hold the table's read lock.
int compare_rows(const SummaryTable& table, Column column, uint32_t a, uint32_t b) {
  if (column == Column::kIndex) {
    return three_way(a, b);
  }
  const SummaryView x = table.view(a);
  const SummaryView y = table.view(b);
  switch (column) {
    case Column::kTime:
      return three_way(x.started_us, y.started_us);
    case Column::kMethod:
      return three_way(x.method, y.method);
    case Column::kHost:
      if (const int c = three_way(x.host, y.host); c != 0) {
        return c;
      }
      return three_way(x.port, y.port);
    case Column::kPath:
      return three_way(x.path, y.path);
    case Column::kStatus:
      return three_way(x.status, y.status);
    case Column::kType:
      return three_way(x.response_content_type, y.response_content_type);
    case Column::kRequestSize:
      return three_way(x.request_size, y.request_size);
    case Column::kResponseSize:
      return three_way(x.response_size, y.response_size);
    case Column::kDuration:
      return three_way(x.duration_us, y.duration_us);
    case Column::kProtocol:
      return three_way(static_cast<int>(x.protocol), static_cast<int>(y.protocol));
    case Column::kFlags:
      return three_way(x.flags, y.flags);
    case Column::kIndex:
    case Column::kCount:
      break;
  }
  return 0;
}

// row_less is the display order: the column, then arrival; descending reverses both.
bool row_less(const SummaryTable& table, Column column, bool ascending, uint32_t a, uint32_t b) {
  int c = compare_rows(table, column, a, b);
  if (c == 0) {
    c = three_way(a, b);
  }
  return ascending ? c < 0 : c > 0;
}

void sort_rows(const SummaryTable& table, Column column, bool ascending,
               std::vector<uint32_t>* rows) {
  if (column == Column::kIndex) {
    if (ascending) {
      std::sort(rows->begin(), rows->end());
    } else {
      std::sort(rows->begin(), rows->end(), std::greater<>());
    }
    return;
  }
  auto lock = table.read_lock();
  std::sort(rows->begin(), rows->end(),
            [&](uint32_t a, uint32_t b) { return row_less(table, column, ascending, a, b); });
}

}  // namespace

FlowListModel::FlowListModel(FlowStore* store, size_t sync_limit)
    : store_(store), sync_limit_(sync_limit) {
  recompute();  // The rows the store has already.
}

FlowListModel::~FlowListModel() {
  if (worker_.joinable()) {
    worker_.join();
  }
}

bool FlowListModel::set_filter_text(const std::string& text) {
  filter_text_ = text;
  if (text.find_first_not_of(" \t\r\n") == std::string::npos) {
    filter_error_.reset();
    if (filter_) {
      filter_ = nullptr;
      recompute();
    }
    return true;
  }
  if (filter_ && filter_->text() == text) {
    filter_error_.reset();
    return true;
  }
  core::FilterError error;
  core::FlowFilterConstSharedPtr parsed = core::FlowFilter::parse(text, &error);
  if (!parsed) {
    filter_error_ = std::move(error);
    return false;
  }
  filter_error_.reset();
  filter_ = std::move(parsed);
  recompute();
  return true;
}

void FlowListModel::set_sort(Column column, bool ascending) {
  if (column == sort_column_ && ascending == sort_ascending_) {
    return;
  }
  sort_column_ = column;
  sort_ascending_ = ascending;
  if (visible_.size() < sync_limit_ && !worker_.joinable()) {
    sort_visible();
  } else {
    recompute();
  }
}

std::vector<uint32_t> FlowListModel::compute(const FlowStore& store, const core::FlowFilter* filter,
                                             Column column, bool ascending,
                                             core::SummaryTable::ScanControl* control) {
  std::vector<uint32_t> rows;
  if (filter != nullptr) {
    rows = store.table().filter(*filter, store.loader(), control);
    if (control != nullptr && control->cancel.load()) {
      return {};
    }
  } else {
    auto lock = store.table().read_lock();
    rows.resize(store.table().size());
    std::iota(rows.begin(), rows.end(), uint32_t{0});
  }
  sort_rows(store.table(), column, ascending, &rows);
  return rows;
}

void FlowListModel::recompute() {
  if (worker_.joinable()) {
    // The running scan is of older parameters: stop it and scan again when it returns.
    result_->control.cancel.store(true);
    recompute_queued_ = true;
    return;
  }
  if (store_->size() >= sync_limit_) {
    start_worker();
    return;
  }
  install(compute(*store_, filter_.get(), sort_column_, sort_ascending_, nullptr));
}

void FlowListModel::start_worker() {
  result_ = std::make_shared<Result>();
  result_->total = store_->size();
  // One core stays with the UI thread (and the software renderer, under Xvfb).
  result_->control.max_threads =
      std::max<size_t>(1, static_cast<size_t>(std::thread::hardware_concurrency()) - 1);
  worker_ = std::thread([store = store_, filter = filter_, column = sort_column_,
                         ascending = sort_ascending_, result = result_] {
    result->rows = compute(*store, filter.get(), column, ascending, &result->control);
    result->done.store(true, std::memory_order_release);
  });
}

void FlowListModel::take_result() {
  worker_.join();
  std::shared_ptr<Result> result = std::move(result_);
  if (recompute_queued_) {
    recompute_queued_ = false;
    recompute();  // The result is of older parameters: compute again.
    return;
  }
  install(std::move(result->rows));
}

void FlowListModel::install(std::vector<uint32_t> rows) {
  visible_ = std::move(rows);
  member_.assign(store_->size(), false);
  for (uint32_t row : visible_) {
    if (row >= member_.size()) {
      member_.resize(row + 1, false);
    }
    member_[row] = true;
  }
  unsorted_ = false;
  selected_index_cache_.reset();
}

float FlowListModel::progress() const {
  if (!worker_.joinable() || !result_ || result_->total == 0) {
    return 0.0f;
  }
  const size_t scanned = result_->control.scanned.load(std::memory_order_relaxed);
  return std::min(1.0f, static_cast<float>(scanned) / static_cast<float>(result_->total));
}

bool FlowListModel::matches(uint32_t row) const {
  if (!filter_) {
    return true;
  }
  const SummaryTable& table = store_->table();
  auto lock = table.read_lock();
  if (row >= table.size()) {
    return false;
  }
  return filter_->matches(table.view(row), [this, row] { return store_->detail(row); });
}

void FlowListModel::apply_changes(const std::vector<uint32_t>& changes) {
  if (changes.size() >= sync_limit_) {
    recompute();  // A file was loaded: scan it on the worker.
    return;
  }
  const bool arrival = sort_column_ == Column::kIndex;
  for (uint32_t row : changes) {
    if (row >= member_.size()) {
      member_.resize(row + 1, false);
    }
    const bool match = matches(row);
    if (match && !member_[row]) {
      if (!(arrival && sort_ascending_ && (visible_.empty() || row > visible_.back()))) {
        unsorted_ = true;
      }
      visible_.push_back(row);
      member_[row] = true;
    } else if (!match && member_[row]) {
      visible_.erase(std::find(visible_.begin(), visible_.end(), row));
      member_[row] = false;
    } else if (match && !arrival) {
      unsorted_ = true;  // Its values may have changed.
    }
  }
  selected_index_cache_.reset();
  if (unsorted_) {
    if (visible_.size() < sync_limit_) {
      sort_visible();
    } else {
      recompute();
    }
  }
}

void FlowListModel::sort_visible() {
  sort_rows(store_->table(), sort_column_, sort_ascending_, &visible_);
  unsorted_ = false;
  selected_index_cache_.reset();
}

bool FlowListModel::refresh() {
  bool changed = false;
  if (worker_.joinable()) {
    if (!result_->done.load(std::memory_order_acquire)) {
      return false;
    }
    take_result();
    changed = true;
    if (worker_.joinable()) {
      return changed;
    }
  }
  const std::vector<uint32_t> changes = store_->take_changes();
  if (!changes.empty()) {
    apply_changes(changes);
    changed = true;
  }
  return changed;
}

void FlowListModel::clear_rows() {
  wait_idle();
  visible_.clear();
  member_.clear();
  marked_.clear();
  marked_count_ = 0;
  selected_row_.reset();
  anchor_row_.reset();
  selected_index_cache_.reset();
  unsorted_ = false;
  follow_tail_ = true;
}

void FlowListModel::wait_idle() {
  for (;;) {
    refresh();
    if (!worker_.joinable()) {
      return;
    }
    while (!result_->done.load(std::memory_order_acquire)) {
      std::this_thread::yield();
    }
  }
}

std::optional<size_t> FlowListModel::selected_index() const {
  if (!selected_row_) {
    return std::nullopt;
  }
  if (selected_index_cache_ && *selected_index_cache_ < visible_.size() &&
      visible_[*selected_index_cache_] == *selected_row_) {
    return selected_index_cache_;
  }
  auto it = std::find(visible_.begin(), visible_.end(), *selected_row_);
  if (it == visible_.end()) {
    return std::nullopt;
  }
  selected_index_cache_ = static_cast<size_t>(it - visible_.begin());
  return selected_index_cache_;
}

void FlowListModel::mark(uint32_t row, bool on) {
  if (row >= marked_.size()) {
    if (!on) {
      return;
    }
    marked_.resize(std::max<size_t>(row + 1, store_->size()), false);
  }
  if (marked_[row] != on) {
    marked_[row] = on;
    marked_count_ = on ? marked_count_ + 1 : marked_count_ - 1;
  }
}

void FlowListModel::clear_marks() {
  if (marked_count_ > 0) {
    marked_.assign(marked_.size(), false);
    marked_count_ = 0;
  }
}

void FlowListModel::clear_selection() {
  selected_row_.reset();
  anchor_row_.reset();
  clear_marks();
}

void FlowListModel::select(size_t index) {
  if (visible_.empty()) {
    return;
  }
  index = std::min(index, visible_.size() - 1);
  clear_marks();
  selected_row_ = visible_[index];
  anchor_row_ = selected_row_;
  mark(*selected_row_, true);
  selected_index_cache_ = index;
  selection_moved_ = true;
  follow_tail_ = index + 1 == visible_.size();
}

void FlowListModel::toggle(size_t index) {
  if (index >= visible_.size()) {
    return;
  }
  const uint32_t row = visible_[index];
  mark(row, !is_marked(row));
  selected_row_ = row;
  anchor_row_ = row;
  selected_index_cache_ = index;
}

void FlowListModel::extend_to(size_t index) {
  if (visible_.empty()) {
    return;
  }
  index = std::min(index, visible_.size() - 1);
  size_t anchor = index;
  if (anchor_row_) {
    auto it = std::find(visible_.begin(), visible_.end(), *anchor_row_);
    if (it != visible_.end()) {
      anchor = static_cast<size_t>(it - visible_.begin());
    }
  }
  clear_marks();
  for (size_t i = std::min(anchor, index); i <= std::max(anchor, index); ++i) {
    mark(visible_[i], true);
  }
  if (!anchor_row_) {
    anchor_row_ = visible_[index];
  }
  selected_row_ = visible_[index];
  selected_index_cache_ = index;
  selection_moved_ = true;
}

void FlowListModel::select_all() {
  marked_.assign(std::max(marked_.size(), store_->size()), false);
  marked_count_ = 0;
  for (uint32_t row : visible_) {
    mark(row, true);
  }
  if (!selected_row_ && !visible_.empty()) {
    selected_row_ = visible_.front();
    anchor_row_ = selected_row_;
    selected_index_cache_ = 0;
  }
}

std::vector<uint32_t> FlowListModel::marked_rows() const {
  std::vector<uint32_t> out;
  if (marked_count_ > 0) {
    out.reserve(marked_count_);
    for (uint32_t row : visible_) {
      if (is_marked(row)) {
        out.push_back(row);
      }
    }
  }
  if (out.empty() && selected_row_ && selected_index()) {
    out.push_back(*selected_row_);
  }
  return out;
}

void FlowListModel::move_selection(SelectionMove move, size_t page, bool extend) {
  const size_t n = visible_.size();
  if (n == 0) {
    return;
  }
  page = std::max<size_t>(page, 1);
  const std::optional<size_t> current = selected_index();
  size_t target = 0;
  if (!current) {
    const bool to_start = move == SelectionMove::kDown || move == SelectionMove::kPageDown ||
                          move == SelectionMove::kHome;
    target = to_start ? 0 : n - 1;
  } else {
    const size_t i = *current;
    switch (move) {
      case SelectionMove::kUp:
        target = i == 0 ? 0 : i - 1;
        break;
      case SelectionMove::kDown:
        target = std::min(i + 1, n - 1);
        break;
      case SelectionMove::kPageUp:
        target = i > page ? i - page : 0;
        break;
      case SelectionMove::kPageDown:
        target = std::min(i + page, n - 1);
        break;
      case SelectionMove::kHome:
        target = 0;
        break;
      case SelectionMove::kEnd:
        target = n - 1;
        break;
    }
  }
  if (extend) {
    extend_to(target);
  } else {
    select(target);
  }
  if (move == SelectionMove::kUp || move == SelectionMove::kPageUp ||
      move == SelectionMove::kHome) {
    follow_tail_ = false;
  }
}

bool FlowListModel::take_selection_moved() { return std::exchange(selection_moved_, false); }

}  // namespace sightglass::gui
