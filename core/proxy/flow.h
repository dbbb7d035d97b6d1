#pragma once

// The flow model: what Sightglass records about one exchange. One shape serves every sink (the
// JSON Lines log, the HAR export, the terminal, the GUI, the session store): a FlowSnapshot is
// an immutable copy of a flow at one moment, published from the loop thread that owns the flow
// and shared between threads through FlowSnapshotConstSharedPtr. Bodies are held as refcounted
// immutable chunks, so a snapshot costs no copy of the body bytes.

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sightglass::core {

using FlowId = uint64_t;

// Header is one header field exactly as received: the name keeps its case, and the list keeps
// the order and any repetitions.
struct Header {
  std::string name;
  std::string value;
  bool operator==(const Header&) const = default;
};
using Headers = std::vector<Header>;

// find_header returns the value of the first header named |name| (case-insensitive), or
// nullptr.
const std::string* find_header(const Headers& headers, std::string_view name);
// iequals compares two ASCII strings case-insensitively.
bool iequals(std::string_view a, std::string_view b);
// trim_whitespace returns |text| without leading and trailing spaces and tabs.
std::string_view trim_whitespace(std::string_view text);
// ascii_lower returns |text| with ASCII letters lowered.
std::string ascii_lower(std::string_view text);
// split_list calls |fn| with each trimmed, non-empty element of |s| between |sep|s: the items
// of a comma-separated header list, or the ';' parameters of one item.
template <class Fn>
void split_list(std::string_view s, char sep, Fn&& fn) {
  while (true) {
    const size_t at = s.find(sep);
    const std::string_view piece = trim_whitespace(s.substr(0, at));
    if (!piece.empty()) {
      fn(piece);
    }
    if (at == std::string_view::npos) {
      return;
    }
    s.remove_prefix(at + 1);
  }
}
// is_grpc_content_type says whether the Content-Type is gRPC's (application/grpc[+proto...]).
bool is_grpc_content_type(const Headers& headers);

// BodyChunk is an immutable piece of a body, shared by every snapshot that holds it.
using BodyChunk = std::shared_ptr<const std::string>;

// GrpcFraming follows gRPC's length-prefixed messages (a flag byte, a 4-byte big-endian
// length, the message) through a body, however it is split, and keeps each message's size.
struct GrpcFraming {
  static constexpr size_t kMaxMessages = 100'000;  // Sizes kept; the rest only counted.
  std::vector<uint64_t> sizes;
  uint64_t messages = 0;   // Complete messages seen (also past kMaxMessages).
  uint8_t prefix[5] = {};  // The prefix being read.
  uint8_t prefix_bytes = 0;
  uint64_t remaining = 0;  // Payload bytes of the current message still to come.

  void feed(std::string_view data);
  // complete says whether the body ended at a message boundary.
  bool complete() const { return prefix_bytes == 0 && remaining == 0; }
};

// CapturedBody is what a flow keeps of a message body: the first bytes (up to the body
// limit) as chunks, and the full size. The body itself is always forwarded whole.
struct CapturedBody {
  std::vector<BodyChunk> chunks;  // The kept prefix, in order.
  uint64_t size = 0;              // All bytes of the body (after transfer decoding).
  uint64_t kept = 0;              // Bytes in |chunks|.
  bool truncated = false;         // size > kept.
  // Set by the layer for gRPC bodies (content-type application/grpc): every byte appended,
  // kept or not, goes through it.
  std::optional<GrpcFraming> grpc;

  // append keeps up to |limit| bytes in all; the rest only counts.
  void append(std::string_view data, uint64_t limit);
  // contiguous returns the kept bytes as one string.
  std::string contiguous() const;
};

// TlsCertificateInfo describes a peer certificate.
struct TlsCertificateInfo {
  std::string subject;    // One-line RFC 2253 form.
  std::string issuer;     // One-line RFC 2253 form.
  std::string not_after;  // ISO 8601, UTC.
  std::string sha256;     // Hex fingerprint of the DER.
};

// TlsInfo describes one side's TLS session.
struct TlsInfo {
  std::string sni;
  std::string version;                            // "TLSv1.3", ...
  std::string cipher;                             // IANA name.
  std::string alpn;                               // Negotiated protocol, or "".
  std::optional<TlsCertificateInfo> certificate;  // The server's (server side only).
  bool resumed = false;                           // An abbreviated handshake (a session resumed).
};

// HttpRequestData is an HTTP request as the client sent it.
struct HttpRequestData {
  std::string method;
  std::string scheme;  // "http" or "https".
  std::string host;    // From the request target, Host/:authority, or the connection.
  uint16_t port = 0;
  std::string target;  // The request target in origin form ("/p?q"), "*", or authority.
  std::string http_version = "HTTP/1.1";  // As spoken on the client side.
  Headers headers;
  Headers trailers;
  CapturedBody body;
  uint64_t header_bytes = 0;  // Bytes of the request line and headers on the wire.

  // url returns scheme://host[:port]target, leaving out the scheme's default port.
  std::string url() const;
};

// HttpResponseData is an HTTP response as the server sent it.
struct HttpResponseData {
  std::string http_version = "HTTP/1.1";
  int status = 0;
  std::string reason;
  Headers headers;
  Headers trailers;
  CapturedBody body;
  uint64_t header_bytes = 0;
};

// WebSocketMessage is one message of a WebSocket flow (Chrome DevTools' shape).
struct WebSocketMessage {
  bool from_client = true;
  int64_t time_us = 0;  // Wall clock, microseconds since the Unix epoch.
  uint8_t opcode = 1;   // 1 text, 2 binary, 8 close, 9 ping, 10 pong.
  std::string data;     // Capped by the body limit.
  bool truncated = false;
};

// WebSocketMessageLog is a flow's WebSocket messages in order. Messages are kept in immutable
// blocks of kBlockSize shared by every copy (every snapshot of the flow); only the last,
// unfilled block belongs to one copy and is copied with it. Copying a log therefore costs
// O(size / kBlockSize + kBlockSize), so a long WebSocket published again and again stays
// linear, and no block is ever shared while it is still being appended to.
class WebSocketMessageLog {
 public:
  static constexpr size_t kBlockSize = 64;
  using Block = std::vector<WebSocketMessage>;
  using BlockConstSharedPtr = std::shared_ptr<const Block>;

  // const_iterator walks the messages in order.
  class const_iterator {
   public:
    using iterator_category = std::forward_iterator_tag;
    using value_type = WebSocketMessage;
    using difference_type = std::ptrdiff_t;

    const_iterator() = default;
    const_iterator(const WebSocketMessageLog* log, size_t index) : log_(log), index_(index) {}
    const WebSocketMessage& operator*() const { return (*log_)[index_]; }
    const WebSocketMessage* operator->() const { return &(*log_)[index_]; }
    const_iterator& operator++() {
      ++index_;
      return *this;
    }
    const_iterator operator++(int) {
      const_iterator old = *this;
      ++index_;
      return old;
    }
    bool operator==(const const_iterator& other) const { return index_ == other.index_; }

   private:
    const WebSocketMessageLog* log_ = nullptr;
    size_t index_ = 0;
  };
  using iterator = const_iterator;
  using value_type = WebSocketMessage;
  using size_type = size_t;

  WebSocketMessageLog() = default;
  WebSocketMessageLog(std::initializer_list<WebSocketMessage> messages)
      : WebSocketMessageLog(std::vector<WebSocketMessage>(messages)) {}
  explicit WebSocketMessageLog(std::vector<WebSocketMessage> messages);

  void push_back(WebSocketMessage message);
  size_t size() const { return blocks_.size() * kBlockSize + tail_.size(); }
  bool empty() const { return blocks_.empty() && tail_.empty(); }
  const WebSocketMessage& operator[](size_t i) const {
    return i < blocks_.size() * kBlockSize ? (*blocks_[i / kBlockSize])[i % kBlockSize]
                                           : tail_[i - blocks_.size() * kBlockSize];
  }
  const WebSocketMessage& back() const { return (*this)[size() - 1]; }
  void clear() {
    blocks_.clear();
    tail_.clear();
  }
  const_iterator begin() const { return const_iterator(this, 0); }
  const_iterator end() const { return const_iterator(this, size()); }

  // blocks are the full, shared blocks (for tests and for readers that walk them).
  const std::vector<BlockConstSharedPtr>& blocks() const { return blocks_; }

 private:
  std::vector<BlockConstSharedPtr> blocks_;  // Full (kBlockSize each), never changed again.
  Block tail_;                               // Fewer than kBlockSize; owned by this copy.
};

// FlowTimings are HAR's phases, measured on the loop thread. Durations are in microseconds,
// -1 where a phase does not apply (a reused connection has no dns/connect/ssl).
struct FlowTimings {
  int64_t started_us = 0;  // Wall clock at the first byte of the request, µs since the epoch.
  int64_t blocked_us = -1;
  int64_t dns_us = -1;
  int64_t connect_us = -1;  // Includes ssl, as HAR says.
  int64_t ssl_us = -1;
  int64_t send_us = -1;
  int64_t wait_us = -1;
  int64_t receive_us = -1;
  // settle_exchange sets send, wait and receive from an exchange's moments (monotonic µs; a
  // request not yet complete ends |now|; a complete request without a response head waited
  // until |now|).
  void settle_exchange(int64_t start, int64_t request_end, int64_t response_head, int64_t now);
  // total_us is the sum of the phases that apply.
  int64_t total_us() const;
};

enum class FlowKind : uint8_t {
  kHttp,  // An HTTP request/response (HTTP/1.x or HTTP/2), maybe upgraded to WebSocket.
  kTcp,   // A raw TCP (or passed-through TLS) connection.
};

enum class FlowState : uint8_t {
  kLive,      // In progress: published for live views; the log waits for the final state.
  kFinished,  // Complete (or failed, with |error|): written to the log.
};

// FlowSnapshot is an immutable copy of a flow. A flow is published several times while it
// runs (kLive: its request head, the request complete, the response head, body progress at
// most every 250 ms) and once when it is done (kFinished); every publish of one flow carries
// its id and a revision one higher than the one before, so a consumer can keep the latest
// snapshot per id and ignore a stale revision. The final snapshot has the highest revision.
struct FlowSnapshot {
  FlowId id = 0;
  uint64_t revision = 0;  // 1 for a flow's first publish, +1 for each one after it.
  FlowKind kind = FlowKind::kHttp;
  FlowState state = FlowState::kLive;
  std::string client_address;  // "ip:port" ("[v6]:port").
  std::string server_address;  // "ip:port" of the upstream, or "" when none was reached.
  std::optional<TlsInfo> client_tls;
  std::optional<TlsInfo> server_tls;
  std::optional<HttpRequestData> request;
  std::optional<HttpResponseData> response;
  WebSocketMessageLog websocket_messages;
  // For kTcp flows: the destination and the bytes relayed each way.
  std::string tcp_host;
  uint16_t tcp_port = 0;
  uint64_t bytes_from_client = 0;
  uint64_t bytes_from_server = 0;
  std::string tcp_sni;      // The ClientHello's SNI of a passed-through TLS connection.
  std::string passthrough;  // Why the connection was passed through untouched, or "".
  // The client rejected our certificate and its host is passed through from now on.
  bool passthrough_learned = false;
  // The request was sent again by the proxy itself (a replay from the inspector).
  bool replay = false;
  // The request's URL as the client sent it, when a hook sent the request elsewhere
  // (--map-remote, an edit at the intercept); "" otherwise.
  std::string original_url;
  // What the hooks did to the flow (which rules changed, blocked or answered it), or "".
  std::string modified;
  FlowTimings timings;
  std::string error;  // Why the flow failed, or "".
};

using FlowSnapshotConstSharedPtr = std::shared_ptr<const FlowSnapshot>;

}  // namespace sightglass::core
