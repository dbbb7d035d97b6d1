#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/layers/app_layer.h"
#include "core/layers/socks5.h"
#include "core/proxy/client_tls.h"
#include "core/proxy/context.h"
#include "core/proxy/events.h"
#include "core/proxy/server_side.h"

namespace sightglass::core {

class HttpLayer;
class Http2Layer;
struct HttpTarget;

// ProxySession is the sans-I/O logic of one client connection: events in, commands out.
// It picks what the client speaks from the first bytes (regular mode: HTTP with absolute-form
// requests or CONNECT; then inside the tunnel TLS, HTTP or anything else) and composes the
// layers: the client's TLS (ClientTls), the server side (ServerSide: connections, the
// upstream proxy's CONNECT, server TLS, the h2-only retry), the server-first handshake (the
// ClientHello held while the server is asked first, here and in session_tunnel.cc), and the
// application layer (HttpLayer, Http2Layer or TcpRelay). The I/O driver owns the sockets;
// nothing here blocks or touches them.
class ProxySession : private ServerSide::Upper {
 public:
  ProxySession(const ProxyConfig* config, const Clock* clock, std::atomic<FlowId>* flow_ids,
               ClientConnection client);
  ~ProxySession() override;
  ProxySession(const ProxySession&) = delete;
  ProxySession& operator=(const ProxySession&) = delete;

  // handle processes one event and appends the resulting commands to |out|.
  void handle(Event event, Commands& out);
  // The time limits of the client side (first byte, handshake) and of idleness.
  enum class ClientPhase : uint8_t { kNone, kFirstByte, kHandshake };
  // busy says whether the session is in the middle of something: an exchange, a handshake,
  // a relay. An idle keep-alive connection is not busy.
  bool busy() const;
  // abandon is the end of a session the driver drops (its client is gone): every flow still
  // open is published, with |why| as the error unless it has one.
  void abandon(const std::string& why, Commands& out);

 private:
  enum class Stage : uint8_t {
    kSocks,            // SOCKS5 mode: the greeting and the CONNECT request.
    kSniffClient,      // Reverse mode: the first bytes of the connection decide.
    kRegularHttp,      // Regular mode: HTTP until a CONNECT.
    kConnecting,       // A CONNECT (or SOCKS5 connect): the TCP connection is being opened.
    kSniffTunnel,      // Inside a CONNECT tunnel: the first bytes decide.
    kClientHandshake,  // Terminating the client's TLS.
    kSniffPlaintext,   // After the client handshake: HTTP or something else.
    kApp,              // The application layer runs.
    kClosed,
  };

  void handle_event(Event event, Commands& out);
  // arm_client_timer starts the limit of a client phase (replacing the one running).
  void arm_client_timer(ClientPhase phase, Commands& out);
  void cancel_client_timer(Commands& out);
  void on_client_timer(Commands& out);
  // update_idle watches a client connection between exchanges: closed after the idle limit.
  void update_idle(Commands& out);
  // may_idle: between exchanges on an open client connection, where the idle limit applies.
  bool may_idle() const;
  void on_idle_wakeup(Commands& out);
  void on_start(Commands& out);
  void on_socks_bytes(std::string data, Commands& out);
  // connect_tunnel opens the TCP connection a CONNECT (|socks|: a SOCKS5 connect) asks for;
  // the client gets its answer once it is open or has failed (tunnel_connected).
  void connect_tunnel(std::string host, uint16_t port, std::string remainder, bool socks,
                      Commands& out);
  void tunnel_connected(Commands& out);
  // tunnel_established answers the client that its tunnel is open and sniffs what it carries
  // (|buffer_|, or the silence of a server-speaks-first protocol).
  void tunnel_established(Commands& out);
  // reserve_tcp_first makes the application layer's first connection the tunnel's TCP
  // connection, while nothing uses it yet.
  void reserve_tcp_first();
  bool tcp_first_unused() const;
  void on_client_bytes(std::string data, Commands& out);
  void on_client_hello(Commands& out);
  void preopen_upstream(const std::vector<std::string>& client_alpn, Commands& out);
  void start_passthrough(std::string reason, Commands& out);
  // ServerSide::Upper.
  void to_app(Event event, Commands& out) override { deliver(std::move(event), out); }
  void preopen_done(OpenCompleted completion, Commands& out) override;  // server_first.cc
  bool app_speaks_http1() const override { return http_ != nullptr; }
  void replaced(ConnId old, ConnId wire) override;
  void learn_passthrough(FlowSnapshot& flow, const std::string& why, Commands& out);
  void refuse(const std::string& error, Commands& out);
  // host_ports names the destination for the passthrough policy: SNI and destination.
  std::vector<std::string> host_ports() const;
  void sniff(Commands& out);
  void start_client_tls(Commands& out);
  void continue_client_handshake(Commands& out);
  // target is the destination for an HTTP layer, over TLS or not.
  HttpTarget target(bool tls) const;
  void start_http(bool upstream_tls, Commands& out);
  // start_relay relays the client's bytes raw; |passthrough| names why a connection that could
  // have been intercepted is passed through untouched ("" for a plain relay).
  void start_relay(bool upstream_tls, Commands& out, std::string passthrough = {});
  // start_http2 runs HTTP/2 with the client (ALPN "h2") and with the server.
  void start_http2(bool upstream_tls, Commands& out);
  // starts_h2_preface starts HTTP/2 when the client's bytes are the HTTP/2 connection preface
  // (true also while the preface is still incomplete).
  bool starts_h2_preface(Commands& out, bool upstream_tls);
  // reverse_probe says whether the client's TLS is held at the ClientHello in reverse mode:
  // a client offering h2 makes the session connect upstream first to learn the server's ALPN.
  bool reverse_probe() const;
  // reverse_tls says whether the reverse target speaks TLS (its scheme is https).
  bool reverse_tls() const;
  // deliver passes a plaintext event to the application layer and post-processes commands.
  void deliver(Event event, Commands& out);
  void process_app_commands(Commands& app_out, Commands& out);
  // adopt answers the application layer's OpenConnection for the connection the session
  // opened before it (upstream first).
  void adopt(const OpenConnection& open, std::vector<OpenCompleted>& adopted);
  void fail_client_tls(const std::string& error, Commands& out);
  // close_everything closes the client and every server connection; the session is over.
  void close_everything(Commands& out);
  // failed_tcp_flow is a finished TCP flow to |host| (at the destination port) that failed.
  FlowSnapshot failed_tcp_flow(std::string host, std::string error);
  void check_tunnel(Commands& out);

  SessionContext ctx_;
  Stage stage_;
  std::string buffer_;  // Client bytes not yet handed on (sniffing, handshake).
  std::optional<ClientTls> client_tls_;
  ServerSide server_{&ctx_, this};
  std::unique_ptr<AppLayer> app_;
  SpareCommands spare_app_out_;  // deliver()'s vector between events.
  HttpLayer* http_ = nullptr;    // app_ when it is an HttpLayer.
  Http2Layer* http2_ = nullptr;  // app_ when it is an Http2Layer.
  // The destination inside a CONNECT tunnel (regular mode) or the reverse target.
  std::string dest_host_;
  uint16_t dest_port_ = 0;
  bool client_closed_ = false;
  CommandId sniff_wakeup_ = 0;
  int64_t client_handshake_done_us_ = 0;
  std::string refuse_reason_;
  bool over_capacity_ = false;
  std::unique_ptr<Socks5Handshake> socks_;
  // The tunnel being connected: the CONNECT's HTTP version, or a SOCKS5 connect.
  std::string tunnel_version_ = "HTTP/1.1";
  bool socks_tunnel_ = false;
  int64_t tunnel_start_us_ = 0;
  int64_t tunnel_start_wall_us_ = 0;
  bool client_paused_ = false;
  size_t held_while_waiting_ = 0;  // Client bytes received while the handshake waits.
  ClientPhase client_phase_ = ClientPhase::kNone;
  CommandId client_timer_ = 0;
  CommandId idle_wakeup_ = 0;
  int64_t last_active_us_ = 0;  // The last client byte, or the last moment the session was busy.
  // Interception with a known destination (tunnel, transparent, SOCKS5): hold the ClientHello,
  // connect upstream first, copy the server's names and ALPN choice into our answer.
  bool upstream_first_ = false;
  bool awaiting_upstream_ = false;
  std::string client_sni_;
  ConnId preopened_ = 0;
  // The client offered h2 (|client_needs_h2_|: and no HTTP/1.x). A client that needs h2 gets
  // it even from a server that speaks HTTP/1.1 only (each stream is translated), and
  // |upstream_h1_| says so.
  bool client_offers_h2_ = false;
  bool client_needs_h2_ = false;
  bool upstream_h1_ = false;
  std::optional<OpenCompleted> preopen_result_;
};

}  // namespace sightglass::core
