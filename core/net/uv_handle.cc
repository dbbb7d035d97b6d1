#include "core/net/uv_handle.h"

#include <cstdio>
#include <cstdlib>

namespace sightglass::core {

std::string uv_error_text(int status) { return uv_strerror(status); }

namespace detail {

void UvHandleList::push(UvHandleNode* node) {
  node->list = this;
  node->position = nodes_.insert(nodes_.begin(), node);
}

void UvHandleList::erase(UvHandleNode* node) {
  nodes_.erase(node->position);
  node->list = nullptr;
}

void UvHandleList::close_all() {
  // uv_close never runs the close callback synchronously, so the list stays intact here.
  for (UvHandleNode* node : nodes_) {
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

}  // namespace sightglass::core
