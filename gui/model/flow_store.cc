#include "gui/model/flow_store.h"

#include <chrono>
#include <utility>

#include "core/filter/flow_summary.h"
#include "core/store/capture_files.h"

namespace sightglass::gui {

using core::FlowSnapshotConstSharedPtr;

std::unique_ptr<FlowStore> FlowStore::create(std::string* error) {
  auto store = std::make_unique<FlowStore>(PrivateTag{});
  store->session_ = core::SessionFile::open("", core::SessionFile::Mode::kTemporary, error);
  if (!store->session_) {
    return nullptr;
  }
  try {
    store->writer_ = std::thread([s = store.get()] { s->run_writer(); });
  } catch (const std::system_error& e) {
    *error = std::string("cannot start the store's writer thread: ") + e.what();
    return nullptr;
  }
  return store;
}

FlowStore::FlowStore(PrivateTag /*unused*/) {}

FlowStore::~FlowStore() {
  {
    std::lock_guard<std::mutex> lock(queue_mutex_);
    stopping_ = true;
  }
  queue_wake_.notify_all();
  if (writer_.joinable()) {
    writer_.join();
  }
}

size_t FlowStore::add(const std::vector<FlowSnapshotConstSharedPtr>& snapshots, bool new_flows) {
  size_t applied = 0;
  std::vector<WriteItem> finals;
  for (const FlowSnapshotConstSharedPtr& flow : snapshots) {
    if (!flow) {
      continue;
    }
    const bool final = flow->state == core::FlowState::kFinished;
    uint32_t row = 0;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto it = row_of_id_.find(flow->id);
      if (it != row_of_id_.end()) {
        RowInfo& info = rows_[it->second];
        if (!info.live || flow->revision <= info.revision) {
          continue;  // Stale, or the flow is already final.
        }
        row = it->second;
      } else if (!new_flows) {
        continue;
      }
    }
    const core::FlowSummary summary = core::summarize(*flow);
    const size_t upserted = table_.upsert(flow->id, summary.view());
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (upserted >= rows_.size()) {
        rows_.resize(upserted + 1);
        row_of_id_[flow->id] = static_cast<uint32_t>(upserted);
      }
      row = static_cast<uint32_t>(upserted);
      RowInfo& info = rows_[row];
      info.id = flow->id;
      info.revision = flow->revision;
      info.live = !final;
      if (final) {
        live_.erase(flow->id);
        pending_[row] = flow;
      } else {
        live_[flow->id] = flow;
      }
    }
    if (final) {
      finals.push_back(WriteItem{row, flow});
      total_bytes_.fetch_add(summary.request_size + summary.response_size,
                             std::memory_order_relaxed);
    }
    if (row >= changed_.size()) {
      changed_.resize(row + 1, false);
    }
    if (!changed_[row]) {
      changed_[row] = true;
      changes_.push_back(row);
    }
    ++applied;
  }
  if (!finals.empty()) {
    {
      std::lock_guard<std::mutex> lock(queue_mutex_);
      for (WriteItem& item : finals) {
        queue_.push_back(std::move(item));
      }
    }
    queue_wake_.notify_one();
  }
  return applied;
}

void FlowStore::clear() {
  std::string ignored;
  flush(&ignored);  // The writer refers to rows by number.
  table_.clear();
  std::lock_guard<std::mutex> lock(mutex_);
  rows_.clear();
  row_of_id_.clear();
  live_.clear();
  pending_.clear();
  changes_.clear();
  changed_.clear();
  total_bytes_.store(0);
}

bool FlowStore::load_file(const std::string& path, std::string* error) {
  std::unique_ptr<core::SessionFile> file = core::open_capture(path, error);
  if (!file) {
    return false;
  }
  const auto source = static_cast<uint32_t>(files_.size() + 1);
  std::vector<uint32_t> added;
  // load_summaries keys the rows by seq alone; rows of several files and of the live capture
  // share one table here, so the key carries the file too.
  const bool ok = file->for_each_summary(
      [&](int64_t seq, const core::FlowSummary& summary) {
        const size_t row = table_.upsert(file_key(source, seq), summary.view());
        std::lock_guard<std::mutex> lock(mutex_);
        if (row >= rows_.size()) {
          rows_.resize(row + 1);
        }
        rows_[row] = RowInfo{summary.id, 0, seq, source, false};
        total_bytes_.fetch_add(summary.request_size + summary.response_size,
                               std::memory_order_relaxed);
        added.push_back(static_cast<uint32_t>(row));
        return true;
      },
      error);
  files_.push_back(std::move(file));  // Kept even on failure: its rows refer to it.
  for (uint32_t row : added) {
    if (row >= changed_.size()) {
      changed_.resize(row + 1, false);
    }
    if (!changed_[row]) {
      changed_[row] = true;
      changes_.push_back(row);
    }
  }
  if (!ok) {
    *error = path + ": " + *error;
  }
  return ok;
}

FlowSnapshotConstSharedPtr FlowStore::load_from(uint32_t source, int64_t seq,
                                                std::string* error) const {
  std::string ignored;
  core::SessionFile* file =
      source == 0 ? session_.get() : (source <= files_.size() ? files_[source - 1].get() : nullptr);
  if (file == nullptr || seq < 0) {
    if (error != nullptr) {
      *error = "the flow is not stored";
    }
    return nullptr;
  }
  return file->load(seq, error != nullptr ? error : &ignored);
}

FlowSnapshotConstSharedPtr FlowStore::detail(size_t row, std::string* error) const {
  RowInfo info;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (row >= rows_.size()) {
      if (error != nullptr) {
        *error = "no such row";
      }
      return nullptr;
    }
    info = rows_[row];
    if (info.source == 0) {
      if (auto it = live_.find(info.id); it != live_.end()) {
        return it->second;
      }
      if (auto it = pending_.find(static_cast<uint32_t>(row)); it != pending_.end()) {
        return it->second;
      }
    }
  }
  return load_from(info.source, info.seq, error);
}

uint64_t FlowStore::revision(size_t row) const {
  std::lock_guard<std::mutex> lock(mutex_);
  return row < rows_.size() ? rows_[row].revision : 0;
}

bool FlowStore::is_live(size_t row) const {
  std::lock_guard<std::mutex> lock(mutex_);
  return row < rows_.size() && rows_[row].live;
}

FlowSnapshotConstSharedPtr FlowStore::load_key(uint64_t key) const {
  if ((key & kFileKeyBit) != 0) {
    const auto source = static_cast<uint32_t>((key & ~kFileKeyBit) >> 40);
    const auto seq = static_cast<int64_t>(key & ((uint64_t{1} << 40) - 1));
    return load_from(source, seq, nullptr);
  }
  size_t row = 0;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = row_of_id_.find(key);
    if (it == row_of_id_.end()) {
      return nullptr;
    }
    row = it->second;
  }
  return detail(row, nullptr);
}

core::SummaryTable::LoadFn FlowStore::loader() const {
  return [this](uint64_t key) { return load_key(key); };
}

std::vector<uint32_t> FlowStore::take_changes() {
  std::vector<uint32_t> out;
  out.swap(changes_);
  for (uint32_t row : out) {
    changed_[row] = false;
  }
  return out;
}

void FlowStore::run_writer() {
  std::vector<WriteItem> batch;
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(queue_mutex_);
      writing_ = false;
      queue_idle_.notify_all();
      queue_wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (stopping_) {
        return;
      }
      // A short delay gathers the finals of a burst into one transaction.
      queue_wake_.wait_for(lock, std::chrono::milliseconds(5), [this] { return stopping_; });
      batch.clear();
      batch.swap(queue_);
      writing_ = true;
    }
    std::vector<FlowSnapshotConstSharedPtr> flows;
    flows.reserve(batch.size());
    for (const WriteItem& item : batch) {
      flows.push_back(item.flow);
    }
    std::string error;
    int64_t first_seq = 0;
    const bool ok = session_->append(flows, &error, &first_seq);
    if (ok) {
      std::lock_guard<std::mutex> lock(mutex_);
      for (size_t i = 0; i < batch.size(); ++i) {
        rows_[batch[i].row].seq = first_seq + static_cast<int64_t>(i);
        pending_.erase(batch[i].row);
      }
    }
    std::lock_guard<std::mutex> lock(queue_mutex_);
    if (ok) {
      stored_ += batch.size();
    } else if (write_error_.empty()) {
      write_error_ = error;  // The flows stay in pending_, in memory.
    }
  }
}

bool FlowStore::flush(std::string* error) {
  std::unique_lock<std::mutex> lock(queue_mutex_);
  queue_idle_.wait(lock, [this] { return stopping_ || (queue_.empty() && !writing_); });
  if (!write_error_.empty()) {
    *error = write_error_;
    return false;
  }
  return true;
}

size_t FlowStore::live_count() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return live_.size();
}

uint64_t FlowStore::stored_count() const {
  std::lock_guard<std::mutex> lock(queue_mutex_);
  return stored_;
}

size_t FlowStore::memory_bytes() const {
  const size_t table = table_.memory_bytes();  // Not under mutex_: the table lock comes first.
  std::lock_guard<std::mutex> lock(mutex_);
  return table + rows_.capacity() * sizeof(RowInfo) +
         row_of_id_.size() * (sizeof(core::FlowId) + sizeof(uint32_t) + 2 * sizeof(void*));
}

}  // namespace sightglass::gui
