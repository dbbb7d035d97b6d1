#pragma once

// WebSocket (RFC 6455) frames and permessage-deflate (RFC 7692), sans-I/O and read-only: the
// proxy forwards the bytes unchanged and reads a copy of them for the log.

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/proxy/flow.h"

namespace sightglass::core {

// WebSocketExtensions is what the server's 101 accepted in Sec-WebSocket-Extensions (the
// negotiation is what the server says). Only permessage-deflate is understood.
struct WebSocketExtensions {
  bool permessage_deflate = false;
  bool client_no_context_takeover = false;
  bool server_no_context_takeover = false;
  int client_max_window_bits = 15;  // The client's compressor window (8..15).
  int server_max_window_bits = 15;  // The server's compressor window (8..15).
};

// parse_websocket_extensions reads every Sec-WebSocket-Extensions header of a 101 response.
// The first permessage-deflate offer counts; unknown extensions and parameters are ignored.
WebSocketExtensions parse_websocket_extensions(const Headers& response_headers);

// is_websocket_upgrade says whether |response_headers| (of a 101) switch to WebSocket: an
// Upgrade header naming "websocket".
bool is_websocket_upgrade(const Headers& response_headers);

// WebSocketReader parses the frames of one direction of a WebSocket connection into
// messages. It is fed the bytes as they arrive, split anywhere, and never changes them: it
// unmasks and inflates copies for the log. Fragmented messages are reassembled (control
// frames may come between the fragments, and come out first, as they complete). Each message
// keeps at most |limit| bytes of its (inflated) payload; the rest is parsed and counted only.
// After a protocol error the reader stops: error() says why and further bytes are ignored.
class WebSocketReader {
 public:
  // Message is one complete message (a data message or a control frame).
  struct Message {
    uint8_t opcode = 0;       // 1 text, 2 binary, 8 close, 9 ping, 10 pong.
    std::string data;         // The payload (unmasked, inflated), at most |limit| bytes.
    uint64_t size = 0;        // The payload's full size (inflated, as far as it was inflated).
    bool truncated = false;   // The payload was longer than |limit|.
    bool compressed = false;  // Sent with permessage-deflate (RSV1).
    // Close frames: the status code (0 when the frame had none) and the reason.
    uint16_t close_code = 0;
    std::string close_reason;
  };

  // |from_client|: the client's direction (its frames are masked, and the client_* deflate
  // parameters apply); |extensions| as negotiated; |limit| bytes kept per message.
  WebSocketReader(bool from_client, const WebSocketExtensions& extensions, uint64_t limit);
  ~WebSocketReader();

  // feed parses |data| and appends the messages it completes to |out|. It returns false once
  // the stream has failed (now or before).
  bool feed(std::string_view data, std::vector<Message>& out);

  bool failed() const { return !error_.empty(); }
  // error is why parsing stopped, or "".
  const std::string& error() const { return error_; }
  // saw_close says whether a close frame has been read.
  bool saw_close() const { return saw_close_; }

 private:
  class Inflater;

  void begin_frame(std::vector<Message>& out);
  void on_payload(std::string_view masked);
  void end_frame(std::vector<Message>& out);
  void keep(std::string_view plain);
  // room_for is how many of |n| more payload bytes the message keeps (up to |limit|).
  size_t room_for(size_t n) const;
  void fail(std::string reason);

  WebSocketExtensions extensions_;
  bool no_context_;  // The sender's deflate window starts afresh with each message.
  uint64_t limit_;
  std::string error_;
  bool saw_close_ = false;

  // The frame being read.
  bool in_payload_ = false;  // Past the header, reading the payload.
  std::array<uint8_t, 14> header_{};
  size_t header_have_ = 0;
  size_t header_need_ = 2;
  bool fin_ = false;
  uint8_t opcode_ = 0;
  bool masked_ = false;
  std::array<uint8_t, 4> mask_{};
  uint64_t payload_length_ = 0;
  uint64_t payload_done_ = 0;

  // The data message being assembled (opcode 0: none; |truncated| is set at its end).
  Message msg_;
  bool msg_skip_inflate_ = false;  // Past the limit, and the next message needs no context.
  // The control frame being read (at most 125 bytes).
  std::string control_;

  std::string scratch_;  // Unmasked bytes.
  std::unique_ptr<Inflater> inflater_;
};

}  // namespace sightglass::core
