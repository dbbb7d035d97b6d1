#pragma once

// CallbackSlot: how the libuv wrappers of core/net run user callbacks so that the owner of a
// wrapper may destroy it (or replace its callbacks) from inside one of those callbacks.

#include <memory>
#include <utility>
#include <vector>

namespace sightglass::core::detail {

// CallbackSlot<T> holds a wrapper's user callbacks (T: a std::function or a struct of them) at a
// stable heap address and runs them through invoke(). When the wrapper is destroyed, or set() is
// called, while one of its callbacks is running, the running callable is not freed at once: it
// is handed to the outermost running invoke(), which frees it after the callback returns, and
// invoke() reports that the owner is gone so that the dispatcher stops touching it. This is what
// makes "delete the stream from inside its on_data" safe. Loop thread only; the slot itself is
// a member of the wrapper and dies with it.
template <typename T>
class CallbackSlot {
 public:
  CallbackSlot() = default;
  CallbackSlot(const CallbackSlot&) = delete;
  CallbackSlot& operator=(const CallbackSlot&) = delete;
  ~CallbackSlot() {
    for (Frame* frame = frame_; frame != nullptr; frame = frame->outer) {
      frame->destroyed = true;
    }
    retire();
  }

  // set replaces the callbacks. A callable that is running keeps living until it returns.
  void set(T value) {
    retire();
    value_ = std::make_unique<T>(std::move(value));
  }

  // invoke runs fn(T&) when callbacks are set. It returns false when the slot (and so its owner)
  // was destroyed during the call: the caller must then return at once without touching the
  // owner. It returns true otherwise, including when nothing is set.
  template <typename Fn>
  [[nodiscard]] bool invoke(Fn&& fn) {
    if (!value_) {
      return true;
    }
    Frame frame;
    frame.outer = frame_;
    frame_ = &frame;
    T& callbacks = *value_;
    std::forward<Fn>(fn)(callbacks);
    if (frame.destroyed) {
      return false;  // |frame.retired| frees the callable that just returned.
    }
    frame_ = frame.outer;
    return true;
  }

  // call runs the callable (T: a std::function) with |args| when it is set, as invoke() does.
  template <typename... Args>
  [[nodiscard]] bool call(Args&&... args) {
    return invoke([&](T& callable) {
      if (callable) {
        callable(std::forward<Args>(args)...);
      }
    });
  }

 private:
  // Frame is one running invoke(), on the dispatcher's stack.
  struct Frame {
    Frame* outer = nullptr;
    bool destroyed = false;
    std::vector<std::unique_ptr<T>> retired;  // Freed when the outermost invoke() returns.
  };

  void retire() {
    if (!value_) {
      return;
    }
    if (frame_ == nullptr) {
      value_.reset();
      return;
    }
    Frame* outermost = frame_;
    while (outermost->outer != nullptr) {
      outermost = outermost->outer;
    }
    outermost->retired.push_back(std::move(value_));
  }

  std::unique_ptr<T> value_;
  Frame* frame_ = nullptr;  // The innermost running invoke(), or nullptr.
};

}  // namespace sightglass::core::detail
