#pragma once

// RAII for libuv handles and requests (DESIGN.md 1.6), modeled on Kitware's cm::uv_handle_ptr.
//
// libuv handles never move and must stay allocated until their close callback has run, which
// is one loop iteration after uv_close(). UvHandle<T> therefore keeps the handle on the heap:
// the wrapper moves, the handle does not; destroying (or reset()ting) the wrapper calls
// uv_close() and the close callback frees the memory. Every handle made through UvHandle is
// also listed on its EventLoop, so that ~EventLoop can close the handles whose wrappers are
// still alive; such a wrapper becomes empty (get() returns nullptr) and only frees memory when
// it is destroyed later.
//
// Requests (uv_write_t, uv_connect_t, ...) belong to libuv from a successful submission until
// their callback. They are allocated with std::make_unique, release()d on submission and taken
// back into a std::unique_ptr as the callback's first statement.

#include <uv.h>

#include <list>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>

namespace sightglass::core {

class EventLoop;

// as_uv_handle and as_uv_stream convert a libuv handle to its "base class" the way libuv's own
// API expects (every handle begins with the uv_handle_t fields).
template <typename T>
uv_handle_t* as_uv_handle(T* handle) {
  return reinterpret_cast<uv_handle_t*>(handle);
}
template <typename T>
uv_stream_t* as_uv_stream(T* handle) {
  return reinterpret_cast<uv_stream_t*>(handle);
}

// uv_error_text returns libuv's message for a negative status ("address already in use").
std::string uv_error_text(int status);

namespace detail {

class UvHandleList;

// UvHandleNode is the bookkeeping UvHandle keeps next to each handle it allocates.
struct UvHandleNode {
  uv_handle_t* handle = nullptr;
  uv_close_cb on_close = nullptr;               // Frees the block when no wrapper holds it.
  UvHandleList* list = nullptr;                 // The EventLoop's list, until the close callback.
  std::list<UvHandleNode*>::iterator position;  // In |list|.
  bool owned = true;                            // A UvHandle still holds the block.
  bool detached = false;  // The EventLoop closed the handle while a wrapper held it.
  bool closed = false;    // The close callback has run.
};

// UvHandleList is the list of the open handles of one EventLoop that UvHandle made.
// Loop thread only.
class UvHandleList {
 public:
  UvHandleList() = default;
  UvHandleList(const UvHandleList&) = delete;
  UvHandleList& operator=(const UvHandleList&) = delete;

  void push(UvHandleNode* node);
  void erase(UvHandleNode* node);
  // close_all closes every listed handle that is not closing yet. The handles' data pointers are
  // cleared first (so callbacks that look up their owner there do nothing) and their wrappers
  // become empty.
  void close_all();

 private:
  std::list<UvHandleNode*> nodes_;
};

// raw_loop and handle_list give UvHandle the EventLoop parts it needs (defined with EventLoop).
uv_loop_t* raw_loop(EventLoop& loop);
UvHandleList& handle_list(EventLoop& loop);

// fatal_uv reports a broken invariant around a libuv call ("uv_timer_init failed: ...") on
// stderr and aborts. For failures that cannot happen short of a bug or memory exhaustion.
[[noreturn]] void fatal_uv(const char* what, int status);
inline void check_uv(int status, const char* what) {
  if (status != 0) {
    fatal_uv(what, status);
  }
}

// set_error stores |error| in |*out_error| when |out_error| is not null.
inline void set_error(std::string* out_error, std::string error) {
  if (out_error != nullptr) {
    *out_error = std::move(error);
  }
}

}  // namespace detail

// UvHandle<T> owns one libuv handle of type T (uv_tcp_t, uv_timer_t, ...) on the heap. It is
// empty until init() succeeds. The handle's |data| field is the owner's (for example the
// TcpStream it belongs to); reset() clears it before closing, so that callbacks still
// delivered for a closing handle (cancelled writes, connects) find nullptr and return.
// Loop thread only: create, use and destroy a UvHandle on the thread that runs its loop.
template <typename T>
class UvHandle {
 public:
  UvHandle() = default;
  UvHandle(UvHandle&& other) noexcept = default;
  UvHandle& operator=(UvHandle&& other) noexcept {
    if (this != &other) {
      reset();
      block_ = std::move(other.block_);
    }
    return *this;
  }
  UvHandle(const UvHandle&) = delete;
  UvHandle& operator=(const UvHandle&) = delete;
  ~UvHandle() { reset(); }

  // init closes any previous handle, allocates a new one and initializes it with
  // |init_fn|(uv_loop_t*, T*), for example uv_tcp_init. It returns the libuv status; on failure
  // the memory is freed at once (libuv has not registered the handle) and the wrapper is empty.
  template <typename Init>
  [[nodiscard]] int init(EventLoop& loop, Init&& init_fn) {
    reset();
    auto block = std::make_unique<Block>();
    const int status = std::forward<Init>(init_fn)(detail::raw_loop(loop), &block->handle);
    if (status != 0) {
      return status;
    }
    block->node.handle = as_uv_handle(&block->handle);
    block->node.on_close = &UvHandle::on_close;
    detail::handle_list(loop).push(&block->node);
    block_ = std::move(block);
    return 0;
  }

  // get returns the handle, or nullptr when the wrapper is empty or the EventLoop has closed the
  // handle.
  T* get() const { return block_ && !block_->node.detached ? &block_->handle : nullptr; }

  // reset closes the handle (its close callback frees it) and leaves the wrapper empty. When
  // the EventLoop has already closed it, reset only frees the memory.
  void reset() {
    if (!block_) {
      return;
    }
    detail::UvHandleNode& node = block_->node;
    if (node.closed) {
      block_.reset();
      return;
    }
    node.owned = false;
    node.handle->data = nullptr;
    if (uv_is_closing(node.handle) == 0) {
      uv_close(node.handle, &UvHandle::on_close);
    }
    static_cast<void>(block_.release());  // on_close takes it back.
  }

 private:
  struct Block {
    T handle{};  // First member: a T* is also a Block*.
    detail::UvHandleNode node;
  };
  static_assert(std::is_standard_layout_v<Block>);

  static void on_close(uv_handle_t* handle) noexcept {
    auto* block = reinterpret_cast<Block*>(handle);
    block->node.closed = true;
    if (block->node.list != nullptr) {
      block->node.list->erase(&block->node);
    }
    if (!block->node.owned) {
      std::unique_ptr<Block> free_it(block);
    }
  }

  std::unique_ptr<Block> block_;
};

}  // namespace sightglass::core
