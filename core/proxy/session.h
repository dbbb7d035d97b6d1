#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>

#include "core/layers/app_layer.h"
#include "core/proxy/context.h"
#include "core/proxy/events.h"
#include "core/tls/ssl_engine.h"

namespace sightglass::core {

class HttpLayer;

// ProxySession is the sans-I/O logic of one client connection: events in, commands out.
// It picks what the client speaks from the first bytes (regular mode: HTTP with absolute-form
// requests or CONNECT; then inside the tunnel TLS, HTTP or anything else), terminates and
// originates TLS over memory BIOs, and hands plaintext to the application layer (HttpLayer or
// TcpRelay). The I/O driver owns the sockets; nothing here blocks or touches them.
class ProxySession {
 public:
  ProxySession(const ProxyConfig* config, const Clock* clock, std::atomic<FlowId>* flow_ids,
               std::string client_address);
  ~ProxySession();
  ProxySession(const ProxySession&) = delete;
  ProxySession& operator=(const ProxySession&) = delete;

  // handle processes one event and appends the resulting commands to |out|.
  void handle(Event event, Commands& out);
  // busy says whether the session is in the middle of something: an exchange, a handshake,
  // a relay. An idle keep-alive connection is not busy.
  bool busy() const;

 private:
  enum class Stage : uint8_t {
    kSniffClient,      // Reverse mode: the first bytes of the connection decide.
    kRegularHttp,      // Regular mode: HTTP until a CONNECT.
    kSniffTunnel,      // Inside a CONNECT tunnel: the first bytes decide.
    kClientHandshake,  // Terminating the client's TLS.
    kSniffPlaintext,   // After the client handshake: HTTP or something else.
    kApp,              // The application layer runs.
    kClosed,
  };

  // ServerConn is the TLS state of one server connection.
  struct ServerConn {
    std::unique_ptr<SslEngine> tls;
    std::string host;
    bool wants_tls = false;
    bool offer_http11 = false;
    bool open = false;
    OpenCompleted completion;  // Held back until the handshake is done.
    int64_t handshake_start_us = 0;
  };

  void on_client_bytes(std::string data, Commands& out);
  void sniff(Commands& out);
  void start_client_tls(Commands& out);
  void continue_client_handshake(Commands& out);
  void start_http(bool upstream_tls, Commands& out);
  void start_relay(bool upstream_tls, Commands& out);
  // deliver passes a plaintext event to the application layer and post-processes commands.
  void deliver(Event event, Commands& out);
  void process_app_commands(Commands& app_out, Commands& out);
  void on_server_bytes(ConnId conn, std::string data, Commands& out);
  void fail_client_tls(const std::string& error, Commands& out);
  void check_tunnel(Commands& out);

  SessionContext ctx_;
  Stage stage_;
  std::string buffer_;  // Client bytes not yet handed on (sniffing, handshake).
  std::unique_ptr<SslEngine> client_tls_;
  std::unique_ptr<AppLayer> app_;
  HttpLayer* http_ = nullptr;  // app_ when it is an HttpLayer.
  std::map<ConnId, ServerConn> servers_;
  // The destination inside a CONNECT tunnel (regular mode) or the reverse target.
  std::string dest_host_;
  uint16_t dest_port_ = 0;
  bool client_closed_ = false;
  bool sent_certificate_ = false;
  CommandId sniff_wakeup_ = 0;
  int64_t client_handshake_start_us_ = 0;
};

}  // namespace sightglass::core
