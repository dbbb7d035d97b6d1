#pragma once

#include <optional>
#include <string>

#include "core/layers/app_layer.h"
#include "core/layers/live_flow.h"

namespace sightglass::core {

// TcpRelay relays bytes between the client and one server unchanged, and logs a TCP flow
// with the byte counts when both directions are done. Live views get the flow when the relay
// starts, when the server connection opens, and as the byte counts grow (LiveFlow).
class TcpRelay : public AppLayer {
 public:
  // |initial| is client data already received; |tls| runs TLS toward the server.
  TcpRelay(SessionContext* ctx, std::string host, uint16_t port, bool tls, std::string initial);
  // annotate marks the flow as a passed-through connection: the ClientHello's SNI and why.
  void annotate(std::string sni, std::string passthrough) {
    flow_.tcp_sni = std::move(sni);
    flow_.passthrough = std::move(passthrough);
  }
  // start opens the server connection.
  void start(Commands& out);

  // AppLayer
  void handle(Event& event, Commands& out) override;
  bool busy() const override { return !finished_; }
  void abandon(const std::string& why, Commands& out) override;

 private:
  void handle_event(Event& event, Commands& out);
  // finish publishes the flow, once; |close| (after a failure) is closed first.
  void finish(Commands& out, std::optional<ConnId> close = std::nullopt);

  SessionContext* ctx_;
  ConnId server_ = 0;
  CommandId open_id_ = 0;
  bool tls_ = false;
  bool open_ = false;
  bool client_closed_ = false;
  bool server_closed_ = false;
  bool finished_ = false;
  std::string pending_;  // Client bytes waiting for the server connection.
  FlowSnapshot flow_;
  int64_t started_mono_us_ = 0;
  LiveFlow live_;
};

}  // namespace sightglass::core
