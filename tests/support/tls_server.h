#pragma once

#include <openssl/ssl.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace sightglass::test {

// TlsTestServer is a small blocking HTTPS server on 127.0.0.1 (port 0) for tests: each
// connection gets a TLS handshake with |ctx|, then one "HTTP/1.1 200" answer whose body is
// |body|. It runs on its own thread until destroyed.
class TlsTestServer {
 public:
  // |prepare|, when set, runs on each new SSL before its handshake.
  TlsTestServer(bssl::UniquePtr<SSL_CTX> ctx, std::string body,
                std::function<void(SSL*)> prepare = {});
  ~TlsTestServer();
  TlsTestServer(const TlsTestServer&) = delete;
  TlsTestServer& operator=(const TlsTestServer&) = delete;

  bool listening() const { return listen_fd_ >= 0; }
  uint16_t port() const { return port_; }
  int handshakes_ok() const { return handshakes_ok_.load(); }
  int handshakes_failed() const { return handshakes_failed_.load(); }
  // sni returns the server name of the last successful handshake.
  std::string last_sni() const;

 private:
  void serve();
  void serve_one(int fd);

  bssl::UniquePtr<SSL_CTX> ctx_;
  std::string body_;
  std::function<void(SSL*)> prepare_;
  int listen_fd_ = -1;
  int stop_pipe_[2] = {-1, -1};
  uint16_t port_ = 0;
  std::atomic<int> handshakes_ok_{0};
  std::atomic<int> handshakes_failed_{0};
  mutable std::mutex mutex_;
  std::string last_sni_;
  std::thread thread_;
};

}  // namespace sightglass::test
