#pragma once

// CrossThreadQueue: hand items from any thread to a loop thread (DESIGN.md 1.4, h2o's
// lib/common/multithread.c pattern).

#include <uv.h>

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "core/net/uv_handle.h"

namespace sightglass::core {

// CrossThreadQueue<T> carries items of type T from any thread to the thread that runs |loop|.
// push() appends under a mutex and calls uv_async_send only when the queue goes from empty to
// non-empty; the loop thread then drains everything queued in one callback, so libuv's
// coalescing of async sends loses nothing. Items pushed while a batch is being handled wait
// for the next callback, so a handler that pushes cannot starve the loop.
//
// The queue is created and destroyed on the loop thread, and other threads must stop pushing
// before it is destroyed. Items still queued at destruction are destroyed without being
// handled. The queue does not keep EventLoop::run() going by itself (its handle is unref'd).
template <typename T>
class CrossThreadQueue {
 public:
  // Handler handles one item on the loop thread. It must not throw and must not destroy the
  // queue.
  using Handler = std::function<void(T& item)>;

  // create returns a queue that hands each item to |handler|, or nullptr with a message in
  // |out_error| (when not null).
  static std::unique_ptr<CrossThreadQueue> create(EventLoop& loop, Handler handler,
                                                  std::string* out_error) {
    auto queue = std::make_unique<CrossThreadQueue>(Passkey{}, std::move(handler));
    const int status = queue->async_.init(loop, [](uv_loop_t* raw, uv_async_t* async) {
      return uv_async_init(raw, async, &CrossThreadQueue::on_async);
    });
    if (status != 0) {
      if (out_error != nullptr) {
        *out_error = "cannot create a cross-thread queue: " + uv_error_text(status);
      }
      return nullptr;
    }
    queue->async_ptr_ = queue->async_.get();
    queue->async_ptr_->data = queue.get();
    uv_unref(as_uv_handle(queue->async_ptr_));
    return queue;
  }

  struct Passkey {};
  // CrossThreadQueue is public for std::make_unique only: use create().
  CrossThreadQueue(Passkey, Handler handler) : handler_(std::move(handler)) {}
  CrossThreadQueue(const CrossThreadQueue&) = delete;
  CrossThreadQueue& operator=(const CrossThreadQueue&) = delete;
  ~CrossThreadQueue() {
    std::lock_guard<std::mutex> lock(mutex_);
    async_.reset();
  }

  // push queues |item| for the loop thread. Safe from any thread, the loop thread included.
  void push(T item) {
    std::lock_guard<std::mutex> lock(mutex_);
    const bool was_empty = pending_.empty();
    pending_.push_back(std::move(item));
    if (was_empty) {
      // Sent under the lock, so that ~CrossThreadQueue cannot close the handle meanwhile.
      detail::check_uv(uv_async_send(async_ptr_), "uv_async_send");
    }
  }

 private:
  static void on_async(uv_async_t* async) noexcept {
    auto* self = static_cast<CrossThreadQueue*>(async->data);
    if (self != nullptr) {
      self->drain();
    }
  }

  void drain() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      draining_.swap(pending_);  // |pending_| keeps the capacity of the last batch.
    }
    for (T& item : draining_) {
      handler_(item);
    }
    draining_.clear();
  }

  UvHandle<uv_async_t> async_;
  uv_async_t* async_ptr_ = nullptr;  // Set once by create(); read by push() on any thread.
  std::mutex mutex_;
  std::vector<T> pending_;   // Guarded by |mutex_|.
  std::vector<T> draining_;  // Loop thread only.
  Handler handler_;
};

}  // namespace sightglass::core
