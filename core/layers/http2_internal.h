#pragma once

// Internal to the Http2Layer files (http2_layer.cc and the other core/layers/http2_*.cc): what
// more than one of them needs, the stream, the server connections (HTTP/2 and HTTP/1.1), and
// the shared constants and helpers (h2_internal).

#include <nghttp2/nghttp2.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/layers/http1.h"
#include "core/layers/http2_layer.h"
#include "core/layers/live_flow.h"
#include "core/layers/nghttp2_callbacks.h"
#include "core/layers/websocket_capture.h"

namespace sightglass::core {

// Stream is one exchange: a client stream, its server stream, and the flow.
struct Http2Layer::Stream {
  // Receiving the request from the client: its head, then its body (and trailers) until
  // END_STREAM.
  enum class Request : uint8_t { kHead, kBody, kDone };
  // Receiving the response (from the server, or the proxy's own): until the final head (1xx
  // heads may come first), its body, a trailer block, complete.
  enum class Response : uint8_t { kAwaitingHead, kBody, kTrailers, kDone };
  using Send = H2Send;  // Sending each direction on: to the server, to the client.
  // Which ends are closed: the client stream (done or reset), the server stream (done, reset,
  // or never to be opened), both.
  enum class Ends : uint8_t { kOpen, kClientClosed, kServerClosed, kClosed };
  // The hold points: the request waits before it goes to the server, the response before it
  // goes to the client, until the hooks resume it (HookResumed{hook_id}); then the response's
  // is passed.
  enum class Hold : uint8_t { kNone, kRequest, kResponse, kResponsePassed };

  int32_t client_id = 0;
  int32_t server_id = 0;  // 0 until submitted to a server connection.
  ConnId upstream = 0;
  FlowSnapshot flow;
  int64_t t_start = 0;
  int64_t t_request_end = 0;
  int64_t t_response_head = 0;

  // The request, as the client sends it.
  std::string method, scheme, authority, path;
  std::string protocol;             // :protocol of an extended CONNECT (RFC 8441), or "".
  std::string authority_sent;       // :authority toward the server.
  Headers request_headers;          // Regular headers, in order.
  size_t request_header_bytes = 0;  // As header_list_full counts them.
  Headers request_trailers;
  Request request = Request::kHead;
  Send request_send = Send::kNotYet;
  ByteQueue request_buf;      // Received, not yet handed to the server session.
  size_t consume_client = 0;  // Bytes handed on, to credit the client's windows with.

  // The response, as the server sends it.
  Response response = Response::kAwaitingHead;
  Send response_send = Send::kNotYet;
  int status = 0;
  Headers response_headers;
  Headers response_trailers;
  size_t response_header_bytes = 0;
  ByteQueue response_buf;
  bool response_from_proxy = false;  // An error answer of the proxy itself.
  size_t consume_server = 0;

  // Another server than the layer's, where a hook sent the request (over HTTP/1.1).
  std::optional<HttpTarget> elsewhere;
  // HTTP/1.1 toward the server.
  bool h1 = false;
  ConnId h1_conn = 0;
  bool h1_chunked = false;  // The request body goes chunked.
  bool head_request = false;
  bool response_no_body = false;

  CommandId wakeup_id = 0;  // The response timeout, until the response head.

  // WebSocket over HTTP/2 (RFC 8441): the capture of its messages once the server accepted,
  // and what the client sent before that.
  std::unique_ptr<WebSocketCapture> ws;
  std::string ws_early;

  Ends ends = Ends::kOpen;
  // Published once the client's end closed, or whenever the layer gives up (abandon): apart
  // from |ends|.
  bool published = false;
  LiveFlow live;  // When the flow goes to the live views.

  Hold hold = Hold::kNone;
  CommandId hook_id = 0;
  // A body the hook replaced was credited to its sender at once, so |uncredited_*| bytes of
  // the new one are not credited again when they are handed on.
  size_t uncredited_client = 0;
  size_t uncredited_server = 0;

  bool request_done() const { return request == Request::kDone; }
  // The final response head arrived (or the proxy answers).
  bool response_received() const { return response != Response::kAwaitingHead; }
  bool response_done() const { return response == Response::kDone; }
  bool response_submitted() const { return response_send != Send::kNotYet; }
  bool client_closed() const { return ends == Ends::kClientClosed || ends == Ends::kClosed; }
  bool server_closed() const { return ends == Ends::kServerClosed || ends == Ends::kClosed; }
  bool held() const { return hold == Hold::kRequest || hold == Hold::kResponse; }
  // set_error gives the flow |error| unless it has one (the first cause stays).
  void set_error(std::string error) {
    if (flow.error.empty()) {
      flow.error = std::move(error);
    }
  }

  // The client's END_STREAM: the request is complete at |now|.
  void request_end(int64_t now) {
    request = Request::kDone;
    t_request_end = now;
    live.milestone();
  }
  // A header block of the response begins: a head until the final one came, then trailers.
  void response_block() {
    if (response_received()) {
      response = Response::kTrailers;
    } else {
      response_headers.clear();
      status = 0;
    }
  }
  // The final response head arrived, and with |end| the whole response.
  void response_head(bool end) { response = end ? Response::kDone : Response::kBody; }
  // The response is complete.
  void response_end() { response = Response::kDone; }
  // The client stream closed (done or reset).
  void close_client() { ends = server_closed() ? Ends::kClosed : Ends::kClientClosed; }
  // The server stream closed, or will never be opened.
  void close_server() { ends = client_closed() ? Ends::kClosed : Ends::kServerClosed; }
};

// Upstream is one HTTP/2 server connection.
struct Http2Layer::Upstream {
  Http2Layer* owner = nullptr;  // Handles the session's callbacks (Nghttp2Callbacks).
  ConnId conn = 0;
  CommandId open_id = 0;
  bool open = false;
  bool goaway = false;
  H2SessionPtr session;
  OpenCompleted opened;            // How it opened, once |open|.
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
  HttpTarget target;  // Where it goes: the layer's server, or where a hook sent a request.
  CommandId open_id = 0;
  bool open = false;
  int32_t stream = 0;    // The client stream in flight, 0 when idle.
  std::string pending;   // Bytes waiting for the connection to open.
  OpenCompleted opened;  // How it opened, once |open|.
  bool paused = false;   // PauseReading sent: the client is slow to take the response.
  // Request body bytes handed to the connection and not yet written (WriteDrained credits the
  // client's windows with them then, so a slow server holds back only its own stream), and
  // the client stream they came from.
  size_t unwritten = 0;
  int32_t unwritten_stream = 0;
  Http1Parser parser{Http1Parser::Kind::kResponse};
};

// The window the proxy advertises to both sides per stream.
inline constexpr int32_t kStreamWindow = 256 * 1024;

// reset_error is a flow's error for a stream reset by |who| ("client", "server") with |code|.
inline std::string reset_error(std::string_view who, uint32_t code) {
  return "stream reset by the " + std::string(who) + " (" + nghttp2_http2_strerror(code) + ")";
}

// lost_error is the error of a stream whose server connection was lost: |error|, or how far
// the response had come.
inline std::string lost_error(const Http2Layer::Stream& s, const std::string& error) {
  return !error.empty()           ? error
         : s.response_submitted() ? "upstream closed the connection in the middle of the response"
                                  : "upstream closed the connection without sending a response";
}

}  // namespace sightglass::core
