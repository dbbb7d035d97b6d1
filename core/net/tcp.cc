#include "core/net/tcp.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <utility>
#include <vector>

#include "core/proxy/host_port.h"

namespace sightglass::core {

namespace {

// From <linux/netfilter_ipv4.h> and <linux/netfilter_ipv6/ip6_tables.h>, which clash with the
// C library's network headers.
constexpr int kSoOriginalDst = 80;
constexpr int kIp6tSoOriginalDst = 80;

int64_t elapsed_us(uint64_t since_ns) {
  return static_cast<int64_t>((uv_hrtime() - since_ns) / 1000);
}

// strip_brackets turns "[::1]" into "::1"; other text is returned as is.
std::string strip_brackets(std::string_view host) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    return std::string(host.substr(1, host.size() - 2));
  }
  return std::string(host);
}

// parse_ip fills |out| from an IPv4 or IPv6 literal (brackets allowed) and a port.
bool parse_ip(std::string_view host, uint16_t port, sockaddr_storage* out) {
  const std::string bare = strip_brackets(host);
  *out = sockaddr_storage{};
  // uv_ip6_addr clears what a failed uv_ip4_addr wrote.
  return uv_ip4_addr(bare.c_str(), port, reinterpret_cast<sockaddr_in*>(out)) == 0 ||
         uv_ip6_addr(bare.c_str(), port, reinterpret_cast<sockaddr_in6*>(out)) == 0;
}

const sockaddr* as_sockaddr(const sockaddr_storage& storage) {
  return reinterpret_cast<const sockaddr*>(&storage);
}

// ip_text returns the IP of |address| without port or brackets ("" for other families).
std::string ip_text(const sockaddr_storage& address) {
  char text[INET6_ADDRSTRLEN] = {};
  return uv_ip_name(as_sockaddr(address), text, sizeof(text)) == 0 ? text : "";
}

// port_of returns the port of an IPv4 or IPv6 address.
uint16_t port_of(const sockaddr_storage& address) {
  return ntohs(address.ss_family == AF_INET6
                   ? reinterpret_cast<const sockaddr_in6*>(&address)->sin6_port
                   : reinterpret_cast<const sockaddr_in*>(&address)->sin_port);
}

// format_address returns "ip:port" for an IPv4 address and "[ip]:port" for IPv6 ("" for other
// families).
std::string format_address(const sockaddr_storage& address) {
  const std::string ip = ip_text(address);
  return ip.empty() ? "" : format_host_port(ip, port_of(address));
}

// socket_name returns the address |get| (uv_tcp_getsockname or uv_tcp_getpeername) reports for
// |tcp|, formatted ("" if the socket cannot tell).
std::string socket_name(const uv_tcp_t* tcp, int (*get)(const uv_tcp_t*, sockaddr*, int*)) {
  sockaddr_storage address{};
  int length = static_cast<int>(sizeof(address));
  return get(tcp, reinterpret_cast<sockaddr*>(&address), &length) == 0 ? format_address(address)
                                                                       : "";
}

// listen_error says why a listener cannot listen on |host|:|port|.
std::string listen_error(std::string_view host, uint16_t port, const std::string& reason) {
  return "cannot listen on " + format_host_port(strip_brackets(host), port) + ": " + reason;
}

ConnectResult::Kind classify_connect_error(int status) {
  switch (status) {
    case UV_ECONNREFUSED:
      return ConnectResult::Kind::kRefused;
    case UV_ETIMEDOUT:
      return ConnectResult::Kind::kTimeout;
    case UV_ENETUNREACH:
    case UV_EHOSTUNREACH:
    case UV_ENETDOWN:
    case UV_EHOSTDOWN:
    case UV_EADDRNOTAVAIL:
      return ConnectResult::Kind::kUnreachable;
    default:
      return ConnectResult::Kind::kOther;
  }
}

// notify runs the stream callback |member| with |args| when it is set.
template <typename Member, typename... Args>
void notify(detail::CallbackSlot<TcpStream::Callbacks>& slot, Member member, const Args&... args) {
  static_cast<void>(slot.invoke([&](TcpStream::Callbacks& callbacks) {
    if (callbacks.*member) {
      (callbacks.*member)(args...);
    }
  }));
}

// WriteRequest is one uv_write of a chunk (at most 4 GiB), with a reference on the chunk.
struct WriteRequest {
  uv_write_t req{};
  SharedChunk chunk;
  uv_buf_t buf{};
};

}  // namespace

bool is_local_ip(std::string_view ip) {
  sockaddr_storage address{};
  if (!parse_ip(ip, 0, &address)) {
    return false;
  }
  // Binding succeeds only to an address of this host (EADDRNOTAVAIL otherwise).
  const int fd = socket(address.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return false;
  }
  const socklen_t length =
      address.ss_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
  const bool local = bind(fd, as_sockaddr(address), length) == 0;
  close(fd);
  return local;
}

TcpStream::TcpStream(EventLoop& loop, UvHandle<uv_tcp_t> handle)
    : loop_(&loop), handle_(std::move(handle)) {
  uv_tcp_t* tcp = handle_.get();
  if (tcp == nullptr) {
    return;
  }
  tcp->data = this;
  // Only fails on a socket that is already dead; the first read or write reports that.
  static_cast<void>(uv_tcp_nodelay(tcp, 1));
  peer_address_ = socket_name(tcp, &uv_tcp_getpeername);
  local_address_ = socket_name(tcp, &uv_tcp_getsockname);
}

TcpStream::~TcpStream() { close(); }

bool TcpStream::start_reading(Callbacks callbacks, std::string* out_error) {
  set_callbacks(std::move(callbacks));
  return resume_reading(out_error);
}

void TcpStream::pause_reading() {
  uv_tcp_t* tcp = handle_.get();
  if (tcp == nullptr || !reading_) {
    return;
  }
  detail::check_uv(uv_read_stop(as_uv_stream(tcp)), "uv_read_stop");
  reading_ = false;
}

bool TcpStream::resume_reading(std::string* out_error) {
  uv_tcp_t* tcp = handle_.get();
  if (tcp == nullptr) {
    detail::set_error(out_error,
                      "cannot read from " + peer_address_ + ": the connection is closed");
    return false;
  }
  if (reading_ || eof_) {
    return true;
  }
  const int status = uv_read_start(as_uv_stream(tcp), &TcpStream::on_alloc, &TcpStream::on_read);
  if (status != 0) {
    detail::set_error(out_error,
                      "cannot read from " + peer_address_ + ": " + uv_error_text(status));
    return false;
  }
  reading_ = true;
  return true;
}

template <typename Keep>
bool TcpStream::send(std::string_view data, Keep keep) {
  uv_tcp_t* tcp = handle_.get();
  if (tcp == nullptr || shut_down_ || data.size() > UINT_MAX) {
    return false;
  }
  size_t written = 0;
  if (write_queue_bytes_ == 0 && !data.empty()) {
    // The common case: the socket takes it all now, and nothing is allocated. libuv never writes
    // through the buffer. UV_EAGAIN: the socket is full. Any other error: uv_write meets it again
    // and reports it through on_error.
    uv_buf_t buf =
        uv_buf_init(const_cast<char*>(data.data()), static_cast<unsigned int>(data.size()));
    written = static_cast<size_t>(std::max(uv_try_write(as_uv_stream(tcp), &buf, 1), 0));
  }
  if (written == data.size()) {
    return true;
  }
  auto request = std::make_unique<WriteRequest>();
  request->req.data = request.get();
  request->chunk = keep();  // From now on |data| may be gone: the chunk has the bytes.
  request->buf = uv_buf_init(const_cast<char*>(request->chunk->data() + written),
                             static_cast<unsigned int>(request->chunk->size() - written));
  if (uv_write(&request->req, as_uv_stream(tcp), &request->buf, 1, &on_write) != 0) {
    return false;
  }
  write_queue_bytes_ += request->buf.len;
  static_cast<void>(request.release());  // on_write takes it back.
  return true;
}

bool TcpStream::write(std::string data) {
  return send(data, [&data] { return std::make_shared<const std::string>(std::move(data)); });
}

bool TcpStream::write(SharedChunk chunk) {
  return chunk != nullptr && send(*chunk, [&chunk] { return std::move(chunk); });
}

bool TcpStream::shutdown() {
  uv_tcp_t* tcp = handle_.get();
  if (tcp == nullptr || shut_down_) {
    return false;
  }
  auto request = std::make_unique<uv_shutdown_t>();
  const int status = uv_shutdown(request.get(), as_uv_stream(tcp), &TcpStream::on_shutdown);
  if (status != 0) {
    return false;
  }
  static_cast<void>(request.release());  // on_shutdown takes it back.
  shut_down_ = true;
  return true;
}

void TcpStream::close() {
  // Clears the handle's data first, so the callbacks of cancelled writes find no owner.
  handle_.reset();
  reading_ = false;
}

std::optional<std::string> TcpStream::original_destination() const {
#if defined(__linux__)
  uv_tcp_t* tcp = handle_.get();
  uv_os_fd_t fd = -1;
  sockaddr_storage local{};
  int local_length = static_cast<int>(sizeof(local));
  if (tcp == nullptr || uv_fileno(as_uv_handle(tcp), &fd) != 0 ||
      uv_tcp_getsockname(tcp, reinterpret_cast<sockaddr*>(&local), &local_length) != 0) {
    return std::nullopt;
  }
  // An IPv4 connection accepted by a dual-stack "::" listener has an IPv4-mapped address and
  // an IPv4 connection-tracking entry: ask the IPv4 option for it.
  const bool ipv6 =
      local.ss_family == AF_INET6 &&
      !IN6_IS_ADDR_V4MAPPED(&reinterpret_cast<const sockaddr_in6*>(&local)->sin6_addr);
  sockaddr_storage original{};
  auto length = static_cast<socklen_t>(sizeof(original));
  if (getsockopt(fd, ipv6 ? IPPROTO_IPV6 : IPPROTO_IP, ipv6 ? kIp6tSoOriginalDst : kSoOriginalDst,
                 &original, &length) != 0) {
    return std::nullopt;  // ENOPROTOOPT without connection tracking, ENOENT without an entry.
  }
  std::string text = format_address(original);
  return text.empty() ? std::nullopt : std::optional<std::string>(std::move(text));
#else
  return std::nullopt;
#endif
}

void TcpStream::fail(const std::string& error) {
  close();
  notify(callbacks_, &Callbacks::on_error, error);
}

void TcpStream::on_alloc(uv_handle_t* handle, size_t /*suggested_size*/, uv_buf_t* buf) noexcept {
  auto* self = static_cast<TcpStream*>(handle->data);
  *buf = self != nullptr ? self->loop_->read_buffer() : uv_buf_init(nullptr, 0);
}

void TcpStream::on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) noexcept {
  auto* self = static_cast<TcpStream*>(stream->data);
  if (self == nullptr || nread == 0) {
    return;  // 0: nothing to read after all (EAGAIN).
  }
  if (nread > 0) {
    notify(self->callbacks_, &Callbacks::on_data,
           std::string_view(buf->base, static_cast<size_t>(nread)));
    return;
  }
  if (nread == UV_EOF) {
    // libuv has stopped reading.
    self->reading_ = false;
    self->eof_ = true;
    notify(self->callbacks_, &Callbacks::on_eof);
    return;
  }
  self->fail("read from " + self->peer_address_ +
             " failed: " + uv_error_text(static_cast<int>(nread)));
}

void TcpStream::on_write(uv_write_t* req, int status) noexcept {
  std::unique_ptr<WriteRequest> request(static_cast<WriteRequest*>(req->data));
  auto* self = static_cast<TcpStream*>(req->handle->data);
  if (self == nullptr) {
    return;  // Closed: the write was cancelled or no longer matters.
  }
  self->write_queue_bytes_ -= request->buf.len;
  if (status != 0) {
    self->fail("write to " + self->peer_address_ + " failed: " + uv_error_text(status));
    return;
  }
  if (self->write_queue_bytes_ == 0) {
    notify(self->callbacks_, &Callbacks::on_drained);
  }
}

void TcpStream::on_shutdown(uv_shutdown_t* req, int status) noexcept {
  std::unique_ptr<uv_shutdown_t> request(req);
  auto* self = static_cast<TcpStream*>(req->handle->data);
  if (self == nullptr || status == 0) {
    return;
  }
  self->fail("shutdown of the connection to " + self->peer_address_ +
             " failed: " + uv_error_text(status));
}

TcpListener::TcpListener(Passkey, EventLoop& loop, ConnectionCallback on_connection)
    : loop_(&loop) {
  on_connection_.set(std::move(on_connection));
  reserve_fd_ = open("/dev/null", O_RDONLY | O_CLOEXEC);
}

TcpListener::~TcpListener() {
  if (reserve_fd_ >= 0) {
    close(reserve_fd_);
  }
}

std::unique_ptr<TcpListener> TcpListener::create(EventLoop& loop, std::string_view host,
                                                 uint16_t port, ConnectionCallback on_connection,
                                                 std::string* out_error, bool reuse_port,
                                                 bool transparent) {
  const auto error = [&](const std::string& reason) {
    detail::set_error(out_error, listen_error(host, port, reason));
    return nullptr;
  };
  sockaddr_storage address{};
  if (!parse_ip(host, port, &address)) {
    return error("the host must be an IPv4 or IPv6 address");
  }
  auto listener = std::make_unique<TcpListener>(Passkey{}, loop, std::move(on_connection));
  const unsigned int family = address.ss_family;
  int status = listener->handle_.init(loop, [family](uv_loop_t* raw, uv_tcp_t* tcp) {
    return uv_tcp_init_ex(raw, tcp, family);  // Makes the socket now.
  });
  uv_tcp_t* tcp = listener->handle_.get();
  uv_os_fd_t fd = -1;
  if (status == 0) {
    status = uv_fileno(as_uv_handle(tcp), &fd);
  }
  if (status != 0) {
    return error(uv_error_text(status));
  }
  tcp->data = listener.get();
  const int one = 1;
  // libuv 1.44 has no UV_TCP_REUSEPORT: set it on the socket that uv_tcp_init_ex made.
  if (reuse_port && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0) {
    return error(uv_error_text(uv_translate_sys_error(errno)));
  }
#if defined(__linux__)
  if (transparent) {
    // Best effort: EPERM without CAP_NET_ADMIN, and only TPROXY needs it.
    static_cast<void>(family == AF_INET6
                          ? setsockopt(fd, SOL_IPV6, IPV6_TRANSPARENT, &one, sizeof(one))
                          : setsockopt(fd, SOL_IP, IP_TRANSPARENT, &one, sizeof(one)));
  }
#else
  static_cast<void>(transparent);
#endif
  // libuv sets SO_REUSEADDR before binding; EADDRINUSE comes from listen().
  status = uv_tcp_bind(tcp, as_sockaddr(address), 0);
  if (status == 0 && listen(fd, kBacklog) != 0) {
    status = uv_translate_sys_error(errno);
  }
  if (status == 0) {
    listener->fd_ = fd;
    status = listener->poll_.init(
        loop, [fd](uv_loop_t* raw, uv_poll_t* poll) { return uv_poll_init_socket(raw, poll, fd); });
  }
  if (status == 0) {
    listener->poll_.get()->data = listener.get();
    status = uv_poll_start(listener->poll_.get(), UV_READABLE, &TcpListener::on_readable);
  }
  sockaddr_storage bound{};
  int length = static_cast<int>(sizeof(bound));
  if (status == 0) {
    status = uv_tcp_getsockname(tcp, reinterpret_cast<sockaddr*>(&bound), &length);
  }
  if (status != 0) {
    return error(uv_error_text(status));
  }
  listener->local_address_ = format_address(bound);
  listener->port_ = port_of(bound);
  return listener;
}

std::optional<uint16_t> probe_listen_port(std::string_view host, uint16_t port,
                                          std::string* out_error) {
  const auto error = [&](const std::string& reason) -> std::optional<uint16_t> {
    detail::set_error(out_error, listen_error(host, port, reason));
    return std::nullopt;
  };
  sockaddr_storage address{};
  if (!parse_ip(host, port, &address)) {
    return error("the host must be an IPv4 or IPv6 address");
  }
  const int fd = socket(address.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return error(uv_error_text(uv_translate_sys_error(errno)));
  }
  const int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  const socklen_t length =
      address.ss_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
  if (bind(fd, as_sockaddr(address), length) != 0 || listen(fd, 1) != 0) {
    const int err = errno;
    close(fd);
    return error(uv_error_text(uv_translate_sys_error(err)));
  }
  sockaddr_storage bound{};
  socklen_t bound_length = sizeof(bound);
  getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &bound_length);
  close(fd);
  return port_of(bound);
}

void TcpListener::on_readable(uv_poll_t* poll, int status, int events) noexcept {
  auto* self = static_cast<TcpListener*>(poll->data);
  if (self == nullptr || status < 0 || (events & UV_READABLE) == 0) {
    return;
  }
  // A bounded batch per wakeup: the loop's other work goes on between batches.
  for (int i = 0; i < 128 && self->fd_ >= 0; ++i) {
    const int client_fd = accept4(self->fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (client_fd < 0) {
      const int err = errno;
      if (err == EINTR || err == ECONNABORTED || err == EPROTO) {
        continue;
      }
      if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
        self->shed(err);
      } else if (err != EAGAIN) {  // EWOULDBLOCK is EAGAIN on Linux.
        self->report("accepting a connection on " + self->local_address_ +
                     " failed: " + uv_error_text(uv_translate_sys_error(err)));
      }
      return;
    }
    UvHandle<uv_tcp_t> client;
    int result = client.init(*self->loop_, &uv_tcp_init);
    if (result == 0) {
      result = uv_tcp_open(client.get(), client_fd);
    }
    if (result != 0) {
      close(client_fd);
      self->report("accepting a connection on " + self->local_address_ +
                   " failed: " + uv_error_text(result));
      continue;
    }
    if (!self->on_connection_.call(std::make_unique<TcpStream>(*self->loop_, std::move(client)))) {
      return;  // The callback destroyed the listener.
    }
  }
}

void TcpListener::shed(int error) {
  // The reserve descriptor makes room to accept what waits, and close it at once: those
  // clients see their connection closed instead of hanging in the backlog.
  if (reserve_fd_ >= 0) {
    close(reserve_fd_);
    reserve_fd_ = -1;
  }
  for (int i = 0; i < 4096; ++i) {
    const int fd = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd >= 0) {
      close(fd);
      ++shed_;
      continue;
    }
    if (errno == EINTR || errno == ECONNABORTED) {
      continue;
    }
    break;
  }
  reserve_fd_ = open("/dev/null", O_RDONLY | O_CLOEXEC);
  report("out of file descriptors (" + uv_error_text(uv_translate_sys_error(error)) +
         "): new connections on " + local_address_ + " are closed at once (" +
         std::to_string(shed_) + " so far) while the open ones are served");
  // Accepting pauses briefly: descriptors come back as connections end.
  uv_poll_stop(poll_.get());
  if (!pause_) {
    pause_ = std::make_unique<Timer>(*loop_);
  }
  pause_->start(100, [this] {
    if (reserve_fd_ < 0) {
      reserve_fd_ = open("/dev/null", O_RDONLY | O_CLOEXEC);
    }
    uv_poll_start(poll_.get(), UV_READABLE, &TcpListener::on_readable);
  });
}

void TcpListener::report(const std::string& error) {
  const int64_t now = static_cast<int64_t>(uv_hrtime() / 1000);
  if (last_report_us_ != 0 && now - last_report_us_ < 1'000'000) {
    return;  // At most once a second.
  }
  last_report_us_ = now;
  static_cast<void>(on_error_.call(error));
}

namespace detail {

// Connector is one connect_tcp in progress, owned by its ConnectHandle. Its requests belong to
// libuv while pending and find it through the lookup's |owner| or the socket's data, which
// cancellation clears.
class Connector {
 public:
  Connector(EventLoop& loop, std::string_view host, uint16_t port, uint64_t timeout_ms,
            ConnectCallback callback, AttemptCallback on_attempt)
      : loop_(loop),
        host_(strip_brackets(host)),
        port_(port),
        timeout_ms_(timeout_ms),
        callback_(std::move(callback)),
        on_attempt_(std::move(on_attempt)),
        timer_(loop) {
    if (timeout_ms_ > 0) {
      timer_.start(timeout_ms_, [this] { on_deadline(); });
    }
    sockaddr_storage literal{};
    if (host_.empty()) {
      finish(failure(ConnectResult::Kind::kDnsFailed, "DNS lookup failed: the host name is empty"));
    } else if (parse_ip(host_, port_, &literal)) {
      literal_ = true;
      addresses_.push_back(literal);
      try_next();
    } else {
      auto request = std::make_unique<DnsRequest>(this);
      addrinfo hints{};
      hints.ai_family = AF_UNSPEC;
      hints.ai_socktype = SOCK_STREAM;
      hints.ai_protocol = IPPROTO_TCP;
      hints.ai_flags = AI_NUMERICSERV;  // The addresses come with |port_| set.
      const int status = uv_getaddrinfo(loop_.get(), &request->req, &Connector::on_dns,
                                        host_.c_str(), std::to_string(port_).c_str(), &hints);
      if (status == 0) {
        dns_request_ = request.release();  // on_dns takes it back.
      } else {
        finish(failure(ConnectResult::Kind::kDnsFailed,
                       "DNS lookup of " + host_ + " failed: " + uv_error_text(status)));
      }
    }
    starting_ = false;
  }
  Connector(const Connector&) = delete;
  Connector& operator=(const Connector&) = delete;
  ~Connector() { release_pending(); }

  bool pending() const { return !done_; }

 private:
  struct DnsRequest {
    explicit DnsRequest(Connector* connector) : owner(connector) { req.data = this; }
    uv_getaddrinfo_t req{};
    Connector* owner;
  };

  static void on_dns(uv_getaddrinfo_t* req, int status, addrinfo* addresses) noexcept {
    std::unique_ptr<DnsRequest> request(static_cast<DnsRequest*>(req->data));
    std::unique_ptr<addrinfo, decltype(&uv_freeaddrinfo)> owned_addresses(addresses,
                                                                          &uv_freeaddrinfo);
    Connector* self = request->owner;
    if (self == nullptr) {
      return;  // Cancelled.
    }
    self->dns_request_ = nullptr;
    if (self->loop_.closing()) {
      return;
    }
    self->dns_us_ = elapsed_us(self->start_ns_);
    if (status != 0) {
      self->finish(
          self->failure(ConnectResult::Kind::kDnsFailed,
                        "DNS lookup of " + self->host_ + " failed: " + uv_error_text(status)));
      return;
    }
    for (const addrinfo* entry = addresses; entry != nullptr; entry = entry->ai_next) {
      if ((entry->ai_family != AF_INET && entry->ai_family != AF_INET6) ||
          entry->ai_addrlen > sizeof(sockaddr_storage)) {
        continue;
      }
      sockaddr_storage address{};
      std::memcpy(&address, entry->ai_addr, entry->ai_addrlen);
      self->addresses_.push_back(address);
    }
    if (self->addresses_.empty()) {
      self->finish(
          self->failure(ConnectResult::Kind::kDnsFailed,
                        "DNS lookup of " + self->host_ + " returned no IPv4 or IPv6 address"));
      return;
    }
    self->try_next();
  }

  static void on_connect(uv_connect_t* req, int status) noexcept {
    std::unique_ptr<uv_connect_t> request(req);
    // Cancelled (the socket was closed, which clears its data) or the loop is closing.
    auto* self = static_cast<Connector*>(req->handle->data);
    if (self == nullptr || self->loop_.closing()) {
      return;
    }
    if (status != 0) {
      self->socket_.reset();
      self->last_status_ = status;
      self->try_next();
      return;
    }
    self->finish({.kind = ConnectResult::Kind::kOk,
                  .stream = std::make_unique<TcpStream>(self->loop_, std::move(self->socket_)),
                  .ip = self->current_ip_,
                  .dns_us = self->dns_us_,
                  .connect_us = elapsed_us(self->connect_start_ns_)});
  }

  void try_next() {
    if (connect_start_ns_ == 0) {
      connect_start_ns_ = uv_hrtime();
    }
    while (next_ < addresses_.size()) {
      const sockaddr_storage& address = addresses_[next_++];
      current_ip_ = ip_text(address);
      tried_ += (tried_.empty() ? "" : ", ") + current_ip_;
      UvHandle<uv_tcp_t> attempt;
      int status = attempt.init(loop_, &uv_tcp_init);
      if (status == 0 && on_attempt_) {
        // Bind first, so that the local port is known (and reported) before the connect can
        // complete: on loopback the peer may accept it during the connect call itself.
        sockaddr_storage any{};
        any.ss_family = address.ss_family;
        status = uv_tcp_bind(attempt.get(), as_sockaddr(any), 0);
        const std::string local = socket_name(attempt.get(), &uv_tcp_getsockname);
        if (status == 0 && !local.empty()) {
          on_attempt_(local);
        }
      }
      auto request = std::make_unique<uv_connect_t>();
      if (status == 0) {
        attempt.get()->data = this;
        status = uv_tcp_connect(request.get(), attempt.get(), as_sockaddr(address),
                                &Connector::on_connect);
      }
      if (status == 0) {
        static_cast<void>(request.release());  // on_connect takes it back.
        socket_ = std::move(attempt);
        return;
      }
      last_status_ = status;  // Failed at once (no route, no file descriptor): try the next.
    }
    const ConnectResult::Kind kind = classify_connect_error(last_status_);
    const std::string outcome = kind == ConnectResult::Kind::kRefused ? " refused"
                                : kind == ConnectResult::Kind::kTimeout
                                    ? " timed out"
                                    : " failed: " + uv_error_text(last_status_);
    finish(failure(kind, "connection to " + target() + outcome));
  }

  void on_deadline() {
    const bool resolving = dns_request_ != nullptr;
    release_pending();
    const std::string after = " timed out after " + std::to_string(timeout_ms_) + " ms";
    finish(failure(ConnectResult::Kind::kTimeout, resolving ? "DNS lookup of " + host_ + after
                                                            : "connection to " + target() + after));
  }

  // release_pending cancels the lookup, the connection attempt and the timer.
  void release_pending() {
    if (dns_request_ != nullptr) {
      dns_request_->owner = nullptr;
      // UV_EBUSY: the lookup is running (or done) on the thread pool; on_dns still frees it.
      const int status = uv_cancel(reinterpret_cast<uv_req_t*>(&dns_request_->req));
      if (status != 0 && status != UV_EBUSY) {
        detail::fatal_uv("uv_cancel(uv_getaddrinfo_t)", status);
      }
      dns_request_ = nullptr;
    }
    socket_.reset();  // A pending connect ends in on_connect with UV_ECANCELED.
    timer_.stop();
  }

  // target names the destination in messages: "example.com:443 (93.184.215.14)".
  std::string target() const {
    std::string out = format_host_port(host_, port_);
    if (!literal_ && !tried_.empty()) {
      out += " (" + tried_ + ")";
    }
    return out;
  }

  ConnectResult failure(ConnectResult::Kind kind, std::string error) const {
    return {.kind = kind,
            .error = std::move(error),
            .dns_us = dns_us_,
            .connect_us = connect_start_ns_ != 0 ? elapsed_us(connect_start_ns_) : 0};
  }

  // finish runs the callback with |result|; *this may be destroyed on return. From the
  // constructor it defers to the next loop iteration instead, so the callback never runs inside
  // connect_tcp.
  void finish(ConnectResult result) {
    timer_.stop();
    if (starting_) {
      // Shared: a std::function must be copyable, and a ConnectResult is not.
      timer_.start(0, [this, deferred = std::make_shared<ConnectResult>(std::move(result))] {
        finish(std::move(*deferred));
      });
      return;
    }
    done_ = true;
    ConnectCallback callback = std::exchange(callback_, nullptr);
    if (callback) {
      callback(std::move(result));  // May destroy *this.
    }
  }

  EventLoop& loop_;
  const std::string host_;  // Without brackets.
  const uint16_t port_;
  const uint64_t timeout_ms_;
  ConnectCallback callback_;
  AttemptCallback on_attempt_;
  Timer timer_;                        // The deadline, then the deferred delivery.
  DnsRequest* dns_request_ = nullptr;  // Owned by libuv until on_dns.
  UvHandle<uv_tcp_t> socket_;  // The attempt in progress; its data points here while pending.
  std::vector<sockaddr_storage> addresses_;
  size_t next_ = 0;
  std::string tried_;  // IPs tried, for messages: "::1, 127.0.0.1".
  std::string current_ip_;
  int last_status_ = 0;
  bool literal_ = false;
  bool starting_ = true;  // Until the constructor returns.
  bool done_ = false;
  const uint64_t start_ns_ = uv_hrtime();
  uint64_t connect_start_ns_ = 0;
  int64_t dns_us_ = 0;
};

}  // namespace detail

ConnectHandle::ConnectHandle() = default;
ConnectHandle::ConnectHandle(std::unique_ptr<detail::Connector> connector)
    : connector_(std::move(connector)) {}
ConnectHandle::ConnectHandle(ConnectHandle&& other) noexcept = default;
ConnectHandle& ConnectHandle::operator=(ConnectHandle&& other) noexcept = default;
ConnectHandle::~ConnectHandle() = default;

void ConnectHandle::cancel() { connector_.reset(); }

bool ConnectHandle::pending() const { return connector_ != nullptr && connector_->pending(); }

ConnectHandle connect_tcp(EventLoop& loop, std::string_view host, uint16_t port,
                          uint64_t timeout_ms, ConnectCallback callback,
                          AttemptCallback on_attempt) {
  return ConnectHandle(std::make_unique<detail::Connector>(
      loop, host, port, timeout_ms, std::move(callback), std::move(on_attempt)));
}

}  // namespace sightglass::core
