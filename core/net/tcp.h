#pragma once

// TCP on the event loop: listening sockets, connected streams, and outgoing connections that
// resolve names without blocking the loop.

#include <uv.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/net/callback_slot.h"
#include "core/net/event_loop.h"
#include "core/net/uv_handle.h"

namespace sightglass::core {

// SharedChunk is an immutable, refcounted piece of bytes (the same type as the flow model's
// BodyChunk): writing one costs no copy.
using SharedChunk = std::shared_ptr<const std::string>;

// TcpStream is one connected TCP socket (accepted by a TcpListener or made by connect_tcp) with
// TCP_NODELAY set. It belongs to its loop thread and is not movable: keep it in a
// std::unique_ptr.
//
// Callbacks and lifetime: the owner may destroy the TcpStream, or call close(), from inside any
// of its callbacks. After close() (or destruction) no callback of this stream runs again, and
// writes still queued are dropped. on_error is always the last callback: the stream is already
// closed when it runs.
class TcpStream {
 public:
  // Callbacks are the stream's user callbacks; any may be left empty (designated initializers
  // welcome).
  struct Callbacks {
    // on_data gets bytes read from the peer. |data| points into the loop's read buffer and is
    // valid only until on_data returns.
    std::function<void(std::string_view data)> on_data = nullptr;
    // on_eof: the peer shut down its sending side. Reading stops; writing still works.
    std::function<void()> on_eof = nullptr;
    // on_error: a read, write or shutdown failed ("read from 1.2.3.4:5 failed: connection reset
    // by peer"). The stream is closed.
    std::function<void(const std::string& error)> on_error = nullptr;
    // on_drained: write_queue_bytes() fell to zero after having been above zero. The signal to
    // resume a source paused for backpressure.
    std::function<void()> on_drained = nullptr;
  };

  // TcpStream takes over |handle|, a connected uv_tcp_t of |loop|.
  TcpStream(EventLoop& loop, UvHandle<uv_tcp_t> handle);
  TcpStream(const TcpStream&) = delete;
  TcpStream& operator=(const TcpStream&) = delete;
  // ~TcpStream closes the socket (see close()).
  ~TcpStream();

  // set_callbacks replaces the callbacks (safe from inside one of them).
  void set_callbacks(Callbacks callbacks) { callbacks_.set(std::move(callbacks)); }
  // start_reading sets the callbacks and starts reading. Returns false, with a message in
  // |out_error| when not null, if the stream is closed or libuv refuses.
  bool start_reading(Callbacks callbacks, std::string* out_error = nullptr);
  // pause_reading stops reading until resume_reading(); data then waits in the kernel, and the
  // peer is eventually slowed down by TCP flow control.
  void pause_reading();
  // resume_reading starts reading again (a no-op after end of stream). Returns false, with a
  // message in |out_error| when not null, if the stream is closed or libuv refuses.
  bool resume_reading(std::string* out_error = nullptr);
  // reading is true while the stream reads.
  bool reading() const { return reading_; }

  // write sends |data| after the bytes already queued. It writes at once what the socket takes
  // and queues the rest, counting it in write_queue_bytes(); a failure is reported later
  // through on_error. Returns false (and sends nothing) after close() or shutdown().
  bool write(std::string data);
  // write sends a shared chunk without copying it; the chunk is referenced until written.
  bool write(SharedChunk chunk);
  // write_queue_bytes is the number of bytes accepted by write() and not yet handed to the
  // kernel. Callers pause their source above a bound and resume on on_drained.
  size_t write_queue_bytes() const { return write_queue_bytes_; }

  // shutdown half-closes the stream: after the queued bytes are written, the peer sees end of
  // stream. Reading goes on. Returns false if the stream is closed, already shut down, or libuv
  // refuses.
  bool shutdown();
  // close closes the socket at once: queued writes are dropped and no callback runs again.
  void close();
  // is_open is true until close(), an error, or the destruction of the loop.
  bool is_open() const { return handle_.get() != nullptr; }

  // peer_address and local_address are "ip:port", or "[ip]:port" for IPv6, taken when the
  // stream was made ("" if the socket could not tell).
  const std::string& peer_address() const { return peer_address_; }
  const std::string& local_address() const { return local_address_; }
  // original_destination is the address a client meant to reach before an iptables/nftables
  // REDIRECT or DNAT brought the connection here (SO_ORIGINAL_DST, IP6T_SO_ORIGINAL_DST), as
  // "ip:port"; nullopt when the kernel has none (no NAT connection tracking) or off Linux.
  // Without NAT it is the local address.
  std::optional<std::string> original_destination() const;

 private:
  static void on_alloc(uv_handle_t* handle, size_t suggested_size, uv_buf_t* buf) noexcept;
  static void on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) noexcept;
  static void on_write(uv_write_t* req, int status) noexcept;
  static void on_shutdown(uv_shutdown_t* req, int status) noexcept;

  // send implements write(): |data| is the bytes, and keep() returns a chunk that owns them,
  // called only when some must wait in a write request.
  template <typename Keep>
  bool send(std::string_view data, Keep keep);
  // fail closes the stream and runs on_error(|error|): the last callback.
  void fail(const std::string& error);

  EventLoop* loop_;
  UvHandle<uv_tcp_t> handle_;
  detail::CallbackSlot<Callbacks> callbacks_;
  std::string peer_address_;
  std::string local_address_;
  size_t write_queue_bytes_ = 0;
  bool reading_ = false;
  bool eof_ = false;
  bool shut_down_ = false;
};

// TcpListener is a listening TCP socket on one loop. Each accepted connection is handed to the
// connection callback as a TcpStream that the callback owns from then on. The listener may be
// destroyed from inside its callback; once destroyed, no callback runs.
class TcpListener {
 public:
  using ConnectionCallback = std::function<void(std::unique_ptr<TcpStream> stream)>;

  // kBacklog is the length of the queue of connections not yet accepted (as nginx and Node).
  static constexpr int kBacklog = 511;

  // create listens on |host|, an IPv4 or IPv6 address ("127.0.0.1", "::1", "[::1]",
  // "0.0.0.0"), and |port| (0: a free port, see port()), with SO_REUSEADDR (libuv sets it).
  // On failure returns nullptr with a message in |out_error| (when not null), such as
  // "cannot listen on 127.0.0.1:8080: address already in use".
  // With |transparent| (Linux TPROXY), IP_TRANSPARENT / IPV6_TRANSPARENT is asked for before
  // binding, so that connections to other addresses can be accepted; it needs CAP_NET_ADMIN
  // and is skipped without it (REDIRECT does not need it).
  // With |reuse_port|, SO_REUSEPORT is set before binding, so that listeners on several loops
  // share one port and the kernel spreads the connections among them.
  static std::unique_ptr<TcpListener> create(EventLoop& loop, std::string_view host, uint16_t port,
                                             ConnectionCallback on_connection,
                                             std::string* out_error, bool reuse_port = false,
                                             bool transparent = false);

  struct Passkey {};
  // TcpListener is public for std::make_unique only: use create().
  TcpListener(Passkey, EventLoop& loop, ConnectionCallback on_connection);
  TcpListener(const TcpListener&) = delete;
  TcpListener& operator=(const TcpListener&) = delete;

  // port is the port bound (useful after listening on port 0).
  uint16_t port() const { return port_; }
  // local_address is the address bound, as "ip:port" or "[ip]:port".
  const std::string& local_address() const { return local_address_; }
  // set_on_error sets a callback for failed accepts (out of file descriptors, say), called
  // at most once a second; the listener keeps listening. Without one they are ignored.
  void set_on_error(std::function<void(const std::string& error)> on_error) {
    on_error_.set(std::move(on_error));
  }
  ~TcpListener();

 private:
  // The listener accepts by itself (accept4 on a uv_poll_t), not with uv_listen: out of file
  // descriptors, libuv's accept loop can spin forever inside one callback when its reserve
  // descriptor is taken by another thread. Here an EMFILE frees a reserve descriptor, sheds what
  // waits, and pauses accepting briefly: never a spin, and the loop serves the rest.
  static void on_readable(uv_poll_t* poll, int status, int events) noexcept;
  void shed(int error);
  void report(const std::string& error);

  EventLoop* loop_;
  UvHandle<uv_tcp_t> handle_;  // Made and bound by libuv; its socket is the listening one.
  UvHandle<uv_poll_t> poll_;   // Closed first (declared after handle_).
  int fd_ = -1;
  int reserve_fd_ = -1;
  std::unique_ptr<Timer> pause_;
  uint64_t shed_ = 0;
  int64_t last_report_us_ = 0;
  detail::CallbackSlot<ConnectionCallback> on_connection_;
  detail::CallbackSlot<std::function<void(const std::string&)>> on_error_;
  uint16_t port_ = 0;
  std::string local_address_;
};

// ConnectResult is the outcome of connect_tcp (designated initializers welcome).
struct ConnectResult {
  enum class Kind {
    kOk,
    kDnsFailed,    // The name did not resolve (or resolved to no address).
    kRefused,      // The peer answered with a reset: nothing listens there.
    kTimeout,      // The deadline passed (or the kernel gave up).
    kUnreachable,  // No route to the network or host.
    kOther,
  };
  Kind kind = Kind::kOther;
  std::unique_ptr<TcpStream> stream = nullptr;  // Set when kind is kOk.
  // error is a readable reason when kind is not kOk: "DNS lookup of no-such-host.invalid
  // failed: unknown node or service", "connection to 127.0.0.1:1 refused", "connection to
  // example.com:443 timed out after 5000 ms".
  std::string error = "";
  std::string ip = "";     // The peer's IP ("::1", no brackets) when connected.
  int64_t dns_us = 0;      // Time spent resolving (0 for an IP literal).
  int64_t connect_us = 0;  // From the first connection attempt to its end (all attempts).
};

using ConnectCallback = std::function<void(ConnectResult result)>;
// AttemptCallback learns the local address of each connection attempt before its connect is
// issued: the socket is bound first, so the address is the wildcard with the chosen port
// ("0.0.0.0:40000", "[::]:40000").
using AttemptCallback = std::function<void(const std::string& local_address)>;

namespace detail {
class Connector;
}  // namespace detail

// ConnectHandle is the caller's hold on a connect_tcp in progress. Destroying it, or cancel(),
// cancels the attempt: the callback then never runs. It must be destroyed on the loop thread.
// The callback may destroy the handle.
class [[nodiscard]] ConnectHandle {
 public:
  ConnectHandle();
  // ConnectHandle takes over a connector that connect_tcp made.
  explicit ConnectHandle(std::unique_ptr<detail::Connector> connector);
  ConnectHandle(ConnectHandle&& other) noexcept;
  ConnectHandle& operator=(ConnectHandle&& other) noexcept;
  ~ConnectHandle();

  // cancel stops the attempt; the callback will not run.
  void cancel();
  // pending is true until the callback has run or the attempt is cancelled.
  bool pending() const;

 private:
  std::unique_ptr<detail::Connector> connector_;
};

// connect_tcp connects to |host| (a name, or an IPv4/IPv6 literal, brackets allowed) and |port|.
// Names are resolved with uv_getaddrinfo on libuv's thread pool (literals skip it); the
// addresses are then tried in order until one connects. |callback| runs exactly once on the loop
// thread, never before connect_tcp returns, unless the returned handle is destroyed first.
// |timeout_ms| bounds the whole attempt, lookup included (0: no bound other than the kernel's).
// |on_attempt|, when set, runs for every attempt once its connect is issued (possibly inside
// connect_tcp).
ConnectHandle connect_tcp(EventLoop& loop, std::string_view host, uint16_t port,
                          uint64_t timeout_ms, ConnectCallback callback,
                          AttemptCallback on_attempt = {});

// probe_listen_port checks that |host|:|port| is free by binding it once without
// SO_REUSEPORT (so that a port held by any other listener is refused), and returns the port
// (the one chosen when |port| is 0). Loop-free; for listeners that then share the port.
std::optional<uint16_t> probe_listen_port(std::string_view host, uint16_t port,
                                          std::string* out_error);

// is_local_ip says whether |ip| (no brackets) is an address of this host.
bool is_local_ip(std::string_view ip);

}  // namespace sightglass::core
