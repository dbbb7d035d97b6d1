#pragma once

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/layers/app_layer.h"
#include "core/layers/h1_over_h2.h"
#include "core/layers/socks5.h"
#include "core/proxy/context.h"
#include "core/proxy/events.h"
#include "core/tls/ssl_engine.h"

namespace sightglass::core {

class HttpLayer;
class Http2Layer;

// ProxySession is the sans-I/O logic of one client connection: events in, commands out.
// It picks what the client speaks from the first bytes (regular mode: HTTP with absolute-form
// requests or CONNECT; then inside the tunnel TLS, HTTP or anything else), terminates and
// originates TLS over memory BIOs, and hands plaintext to the application layer (HttpLayer or
// TcpRelay). The I/O driver owns the sockets; nothing here blocks or touches them.
class ProxySession {
 public:
  ProxySession(const ProxyConfig* config, const Clock* clock, std::atomic<FlowId>* flow_ids,
               ClientConnection client);
  ~ProxySession();
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

  // ServerConn is the TLS state of one server connection.
  struct ServerConn {
    std::unique_ptr<SslEngine> tls;
    std::string host;               // Where the connection goes (for messages).
    std::string tls_name;           // The name for SNI and verification.
    std::vector<std::string> alpn;  // The ALPN offer.
    bool wants_tls = false;
    bool open = false;
    OpenCompleted completion;  // Held back until the handshake is done.
    int64_t handshake_start_us = 0;
    // Upstream mode: the CONNECT sent to the upstream proxy ("host:port"), and its answer
    // until the head is complete.
    std::string proxy_connect;
    std::string proxy_reply;
    // Opened by the session before the application layer (upstream first): not adopted yet,
    // its plaintext and EOF wait.
    bool preopened = false;
    bool eof_pending = false;
    std::string eof_error;
    // HTTP/1.1 toward a server that speaks HTTP/2 only. |h1_client|: the connection carries
    // HTTP/1.x for the client (HttpLayer) and did not offer h2; if the server turns HTTP/1.1
    // down, it is opened again once offering h2 (|retry| says why), and once h2 is spoken
    // |h2| translates (the application layer still reads and writes HTTP/1.1).
    enum class Retry : uint8_t { kNone, kAlert, kClosed, kSettings };
    bool h1_client = false;
    Retry retry = Retry::kNone;
    std::unique_ptr<H1OverH2> h2;
    OpenConnection open_command;          // As sent to the driver (for the retry).
    std::string authority;                // "host:port" of the destination.
    std::vector<std::string> first_alpn;  // The first attempt's offer (or the client's).
    bool known_h2_only = false;           // Offered h2 at once: it turned HTTP/1.1 down before.
    std::string first_error;              // How the first attempt failed.
    // No ALPN chosen and nothing received yet: a server that closes now may be HTTP/2-only
    // (nghttpd closes right after the handshake), and what was sent to it is kept to send
    // again; |held| is what the application wrote while the retry connects.
    bool probation = false;
    std::string sent;
    std::string held;
    // Opened as plain TCP when the tunnel was asked for (CONNECT, SOCKS5), before the client's
    // first byte: whatever runs in the tunnel adopts it (TLS starts on it at the ClientHello).
    bool tcp_first = false;
    std::string early;               // What the server sent before it was adopted.
    bool early_paused = false;       // |early| reached the cap: the server is not read meanwhile.
    CommandId handshake_wakeup = 0;  // The limit of its TLS handshake (or upstream CONNECT).
  };

  void handle_event(Event event, Commands& out);
  // arm_client_timer starts the limit of a client phase (replacing the one running).
  void arm_client_timer(ClientPhase phase, Commands& out);
  void cancel_client_timer(Commands& out);
  void on_client_timer(Commands& out);
  // update_idle watches a client connection between exchanges: closed after the idle limit.
  void update_idle(Commands& out);
  void on_idle_wakeup(Commands& out);
  // on_server_handshake_timeout fails a server connection whose TLS handshake (or upstream
  // proxy CONNECT) did not end in time.
  bool on_server_handshake_timeout(CommandId id, Commands& out);
  void arm_server_handshake(ConnId conn, Commands& out);
  void cancel_server_handshake(ConnId conn, Commands& out);
  void on_start(Commands& out);
  void on_socks_bytes(std::string data, Commands& out);
  void enter_tunnel(std::string host, uint16_t port, std::string remainder, Commands& out);
  // connect_tunnel opens the TCP connection a CONNECT (|socks|: a SOCKS5 connect) asks for;
  // the client gets its answer once it is open or has failed (tunnel_connected).
  void connect_tunnel(std::string host, uint16_t port, std::string remainder, bool socks,
                      Commands& out);
  void tunnel_connected(Commands& out);
  // reserve_tcp_first makes the application layer's first connection the tunnel's TCP
  // connection, while nothing uses it yet.
  void reserve_tcp_first();
  bool tcp_first_unused() const;
  void on_client_bytes(std::string data, Commands& out);
  void on_client_hello(Commands& out);
  void preopen_upstream(const std::vector<std::string>& client_alpn, Commands& out);
  void on_preopen_done(OpenCompleted completion, Commands& out);
  void start_passthrough(std::string reason, Commands& out);
  void on_server_open(OpenCompleted& opened, Commands& out);
  void complete_open(ServerConn& server, OpenCompleted completion, Commands& out);
  // fail_open forgets a server connection that failed to open (closing it when |close|) and
  // reports |failed| to whoever opened it: the session (upstream first) or the layer.
  void fail_open(ConnId conn, OpenCompleted failed, bool close, Commands& out);
  void on_proxy_reply(ConnId conn, std::string data, Commands& out);
  void start_server_tls(ConnId conn, Commands& out);
  void learn_passthrough(FlowSnapshot& flow, const std::string& why, Commands& out);
  void refuse(const std::string& error, Commands& out);
  // host_ports names the destination for the passthrough policy: SNI and destination.
  std::vector<std::string> host_ports() const;
  void sniff(Commands& out);
  void start_client_tls(Commands& out);
  void continue_client_handshake(Commands& out);
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
  // deliver passes a plaintext event to the application layer and post-processes commands.
  void deliver(Event event, Commands& out);
  void process_app_commands(Commands& app_out, Commands& out);
  // adopt answers the application layer's OpenConnection for the connection the session
  // opened before it (upstream first).
  void adopt(const OpenConnection& open, std::vector<OpenCompleted>& adopted);
  void on_server_bytes(ConnId conn, std::string data, Commands& out);
  // on_server_closed reports the end of an open server connection to the application layer
  // (through H1OverH2, or as a reason to retry offering h2).
  void on_server_closed(ConnId conn, std::string error, Commands& out);
  // retry_with_h2 opens a server connection of HttpLayer's again, offering h2 only; false
  // when it does not qualify.
  bool retry_with_h2(ConnId conn, ServerConn::Retry why, std::string error, Commands& out);
  // run_adapter carries out what H1OverH2 produced for |conn|: HTTP/2 bytes to the server,
  // HTTP/1.1 bytes and the close to the application layer (into |later| when given, else now).
  void run_adapter(ConnId conn, H1OverH2::Output output, Commands& out,
                   std::vector<Event>* later = nullptr);
  // app_conn and wire_conn translate between the connection ids the application layer knows
  // and the connections the driver has (they differ after a retry).
  ConnId app_conn(ConnId wire) const;
  ConnId wire_conn(ConnId app) const;
  void fail_client_tls(const std::string& error, Commands& out);
  // close_everything closes the client and every server connection; the session is over.
  void close_everything(Commands& out);
  // failed_tcp_flow is a finished TCP flow to |host| (at the destination port) that failed.
  FlowSnapshot failed_tcp_flow(std::string host, std::string error);
  void check_tunnel(Commands& out);

  SessionContext ctx_;
  Stage stage_;
  std::string buffer_;  // Client bytes not yet handed on (sniffing, handshake).
  std::unique_ptr<SslEngine> client_tls_;
  std::unique_ptr<AppLayer> app_;
  HttpLayer* http_ = nullptr;    // app_ when it is an HttpLayer.
  Http2Layer* http2_ = nullptr;  // app_ when it is an Http2Layer.
  std::map<ConnId, ServerConn> servers_;
  // The destination inside a CONNECT tunnel (regular mode) or the reverse target.
  std::string dest_host_;
  uint16_t dest_port_ = 0;
  bool client_closed_ = false;
  std::string last_client_bytes_;  // The start of the last read during the client handshake.
  CommandId sniff_wakeup_ = 0;
  int64_t client_handshake_start_us_ = 0;
  int64_t client_handshake_done_us_ = 0;
  std::string refuse_reason_;
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
  int64_t last_active_us_ = 0;  // The last client byte, or the last moment the session was busy. //
                                // PauseReading{client} is in force (held bytes at the cap).
  // Interception with a known destination (tunnel, transparent, SOCKS5): hold the ClientHello,
  // connect upstream first, copy the server's names and ALPN choice into our answer.
  bool upstream_first_ = false;
  bool keep_raw_ = false;
  std::string client_raw_;  // Raw client bytes while the ClientHello is held (passthrough).
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
  // Destinations ("host:port") that turned HTTP/1.1 down and speak h2: later connections to
  // them offer h2 at once. The proxy's list (ProxyConfig::h2_only_servers), or this one.
  bool known_h2_only(const std::string& authority) const;
  void learn_h2_only(const std::string& authority, Commands& out);
  std::set<std::string> h2_only_;
  std::map<ConnId, ConnId> app_of_wire_;  // Retried connections: new wire -> the layer's id.
  std::map<ConnId, ConnId> wire_of_app_;
  std::set<ConnId> retired_;  // Wires replaced by a retry: what still comes from them is dropped.
};

}  // namespace sightglass::core
