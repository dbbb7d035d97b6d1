#pragma once

// Where published flows go. The loop thread that owns a flow publishes snapshots of it to a
// FlowBus, which hands each one to every sink; sinks that do I/O hand the work to their own
// thread (BackgroundWriter), so the loop thread never blocks on a disk or a terminal.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "core/proxy/flow.h"

namespace sightglass::core {

// FlowSink receives flow snapshots.
class FlowSink {
 public:
  virtual ~FlowSink() = default;

  // publish is called on a loop thread, possibly on several at once, for every snapshot (live
  // and finished). It must return quickly and never block on I/O.
  virtual void publish(FlowSnapshotConstSharedPtr snapshot) = 0;

  // close is called once at shutdown, from the main thread, after the last publish. It
  // returns when everything published has been written out.
  virtual void close() = 0;
};

using FlowSinkSharedPtr = std::shared_ptr<FlowSink>;

class FlowSubscriptionQueue;
struct FlowSubscriberRegistry;

// FlowSubscription is one consumer attached to a FlowBus while it runs (a GUI view): a
// bounded queue of the snapshots published since it subscribed, which the consumer drains
// from its own thread. When the queue is full, a live snapshot replaces the queued live
// snapshot of the same flow (a newer revision supersedes it) or, when there is none, is
// dropped; both count in live_dropped(). A finished snapshot is always queued, so the queue
// exceeds its capacity by finished snapshots only: a consumer may miss intermediate
// revisions, never a flow's final one. Destroying the subscription unsubscribes it.
class FlowSubscription {
  struct PrivateTag {
    explicit PrivateTag() = default;
  };

 public:
  // Made by FlowBus::subscribe only.
  FlowSubscription(PrivateTag /*unused*/, std::shared_ptr<FlowSubscriptionQueue> queue,
                   std::weak_ptr<FlowSubscriberRegistry> registry);
  ~FlowSubscription();
  FlowSubscription(const FlowSubscription&) = delete;
  FlowSubscription& operator=(const FlowSubscription&) = delete;

  // drain appends every queued snapshot to |out| in publish order and empties the queue;
  // returns how many it appended. Any thread (meant for the consumer's).
  size_t drain(std::vector<FlowSnapshotConstSharedPtr>* out);

  // unsubscribe detaches from the bus: nothing is queued after it, and once it has returned
  // |notify| is not running and will not run again. Thread-safe, idempotent; must not be
  // called from |notify| itself. What is queued can still be drained.
  void unsubscribe();

  // live_dropped counts the live snapshots lost because the queue was full (dropped, or
  // replaced by a newer revision of the same flow before the consumer drained it).
  uint64_t live_dropped() const;
  // queued_total counts every snapshot queued (replacements not included).
  uint64_t queued_total() const;
  size_t capacity() const;

 private:
  friend class FlowBus;

  std::shared_ptr<FlowSubscriptionQueue> queue_;
  std::weak_ptr<FlowSubscriberRegistry> registry_;
};

using FlowSubscriptionSharedPtr = std::shared_ptr<FlowSubscription>;

// FlowBus fans every snapshot out to its sinks, in the order they were added, and to its
// subscriptions. Sinks are added before the first publish (the list is not locked); publish
// may then be called from any number of threads. Subscriptions come and go at any time, also
// while publish runs on other threads.
class FlowBus : public FlowSink {
 public:
  FlowBus();
  FlowBus(const FlowBus&) = delete;
  FlowBus& operator=(const FlowBus&) = delete;

  // add_sink adds |sink|, which the bus shares ownership of. Not thread-safe: call it before
  // publishing starts.
  void add_sink(FlowSinkSharedPtr sink);
  size_t sink_count() const { return sinks_.size(); }

  // subscribe attaches a consumer with a queue of |capacity| snapshots (at least 1). |notify|
  // (may be empty) is called on the publishing thread, outside the bus's and the queue's
  // locks, whenever the queue goes from empty to non-empty: it should only wake the consumer
  // (glfwPostEmptyEvent, a condition variable) and must not call unsubscribe(). Thread-safe.
  FlowSubscriptionSharedPtr subscribe(size_t capacity, std::function<void()> notify);
  // subscription_count is the number of attached subscriptions.
  size_t subscription_count() const;

  // FlowSink
  void publish(FlowSnapshotConstSharedPtr snapshot) override;
  // close closes every sink in the order they were added; later calls do nothing.
  // Subscriptions stay attached (nothing is published after close).
  void close() override;

 private:
  std::vector<FlowSinkSharedPtr> sinks_;
  std::shared_ptr<FlowSubscriberRegistry> registry_;
  std::once_flag closed_;
};

// BackgroundWriter is the "sink with its own writer thread" pattern (Envoy's file flusher):
// push() appends to a vector under a mutex and wakes the thread, which swaps the vector out and
// hands the batch to |write_batch|, where the I/O happens (WriterSink owns one).
class BackgroundWriter {
 public:
  // kBatchDelay is how long the thread waits after a wake-up for more flows to arrive.
  static constexpr std::chrono::milliseconds kBatchDelay{5};

  // BatchFn writes a batch, on the writer thread, in publish order.
  using BatchFn = std::function<void(const std::vector<FlowSnapshotConstSharedPtr>& batch)>;
  // FinishFn runs once on the writer thread after the last batch (to write a trailer, close a
  // file).
  using FinishFn = std::function<void()>;

  BackgroundWriter(BatchFn write_batch, FinishFn finish);
  // ~BackgroundWriter stops the thread (as stop() does) if it is still running.
  ~BackgroundWriter();
  BackgroundWriter(const BackgroundWriter&) = delete;
  BackgroundWriter& operator=(const BackgroundWriter&) = delete;

  // start starts the writer thread; false if the thread cannot be created.
  bool start();

  // push queues |snapshot| for the writer thread. It only takes a short lock; after stop() it
  // drops the snapshot.
  void push(FlowSnapshotConstSharedPtr snapshot);

  // stop writes what is queued, runs |finish|, and joins the thread. Later calls do nothing.
  void stop();

  // lost counts the snapshots that were never written: pushed after stop(), or in a batch
  // whose |write_batch| threw. Any thread.
  uint64_t lost() const { return lost_.load(std::memory_order_relaxed); }

 private:
  void run();

  BatchFn write_batch_;
  FinishFn finish_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::vector<FlowSnapshotConstSharedPtr> queue_;  // Guarded by mutex_.
  bool stopping_ = false;                          // Guarded by mutex_.
  std::atomic<uint64_t> lost_{0};
  std::mutex stop_mutex_;  // Serializes stop().
  std::thread thread_;
};

// WriterSink is a sink that hands every finished snapshot (live ones are ignored) to its
// BackgroundWriter. close() writes what is queued, runs the writer's |finish| and joins the
// thread; a subclass's destructor must call it, so that the thread stops before the subclass's
// members go away.
class WriterSink : public FlowSink {
 public:
  WriterSink(const WriterSink&) = delete;
  WriterSink& operator=(const WriterSink&) = delete;

  void publish(FlowSnapshotConstSharedPtr snapshot) override {
    if (snapshot && snapshot->state == FlowState::kFinished) {
      writer_.push(std::move(snapshot));
    }
  }
  void close() override { writer_.stop(); }

  // error returns the first error, or ""; read it after close().
  const std::string& error() const { return error_; }

 protected:
  // PrivateTag keeps a subclass's public constructor (std::make_unique needs one) to its create().
  struct PrivateTag {
    explicit PrivateTag() = default;
  };

  WriterSink(BackgroundWriter::BatchFn write_batch, BackgroundWriter::FinishFn finish)
      : writer_(std::move(write_batch), std::move(finish)) {}

  // started starts the writer thread of |sink| and returns it, or returns nullptr and sets
  // *error to "cannot start <what>".
  template <class Sink>
  static std::unique_ptr<Sink> started(std::unique_ptr<Sink> sink, const std::string& what,
                                       std::string* error) {
    if (!sink->writer_.start()) {
      *error = "cannot start " + what;
      return nullptr;
    }
    return sink;
  }

  // keep_error records |error| unless an earlier error is recorded (on the writer thread).
  void keep_error(const std::string& error) {
    if (error_.empty()) {
      error_ = error;
    }
  }

 private:
  std::string error_;  // Written by the writer thread; read after close().

 protected:
  BackgroundWriter writer_;  // Last: its thread stops before error_ goes away.
};

}  // namespace sightglass::core
