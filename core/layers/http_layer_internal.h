#pragma once

// HttpLayer's state: the server connection, the exchange in progress and the WebSocket after a
// 101. Internal to the HttpLayer files (http_layer.cc, http_hold.cc, magic_host.cc).

#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "core/layers/http1.h"
#include "core/layers/http_layer.h"
#include "core/layers/live_flow.h"
#include "core/layers/websocket.h"
#include "core/layers/websocket_capture.h"

namespace sightglass::core {

// kMagicHost is the name under which the proxy serves its own CA certificate.
inline constexpr char kMagicHost[] = "sightglass";

// Upstream is the current server connection.
struct HttpLayer::Upstream {
  ConnId conn = 0;
  HttpTarget target;
  CommandId open_id = 0;
  bool open = false;
  bool closed = false;
  std::string pending;   // Bytes waiting for the connection to open.
  OpenCompleted opened;  // How it opened, once |open|.
  Http1Parser parser{Http1Parser::Kind::kResponse};
};

// Exchange is the request/response in progress.
struct HttpLayer::Exchange {
  FlowSnapshot flow;
  bool request_chunked = false;
  bool request_done = false;
  bool response_started = false;  // A final (non-1xx) response head reached the client.
  bool response_chunked = false;
  bool response_close_delimited = false;
  bool response_done = false;
  bool client_wants_close = false;
  bool upgrade_requested = false;
  bool switching = false;  // A 101 was forwarded.
  std::string upgrade_remainder;
  bool head_request = false;
  CommandId wakeup_id = 0;
  int64_t t_start = 0;
  int64_t t_request_end = 0;
  int64_t t_response_head = 0;
  LiveFlow live;
  HttpTarget target;  // Where the request goes.
  // Hold points: |hold| is the message stopped for the hooks (its head not sent on yet);
  // |hook_id| is set once the Hook went out. |held_body| is the body held before the hook,
  // |held_after| what came after it (a body past the hold limit), |held_end| the response's
  // end when it came while held.
  enum class Hold : uint8_t { kNone, kRequest, kResponse };
  Hold hold = Hold::kNone;
  CommandId hook_id = 0;
  std::string held_body;
  std::string held_after;
  std::optional<HttpMessageEnd> held_end;
  bool answered = false;  // The hooks answered the request: its body goes nowhere.

  // take_held returns the body held before and after the hook, and forgets it.
  std::string take_held() { return std::exchange(held_body, {}) + std::exchange(held_after, {}); }
};

// WebSocket is an upgraded connection speaking WebSocket: its flow (the 101 exchange) and
// the capture of its messages.
struct HttpLayer::WebSocket {
  WebSocket(const WebSocketExtensions& extensions, uint64_t limit) : capture(extensions, limit) {}
  FlowSnapshot flow;
  WebSocketCapture capture;
  LiveFlow live;  // The exchange's, carried on.
};

}  // namespace sightglass::core
