#include "tests/support/tls_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>

namespace sightglass::test {

TlsTestServer::TlsTestServer(bssl::UniquePtr<SSL_CTX> ctx, std::string body,
                             std::function<void(SSL*)> prepare)
    : ctx_(std::move(ctx)), body_(std::move(body)), prepare_(std::move(prepare)) {
  if (pipe2(stop_pipe_, O_CLOEXEC) != 0) {
    return;
  }
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      listen(fd, 64) != 0 || getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    if (fd >= 0) {
      close(fd);
    }
    return;
  }
  listen_fd_ = fd;
  port_ = ntohs(addr.sin_port);
  thread_ = std::thread([this] { serve(); });
}

TlsTestServer::~TlsTestServer() {
  if (thread_.joinable()) {
    const char byte = 0;
    (void)!write(stop_pipe_[1], &byte, 1);
    thread_.join();
  }
  for (int fd : {listen_fd_, stop_pipe_[0], stop_pipe_[1]}) {
    if (fd >= 0) {
      close(fd);
    }
  }
}

std::string TlsTestServer::last_sni() const {
  std::lock_guard lock(mutex_);
  return last_sni_;
}

void TlsTestServer::serve() {
  for (;;) {
    std::array<pollfd, 2> fds{pollfd{listen_fd_, POLLIN, 0}, pollfd{stop_pipe_[0], POLLIN, 0}};
    if (poll(fds.data(), fds.size(), -1) < 0) {
      continue;
    }
    if (fds[1].revents != 0) {
      return;
    }
    if (fds[0].revents != 0) {
      const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd >= 0) {
        serve_one(fd);
        close(fd);
      }
    }
  }
}

void TlsTestServer::serve_one(int fd) {
  // Bound every read, so that a client that stalls cannot wedge the test.
  timeval timeout{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  bssl::UniquePtr<SSL> ssl(SSL_new(ctx_.get()));
  if (ssl && prepare_) {
    prepare_(ssl.get());
  }
  if (!ssl || !SSL_set_fd(ssl.get(), fd) || SSL_accept(ssl.get()) != 1) {
    handshakes_failed_.fetch_add(1);
    ERR_clear_error();
    return;
  }
  handshakes_ok_.fetch_add(1);
  {
    std::lock_guard lock(mutex_);
    const char* sni = SSL_get_servername(ssl.get(), TLSEXT_NAMETYPE_host_name);
    last_sni_ = sni != nullptr ? sni : "";
  }
  std::string request;
  std::array<char, 4096> buf{};
  while (request.find("\r\n\r\n") == std::string::npos && request.size() < 65536) {
    const int n = SSL_read(ssl.get(), buf.data(), static_cast<int>(buf.size()));
    if (n <= 0) {
      ERR_clear_error();
      return;
    }
    request.append(buf.data(), static_cast<size_t>(n));
  }
  const std::string response =
      "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body_.size()) +
      "\r\nConnection: close\r\n\r\n" + body_;
  SSL_write(ssl.get(), response.data(), static_cast<int>(response.size()));
  SSL_shutdown(ssl.get());
  ERR_clear_error();
}

}  // namespace sightglass::test
