#include "core/export/flow_sink.h"

#include <algorithm>
#include <exception>

namespace sightglass::core {

// FlowSubscriptionQueue is the state a subscription shares with the bus's list.
class FlowSubscriptionQueue {
 public:
  FlowSubscriptionQueue(size_t capacity, std::function<void()> notify)
      : capacity_(std::max<size_t>(capacity, 1)), notify_(std::move(notify)) {}

  void push(const FlowSnapshotConstSharedPtr& snapshot) {
    bool wake = false;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (detached_) {
        return;
      }
      if (snapshot->state == FlowState::kLive && queue_.size() >= capacity_) {
        // Full: a newer revision takes the place of a queued live one of the same flow;
        // otherwise it is lost. Either way the consumer misses a revision.
        ++live_dropped_;
        for (auto it = queue_.rbegin(); it != queue_.rend(); ++it) {
          if ((*it)->id == snapshot->id && (*it)->state == FlowState::kLive) {
            if ((*it)->revision < snapshot->revision) {
              *it = snapshot;
            }
            break;
          }
        }
        return;
      }
      wake = queue_.empty();
      queue_.push_back(snapshot);
      ++queued_total_;
    }
    if (wake && notify_) {
      // Outside the queue's lock (the consumer may be draining); under notify_mutex_ only, so
      // that detach() can wait for a notify in progress.
      std::lock_guard<std::mutex> lock(notify_mutex_);
      if (!detached_flag_.load(std::memory_order_acquire)) {
        notify_();
      }
    }
  }

  size_t drain(std::vector<FlowSnapshotConstSharedPtr>* out) {
    std::deque<FlowSnapshotConstSharedPtr> taken;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      taken.swap(queue_);
    }
    out->insert(out->end(), std::make_move_iterator(taken.begin()),
                std::make_move_iterator(taken.end()));
    return taken.size();
  }

  void detach() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      detached_ = true;
    }
    detached_flag_.store(true, std::memory_order_release);
    // Wait for a notify that is running now; none starts after this.
    std::lock_guard<std::mutex> lock(notify_mutex_);
  }

  uint64_t live_dropped() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return live_dropped_;
  }
  uint64_t queued_total() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return queued_total_;
  }
  size_t capacity() const { return capacity_; }

 private:
  const size_t capacity_;
  const std::function<void()> notify_;
  mutable std::mutex mutex_;
  std::deque<FlowSnapshotConstSharedPtr> queue_;  // Guarded by mutex_.
  bool detached_ = false;                         // Guarded by mutex_.
  uint64_t live_dropped_ = 0;                     // Guarded by mutex_.
  uint64_t queued_total_ = 0;                     // Guarded by mutex_.
  std::mutex notify_mutex_;
  std::atomic<bool> detached_flag_{false};
};

// FlowSubscriberRegistry is the bus's list of subscriptions, copied on write: publish takes
// the current list under a short lock and pushes without it, so subscribing and
// unsubscribing never wait for a publish.
struct FlowSubscriberRegistry {
  using List = std::vector<std::shared_ptr<FlowSubscriptionQueue>>;
  std::mutex mutex;
  std::shared_ptr<const List> list = std::make_shared<const List>();
  std::atomic<size_t> count{0};  // list->size(), read without the lock.

  std::shared_ptr<const List> current() {
    std::lock_guard<std::mutex> lock(mutex);
    return list;
  }
  // update replaces the list with a copy that |change| has changed.
  template <class Fn>
  void update(Fn change) {
    std::lock_guard<std::mutex> lock(mutex);
    auto next = std::make_shared<List>(*list);
    change(*next);
    count.store(next->size(), std::memory_order_release);
    list = std::move(next);
  }
};

FlowSubscription::FlowSubscription(PrivateTag /*unused*/,
                                   std::shared_ptr<FlowSubscriptionQueue> queue,
                                   std::weak_ptr<FlowSubscriberRegistry> registry)
    : queue_(std::move(queue)), registry_(std::move(registry)) {}

FlowSubscription::~FlowSubscription() { unsubscribe(); }

size_t FlowSubscription::drain(std::vector<FlowSnapshotConstSharedPtr>* out) {
  return queue_->drain(out);
}

void FlowSubscription::unsubscribe() {
  if (auto registry = registry_.lock()) {
    registry->update(
        [this](auto& list) { std::erase_if(list, [this](const auto& q) { return q == queue_; }); });
  }
  registry_.reset();
  queue_->detach();
}

uint64_t FlowSubscription::live_dropped() const { return queue_->live_dropped(); }
uint64_t FlowSubscription::queued_total() const { return queue_->queued_total(); }
size_t FlowSubscription::capacity() const { return queue_->capacity(); }

FlowBus::FlowBus() : registry_(std::make_shared<FlowSubscriberRegistry>()) {}

void FlowBus::add_sink(FlowSinkSharedPtr sink) {
  if (sink) {
    sinks_.push_back(std::move(sink));
  }
}

FlowSubscriptionSharedPtr FlowBus::subscribe(size_t capacity, std::function<void()> notify) {
  auto queue = std::make_shared<FlowSubscriptionQueue>(capacity, std::move(notify));
  registry_->update([&queue](auto& list) { list.push_back(queue); });
  return std::make_shared<FlowSubscription>(FlowSubscription::PrivateTag(), std::move(queue),
                                            registry_);
}

size_t FlowBus::subscription_count() const {
  return registry_->count.load(std::memory_order_acquire);
}

void FlowBus::publish(FlowSnapshotConstSharedPtr snapshot) {
  if (!snapshot) {
    return;
  }
  for (const FlowSinkSharedPtr& sink : sinks_) {
    sink->publish(snapshot);
  }
  // No lock at all while nobody is subscribed (the command line's case).
  if (registry_->count.load(std::memory_order_acquire) != 0) {
    const auto list = registry_->current();
    for (const auto& queue : *list) {
      queue->push(snapshot);
    }
  }
}

void FlowBus::close() {
  std::call_once(closed_, [this] {
    for (const FlowSinkSharedPtr& sink : sinks_) {
      sink->close();
    }
  });
}

BackgroundWriter::BackgroundWriter(BatchFn write_batch, FinishFn finish)
    : write_batch_(std::move(write_batch)), finish_(std::move(finish)) {}

BackgroundWriter::~BackgroundWriter() { stop(); }

bool BackgroundWriter::start() {
  try {
    thread_ = std::thread([this] { run(); });
  } catch (const std::exception&) {  // std::system_error: no thread.
    return false;
  }
  return true;
}

void BackgroundWriter::push(FlowSnapshotConstSharedPtr snapshot) {
  bool wake = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_) {
      lost_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    wake = queue_.empty();
    queue_.push_back(std::move(snapshot));
  }
  // The thread sleeps only while the queue is empty, so only that edge needs a wake-up.
  if (wake) {
    wake_.notify_one();
  }
}

void BackgroundWriter::stop() {
  std::lock_guard<std::mutex> stop_lock(stop_mutex_);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  if (thread_.joinable()) {
    thread_.join();
  }
}

void BackgroundWriter::run() {
  std::vector<FlowSnapshotConstSharedPtr> batch;
  while (true) {
    bool last = false;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      // Linger a moment so that a busy proxy hands over flows in batches: the loop thread then
      // pays for one wake-up per batch, not one per flow.
      wake_.wait_for(lock, kBatchDelay, [this] { return stopping_; });
      batch.swap(queue_);
      last = stopping_;
    }
    if (!batch.empty()) {
      // Nothing may escape the thread: a failed batch is dropped, the writer goes on.
      try {
        write_batch_(batch);
      } catch (...) {
        lost_.fetch_add(batch.size(), std::memory_order_relaxed);
      }
      batch.clear();
    }
    if (last) {
      break;
    }
  }
  if (finish_) {
    try {
      finish_();
    } catch (...) {
    }
  }
}

}  // namespace sightglass::core
