#pragma once

// Internal to the Http2Layer files (http2_layer.cc and the other core/layers/http2_*.cc): what
// more than one of them needs, the stream, the server connections (HTTP/2 and HTTP/1.1), and
// the shared constants and helpers (h2_internal).

#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/layers/http1.h"
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
  // to the client, until the hooks resume it (HookResumed{hook_id}). A body the hook replaced
  // was credited to its sender at once, so |uncredited_*| bytes of the new one are not credited
  // again when they are handed on.
  enum class Hold : uint8_t { kNone, kRequest, kResponse };
  Hold hold = Hold::kNone;
  CommandId hook_id = 0;
  bool request_hooked = false;
  bool response_hooked = false;
  size_t uncredited_client = 0;
  size_t uncredited_server = 0;
};

// Upstream is one HTTP/2 server connection.
struct Http2Layer::Upstream {
  Http2Layer* layer = nullptr;
  ConnId conn = 0;
  CommandId open_id = 0;
  bool open = false;
  bool goaway = false;
  H2SessionPtr session;
  std::string address;
  std::optional<TlsInfo> tls;
  int64_t dns_us = -1, connect_us = -1, ssl_us = -1;
  bool timings_given = false;      // The first stream on the connection carries its setup times.
  bool settings_received = false;  // The server's first SETTINGS arrived.
  std::map<int32_t, int32_t> streams;  // Server stream id -> client stream id.
  // Extended CONNECT streams that wait for the server's SETTINGS (to know if it may send them).
  std::vector<int32_t> waiting_settings;
  // The client's PINGs forwarded to this server, waiting for its ACK (opaque data).
  std::vector<uint64_t> client_pings;
};

// H1Conn is one HTTP/1.1 server connection, carrying one exchange at a time.
struct Http2Layer::H1Conn {
  ConnId conn = 0;
  CommandId open_id = 0;
  bool open = false;
  int32_t stream = 0;   // The client stream in flight, 0 when idle.
  std::string pending;  // Bytes waiting for the connection to open.
  std::string address;
  std::optional<TlsInfo> tls;
  int64_t dns_us = -1, connect_us = -1, ssl_us = -1;
  bool timings_given = false;
  bool paused = false;  // PauseReading sent: the client is slow to take the response.
  // Request body bytes handed to the connection and not yet written (WriteDrained credits the
  // client's windows with them then, so a slow server holds back only its own stream), and
  // the client stream they came from.
  size_t unwritten = 0;
  int32_t unwritten_stream = 0;
  Http1Parser parser{Http1Parser::Kind::kResponse};
};

namespace h2_internal {

// The windows the proxy advertises to both sides: per stream, and per connection.
inline constexpr int32_t kStreamWindow = 256 * 1024;
inline constexpr int32_t kConnectionWindow = 16 * 1024 * 1024;

inline std::string_view view(const uint8_t* data, size_t len) {
  return {reinterpret_cast<const char*>(data), len};
}

inline std::string code_name(uint32_t code) { return nghttp2_http2_strerror(code); }

// h1_to_h2_headers lowercases the names of HTTP/1.1 response headers and drops the
// connection-specific ones (RFC 9113 8.2.2).
inline Headers h1_to_h2_headers(const Headers& headers) {
  Headers out;
  for (const Header& h : headers) {
    std::string name = h.name;
    std::transform(name.begin(), name.end(), name.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (name == "connection" || name == "keep-alive" || name == "proxy-connection" ||
        name == "transfer-encoding" || name == "upgrade") {
      continue;
    }
    out.push_back({std::move(name), h.value});
  }
  return out;
}

// take_body moves up to |length| bytes of |buf| into |out|: the shared logic of both data
// providers.
inline ssize_t take_body(ByteQueue& buf, bool eof, bool has_trailers, bool* deferred,
                         bool* trailers_due, size_t* consumed, uint8_t* out, size_t length,
                         uint32_t* flags) {
  const size_t n = std::min(length, buf.size());
  if (n > 0) {
    std::memcpy(out, buf.view().data(), n);
    buf.consume(n);
    *consumed += n;
  }
  if (buf.empty() && eof) {
    *flags |= NGHTTP2_DATA_FLAG_EOF;
    if (has_trailers) {
      *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
      *trailers_due = true;
    }
    return static_cast<ssize_t>(n);
  }
  if (n == 0) {
    *deferred = true;
    return NGHTTP2_ERR_DEFERRED;
  }
  return static_cast<ssize_t>(n);
}

}  // namespace h2_internal

}  // namespace sightglass::core
