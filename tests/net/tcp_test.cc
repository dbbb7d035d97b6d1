#include "core/net/tcp.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <random>
#include <string>

#include "tests/net/net_test_util.h"

namespace sightglass::core::test {
namespace {

using TcpTest = LoopTest;

std::string random_bytes(size_t size, uint32_t seed) {
  std::mt19937 random(seed);
  std::string out(size, '\0');
  for (char& c : out) {
    c = static_cast<char>(random() & 0xff);
  }
  return out;
}

// An echo server and a client moving 8 MiB through it, both honoring backpressure: a side
// pauses (its reading, or its writing) when its write queue passes a bound, and resumes on
// on_drained. The client starts reading late, so that both sides must pause. The client then
// half-closes and the server half-closes back after the echo.
TEST_F(TcpTest, EchoRoundTripOfSeveralMegabytesWithBackpressure) {
  constexpr size_t kTotal = 8u << 20;
  constexpr size_t kChunk = 64u << 10;
  constexpr size_t kBound = 256u << 10;
  const std::string payload = random_bytes(kTotal, 1234);

  std::string error;
  std::unique_ptr<TcpStream> client;
  std::unique_ptr<TcpStream> server;
  size_t server_pauses = 0;
  size_t server_max_queue = 0;
  bool server_eof = false;
  auto listener = TcpListener::create(
      *loop_, "127.0.0.1", 0,
      [&](std::unique_ptr<TcpStream> accepted) {
        server = std::move(accepted);
        TcpStream* s = server.get();
        ASSERT_TRUE(s->start_reading({
            .on_data =
                [&, s](std::string_view data) {
                  EXPECT_TRUE(s->write(std::string(data)));
                  server_max_queue = std::max(server_max_queue, s->write_queue_bytes());
                  if (s->write_queue_bytes() > kBound) {
                    ++server_pauses;
                    s->pause_reading();
                    // The client reads only from now on. Until then the kernel holds at most
                    // ~4 MiB of the echo (the send buffer, and a receive buffer that only
                    // grows while its reader reads), so the server must have paused.
                    if (client && !client->reading()) {
                      EXPECT_TRUE(client->resume_reading());
                    }
                  }
                },
            .on_eof =
                [&, s] {
                  server_eof = true;
                  EXPECT_TRUE(s->shutdown());  // After the queued echo.
                },
            .on_error =
                [&](const std::string& e) {
                  ADD_FAILURE() << "server: " << e;
                  loop_->stop();
                },
            .on_drained = [s] { EXPECT_TRUE(s->resume_reading()); },
        }));
      },
      &error);
  ASSERT_NE(listener, nullptr) << error;

  std::string received;
  received.reserve(kTotal);
  size_t sent = 0;
  size_t client_pauses = 0;
  size_t client_max_queue = 0;
  bool client_eof = false;
  bool client_shut_down = false;
  // pump writes until the bound is passed (then waits for on_drained) or all is sent.
  const auto pump = [&] {
    while (sent < kTotal) {
      const size_t n = std::min(kChunk, kTotal - sent);
      ASSERT_TRUE(client->write(payload.substr(sent, n)));
      sent += n;
      client_max_queue = std::max(client_max_queue, client->write_queue_bytes());
      if (client->write_queue_bytes() > kBound) {
        ++client_pauses;
        return;
      }
    }
    if (!client_shut_down) {
      client_shut_down = true;
      ASSERT_TRUE(client->shutdown());
    }
  };
  ConnectHandle connecting =
      connect_tcp(*loop_, "127.0.0.1", listener->port(), 2000, [&](ConnectResult result) {
        ASSERT_EQ(result.kind, ConnectResult::Kind::kOk) << result.error;
        client = std::move(result.stream);
        client->set_callbacks({
            .on_data = [&](std::string_view data) { received.append(data); },
            .on_eof =
                [&] {
                  client_eof = true;
                  loop_->stop();
                },
            .on_error =
                [&](const std::string& e) {
                  ADD_FAILURE() << "client: " << e;
                  loop_->stop();
                },
            .on_drained = [&] { pump(); },
        });
        pump();  // Reading starts once the server pauses (above).
      });

  ASSERT_TRUE(run_for(*loop_, milliseconds(8000)))
      << "sent " << sent << ", received " << received.size() << ", server pauses " << server_pauses;
  EXPECT_TRUE(server_eof);
  EXPECT_TRUE(client_eof);
  EXPECT_EQ(sent, kTotal);
  ASSERT_EQ(received.size(), kTotal);
  EXPECT_TRUE(received == payload) << "the echo differs from what was sent";
  // The writer did hit its bound, and nobody's queue grew far past it.
  EXPECT_GT(client_pauses, 0u);
  EXPECT_LE(client_max_queue, kBound + kChunk);
  EXPECT_LE(server_max_queue, kBound + EventLoop::kReadBufferSize);
  EXPECT_GT(server_pauses, 0u);
  EXPECT_EQ(client->write_queue_bytes(), 0u);
}

// shutdown() on one side delivers end of stream to the other, which can still answer.
TEST_F(TcpTest, HalfCloseDeliversEofWhileTheOtherDirectionStillFlows) {
  StreamPair pair = connect_pair(*loop_);
  ASSERT_TRUE(pair.client && pair.server);
  std::string server_got;
  std::string client_got;
  bool server_eof = false;
  bool client_eof = false;
  TcpStream* server = pair.server.get();
  ASSERT_TRUE(server->start_reading({
      .on_data = [&](std::string_view data) { server_got.append(data); },
      .on_eof =
          [&, server] {
            server_eof = true;
            EXPECT_EQ(server_got, "hello");
            // The client has shut down its side; this direction still works.
            EXPECT_TRUE(server->write("world"));
            EXPECT_TRUE(server->shutdown());
          },
      .on_error = [&](const std::string& e) { ADD_FAILURE() << "server: " << e; },
  }));
  ASSERT_TRUE(pair.client->start_reading({
      .on_data = [&](std::string_view data) { client_got.append(data); },
      .on_eof =
          [&] {
            client_eof = true;
            loop_->stop();
          },
      .on_error = [&](const std::string& e) { ADD_FAILURE() << "client: " << e; },
  }));
  ASSERT_TRUE(pair.client->write("hel"));
  ASSERT_TRUE(pair.client->write(std::make_shared<const std::string>("lo")));
  ASSERT_TRUE(pair.client->shutdown());
  EXPECT_FALSE(pair.client->write("too late"));
  EXPECT_FALSE(pair.client->shutdown());

  ASSERT_TRUE(run_for(*loop_, milliseconds(3000)));
  EXPECT_TRUE(server_eof);
  EXPECT_TRUE(client_eof);
  EXPECT_EQ(server_got, "hello");
  EXPECT_EQ(client_got, "world");
}

TEST_F(TcpTest, DestroyingAStreamInsideItsOwnOnDataIsSafe) {
  StreamPair pair = connect_pair(*loop_);
  ASSERT_TRUE(pair.client && pair.server);
  int data_calls = 0;
  bool client_done = false;
  // The capture is on the heap, so ASan sees a use after free if the callable dies early.
  const std::string label(100, 's');
  ASSERT_TRUE(pair.server->start_reading({
      .on_data =
          [&, label](std::string_view) {
            ++data_calls;
            pair.server.reset();  // Destroys the stream, and this callable's owner.
            EXPECT_EQ(label.size(), 100u);
          },
  }));
  const auto end = [&] {
    client_done = true;
    loop_->stop();
  };
  ASSERT_TRUE(pair.client->start_reading({
      .on_data = [](std::string_view) {},
      .on_eof = end,
      .on_error = [&](const std::string&) { end(); },  // Reset: the server left data unread.
  }));
  // More than one read's worth, so that data is still pending when the stream dies.
  ASSERT_TRUE(pair.client->write(std::string(1 << 20, 'a')));

  ASSERT_TRUE(run_for(*loop_, milliseconds(3000)));
  EXPECT_EQ(data_calls, 1);
  EXPECT_EQ(pair.server, nullptr);
  EXPECT_TRUE(client_done);
}

TEST_F(TcpTest, NoCallbackRunsAfterClose) {
  StreamPair pair = connect_pair(*loop_);
  ASSERT_TRUE(pair.client && pair.server);
  int server_calls = 0;
  int client_calls = 0;
  TcpStream* server = pair.server.get();
  ASSERT_TRUE(server->start_reading({
      .on_data =
          [&, server](std::string_view) {
            ++server_calls;
            // Queue a write that cannot finish yet, then close: neither on_drained nor
            // on_error may follow.
            EXPECT_TRUE(server->write(std::string(8 << 20, 'b')));
            EXPECT_GT(server->write_queue_bytes(), 0u);
            server->close();
            EXPECT_FALSE(server->is_open());
            EXPECT_FALSE(server->write("x"));
          },
      .on_eof = [&] { ++server_calls; },
      .on_error = [&](const std::string&) { ++server_calls; },
      .on_drained = [&] { ++server_calls; },
  }));
  ASSERT_TRUE(pair.client->write(std::string(1 << 20, 'a')));
  ASSERT_TRUE(pair.client->start_reading({
      .on_data = [](std::string_view) {},
      .on_eof = [&] { ++client_calls; },
      .on_error = [&](const std::string&) { ++client_calls; },
  }));
  Timer settle(*loop_);
  settle.start(200, [&] { loop_->stop(); });
  ASSERT_TRUE(run_for(*loop_, milliseconds(3000)));
  EXPECT_EQ(server_calls, 1);
  EXPECT_EQ(client_calls, 1);  // The client sees the close (end of stream or reset).
}

TEST_F(TcpTest, PeerErrorIsReportedReadablyAndClosesTheStream) {
  StreamPair pair = connect_pair(*loop_);
  ASSERT_TRUE(pair.client && pair.server);
  std::string error;
  ASSERT_TRUE(pair.client->start_reading({
      .on_data = [](std::string_view) {},
      .on_eof = [&] { loop_->stop(); },
      .on_error =
          [&](const std::string& e) {
            error = e;
            loop_->stop();
          },
  }));
  // The server closes with unread bytes: the kernel answers with a reset.
  ASSERT_TRUE(pair.client->write("unread"));
  Timer later(*loop_);
  later.start(50, [&] {
    pair.server.reset();
    // Writing into a reset connection fails with EPIPE or ECONNRESET.
    later.start(50, [&] { pair.client->write(std::string(1 << 16, 'z')); });
  });
  ASSERT_TRUE(run_for(*loop_, milliseconds(3000)));
  ASSERT_FALSE(error.empty()) << "expected a reset";
  EXPECT_TRUE(error.rfind("read from 127.0.0.1:", 0) == 0 ||
              error.rfind("write to 127.0.0.1:", 0) == 0)
      << error;
  EXPECT_NE(error.find(" failed: "), std::string::npos) << error;
  EXPECT_FALSE(pair.client->is_open());
}

TEST_F(TcpTest, AddressesAreFormattedAndMatchAcrossTheConnection) {
  StreamPair pair = connect_pair(*loop_);
  ASSERT_TRUE(pair.client && pair.server);
  EXPECT_EQ(pair.client->peer_address(), pair.server->local_address());
  EXPECT_EQ(pair.client->local_address(), pair.server->peer_address());
  EXPECT_EQ(pair.client->peer_address().rfind("127.0.0.1:", 0), 0u) << pair.client->peer_address();
  // Without NAT there is either no original destination or the local address.
  const std::optional<std::string> original = pair.server->original_destination();
  if (original.has_value()) {
    EXPECT_EQ(*original, pair.server->local_address());
  }
  pair.server->close();
  EXPECT_EQ(pair.server->original_destination(), std::nullopt);
}

TEST_F(TcpTest, ListeningOnAPortInUseGivesAReadableError) {
  std::string error;
  auto first = TcpListener::create(*loop_, "127.0.0.1", 0, nullptr, &error);
  ASSERT_NE(first, nullptr) << error;
  ASSERT_NE(first->port(), 0);
  EXPECT_EQ(first->local_address(), "127.0.0.1:" + std::to_string(first->port()));
  auto second = TcpListener::create(*loop_, "127.0.0.1", first->port(), nullptr, &error);
  EXPECT_EQ(second, nullptr);
  EXPECT_EQ(error, "cannot listen on 127.0.0.1:" + std::to_string(first->port()) +
                       ": address already in use");
}

TEST_F(TcpTest, ListeningOnANameIsRefused) {
  std::string error;
  auto listener = TcpListener::create(*loop_, "localhost", 8080, nullptr, &error);
  EXPECT_EQ(listener, nullptr);
  EXPECT_EQ(error, "cannot listen on localhost:8080: the host must be an IPv4 or IPv6 address");
}

TEST_F(TcpTest, ListenerCanBeDestroyedFromItsConnectionCallback) {
  std::string error;
  std::unique_ptr<TcpStream> server;
  std::unique_ptr<TcpListener> listener;
  listener = TcpListener::create(
      *loop_, "127.0.0.1", 0,
      [&](std::unique_ptr<TcpStream> stream) {
        server = std::move(stream);
        listener.reset();
        loop_->stop();
      },
      &error);
  ASSERT_NE(listener, nullptr) << error;
  ConnectHandle connecting =
      connect_tcp(*loop_, "127.0.0.1", listener->port(), 2000, [](ConnectResult) {});
  ASSERT_TRUE(run_for(*loop_, milliseconds(3000)));
  EXPECT_EQ(listener, nullptr);
  EXPECT_NE(server, nullptr);
}

TEST_F(TcpTest, Ipv6LoopbackWorksWhenConfigured) {
  std::string error;
  std::unique_ptr<TcpStream> server;
  auto listener = TcpListener::create(
      *loop_, "::1", 0,
      [&](std::unique_ptr<TcpStream> stream) {
        server = std::move(stream);
        ASSERT_TRUE(server->start_reading({
            .on_data =
                [&](std::string_view data) {
                  EXPECT_EQ(data, "ping");
                  EXPECT_TRUE(server->write("pong"));
                },
        }));
      },
      &error);
  if (listener == nullptr) {
    GTEST_SKIP() << "no IPv6 loopback here: " << error;
  }
  const std::string where = "[::1]:" + std::to_string(listener->port());
  EXPECT_EQ(listener->local_address(), where);
  std::unique_ptr<TcpStream> client;
  std::string ip;
  std::string got;
  ConnectHandle connecting =
      connect_tcp(*loop_, "[::1]", listener->port(), 2000, [&](ConnectResult result) {
        ASSERT_EQ(result.kind, ConnectResult::Kind::kOk) << result.error;
        ip = result.ip;
        client = std::move(result.stream);
        ASSERT_TRUE(client->start_reading({
            .on_data =
                [&](std::string_view data) {
                  got.append(data);
                  if (got == "pong") {
                    loop_->stop();
                  }
                },
        }));
        ASSERT_TRUE(client->write("ping"));
      });
  ASSERT_TRUE(run_for(*loop_, milliseconds(3000)));
  EXPECT_EQ(ip, "::1");
  EXPECT_EQ(got, "pong");
  ASSERT_NE(client, nullptr);
  EXPECT_EQ(client->peer_address(), where);
  EXPECT_EQ(client->local_address().rfind("[::1]:", 0), 0u) << client->local_address();
}

}  // namespace
}  // namespace sightglass::core::test
