#pragma once

// Http2Layer's stream: what the layer knows of one exchange. Internal to the layer's files
// (http2_layer.cc and http2_hold.cc).

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "core/layers/http2_layer.h"
#include "core/layers/live_flow.h"
#include "core/layers/websocket_capture.h"

namespace sightglass::core {

// ByteQueue is a body in transit: appended at the back, taken from the front without moving
// the rest each time (a frame at a time out of a window's worth).
class ByteQueue {
 public:
  size_t size() const { return data_.size() - offset_; }
  bool empty() const { return size() == 0; }
  std::string_view view() const { return std::string_view(data_).substr(offset_); }
  void append(std::string_view bytes) { data_.append(bytes); }
  void assign(std::string bytes) {
    data_ = std::move(bytes);
    offset_ = 0;
  }
  void consume(size_t n) {
    offset_ += n;
    if (offset_ == data_.size()) {
      data_.clear();
      offset_ = 0;
    } else if (offset_ >= 64 * 1024 && offset_ * 2 >= data_.size()) {
      data_.erase(0, offset_);
      offset_ = 0;
    }
  }
  // take returns everything and empties the queue.
  std::string take() {
    std::string out = offset_ == 0 ? std::move(data_) : data_.substr(offset_);
    data_.clear();
    offset_ = 0;
    return out;
  }

 private:
  std::string data_;
  size_t offset_ = 0;
};

// Stream is one exchange: a client stream, its server stream, and the flow.
struct Http2Layer::Stream {
  int32_t client_id = 0;
  int32_t server_id = 0;  // 0 until submitted to a server connection.
  ConnId upstream = 0;
  FlowSnapshot flow;
  int64_t t_start = 0;
  int64_t t_request_end = 0;
  int64_t t_response_head = 0;

  // The request, as the client sends it.
  std::string method, scheme, authority, path;
  std::string protocol;        // :protocol of an extended CONNECT (RFC 8441), or "".
  std::string authority_sent;  // :authority toward the server.
  Headers request_headers;     // Regular headers, in order.
  Headers request_trailers;
  bool request_head_done = false;
  ByteQueue request_buf;  // Received, not yet handed to the server session.
  bool request_eof = false;
  bool request_deferred = false;
  bool request_trailers_due = false;
  size_t consume_client = 0;  // Bytes handed on, to credit the client's windows with.

  // The response, as the server sends it.
  bool in_response_trailers = false;
  bool response_received = false;  // The final response head arrived.
  bool response_submitted = false;
  int status = 0;
  Headers response_headers;
  Headers response_trailers;
  ByteQueue response_buf;
  bool response_eof = false;
  bool response_deferred = false;
  bool response_trailers_due = false;
  bool response_from_proxy = false;  // An error answer of the proxy itself.
  size_t consume_server = 0;

  // HTTP/1.1 toward the server.
  bool h1 = false;
  ConnId h1_conn = 0;
  bool h1_chunked = false;  // The request body goes chunked.
  bool h1_ended = false;    // The request's end went out.
  bool head_request = false;
  bool response_no_body = false;

  CommandId wakeup_id = 0;  // The response timeout, until the response head.

  // WebSocket over HTTP/2 (RFC 8441): the capture of its messages once the server accepted,
  // and what the client sent before that.
  std::unique_ptr<WebSocketCapture> ws;
  std::string ws_early;

  bool client_closed = false;  // The client stream is closed (done or reset).
  bool server_closed = false;
  bool published = false;
  LiveFlow live;  // When the flow goes to the live views.

  // Hold points: the request waits before it goes to the server, the response before it goes
  // to the client, until the hooks resume it (HookResumed{hook_id}). |held_body| is what the
  // hook saw, to tell an edit; a body the hook replaced was credited to its sender at once, so
  // |uncredited_*| bytes of the new one are not credited again when they are handed on.
  enum class Hold : uint8_t { kNone, kRequest, kResponse };
  Hold hold = Hold::kNone;
  CommandId hook_id = 0;
  bool request_hooked = false;
  bool response_hooked = false;
  std::string held_body;
  size_t uncredited_client = 0;
  size_t uncredited_server = 0;
};

}  // namespace sightglass::core
