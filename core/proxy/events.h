#pragma once

// Events and commands: the only way in and out of the sans-I/O proxy logic (mitmproxy's
// layer design). The I/O driver (core/net) turns socket activity into Events and carries out
// the Commands that the logic returns. Connections are named by ConnId, never by socket.

#include <cstdint>
#include <optional>
#include <string>
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
  // Failure says why a connection could not be opened (SOCKS5 answers with its code).
  enum class Failure : uint8_t { kNone, kDns, kRefused, kTimeout, kUnreachable, kOther };
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

using Event =
    std::variant<Start, DataReceived, ConnectionClosed, OpenCompleted, Wakeup, WriteDrained>;

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

using Command = std::variant<SendData, OpenConnection, CloseConnection, RequestWakeup, CancelWakeup,
                             PauseReading, Log, PublishFlow>;
using Commands = std::vector<Command>;

// describe returns a one-line text of an event or command, for test transcripts and logs.
std::string describe(const Event& event);
std::string describe(const Command& command);

}  // namespace sightglass::core
