#include "core/store/summary_table.h"

#include <system_error>

#include <algorithm>
#include <array>
#include <cstring>
#include <mutex>
#include <thread>
#include <tuple>
#include <unordered_map>

namespace sightglass::core {
namespace {

// Column is a vector that grows in fixed chunks: appending never moves what is there.
template <typename T>
class Column {
 public:
  static constexpr size_t kChunkBits = 14;
  static constexpr size_t kChunk = size_t{1} << kChunkBits;

  void push_back(const T& value) {
    if ((size_ & (kChunk - 1)) == 0 && (size_ >> kChunkBits) == chunks_.size()) {
      chunks_.push_back(std::make_unique_for_overwrite<T[]>(kChunk));
    }
    (*this)[size_] = value;
    ++size_;
  }
  T& operator[](size_t i) { return chunks_[i >> kChunkBits][i & (kChunk - 1)]; }
  const T& operator[](size_t i) const { return chunks_[i >> kChunkBits][i & (kChunk - 1)]; }
  size_t size() const { return size_; }
  size_t memory_bytes() const { return chunks_.size() * kChunk * sizeof(T); }

 private:
  std::vector<std::unique_ptr<T[]>> chunks_;
  size_t size_ = 0;
};

// StrRef names bytes in the arena, packed in 64 bits: block (16), offset in it (20), size (28).
class StrRef {
 public:
  StrRef() = default;
  StrRef(size_t block, size_t offset, size_t size)
      : bits_((uint64_t{block} << 48) | (uint64_t{offset} << 28) | uint64_t{size}) {}
  size_t block() const { return static_cast<size_t>(bits_ >> 48); }
  size_t offset() const { return static_cast<size_t>((bits_ >> 28) & ((1u << 20) - 1)); }
  size_t size() const { return static_cast<size_t>(bits_ & ((1u << 28) - 1)); }

 private:
  uint64_t bits_ = 0;
};

// Arena holds strings in blocks of 1 MiB that never move. A string longer than a block is cut
// at kMaxString (a summary's strings are URLs and addresses).
class Arena {
 public:
  static constexpr size_t kBlock = size_t{1} << 20;
  static constexpr size_t kMaxString = kBlock;

  StrRef add(std::string_view text) {
    if (text.empty()) {
      return {};
    }
    text = text.substr(0, kMaxString);
    if (blocks_.empty() || used_ + text.size() > kBlock) {
      blocks_.push_back(std::make_unique_for_overwrite<char[]>(kBlock));
      used_ = 0;
    }
    const StrRef ref(blocks_.size() - 1, used_, text.size());
    std::memcpy(blocks_.back().get() + used_, text.data(), text.size());
    used_ += text.size();
    return ref;
  }
  std::string_view get(StrRef ref) const {
    return ref.size() == 0
               ? std::string_view()
               : std::string_view(blocks_[ref.block()].get() + ref.offset(), ref.size());
  }
  size_t memory_bytes() const { return blocks_.size() * kBlock; }

 private:
  std::vector<std::unique_ptr<char[]>> blocks_;
  size_t used_ = 0;
};

// Pool interns low-cardinality strings; ids are indexes into |strings|, which never move
// (a deque of strings would also do; here each string is in the arena).
class Pool {
 public:
  uint32_t intern(std::string_view text) {
    if (auto it = ids_.find(text); it != ids_.end()) {
      return it->second;
    }
    const StrRef ref = arena_.add(text);
    const auto id = static_cast<uint32_t>(refs_.size());
    refs_.push_back(ref);
    ids_.emplace(arena_.get(ref), id);
    return id;
  }
  std::string_view get(uint32_t id) const { return arena_.get(refs_[id]); }
  size_t memory_bytes() const {
    return arena_.memory_bytes() + refs_.capacity() * sizeof(StrRef) + ids_.size() * 48;
  }

 private:
  Arena arena_;
  std::vector<StrRef> refs_;
  std::unordered_map<std::string_view, uint32_t> ids_;
};

// The interned columns: SummaryString's, then the scheme.
constexpr std::string_view SummaryView::*kPooled[] = {&SummaryView::method,
                                                      &SummaryView::host,
                                                      &SummaryView::server,
                                                      &SummaryView::request_content_type,
                                                      &SummaryView::response_content_type,
                                                      &SummaryView::scheme};
constexpr size_t kPools = std::size(kPooled);

constexpr uint16_t kPathElsewhere = 0xffff;
// Summary-only scans of at least this many rows are split across the cores.
constexpr size_t kParallelRows = 200'000;

struct Small {
  uint16_t port = 0;
  int16_t status = 0;
  FlowProtocol protocol = FlowProtocol::kHttp1;
  uint8_t flags = 0;
};

}  // namespace

struct SummaryTable::Impl {
  Column<uint64_t> key;
  Column<uint64_t> id;
  Column<int64_t> started_us;
  Column<int64_t> duration_us;
  Column<Small> small;
  Column<uint64_t> request_size;
  Column<uint64_t> response_size;
  std::array<Column<uint32_t>, kPools> interned;
  Column<StrRef> client;
  Column<StrRef> url;
  // Where the path starts in the URL (it ends the URL), or kPathElsewhere: then it is in
  // |other_paths|.
  Column<uint16_t> path_offset;
  std::unordered_map<size_t, StrRef> other_paths;
  std::array<Pool, kPools> pools;
  Arena arena;
  // Rows whose flow is still live, by key: the only rows that are ever updated.
  std::unordered_map<uint64_t, size_t> live;

  void set(size_t row, const SummaryView& s, bool fresh) {
    id[row] = s.id;
    started_us[row] = s.started_us;
    duration_us[row] = s.duration_us;
    small[row] = Small{s.port, static_cast<int16_t>(s.status), s.protocol, s.flags};
    request_size[row] = s.request_size;
    response_size[row] = s.response_size;
    for (size_t p = 0; p < kPools; ++p) {
      interned[p][row] = pools[p].intern(s.*kPooled[p]);
    }
    if (fresh || arena.get(client[row]) != s.client) {
      client[row] = arena.add(s.client);
    }
    if (fresh || arena.get(url[row]) != s.url) {
      url[row] = arena.add(s.url);
    }
    const std::string_view stored_url = arena.get(url[row]);
    if (stored_url.ends_with(s.path) && stored_url.size() - s.path.size() < kPathElsewhere) {
      path_offset[row] = static_cast<uint16_t>(stored_url.size() - s.path.size());
      other_paths.erase(row);
    } else {
      path_offset[row] = kPathElsewhere;
      if (auto it = other_paths.find(row);
          it == other_paths.end() || arena.get(it->second) != s.path) {
        other_paths[row] = arena.add(s.path);
      }
    }
  }

  // columns calls |f| on every column of |t| (an Impl, const or not).
  template <class Self, class F>
  static void columns(Self& t, F f) {
    std::apply([&f](auto&... column) { (f(column), ...); },
               std::tie(t.key, t.id, t.started_us, t.duration_us, t.small, t.request_size,
                        t.response_size, t.client, t.url, t.path_offset));
    std::ranges::for_each(t.interned, f);
  }

  void grow(uint64_t k) {
    columns(*this, [](auto& column) { column.push_back({}); });
    key[key.size() - 1] = k;
  }

  std::string_view path(size_t row) const {
    if (path_offset[row] != kPathElsewhere) {
      return arena.get(url[row]).substr(path_offset[row]);
    }
    const auto it = other_paths.find(row);
    return it == other_paths.end() ? std::string_view() : arena.get(it->second);
  }
};

SummaryTable::SummaryTable() : impl_(std::make_unique<Impl>()) {}
SummaryTable::~SummaryTable() = default;

size_t SummaryTable::upsert(uint64_t key, const SummaryView& summary) {
  std::unique_lock<std::shared_mutex> lock(mutex_);
  Impl& t = *impl_;
  const bool live = summary.has(kSummaryLive);
  if (auto it = t.live.find(key); it != t.live.end()) {
    const size_t row = it->second;
    t.set(row, summary, false);
    if (!live) {
      t.live.erase(it);
    }
    return row;
  }
  const size_t row = t.key.size();
  t.grow(key);
  t.set(row, summary, true);
  if (live) {
    t.live.emplace(key, row);
  }
  return row;
}

size_t SummaryTable::size() const {
  std::shared_lock<std::shared_mutex> lock(mutex_);
  return impl_->key.size();
}

uint64_t SummaryTable::key(size_t row) const { return impl_->key[row]; }

SummaryView SummaryTable::view(size_t row) const {
  const Impl& t = *impl_;
  SummaryView v;
  v.id = t.id[row];
  v.started_us = t.started_us[row];
  v.duration_us = t.duration_us[row];
  const Small& small = t.small[row];
  v.port = small.port;
  v.status = small.status;
  v.protocol = small.protocol;
  v.flags = small.flags;
  v.request_size = t.request_size[row];
  v.response_size = t.response_size[row];
  for (size_t p = 0; p < kPools; ++p) {
    v.*kPooled[p] = t.pools[p].get(t.interned[p][row]);
  }
  for (size_t which = 0; which < kSummaryStrings; ++which) {
    v.interned[which] = t.interned[which][row];
  }
  v.client = t.arena.get(t.client[row]);
  v.url = t.arena.get(t.url[row]);
  v.path = t.path(row);
  return v;
}

std::vector<uint32_t> SummaryTable::filter(const FlowFilter& filter, const LoadFn& load,
                                           ScanControl* control) const {
  std::shared_lock<std::shared_mutex> lock(mutex_);
  const size_t n = impl_->key.size();
  // Large scans, and scans that read flows from disk, run on every core.
  const bool heavy = filter.needs_detail() ? n >= 64 : n >= kParallelRows;
  size_t threads = heavy ? std::clamp<size_t>(std::thread::hardware_concurrency(), 1, 8) : 1;
  if (control != nullptr && control->max_threads > 0) {
    threads = std::min(threads, control->max_threads);
  }
  std::vector<std::vector<uint32_t>> parts(threads);
  auto scan = [&](size_t part) {
    const size_t begin = n * part / threads;
    const size_t end = n * (part + 1) / threads;
    std::vector<uint32_t>& rows = parts[part];
    FilterMemo memo;
    // Progress is reported in steps: every row for filters that load flows, else 4096 rows.
    const size_t step = filter.needs_detail() ? 1 : 4096;
    size_t reported = begin;
    for (size_t row = begin; row < end; ++row) {
      if (control != nullptr && row - reported >= step) {
        control->scanned.fetch_add(row - reported, std::memory_order_relaxed);
        reported = row;
        if (control->cancel.load(std::memory_order_relaxed)) {
          return;
        }
      }
      const SummaryView v = view(row);
      const uint64_t k = impl_->key[row];
      if (filter.matches(
              v, [&load, k]() { return load ? load(k) : nullptr; }, &memo)) {
        rows.push_back(static_cast<uint32_t>(row));
      }
    }
    if (control != nullptr) {
      control->scanned.fetch_add(end - reported, std::memory_order_relaxed);
    }
  };
  std::vector<std::thread> workers;
  for (size_t part = 1; part < threads; ++part) {
    try {
      workers.emplace_back(scan, part);
    } catch (const std::system_error&) {
      scan(part);  // No thread: this one does it.
    }
  }
  scan(0);
  for (std::thread& worker : workers) {
    worker.join();
  }
  if (parts.size() == 1) {
    return std::move(parts.front());
  }
  std::vector<uint32_t> rows;
  for (const auto& part : parts) {
    rows.insert(rows.end(), part.begin(), part.end());
  }
  return rows;
}

void SummaryTable::clear() {
  auto fresh = std::make_unique<Impl>();
  std::unique_lock<std::shared_mutex> lock(mutex_);
  impl_.swap(fresh);
  lock.unlock();  // The old rows are freed outside the lock.
}

size_t SummaryTable::memory_bytes() const {
  std::shared_lock<std::shared_mutex> lock(mutex_);
  size_t bytes = impl_->arena.memory_bytes();
  Impl::columns(*impl_, [&bytes](const auto& column) { bytes += column.memory_bytes(); });
  for (const Pool& pool : impl_->pools) {
    bytes += pool.memory_bytes();
  }
  return bytes;
}

}  // namespace sightglass::core
