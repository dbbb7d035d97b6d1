#include "core/layers/websocket_capture.h"

#include <utility>

namespace sightglass::core {

WebSocketCapture::WebSocketCapture(const WebSocketExtensions& extensions, uint64_t limit)
    : client_(true, extensions, limit), server_(false, extensions, limit) {}

WebSocketCapture::Read WebSocketCapture::read(bool from_client, std::string_view data,
                                              int64_t now_us, FlowSnapshot& flow) {
  Read result;
  WebSocketReader& reader = from_client ? client_ : server_;
  if (reader.failed() || data.empty()) {
    return result;  // That direction is relayed unread.
  }
  const bool ok = reader.feed(data, messages_);
  for (WebSocketReader::Message& message : messages_) {
    flow.websocket_messages.push_back(WebSocketMessage{from_client, now_us, message.opcode,
                                                       std::move(message.data), message.truncated});
  }
  result.progress = !messages_.empty() || !ok;
  messages_.clear();
  if (!ok) {
    result.error = std::string("WebSocket protocol error from the ") +
                   (from_client ? "client" : "server") + ": " + reader.error() +
                   " (the rest of that direction is relayed unread)";
    if (flow.error.empty()) {
      flow.error = result.error;
    }
  }
  return result;
}

bool WebSocketCapture::on_closed(bool from_client, const std::string& error, FlowSnapshot& flow) {
  (from_client ? client_eof_ : server_eof_) = true;
  if (!error.empty() && flow.error.empty()) {
    flow.error =
        (from_client ? "client connection failed: " : "upstream connection failed: ") + error;
  }
  const bool close_handshake = client_.saw_close() && server_.saw_close();
  return !error.empty() || (client_eof_ && server_eof_) || close_handshake;
}

}  // namespace sightglass::core
