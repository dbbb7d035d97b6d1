#pragma once

// The server side of a session, a layer of its own: it opens the connections the layer above
// asks for (through the upstream proxy's CONNECT in upstream mode), runs their TLS and its
// time limit, and speaks HTTP/2 for an HTTP/1.1 application layer toward a server that turned
// HTTP/1.1 down (h2_retry.cc). Events from the driver come in; plaintext events go up through
// Upper; the commands of the layer above go out through send(), open() and close().

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "core/layers/h1_over_h2.h"
#include "core/proxy/context.h"
#include "core/proxy/events.h"
#include "core/tls/ssl_engine.h"

namespace sightglass::core {

// ServerConn is the state of one server connection.
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

class ServerSide {
 public:
  // Upper is the layer above: the session, which hands events on to the application layer.
  class Upper {
   public:
    virtual ~Upper() = default;
    // to_app passes an event of a connection the application layer opened (OpenCompleted,
    // DataReceived, ConnectionClosed), with the driver's connection id.
    virtual void to_app(Event event, Commands& out) = 0;
    // preopen_done says how a connection the session opened itself turned out.
    virtual void preopen_done(OpenCompleted completion, Commands& out) = 0;
    // app_speaks_http1 says whether the application layer is HttpLayer (what may be retried).
    virtual bool app_speaks_http1() const = 0;
    // replaced: a retry opened |wire| in place of |old|.
    virtual void replaced(ConnId old, ConnId wire) = 0;
  };

  ServerSide(SessionContext* ctx, Upper* upper) : ctx_(ctx), upper_(upper) {}

  ServerConn* find(ConnId conn);
  const ServerConn* find(ConnId conn) const;
  ServerConn& add(ConnId conn) { return conns_[conn]; }
  // retired says whether |conn| was replaced by a retry: what still comes from it is dropped.
  bool retired(ConnId conn) const { return retired_.count(conn) != 0; }

  // Events of server connections.
  void on_open(OpenCompleted& opened, Commands& out);
  void on_bytes(ConnId conn, std::string data, Commands& out);
  // on_closed: the driver saw |conn| close (unknown connections go up as they are).
  void on_closed(ConnId conn, std::string error, Commands& out);
  // release hands over what an adopted connection's server sent before (and its EOF).
  void release(ConnId conn, Commands& out);
  // on_wakeup handles the end of a handshake limit; false when |id| is not one.
  bool on_wakeup(CommandId id, Commands& out);
  // start_tls starts TLS on an open TCP connection (a tunnel's, adopted at the ClientHello).
  void start_tls(ConnId conn, Commands& out);
  // fail_open forgets a connection that failed to open (closing it when |close|) and reports
  // |failed| to whoever opened it.
  void fail_open(ConnId conn, OpenCompleted failed, bool close, Commands& out);

  // Commands of the layer above. |later| collects events for it produced meanwhile (delivered
  // once its batch of commands is done).
  void send(SendData send, Commands& out, std::vector<Event>& later);
  // open sends |open| to the driver (to the upstream proxy in upstream mode; |via_connect|:
  // through its CONNECT, else a plain HTTP request in absolute form).
  void open(OpenConnection open, std::string tls_name, std::vector<std::string> alpn,
            bool h1_client, bool via_connect, Commands& out);
  // dial sends |open| for |server| (its authority set) to the driver, as open() does.
  void dial(ServerConn& server, OpenConnection open, bool via_connect, Commands& out);
  void close(CloseConnection close, Commands& out, std::vector<Event>& later);
  // close_all closes every server connection.
  void close_all(Commands& out);

  // The connection ids the application layer knows and the ones the driver has differ after
  // a retry.
  bool remapped() const { return !app_of_wire_.empty(); }
  ConnId app_conn(ConnId wire) const;
  ConnId wire_conn(ConnId app) const;

  // Destinations ("host:port") that turned HTTP/1.1 down and speak h2: later connections to
  // them offer h2 at once. The proxy's list (ProxyConfig::h2_only_servers), or this session's.
  bool known_h2_only(const std::string& authority) const;

 private:
  void complete_open(ConnId conn, OpenCompleted completion, Commands& out);
  // report_open tells whoever opened a connection how it turned out: the session for one it
  // opened itself (|preopened|), else the application layer.
  void report_open(bool preopened, OpenCompleted completion, Commands& out);
  void on_proxy_reply(ConnId conn, std::string data, Commands& out);
  // on_handshake_bytes advances |conn|'s TLS handshake; false when the connection is gone or
  // waits for more.
  bool on_handshake_bytes(ConnId conn, Commands& out);
  void on_open_closed(ConnId conn, std::string error, Commands& out);
  void arm_handshake(ConnId conn, Commands& out);
  void cancel_handshake(ConnId conn, Commands& out);
  void up(Event event, Commands& out, std::vector<Event>* later = nullptr);
  void shutdown_tls(ConnId conn, SslEngine& tls, Commands& out);

  // h2_retry.cc: HTTP/1.1 toward a server that speaks HTTP/2 only.
  // retry_with_h2 opens |conn| again offering h2 only; false when it does not qualify.
  bool retry_with_h2(ConnId conn, ServerConn::Retry why, std::string error, Commands& out);
  // on_handshake_done starts H1OverH2 (or probation) on a connection whose TLS is up; false
  // when the connection is gone.
  bool on_handshake_done(ConnId conn, OpenCompleted completion, Commands& out);
  // run_adapter carries out what H1OverH2 produced for |conn|: HTTP/2 bytes to the server,
  // HTTP/1.1 bytes and the close to the application layer (into |later| when given, else now).
  void run_adapter(ConnId conn, H1OverH2::Output output, Commands& out,
                   std::vector<Event>* later = nullptr);
  void learn_h2_only(const std::string& authority, Commands& out);

  SessionContext* ctx_;
  Upper* upper_;
  std::map<ConnId, ServerConn> conns_;
  std::set<std::string> h2_only_;
  std::map<ConnId, ConnId> app_of_wire_;  // Retried connections: new wire -> the layer's id.
  std::map<ConnId, ConnId> wire_of_app_;
  std::set<ConnId> retired_;
};

}  // namespace sightglass::core
