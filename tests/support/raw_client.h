#pragma once

// Raw-socket clients for the end-to-end tests of hostile and careless peers: a plain TCP
// connection to the proxy, HTTP/2 frames built by hand, and what a process holds open.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>

namespace sightglass::test {

// RawClient is a plain TCP connection to 127.0.0.1.
class RawClient {
 public:
  explicit RawClient(uint16_t port) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(port);
    if (connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      ::close(fd_);
      fd_ = -1;
    }
  }
  ~RawClient() { close(); }
  RawClient(const RawClient&) = delete;
  RawClient& operator=(const RawClient&) = delete;

  bool ok() const { return fd_ >= 0; }
  int fd() const { return fd_; }
  bool send_all(const std::string& data) {
    size_t off = 0;
    while (off < data.size()) {
      const ssize_t n = ::send(fd_, data.data() + off, data.size() - off, MSG_NOSIGNAL);
      if (n <= 0) {
        return false;
      }
      off += static_cast<size_t>(n);
    }
    return true;
  }
  // read_some waits up to |timeout_ms| for bytes; "" on EOF, error or timeout (|*eof| says
  // which).
  std::string read_some(int timeout_ms, bool* eof = nullptr) {
    pollfd p{fd_, POLLIN, 0};
    if (eof != nullptr) {
      *eof = false;
    }
    if (poll(&p, 1, timeout_ms) <= 0) {
      return {};
    }
    char buf[65536];
    const ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
    if (n <= 0) {
      if (eof != nullptr) {
        *eof = true;
      }
      return {};
    }
    return std::string(buf, static_cast<size_t>(n));
  }
  // read_until reads until |needle| has arrived (or |timeout_ms| passed, or EOF).
  std::string read_until(const std::string& needle, int timeout_ms = 10000) {
    std::string got;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (got.find(needle) == std::string::npos && std::chrono::steady_clock::now() < deadline) {
      bool eof = false;
      got += read_some(100, &eof);
      if (eof) {
        break;
      }
    }
    return got;
  }
  // read_bytes reads at least |n| bytes (or until timeout or EOF); returns what was read.
  size_t read_bytes(size_t n, int timeout_ms = 20000) {
    size_t got = 0;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (got < n && std::chrono::steady_clock::now() < deadline) {
      bool eof = false;
      got += read_some(100, &eof).size();
      if (eof) {
        break;
      }
    }
    return got;
  }
  // connect_tunnel asks the proxy for a CONNECT tunnel to |authority|; whether it answered 200.
  bool connect_tunnel(const std::string& authority) {
    return send_all("CONNECT " + authority + " HTTP/1.1\r\nHost: " + authority + "\r\n\r\n") &&
           read_until("\r\n\r\n").find(" 200 ") != std::string::npos;
  }
  // reset closes with an RST (SO_LINGER 0).
  void reset() {
    linger l{1, 0};
    setsockopt(fd_, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
    close();
  }
  void close() {
    if (fd_ >= 0) {
      ::close(fd_);
      fd_ = -1;
    }
  }

 private:
  int fd_ = -1;
};

// closed_within says whether the proxy closes |client| within |ms| (reading what comes).
inline bool closed_within(RawClient& client, int ms, std::string* got = nullptr) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  while (std::chrono::steady_clock::now() < deadline) {
    bool eof = false;
    const std::string data = client.read_some(100, &eof);
    if (got != nullptr) {
      *got += data;
    }
    if (eof) {
      return true;
    }
  }
  return false;
}

// open_fds counts the open file descriptors of a process.
inline size_t open_fds(pid_t pid) {
  size_t n = 0;
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    ++n;
  }
  return n;
}

// h2_frame builds one HTTP/2 frame.
inline std::string h2_frame(uint8_t type, uint8_t flags, uint32_t stream,
                            const std::string& payload) {
  std::string out;
  out.push_back(static_cast<char>(payload.size() >> 16));
  out.push_back(static_cast<char>(payload.size() >> 8));
  out.push_back(static_cast<char>(payload.size()));
  out.push_back(static_cast<char>(type));
  out.push_back(static_cast<char>(flags));
  out.push_back(static_cast<char>(stream >> 24));
  out.push_back(static_cast<char>(stream >> 16));
  out.push_back(static_cast<char>(stream >> 8));
  out.push_back(static_cast<char>(stream));
  return out + payload;
}

}  // namespace sightglass::test
