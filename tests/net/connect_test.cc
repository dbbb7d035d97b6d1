#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "core/net/tcp.h"
#include "tests/net/net_test_util.h"

namespace sightglass::core::test {
namespace {

using ConnectTest = LoopTest;
using Kind = ConnectResult::Kind;

// closed_port returns a loopback port that nothing listens on: one a listener just released.
uint16_t closed_port(EventLoop& loop) {
  std::string error;
  auto listener = TcpListener::create(loop, "127.0.0.1", 0, nullptr, &error);
  EXPECT_NE(listener, nullptr) << error;
  return listener ? listener->port() : 0;  // The socket closes with the listener.
}

// FullBacklogListener is a loopback listener whose accept queue is full, so that the kernel
// drops new SYNs: a connection to it stays pending, without any packet leaving loopback.
class FullBacklogListener {
 public:
  FullBacklogListener() = default;
  FullBacklogListener(const FullBacklogListener&) = delete;
  FullBacklogListener& operator=(const FullBacklogListener&) = delete;
  ~FullBacklogListener() {
    for (const int fd : fds_) {
      ::close(fd);
    }
  }

  // open returns false with a reason when the queue could not be filled.
  bool open(std::string* out_why) {
    const int listen_fd = add(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in address{};
    address.sin_family = AF_INET;
    if (listen_fd < 0 || inet_pton(AF_INET, "127.0.0.1", &address.sin_addr) != 1 ||
        ::bind(listen_fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
        ::listen(listen_fd, 0) != 0) {
      *out_why = std::string("listen: ") + std::strerror(errno);
      return false;
    }
    socklen_t length = sizeof(address);
    if (::getsockname(listen_fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
      *out_why = std::string("getsockname: ") + std::strerror(errno);
      return false;
    }
    port_ = ntohs(address.sin_port);
    // Connect until one connection stays pending: from then on the queue is full.
    for (int i = 0; i < 16; ++i) {
      const int fd = add(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
      if (fd < 0 || (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 &&
                     errno != EINPROGRESS)) {
        *out_why = std::string("connect: ") + std::strerror(errno);
        return false;
      }
      pollfd waiting{fd, POLLOUT, 0};
      if (::poll(&waiting, 1, 100) == 0) {
        return true;
      }
    }
    *out_why = "the accept queue never filled (the kernel does not drop SYNs here)";
    return false;
  }
  uint16_t port() const { return port_; }

 private:
  int add(int fd) {
    if (fd >= 0) {
      fds_.push_back(fd);
    }
    return fd;
  }

  std::vector<int> fds_;
  uint16_t port_ = 0;
};

TEST_F(ConnectTest, ClosedPortIsRefused) {
  const uint16_t port = closed_port(*loop_);
  ASSERT_NE(port, 0);
  std::optional<ConnectResult> result;
  bool returned = false;
  ConnectHandle connecting;
  connecting = connect_tcp(*loop_, "127.0.0.1", port, 2000, [&](ConnectResult r) {
    EXPECT_TRUE(returned) << "the callback ran inside connect_tcp";
    result = std::move(r);
    connecting = ConnectHandle();  // Destroys the connector from inside its callback.
    loop_->stop();
  });
  returned = true;
  EXPECT_TRUE(connecting.pending());
  ASSERT_TRUE(run_for(*loop_, milliseconds(3000)));
  ASSERT_TRUE(result.has_value());
  EXPECT_EQ(result->kind, Kind::kRefused);
  EXPECT_EQ(result->error, "connection to 127.0.0.1:" + std::to_string(port) + " refused");
  EXPECT_EQ(result->stream, nullptr);
  EXPECT_EQ(result->dns_us, 0);
  EXPECT_FALSE(connecting.pending());
}

TEST_F(ConnectTest, UnknownHostFailsDnsWithAReadableError) {
  std::optional<ConnectResult> result;
  ConnectHandle connecting =
      connect_tcp(*loop_, "no-such-host.invalid", 80, 5000, [&](ConnectResult r) {
        result = std::move(r);
        loop_->stop();
      });
  ASSERT_TRUE(run_for(*loop_, milliseconds(6000)));
  ASSERT_TRUE(result.has_value());
  EXPECT_EQ(result->kind, Kind::kDnsFailed) << result->error;
  EXPECT_EQ(result->error.rfind("DNS lookup of no-such-host.invalid failed: ", 0), 0u)
      << result->error;
  EXPECT_EQ(result->stream, nullptr);
  EXPECT_FALSE(connecting.pending());
}

TEST_F(ConnectTest, LookupThatFailsAtOnceStillCallsBackLater) {
  // libuv rejects a name that is not valid UTF-8 before any lookup: the failure is known
  // inside connect_tcp, and must still be delivered from the loop.
  std::optional<ConnectResult> result;
  bool returned = false;
  ConnectHandle connecting = connect_tcp(*loop_, "bad\xff", 80, 1000, [&](ConnectResult r) {
    EXPECT_TRUE(returned) << "the callback ran inside connect_tcp";
    result = std::move(r);
    loop_->stop();
  });
  returned = true;
  ASSERT_TRUE(run_for(*loop_, milliseconds(3000)));
  ASSERT_TRUE(result.has_value());
  EXPECT_EQ(result->kind, Kind::kDnsFailed) << result->error;
  EXPECT_EQ(result->error.rfind("DNS lookup of bad", 0), 0u) << result->error;
}

TEST_F(ConnectTest, EmptyHostFailsReadably) {
  std::optional<ConnectResult> result;
  ConnectHandle connecting = connect_tcp(*loop_, "", 80, 1000, [&](ConnectResult r) {
    result = std::move(r);
    loop_->stop();
  });
  ASSERT_TRUE(run_for(*loop_, milliseconds(3000)));
  ASSERT_TRUE(result.has_value());
  EXPECT_EQ(result->kind, Kind::kDnsFailed);
  EXPECT_EQ(result->error, "DNS lookup failed: the host name is empty");
}

TEST_F(ConnectTest, NameIsResolvedThenConnected) {
  std::string error;
  std::unique_ptr<TcpStream> server;
  auto listener = TcpListener::create(
      *loop_, "127.0.0.1", 0, [&](std::unique_ptr<TcpStream> s) { server = std::move(s); }, &error);
  ASSERT_NE(listener, nullptr) << error;
  std::optional<ConnectResult> result;
  // If "localhost" also resolves to ::1, nothing listens there: the next address is tried.
  ConnectHandle connecting =
      connect_tcp(*loop_, "localhost", listener->port(), 3000, [&](ConnectResult r) {
        result = std::move(r);
        loop_->stop();
      });
  ASSERT_TRUE(run_for(*loop_, milliseconds(4000)));
  ASSERT_TRUE(result.has_value());
  ASSERT_EQ(result->kind, Kind::kOk) << result->error;
  EXPECT_EQ(result->ip, "127.0.0.1");
  ASSERT_NE(result->stream, nullptr);
  EXPECT_EQ(result->stream->peer_address(), "127.0.0.1:" + std::to_string(listener->port()));
  EXPECT_GE(result->dns_us, 0);
  EXPECT_GE(result->connect_us, 0);
  EXPECT_TRUE(result->error.empty());
}

TEST_F(ConnectTest, DeadlinePassingGivesTimeout) {
  FullBacklogListener full;
  std::string why;
  if (!full.open(&why)) {
    GTEST_SKIP() << "cannot make a connection hang on loopback: " << why;
  }
  std::optional<ConnectResult> result;
  const uint64_t start = uv_hrtime();
  uint64_t elapsed_ms = 0;
  ConnectHandle connecting =
      connect_tcp(*loop_, "127.0.0.1", full.port(), 200, [&](ConnectResult r) {
        elapsed_ms = (uv_hrtime() - start) / 1000000;
        result = std::move(r);
        loop_->stop();
      });
  ASSERT_TRUE(run_for(*loop_, milliseconds(3000)));
  ASSERT_TRUE(result.has_value());
  EXPECT_EQ(result->kind, Kind::kTimeout) << result->error;
  EXPECT_EQ(result->error,
            "connection to 127.0.0.1:" + std::to_string(full.port()) + " timed out after 200 ms");
  EXPECT_GE(elapsed_ms, 190u);
  EXPECT_LT(elapsed_ms, 1000u);
  EXPECT_EQ(result->stream, nullptr);
}

TEST_F(ConnectTest, CancelledConnectsNeverCallBack) {
  std::string error;
  int accepted = 0;
  auto listener = TcpListener::create(
      *loop_, "127.0.0.1", 0, [&](std::unique_ptr<TcpStream>) { ++accepted; }, &error);
  ASSERT_NE(listener, nullptr) << error;
  int called = 0;
  const auto count = [&](ConnectResult) { ++called; };

  // Destroyed before the loop ever runs.
  { ConnectHandle connecting = connect_tcp(*loop_, "127.0.0.1", listener->port(), 0, count); }
  // Cancelled during the DNS lookup.
  ConnectHandle resolving = connect_tcp(*loop_, "localhost", listener->port(), 0, count);
  EXPECT_TRUE(resolving.pending());
  resolving.cancel();
  EXPECT_FALSE(resolving.pending());
  // Cancelled while the connection attempt hangs (full accept queue), after the loop ran.
  FullBacklogListener full;
  std::string why;
  const bool hanging = full.open(&why);
  ConnectHandle hung;
  if (hanging) {
    hung = connect_tcp(*loop_, "127.0.0.1", full.port(), 0, count);
  }
  // Moved-over handles cancel what they replace.
  ConnectHandle replaced = connect_tcp(*loop_, "127.0.0.1", listener->port(), 0, count);
  replaced = ConnectHandle();

  Timer cancel(*loop_);
  cancel.start(50, [&] {
    EXPECT_EQ(hung.pending(), hanging);
    hung.cancel();
    cancel.start(150, [&] { loop_->stop(); });
  });
  ASSERT_TRUE(run_for(*loop_, milliseconds(3000)));
  EXPECT_EQ(called, 0);
  if (!hanging) {
    GTEST_SKIP() << "the hanging-connect case did not run: " << why;
  }
}

}  // namespace
}  // namespace sightglass::core::test
