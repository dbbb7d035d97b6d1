#pragma once

// WebSocketCapture records a WebSocket's messages into its flow, sans-I/O: both HTTP layers
// feed it a copy of the bytes they relay (HttpLayer: the upgraded connection's raw bytes;
// Http2Layer: the DATA of an RFC 8441 extended CONNECT stream). The layer keeps the flow, its
// live publishing and its end; the capture owns a WebSocketReader per direction and turns
// their messages into the flow's websocket_messages.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/layers/websocket.h"
#include "core/proxy/flow.h"

namespace sightglass::core {

class WebSocketCapture {
 public:
  // Read is what one read did: |progress| says the flow changed (new messages, or a protocol
  // error), so the layer publishes it live; |error| is the protocol error found now (already
  // noted in the flow unless it had an error), which the layer logs, or "".
  struct Read {
    bool progress = false;
    std::string error;
  };

  // |extensions| as the server's answer negotiated; |limit| bytes kept per message.
  WebSocketCapture(const WebSocketExtensions& extensions, uint64_t limit);

  // read reads a copy of |data| sent by the client (|from_client|) or the server, appending the
  // messages it completes to |flow| with the wall-clock time |now_us|. After a protocol error
  // that direction is no longer read.
  Read read(bool from_client, std::string_view data, int64_t now_us, FlowSnapshot& flow);

  // on_closed notes that one side's connection closed (|error|: how it failed, or "", noted
  // in |flow| unless it had an error). It returns whether the WebSocket is over: a connection
  // failed, both sides closed, or close frames went both ways.
  bool on_closed(bool from_client, const std::string& error, FlowSnapshot& flow);

 private:
  WebSocketReader client_;
  WebSocketReader server_;
  bool client_eof_ = false;
  bool server_eof_ = false;
  std::vector<WebSocketReader::Message> messages_;  // Scratch.
};

}  // namespace sightglass::core
