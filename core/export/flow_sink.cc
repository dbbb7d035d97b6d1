#include "core/export/flow_sink.h"

#include <exception>
#include <utility>

namespace sightglass::core {

void FlowBus::add_sink(FlowSinkSharedPtr sink) {
  if (sink) {
    sinks_.push_back(std::move(sink));
  }
}

void FlowBus::publish(FlowSnapshotConstSharedPtr snapshot) {
  for (const FlowSinkSharedPtr& sink : sinks_) {
    sink->publish(snapshot);
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
      } catch (const std::exception&) {
      } catch (...) {
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
