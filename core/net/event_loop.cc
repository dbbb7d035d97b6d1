#include "core/net/event_loop.h"

#include <signal.h>

#include <cerrno>
#include <cstring>
#include <utility>

namespace sightglass::core {

namespace detail {

uv_loop_t* raw_loop(EventLoop& loop) { return &loop.loop_; }

UvHandleList& handle_list(EventLoop& loop) { return loop.handles_; }

}  // namespace detail

std::unique_ptr<EventLoop> EventLoop::create(std::string* out_error) {
  auto loop = std::make_unique<EventLoop>(Passkey{});
  const int status = uv_loop_init(&loop->loop_);
  if (status != 0) {
    detail::set_error(out_error, "cannot create the event loop: " + uv_error_text(status));
    return nullptr;
  }
  loop->initialized_ = true;
  loop->loop_.data = loop.get();
  const int async_status = loop->async_.init(*loop, [](uv_loop_t* raw, uv_async_t* async) {
    return uv_async_init(raw, async, &EventLoop::on_async);
  });
  if (async_status != 0) {
    detail::set_error(out_error,
                      "cannot create a cross-thread queue: " + uv_error_text(async_status));
    return nullptr;
  }
  loop->async_ptr_ = loop->async_.get();
  loop->async_ptr_->data = loop.get();
  uv_unref(as_uv_handle(loop->async_ptr_));
  return loop;
}

EventLoop::EventLoop(Passkey) : read_buffer_(std::make_unique<char[]>(kReadBufferSize)) {}

EventLoop::~EventLoop() {
  if (!initialized_) {
    return;
  }
  closing_ = true;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    async_.reset();
    async_ptr_ = nullptr;  // A post() from now on is dropped.
  }
  for (;;) {
    // Handles are closed again on every round: callbacks that ran in the last one (a DNS lookup
    // that finished, say) may have opened new ones.
    handles_.close_all();
    uv_walk(&loop_, &EventLoop::close_unlisted, nullptr);
    const int status = uv_loop_close(&loop_);
    if (status == 0) {
      break;
    }
    if (status != UV_EBUSY) {
      detail::fatal_uv("uv_loop_close", status);
    }
    // Runs the close callbacks; blocks only while a request (a DNS lookup) is still running.
    uv_run(&loop_, UV_RUN_ONCE);
  }
}

void EventLoop::close_unlisted(uv_handle_t* handle, void* /*arg*/) noexcept {
  // A handle that no UvHandle made: its memory belongs to whoever made it, so no close callback.
  if (uv_is_closing(handle) == 0) {
    uv_close(handle, nullptr);
  }
}

void EventLoop::post(Task task) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (async_ptr_ == nullptr) {
    return;  // The loop is being destroyed.
  }
  const bool was_empty = pending_.empty();
  pending_.push_back(std::move(task));
  if (was_empty) {
    // Sent under the lock, so that ~EventLoop cannot close the handle meanwhile.
    detail::check_uv(uv_async_send(async_ptr_), "uv_async_send");
  }
}

void EventLoop::on_async(uv_async_t* async) noexcept {
  auto* self = static_cast<EventLoop*>(async->data);
  if (self == nullptr) {
    return;
  }
  {
    std::lock_guard<std::mutex> lock(self->mutex_);
    self->draining_.swap(self->pending_);  // |pending_| keeps the capacity of the last batch.
  }
  for (Task& task : self->draining_) {
    if (task) {
      task();
    }
  }
  self->draining_.clear();
}

uv_buf_t EventLoop::read_buffer() {
  return uv_buf_init(read_buffer_.get(), static_cast<unsigned int>(kReadBufferSize));
}

bool ignore_sigpipe(std::string* out_error) {
  struct sigaction action {};
  action.sa_handler = SIG_IGN;
  if (sigemptyset(&action.sa_mask) != 0 || sigaction(SIGPIPE, &action, nullptr) != 0) {
    detail::set_error(out_error, std::string("cannot ignore SIGPIPE: ") + std::strerror(errno));
    return false;
  }
  return true;
}

Timer::Timer(EventLoop& loop) {
  detail::check_uv(handle_.init(loop, &uv_timer_init), "uv_timer_init");
  handle_.get()->data = this;
}

bool Timer::start(uint64_t timeout_ms, std::function<void()> callback) {
  uv_timer_t* timer = handle_.get();
  if (timer == nullptr) {
    return false;
  }
  callback_ = std::move(callback);
  // Count from now, not from the loop's cached time (which a long callback leaves behind).
  uv_update_time(timer->loop);
  detail::check_uv(uv_timer_start(timer, &Timer::on_timer, timeout_ms, 0), "uv_timer_start");
  return true;
}

void Timer::stop() {
  callback_ = nullptr;
  if (uv_timer_t* timer = handle_.get()) {
    detail::check_uv(uv_timer_stop(timer), "uv_timer_stop");
  }
}

bool Timer::active() const {
  const uv_timer_t* timer = handle_.get();
  return timer != nullptr && uv_is_active(reinterpret_cast<const uv_handle_t*>(timer)) != 0;
}

void Timer::on_timer(uv_timer_t* timer) noexcept {
  auto* self = static_cast<Timer*>(timer->data);
  if (self == nullptr) {
    return;
  }
  // Moved out first: the callback may destroy the Timer or start it again.
  std::function<void()> callback = std::exchange(self->callback_, nullptr);
  if (callback) {
    callback();
  }
}

std::unique_ptr<SignalWatcher> SignalWatcher::create(EventLoop& loop, Callback callback,
                                                     std::string* out_error) {
  auto watcher = std::make_unique<SignalWatcher>(Passkey{});
  watcher->callback_.set(std::move(callback));
  for (const int signum : {SIGINT, SIGTERM}) {
    UvHandle<uv_signal_t> handle;
    int status = handle.init(loop, &uv_signal_init);
    if (status == 0) {
      handle.get()->data = watcher.get();
      status = uv_signal_start(handle.get(), &SignalWatcher::on_signal, signum);
    }
    if (status != 0) {
      detail::set_error(out_error, std::string("cannot watch ") + strsignal(signum) + ": " +
                                       uv_error_text(status));
      return nullptr;
    }
    uv_unref(as_uv_handle(handle.get()));
    watcher->handles_.push_back(std::move(handle));
  }
  return watcher;
}

void SignalWatcher::on_signal(uv_signal_t* signal, int signum) noexcept {
  auto* self = static_cast<SignalWatcher*>(signal->data);
  if (self == nullptr) {
    return;
  }
  static_cast<void>(self->callback_.call(signum));
}

}  // namespace sightglass::core
