#pragma once

// Where published flows go. The loop thread that owns a flow publishes snapshots of it to a
// FlowBus, which hands each one to every sink; sinks that do I/O hand the work to their own
// thread (BackgroundWriter), so the loop thread never blocks on a disk or a terminal.

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
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

// FlowBus fans every snapshot out to its sinks, in the order they were added. Sinks are added
// before the first publish (the list is not locked); publish may then be called from any
// number of threads.
class FlowBus : public FlowSink {
 public:
  // add_sink adds |sink|, which the bus shares ownership of. Not thread-safe: call it before
  // publishing starts.
  void add_sink(FlowSinkSharedPtr sink);
  size_t sink_count() const { return sinks_.size(); }

  // FlowSink
  void publish(FlowSnapshotConstSharedPtr snapshot) override;
  // close closes every sink in the order they were added; later calls do nothing.
  void close() override;

 private:
  std::vector<FlowSinkSharedPtr> sinks_;
  std::once_flag closed_;
};

// BackgroundWriter is the "sink with its own writer thread" pattern (Envoy's file flusher):
// push() appends to a vector under a mutex and wakes the thread, which swaps the vector out and
// hands the batch to |write_batch|, where the I/O happens. A sink owns one as its last member,
// so the thread stops before the state it uses goes away.
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

 private:
  void run();

  BatchFn write_batch_;
  FinishFn finish_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::vector<FlowSnapshotConstSharedPtr> queue_;  // Guarded by mutex_.
  bool stopping_ = false;                          // Guarded by mutex_.
  std::mutex stop_mutex_;                          // Serializes stop().
  std::thread thread_;
};

}  // namespace sightglass::core
