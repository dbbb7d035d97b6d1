#pragma once

// The event loop of core/net (DESIGN.md 1.4): one uv_loop_t per loop thread, the cross-thread
// task queue into it (h2o's lib/common/multithread.c pattern), and the two small handles every
// loop needs: timers and signal watchers.

#include <uv.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/net/callback_slot.h"
#include "core/net/uv_handle.h"

namespace sightglass::core {

// EventLoop owns a uv_loop_t and everything the loop needs besides the handles of its users.
// It is created on, and except for post() used only from, the thread that calls run().
//
// Destruction closes every handle still open (the wrappers that hold them become empty and
// may be destroyed later), waits for requests in flight (a DNS lookup runs to its end), runs
// the loop until uv_loop_close succeeds, and discards the tasks not yet run. While that
// happens closing() is true and core/net calls no user callback. Other threads must stop
// calling post() before the EventLoop is destroyed.
class EventLoop {
 public:
  using Task = std::function<void()>;

  // kReadBufferSize is the size of the buffer every stream of the loop reads into.
  static constexpr size_t kReadBufferSize = 64 * 1024;

  // create returns a new loop, or nullptr with a message in |out_error| (when not null).
  static std::unique_ptr<EventLoop> create(std::string* out_error);

  struct Passkey {};
  // EventLoop is public for std::make_unique only: use create().
  explicit EventLoop(Passkey);
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;
  ~EventLoop();

  // run runs the loop until stop() is called or no referenced handle or request is left.
  // Neither post()'s queue nor SignalWatcher keeps it running.
  void run() { uv_run(&loop_, UV_RUN_DEFAULT); }
  // stop makes run() return after the current iteration. Loop thread only: from another thread,
  // post([&loop] { loop.stop(); }).
  void stop() { uv_stop(&loop_); }
  // post runs |task| once on the loop thread, in order with the other tasks posted from the
  // same thread. Safe from any thread. A task must not throw and must not destroy the loop.
  // The loop runs every task queued in one callback (uv_async_send coalesces, and is called only
  // when the queue goes from empty to non-empty); tasks posted meanwhile wait for the next one,
  // so a task that posts cannot starve the loop. Tasks not run at destruction are discarded.
  void post(Task task);

  // closing is true while the destructor closes the loop.
  bool closing() const { return closing_; }
  // get returns the uv_loop_t, for libuv calls that this library does not wrap.
  uv_loop_t* get() { return &loop_; }
  // read_buffer is the loop-wide buffer that streams read into. What a read callback receives
  // points into it and is valid only until the callback returns.
  uv_buf_t read_buffer();

 private:
  friend uv_loop_t* detail::raw_loop(EventLoop& loop);
  friend detail::UvHandleList& detail::handle_list(EventLoop& loop);

  static void close_unlisted(uv_handle_t* handle, void* arg) noexcept;
  static void on_async(uv_async_t* async) noexcept;

  uv_loop_t loop_{};
  bool initialized_ = false;
  bool closing_ = false;
  detail::UvHandleList handles_;
  std::unique_ptr<char[]> read_buffer_;
  UvHandle<uv_async_t> async_;       // Unref'd: queued tasks do not keep run() going.
  uv_async_t* async_ptr_ = nullptr;  // Set by create(), cleared by ~EventLoop; under mutex_.
  std::mutex mutex_;
  std::vector<Task> pending_;   // Guarded by |mutex_|.
  std::vector<Task> draining_;  // Loop thread only.
};

// ignore_sigpipe makes a write to a reset connection fail with EPIPE instead of killing the
// process (libuv writes with writev, which raises SIGPIPE). Call it once at startup (the CLI
// does, DESIGN.md 1.5); returns false with a message in |out_error| if it fails.
bool ignore_sigpipe(std::string* out_error);

// Timer runs a callback once, a number of milliseconds after start(). It belongs to one loop
// thread. The callback may destroy the Timer or start it again. Destroying or stopping the
// Timer before it fires means the callback never runs.
class Timer {
 public:
  explicit Timer(EventLoop& loop);
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;

  // start (re)arms the timer: |callback| runs once, |timeout_ms| from now (0: at the next loop
  // iteration), replacing any callback pending. Returns false if the loop is gone.
  bool start(uint64_t timeout_ms, std::function<void()> callback);
  // stop disarms the timer; the pending callback is dropped.
  void stop();
  // active is true while a callback is pending.
  bool active() const;

 private:
  static void on_timer(uv_timer_t* timer) noexcept;

  UvHandle<uv_timer_t> handle_;
  std::function<void()> callback_;
};

// SignalWatcher calls a callback on the loop thread when the process receives SIGINT or
// SIGTERM (uv_signal_t, so the callback runs in the loop, not in a signal handler). It does not
// keep the loop running, and the callback may destroy the watcher. When the last watcher of a
// signal is destroyed, libuv restores that signal's default action.
class SignalWatcher {
 public:
  using Callback = std::function<void(int signum)>;

  // create watches SIGINT and SIGTERM, or returns nullptr with a message in |out_error|.
  static std::unique_ptr<SignalWatcher> create(EventLoop& loop, Callback callback,
                                               std::string* out_error);

  struct Passkey {};
  // SignalWatcher is public for std::make_unique only: use create().
  explicit SignalWatcher(Passkey) {}
  SignalWatcher(const SignalWatcher&) = delete;
  SignalWatcher& operator=(const SignalWatcher&) = delete;

 private:
  static void on_signal(uv_signal_t* signal, int signum) noexcept;

  std::vector<UvHandle<uv_signal_t>> handles_;
  detail::CallbackSlot<Callback> callback_;
};

}  // namespace sightglass::core
