// The server side as a layer of its own: a fake layer above, events in, commands and
// upcalls out. Opening through the upstream proxy's CONNECT (answered, refused, closed, timed
// out, unreachable), plain connections, a server that does not speak TLS, and closing.
#include "core/proxy/server_side.h"

#include <gtest/gtest.h>

#include "core/tls/tls_contexts.h"
#include "tests/support/memory_tls.h"
#include "tests/support/playbook.h"

namespace sightglass::core {
namespace {

using test::all_of;
using test::sent_to;

// completion is the driver's OpenCompleted for |conn| (|error|: it failed).
OpenCompleted completion(CommandId id, ConnId conn, std::string error) {
  OpenCompleted out;
  out.id = id;
  out.conn = conn;
  out.error = std::move(error);
  return out;
}

// Above records what the server side hands up.
class Above : public ServerSide::Upper {
 public:
  void to_app(Event event, Commands&) override { events.push_back(std::move(event)); }
  void preopen_done(OpenCompleted completion, Commands&) override {
    preopened.push_back(std::move(completion));
  }
  bool app_speaks_http1() const override { return true; }
  void replaced(ConnId old, ConnId wire) override { replacements.emplace_back(old, wire); }

  template <class T>
  std::vector<T> of() const {
    std::vector<T> out;
    for (const Event& e : events) {
      if (const auto* t = std::get_if<T>(&e)) {
        out.push_back(*t);
      }
    }
    return out;
  }

  std::vector<Event> events;
  std::vector<OpenCompleted> preopened;
  std::vector<std::pair<ConnId, ConnId>> replacements;
};

class ServerSideTest : public ::testing::Test {
 protected:
  void SetUp() override {
    config_.mode = ProxyConfig::Mode::kUpstream;
    config_.upstream_proxy_host = "127.0.0.1";
    config_.upstream_proxy_port = 3128;
    config_.server_handshake_timeout_ms = 7000;
    ctx_.config = &config_;
    ctx_.clock = &clock_;
    ctx_.flow_ids = &ids_;
  }

  // open_via_proxy opens conn 1 to example.test:443 without TLS through the upstream proxy
  // and completes the TCP connection; returns the commands of the completion.
  Commands open_via_proxy(bool tls = false) {
    Commands out;
    side_.open(OpenConnection{5, 1, "example.test", 443, tls}, "example.test", {"http/1.1"}, true,
               true, out);
    const auto opens = all_of<OpenConnection>(out);
    EXPECT_EQ(opens.size(), 1u);
    EXPECT_EQ(opens.at(0).host, "127.0.0.1");  // The upstream proxy, not the server.
    EXPECT_EQ(opens.at(0).port, 3128);
    Commands done;
    OpenCompleted opened = completion(5, 1, "");
    side_.on_open(opened, done);
    return done;
  }

  ProxyConfig config_;
  test::FakeClock clock_;
  std::atomic<FlowId> ids_{0};
  SessionContext ctx_;
  Above above_;
  ServerSide side_{&ctx_, &above_};
};

TEST_F(ServerSideTest, UpstreamProxyConnectAnsweredThenBytesFlow) {
  const Commands done = open_via_proxy();
  EXPECT_EQ(sent_to(done, 1),
            "CONNECT example.test:443 HTTP/1.1\r\nHost: example.test:443\r\n\r\n");
  const auto limits = all_of<RequestWakeup>(done);
  ASSERT_EQ(limits.size(), 1u);
  EXPECT_EQ(limits[0].delay_ms, 7000);
  EXPECT_TRUE(above_.events.empty());  // Not open for the layer above until the proxy agrees.

  Commands out;
  side_.on_bytes(1, "HTTP/1.1 200 Connection established\r\n\r\nearly bytes", out);
  ASSERT_EQ(all_of<CancelWakeup>(out).size(), 1u);
  EXPECT_EQ(all_of<CancelWakeup>(out)[0].id, limits[0].id);
  ASSERT_EQ(above_.events.size(), 2u);
  const auto opened = above_.of<OpenCompleted>();
  ASSERT_EQ(opened.size(), 1u);
  EXPECT_EQ(opened[0].id, 5u);
  EXPECT_EQ(opened[0].error, "");
  EXPECT_EQ(above_.of<DataReceived>().at(0).data, "early bytes");  // After the answer's head.
}

TEST_F(ServerSideTest, UpstreamProxyRefusalFailsTheOpenWithItsStatusLine) {
  open_via_proxy();
  Commands out;
  side_.on_bytes(1, "HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n", out);
  EXPECT_TRUE(above_.events.empty());  // The head is not complete yet.
  side_.on_bytes(1, "\r\n", out);
  EXPECT_TRUE(test::closes(out, 1));
  const auto opened = above_.of<OpenCompleted>();
  ASSERT_EQ(opened.size(), 1u);
  EXPECT_EQ(opened[0].error,
            "the upstream proxy refused CONNECT example.test:443: HTTP/1.1 407 Proxy "
            "Authentication Required");
  EXPECT_EQ(side_.find(1), nullptr);  // Forgotten.
}

TEST_F(ServerSideTest, UpstreamProxyThatClosesOrStaysSilent) {
  open_via_proxy();
  Commands out;
  side_.on_closed(1, "", out);
  ASSERT_EQ(above_.of<OpenCompleted>().size(), 1u);
  EXPECT_EQ(above_.of<OpenCompleted>()[0].error,
            "the upstream proxy closed the connection before answering CONNECT "
            "example.test:443");

  above_.events.clear();
  side_.open(OpenConnection{6, 2, "slow.test", 443, false}, "slow.test", {}, false, true, out);
  OpenCompleted opened = completion(6, 2, "");
  Commands done;
  side_.on_open(opened, done);
  const CommandId limit = all_of<RequestWakeup>(done).at(0).id;
  Commands timed;
  EXPECT_FALSE(side_.on_wakeup(limit + 100, timed));  // Not a limit of this layer.
  EXPECT_TRUE(side_.on_wakeup(limit, timed));
  EXPECT_TRUE(test::closes(timed, 2));
  const auto failed = above_.of<OpenCompleted>();
  ASSERT_EQ(failed.size(), 1u);
  EXPECT_TRUE(failed[0].timed_out);
  EXPECT_EQ(failed[0].failure, OpenCompleted::Failure::kTimeout);
  EXPECT_EQ(failed[0].id, 6u);
  EXPECT_EQ(failed[0].error,
            "server timeout: the upstream proxy did not answer CONNECT slow.test:443 within 7 s");
}

TEST_F(ServerSideTest, UnreachableUpstreamProxyIsNamed) {
  Commands out;
  side_.open(OpenConnection{5, 1, "example.test", 443, false}, "example.test", {}, false, true,
             out);
  OpenCompleted failed = completion(5, 1, "connection refused");
  failed.failure = OpenCompleted::Failure::kRefused;
  side_.on_open(failed, out);
  const auto opened = above_.of<OpenCompleted>();
  ASSERT_EQ(opened.size(), 1u);
  EXPECT_EQ(opened[0].failure, OpenCompleted::Failure::kRefused);  // The type is kept.
  EXPECT_EQ(opened[0].error, "cannot reach the upstream proxy 127.0.0.1:3128: connection refused");
}

TEST_F(ServerSideTest, PlainConnectionOpensAtOnceAndForgetsOnClose) {
  config_.mode = ProxyConfig::Mode::kRegular;
  Commands out;
  side_.open(OpenConnection{5, 1, "example.test", 80, false}, "example.test", {}, false, false,
             out);
  ASSERT_EQ(all_of<OpenConnection>(out).at(0).host, "example.test");
  OpenCompleted opened = completion(5, 1, "");
  side_.on_open(opened, out);
  ASSERT_EQ(above_.of<OpenCompleted>().size(), 1u);
  side_.on_bytes(1, "HTTP/1.1 200 OK\r\n", out);
  EXPECT_EQ(above_.of<DataReceived>().at(0).data, "HTTP/1.1 200 OK\r\n");

  std::vector<Event> later;
  Commands closing;
  side_.send(SendData{1, "GET / HTTP/1.1\r\n\r\n"}, closing, later);
  EXPECT_EQ(sent_to(closing, 1), "GET / HTTP/1.1\r\n\r\n");  // No TLS: as it is.
  side_.close(CloseConnection{1, false}, closing, later);
  EXPECT_TRUE(test::closes(closing, 1));
  EXPECT_EQ(side_.find(1), nullptr);
  side_.on_bytes(1, "late", out);  // A forgotten connection's bytes go nowhere.
  EXPECT_EQ(above_.of<DataReceived>().size(), 1u);
}

TEST_F(ServerSideTest, ServerThatDoesNotSpeakTlsFailsTheHandshakeTyped) {
  config_.mode = ProxyConfig::Mode::kRegular;
  std::string error;
  bssl::UniquePtr<SSL_CTX> upstream = make_upstream_context({}, &error);
  ASSERT_NE(upstream, nullptr) << error;
  config_.upstream_tls_ctx = upstream.get();
  Commands out;
  side_.open(OpenConnection{5, 1, "example.test", 443, true}, "example.test", {"http/1.1"}, true,
             false, out);
  OpenCompleted opened = completion(5, 1, "");
  Commands hello;
  side_.on_open(opened, hello);
  const std::string client_hello = sent_to(hello, 1);
  ASSERT_GT(client_hello.size(), 5u);
  EXPECT_EQ(client_hello[0], '\x16');  // A TLS handshake record: the ClientHello.
  Commands failed;
  side_.on_bytes(1, "HTTP/1.1 400 Bad Request\r\n\r\n", failed);
  EXPECT_TRUE(test::closes(failed, 1));
  const auto done = above_.of<OpenCompleted>();
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].failure, OpenCompleted::Failure::kTlsHandshake);
  EXPECT_TRUE(done[0].error.starts_with("TLS handshake with example.test failed: "))
      << done[0].error;
  EXPECT_TRUE(above_.replacements.empty());  // Not a reason to retry offering h2.
}

TEST_F(ServerSideTest, PreopenedConnectionKeepsBytesAndEofUntilReleased) {
  config_.mode = ProxyConfig::Mode::kRegular;
  ServerConn& server = side_.add(3);
  server.host = "example.test";
  server.preopened = true;
  server.tcp_first = true;
  OpenCompleted opened = completion(9, 3, "");
  Commands out;
  side_.on_open(opened, out);
  ASSERT_EQ(above_.preopened.size(), 1u);  // Reported to the session, not the layer above.
  EXPECT_TRUE(above_.events.empty());
  side_.on_bytes(3, "server speaks first", out);
  side_.on_closed(3, "", out);
  EXPECT_TRUE(above_.events.empty());
  side_.find(3)->preopened = false;  // Adopted.
  side_.release(3, out);
  ASSERT_EQ(above_.events.size(), 2u);
  EXPECT_EQ(above_.of<DataReceived>().at(0).data, "server speaks first");
  EXPECT_EQ(above_.of<ConnectionClosed>().size(), 1u);
}

}  // namespace
}  // namespace sightglass::core

namespace sightglass::core {
namespace {

// With real origins over memory: a certificate the proxy does not trust is a typed verify
// failure that names no "handshake", a trusted one opens with the server's TLS session.
class ServerSideTlsTest : public test::TlsWorld {
 protected:
  // connect runs the handshake of conn 1 toward |origin|; returns the commands of the last step.
  void connect(test::MemoryPeer& origin) {
    Commands out;
    side_.open(OpenConnection{5, 1, "origin.test", 443, true}, "origin.test", {"http/1.1"}, true,
               false, out);
    OpenCompleted opened = completion(5, 1, "");
    side_.on_open(opened, out);
    for (int i = 0; i < 10 && side_.find(1) != nullptr && !side_.find(1)->open; ++i) {
      origin.feed(sent_to(out, 1));
      out.clear();
      origin.step();
      const std::string answer = origin.drain();
      if (answer.empty()) {
        break;
      }
      side_.on_bytes(1, answer, out);
    }
    origin.feed(sent_to(out, 1));  // The client's Finished.
    origin.step();
    last_ = out;
  }

  void SetUp() override {
    TlsWorld::SetUp();
    ctx_.config = &config_;
    ctx_.clock = &clock_;
    ctx_.flow_ids = &ids_;
  }

  test::FakeClock clock_;
  std::atomic<FlowId> ids_{0};
  SessionContext ctx_;
  Above above_;
  ServerSide side_{&ctx_, &above_};
  Commands last_;
};

TEST_F(ServerSideTlsTest, TrustedOriginOpensWithItsTlsSession) {
  auto origin = origin_peer(*origin_minter_, "origin.test");
  connect(*origin);
  const auto opened = above_.of<OpenCompleted>();
  ASSERT_EQ(opened.size(), 1u);
  EXPECT_EQ(opened[0].error, "");
  EXPECT_EQ(opened[0].failure, OpenCompleted::Failure::kNone);
  ASSERT_TRUE(opened[0].tls.has_value());
  EXPECT_EQ(opened[0].tls->alpn, "http/1.1");
  ASSERT_TRUE(opened[0].tls->certificate.has_value());
  EXPECT_GE(opened[0].ssl_us, 0);

  std::vector<Event> later;
  Commands out;
  side_.send(SendData{1, "GET / HTTP/1.1\r\n\r\n"}, out, later);
  origin->feed(sent_to(out, 1));
  EXPECT_EQ(origin->read(), "GET / HTTP/1.1\r\n\r\n");  // Encrypted on the way.
  origin->write("HTTP/1.1 204 No Content\r\n\r\n");
  side_.on_bytes(1, origin->drain(), out);
  EXPECT_EQ(above_.of<DataReceived>().at(0).data, "HTTP/1.1 204 No Content\r\n\r\n");
}

TEST_F(ServerSideTlsTest, UntrustedOriginIsATypedVerifyFailure) {
  auto origin = origin_peer(*minter_, "origin.test");  // Issued by a CA the proxy distrusts.
  connect(*origin);
  EXPECT_TRUE(test::closes(last_, 1));
  const auto opened = above_.of<OpenCompleted>();
  ASSERT_EQ(opened.size(), 1u);
  EXPECT_EQ(opened[0].failure, OpenCompleted::Failure::kTlsVerify);
  // The verdict itself (the layer above names the server in its answer).
  EXPECT_EQ(opened[0].error,
            "upstream certificate verify failed: unable to get local issuer certificate");
  EXPECT_EQ(side_.find(1), nullptr);
}

}  // namespace
}  // namespace sightglass::core
