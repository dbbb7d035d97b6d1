#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/layers/app_layer.h"
#include "core/layers/http1.h"

namespace sightglass::core {

// HttpTarget is where requests go: scheme, host, port, and whether TLS runs toward it.
struct HttpTarget {
  std::string scheme = "http";
  std::string host;
  uint16_t port = 80;
  bool tls = false;
  bool operator==(const HttpTarget&) const = default;
};

// authority_text is "host[:port]" for a target ("[v6]" bracketed), without the scheme's default
// port.
std::string authority_text(const HttpTarget& target);

// parse_absolute_form splits "http[s]://authority[/path]" (no user info) into a target and the
// origin-form path ("/" when there is none); false when |url| is not one.
bool parse_absolute_form(std::string_view url, HttpTarget* out_target, std::string* out_path);

// take_server gives a flow its server connection as |opened| says: what opening it took (with
// |timings|; only DNS and connect when it |failed|), and the address and TLS unless it failed.
void take_server(FlowSnapshot& flow, const OpenCompleted& opened, bool failed, bool timings = true);

// TunnelRequest is a CONNECT that the HttpLayer accepted: the session continues with the
// tunnel's bytes (|remainder| already received).
struct TunnelRequest {
  std::string host;
  uint16_t port = 0;
  std::string remainder;
  std::string version = "HTTP/1.1";  // The CONNECT's, for the session's answer.
};

// HttpLayer speaks HTTP/1.1 with the client and with the servers, one exchange at a time
// (pipelined requests wait their turn and are answered in order). Bodies stream through,
// re-framed exactly as they came (chunked stays chunked, with trailers); the flow keeps the
// first body_limit bytes. Header names, case and order go through unchanged; only the proxy
// hop-by-hop headers are dropped. After a 101 the connection becomes a relay of the bytes as
// they are: for `Upgrade: websocket` the frames are also read (never re-framed) into the
// upgrade flow's websocket_messages, which is published live (at most every 250 ms) while
// the WebSocket runs and finished when it ends; any other upgrade is relayed raw. Every
// exchange is published live at its milestones and as its bodies progress (LiveFlow).
class HttpLayer : public AppLayer {
 public:
  // With |fixed| every request goes there (reverse mode, inside a CONNECT tunnel);
  // without it (regular mode) requests are absolute-form or CONNECT.
  HttpLayer(SessionContext* ctx, std::optional<HttpTarget> fixed, bool rewrite_host);
  ~HttpLayer() override;

  // AppLayer
  void handle(Event& event, Commands& out) override;
  bool busy() const override { return exchange_ != nullptr || relay_; }
  void abandon(const std::string& why, Commands& out) override;

  // take_tunnel returns the CONNECT request to continue with, once, after a handled event.
  std::optional<TunnelRequest> take_tunnel();

 private:
  struct Upstream;
  struct Exchange;
  struct WebSocket;

  void handle_event(Event& event, Commands& out);
  void on_client_events(HttpParseEvents& events, Commands& out);
  void on_server_events(HttpParseEvents& events, Commands& out);
  void on_request_head(HttpHead& head, Commands& out);
  void on_response_head(HttpHead& head, Commands& out);
  void on_response_end(HttpMessageEnd& end, Commands& out);
  void send_upstream(std::string data, Commands& out);
  // start_request opens (or reuses) the server connection of the exchange's target and sends
  // the request head as the flow says.
  void start_request(Commands& out);
  // Hold points: send_hook stops the exchange's message there (|complete|: its whole body is
  // held); the *_resumed carry out what the hooks decided.
  void send_hook(bool complete, Commands& out);
  // take_body notes body bytes of the exchange's request (or response) in its flow. When that
  // message is held it keeps them, before the Hook (which goes out, with what is here, once
  // they pass the hold limit) or after it, and returns true: they go on after the hooks.
  bool take_body(bool request, std::string_view data, Commands& out);
  void on_hook_resumed(HookResumed& resumed, Commands& out);
  void request_resumed(HeldFlow& held, Commands& out);
  void response_resumed(HeldFlow& held, Commands& out);
  // answer_from_hook answers the client with the hook's response; the server is not asked.
  void answer_from_hook(HeldFlow& held, Commands& out);
  void close_upstream(Commands& out);
  // fail answers the client with |status| and its usual reason (when no response has started)
  // and logs |error| (on a flow of its own when no exchange is in progress); the client closes.
  void fail(int status, const std::string& error, Commands& out);
  void finish_exchange(Commands& out);
  // serve_magic_host answers a request for http://sightglass/ itself: the CA certificate and
  // how to install it. Nothing goes to the network.
  void serve_magic_host(const HttpHead& head, const HttpTarget& target, const std::string& path,
                        Commands& out);
  // settle_timings fills in the exchange's timings as of now and cancels its response timer.
  void settle_timings(Commands& out);
  // publish ends the exchange: its flow goes out finished.
  void publish(Commands& out);
  void close_client(Commands& out);
  // client_gone_error names how and when the client left the exchange in progress.
  std::string client_gone_error(const std::string& error) const;
  // unsolicited closes a server connection that sent |bytes| nobody asked for, noting it on the
  // exchange they followed (when it is still in progress).
  void unsolicited(size_t bytes, Commands& out);
  void enter_relay(std::string client_bytes, std::string server_bytes, Commands& out);
  // start_websocket turns the exchange that got a 101 into a WebSocket flow and relays on.
  void start_websocket(std::string client_bytes, std::string server_bytes, Commands& out);
  // websocket_read reads a copy of relayed bytes into messages.
  void websocket_read(bool from_client, std::string_view data, Commands& out);
  // websocket_closed notes that one side closed (|error|: how it failed, or "").
  void websocket_closed(bool from_client, const std::string& error, Commands& out);
  void finish_websocket(Commands& out);

  SessionContext* ctx_;
  std::optional<HttpTarget> fixed_;
  bool rewrite_host_;
  Http1Parser client_parser_{Http1Parser::Kind::kRequest};
  std::unique_ptr<Upstream> upstream_;
  std::unique_ptr<Exchange> exchange_;
  std::optional<TunnelRequest> tunnel_;
  bool client_closed_ = false;            // The client sent EOF.
  bool client_closing_ = false;           // We closed (or are closing) the client connection.
  bool relay_ = false;                    // After a 101: raw bytes both ways.
  std::unique_ptr<WebSocket> websocket_;  // After a 101 to WebSocket, until it ends.
  // A request head begun and not complete must be within the client handshake limit; a server
  // connection between exchanges is closed after the server idle limit.
  CommandId head_wakeup_ = 0;
  bool client_held_ = false;  // PauseReading{client}: bytes held for a stage reached the cap.
  bool server_held_ = false;  // PauseReading{server}: a held response reached the hold limit.
  CommandId server_idle_wakeup_ = 0;
};

}  // namespace sightglass::core
