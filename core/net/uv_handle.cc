#include "core/net/uv_handle.h"

#include <climits>
#include <cstdio>
#include <cstdlib>

namespace sightglass::core {

std::string uv_error_text(int status) { return uv_strerror(status); }

namespace detail {

void UvHandleList::push(UvHandleNode* node) {
  node->list = this;
  node->prev = nullptr;
  node->next = head_;
  if (head_ != nullptr) {
    head_->prev = node;
  }
  head_ = node;
}

void UvHandleList::erase(UvHandleNode* node) {
  if (node->prev != nullptr) {
    node->prev->next = node->next;
  } else {
    head_ = node->next;
  }
  if (node->next != nullptr) {
    node->next->prev = node->prev;
  }
  node->prev = nullptr;
  node->next = nullptr;
  node->list = nullptr;
}

void UvHandleList::close_all() {
  // uv_close never runs the close callback synchronously, so the list stays intact here.
  for (UvHandleNode* node = head_; node != nullptr; node = node->next) {
    if (uv_is_closing(node->handle) != 0) {
      continue;
    }
    node->detached = true;
    node->handle->data = nullptr;
    uv_close(node->handle, node->on_close);
  }
}

void fatal_uv(const char* what, int status) {
  std::fprintf(stderr, "sightglass: %s failed: %s (%s)\n", what, uv_strerror(status),
               uv_err_name(status));
  std::abort();
}

}  // namespace detail

WriteReq::WriteReq(std::string data, size_t offset) : owned_(std::move(data)) {
  set_buffer(owned_.data() + offset, owned_.size() - offset);
}

WriteReq::WriteReq(SharedChunk chunk, size_t offset) : chunk_(std::move(chunk)) {
  set_buffer(chunk_->data() + offset, chunk_->size() - offset);
}

void WriteReq::set_buffer(const char* data, size_t size) {
  if (size > UINT_MAX) {
    detail::fatal_uv("WriteReq (a single write of 4 GiB or more)", UV_E2BIG);
  }
  // libuv never writes through a write buffer; uv_buf_t is simply not const-qualified.
  buf_ = uv_buf_init(const_cast<char*>(data), static_cast<unsigned int>(size));
  req_.data = this;
}

int WriteReq::submit(std::unique_ptr<WriteReq> request, uv_stream_t* stream, DoneFn done) {
  request->done_ = done;
  const int status = uv_write(&request->req_, stream, &request->buf_, 1, &WriteReq::on_write);
  if (status != 0) {
    return status;  // |request| is freed on return.
  }
  static_cast<void>(request.release());  // on_write takes it back.
  return 0;
}

void WriteReq::on_write(uv_write_t* req, int status) noexcept {
  std::unique_ptr<WriteReq> request(static_cast<WriteReq*>(req->data));
  request->done_(req->handle, status, request->size());
}

}  // namespace sightglass::core
