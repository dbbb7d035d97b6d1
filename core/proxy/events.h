#pragma once

// Events and commands: the only way in and out of the sans-I/O proxy logic (mitmproxy's
// layer design). The I/O driver (core/net) turns socket activity into Events and carries out
// the Commands that the logic returns. Connections are named by ConnId, never by socket.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "core/proxy/flow.h"

namespace sightglass::core {

// ConnId names a connection within one client session. The client is always kClientConn.
using ConnId = uint32_t;
inline constexpr ConnId kClientConn = 0;

// CommandId pairs a blocking command with the event that completes it.
using CommandId = uint64_t;

// --- Events -----------------------------------------------------------------------------

// Start is the first event of a session: the client connection is open.
struct Start {};

// DataReceived carries bytes read from a connection.
struct DataReceived {
  ConnId conn = kClientConn;
  std::string data;
};

// ConnectionClosed says the peer closed its side (EOF) or the connection failed.
struct ConnectionClosed {
  ConnId conn = kClientConn;
  std::string error;  // "" for an orderly EOF.
};

// OpenCompleted completes an OpenConnection: |error| is empty on success.
struct OpenCompleted {
  // Failure says why a connection could not be opened (SOCKS5 answers with its code); |error|
  // is the detail for people. Decisions read this, never the text.
  enum class Failure : uint8_t {
    kNone,
    kDns,
    kRefused,
    kTimeout,
    kUnreachable,
    kTlsHandshake,  // The server's TLS handshake failed (an alert, a protocol error, a close).
    kTlsVerify,     // The server's certificate did not verify.
    kOther,
  };
  CommandId id = 0;
  ConnId conn = 0;
  std::string error;
  bool timed_out = false;
  Failure failure = Failure::kNone;
  std::string peer_address;  // "ip:port" of the server reached.
  int64_t dns_us = -1;
  int64_t connect_us = -1;
  int64_t ssl_us = -1;         // Filled in by the TLS logic, not by the driver.
  std::optional<TlsInfo> tls;  // The server's TLS session, filled in by the TLS logic.
};

// Wakeup completes a RequestWakeup.
struct Wakeup {
  CommandId id = 0;
};

// WriteDrained follows a SendData with |report_written| once its bytes, and all queued before
// them, went to the kernel: what a layer credits a sender with is what the connection took.
struct WriteDrained {
  ConnId conn = kClientConn;
};

// HookPoint is where an HTTP flow stops for its hooks: its request before it goes to the
// server, its response before it goes to the client.
enum class HookPoint : uint8_t { kRequest, kResponse };

// HeldFlow is a flow stopped at a hold point: what the hooks read and edit. When the hook
// resumes, the layer sends what the flow says: the method, URL, headers and body of the
// request (kRequest), or the status, headers and body of the response (kResponse).
struct HeldFlow {
  HookPoint point = HookPoint::kRequest;
  // The flow so far. At kRequest its request, at kResponse also its response: the headers as
  // they will go on, the body's kept bytes as the flow records them.
  FlowSnapshot flow;
  // The held message's body (after transfer decoding, content-encoded as sent). When
  // |body_complete| is false the body was longer than the hold limit: the rest streams after
  // it unchanged, and an edit of |body| is ignored.
  std::string body;
  bool body_complete = true;
  // kill: the flow ends here; the client connection is closed without an answer.
  bool kill = false;
  // kRequest only: answer the client with this response (its body in |answer_body|) instead
  // of contacting the server.
  std::optional<HttpResponseData> answer;
  std::string answer_body;
  // Why the flow was changed, for the flow's log ("" when nothing says).
  std::string note;
};
using HeldFlowPtr = std::shared_ptr<HeldFlow>;

// HookResumed completes a Hook: |held| is the flow as the hooks left it.
struct HookResumed {
  CommandId id = 0;
  HeldFlowPtr held;
};

using Event = std::variant<Start, DataReceived, ConnectionClosed, OpenCompleted, Wakeup,
                           WriteDrained, HookResumed>;

// --- Commands ---------------------------------------------------------------------------

// SendData writes bytes to a connection; with |report_written|, WriteDrained{conn} follows
// once they are written.
struct SendData {
  ConnId conn = kClientConn;
  std::string data;
  bool report_written = false;
};

// OpenConnection opens a TCP connection to host:port as |conn|; OpenCompleted{id} answers.
// With |tls|, the session runs TLS over it (SNI and verification for |host|) before it
// completes; the I/O driver only ever sees the TCP part.
struct OpenConnection {
  CommandId id = 0;
  ConnId conn = 0;
  std::string host;
  uint16_t port = 0;
  bool tls = false;
};

// CloseConnection closes |conn|: after the queued writes when |half_close| (shutdown of the
// write side), else the whole connection once queued writes are flushed.
struct CloseConnection {
  ConnId conn = kClientConn;
  bool half_close = false;
};

// RequestWakeup asks for a Wakeup{id} after |delay_ms|.
struct RequestWakeup {
  CommandId id = 0;
  int64_t delay_ms = 0;
};

// CancelWakeup withdraws a RequestWakeup that is no longer needed.
struct CancelWakeup {
  CommandId id = 0;
};

// PauseReading stops (|paused|) or resumes reading from one connection: a layer that holds
// bytes it cannot pass on yet (the reader of one stream is slow) stops taking more from their
// source. Independent of the driver's own pause, which stops every read of the session while
// any socket has too much queued.
struct PauseReading {
  ConnId conn = kClientConn;
  bool paused = true;
};

// Log is a message for the terminal (stderr), attributed to the event that caused it.
struct Log {
  enum class Level : uint8_t { kDebug, kInfo, kWarn, kError };
  Level level = Level::kInfo;
  std::string message;
};

// PublishFlow hands a flow snapshot to the sinks.
struct PublishFlow {
  FlowSnapshotConstSharedPtr flow;
};

// Hook stops a flow at a hold point (mitmproxy's StartHook): the driver runs the proxy's
// hooks (ProxyConfig::hooks) on it and answers HookResumed{id} once they are done, at once or
// after a person looked at it. Only that flow waits; the rest of the session goes on.
struct Hook {
  CommandId id = 0;
  HeldFlowPtr held;
};

// Learn is what a session learned about a server for every session of the proxy: the driver
// applies it to the shared state (ProxyConfig::passthrough, h2_only_servers), so that a
// transcript shows it. kPassthrough: |host_port| rejected our certificate (|why|) and is passed
// through untouched from now on; kH2Only: the server at |host_port| speaks HTTP/2 only.
struct Learn {
  enum class What : uint8_t { kPassthrough, kH2Only };
  What what = What::kPassthrough;
  std::string host_port;
  std::string why;
};

using Command = std::variant<SendData, OpenConnection, CloseConnection, RequestWakeup, CancelWakeup,
                             PauseReading, Log, PublishFlow, Hook, Learn>;
using Commands = std::vector<Command>;

// SpareCommands keeps one emptied command vector for the next use, so that a handler building
// a vector per event allocates none once warm. take() lends it (an empty vector while it is
// lent, as to a nested call); give_back() empties a vector and keeps it, capacity and all.
class SpareCommands {
 public:
  Commands take() { return std::exchange(spare_, Commands{}); }
  void give_back(Commands&& used) {
    used.clear();
    spare_ = std::move(used);
  }

 private:
  Commands spare_;
};

// cancel_wakeup withdraws the wakeup |id| unless it is 0, and sets it to 0.
inline void cancel_wakeup(CommandId& id, Commands& out) {
  if (id != 0) {
    out.push_back(CancelWakeup{id});
    id = 0;
  }
}

// describe returns a one-line text of an event or command, for test transcripts and logs.
std::string describe(const Event& event);
std::string describe(const HeldFlow& held);
std::string describe(const Command& command);

}  // namespace sightglass::core
