#include "core/layers/sniff.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/support/playbook.h"

namespace sightglass::core {
namespace {

FirstBytes sniff(const std::string& s) {
  return sniff_first_bytes(
      std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(s.data()), s.size()));
}

TEST(Sniff, TlsClientHello) {
  const std::string hello("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11);
  EXPECT_EQ(sniff(hello), FirstBytes::kTls);
  // Every shorter prefix asks for more.
  for (size_t n = 0; n < 6; ++n) {
    EXPECT_EQ(sniff(hello.substr(0, n)), FirstBytes::kNeedMore) << n;
  }
  EXPECT_EQ(sniff(std::string("\x16\x02", 2)), FirstBytes::kOther);
  EXPECT_EQ(sniff(std::string("\x16\x03\x01\x00\x10\x02", 6)), FirstBytes::kOther);
}

TEST(Sniff, HttpRequestsAtEveryPrefix) {
  for (const std::string request :
       {"GET / HTTP/1.1\r\n", "CONNECT example.com:443 HTTP/1.1\r\n",
        "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "M-SEARCH * HTTP/1.1\r\n"}) {
    const size_t space = request.find(' ');
    for (size_t n = 0; n <= space; ++n) {
      EXPECT_EQ(sniff(request.substr(0, n)), FirstBytes::kNeedMore) << request << n;
    }
    for (size_t n = space + 1; n <= request.size(); ++n) {
      EXPECT_EQ(sniff(request.substr(0, n)), FirstBytes::kHttp) << request << n;
    }
  }
}

TEST(Sniff, AnythingElseIsRelayedRaw) {
  EXPECT_EQ(sniff("SSH-2.0-OpenSSH_9.2\r\n"), FirstBytes::kOther);
  EXPECT_EQ(sniff(" GET"), FirstBytes::kOther);
  EXPECT_EQ(sniff(std::string("\x00\x01\x02", 3)), FirstBytes::kOther);
  EXPECT_EQ(sniff("AVERYLONGTOKENWITHOUTANYSPACE"), FirstBytes::kOther);
  EXPECT_EQ(sniff(std::string("\x05\x01\x00", 3)), FirstBytes::kOther);  // SOCKS5.
}

// --- What ProxySession does with the first bytes inside a tunnel ------------------------------

// TunnelSniff opens a CONNECT tunnel to |authority| and keeps the server-first wakeup's id.
struct TunnelSniff {
  TunnelSniff() : session(config()), pb(session.handler()) {}
  static ProxyConfig config() {
    ProxyConfig config;
    config.mode = ProxyConfig::Mode::kRegular;
    config.body_limit = 1024;
    return config;
  }
  // connect plays the CONNECT: the TCP connection first, the answer, the wakeup armed.
  test::Playbook& connect(const std::string& authority) {
    const std::string host = authority.substr(0, authority.find(':'));
    pb >> DataReceived{kClientConn, "CONNECT " + authority + " HTTP/1.1\r\n\r\n"}
              << test::expect<OpenConnection>(
                     [this, host](const OpenConnection& o) {
                       open = o;
                       return o.conn == 1 && o.host == host && !o.tls;
                     },
                     "OpenConnection(conn 1, " + authority + ", plain)") >>
        [this] { return Event(test::completed(open)); }
            << SendData{kClientConn, "HTTP/1.1 200 Connection established\r\n\r\n"}
            << test::expect<RequestWakeup>(
                   [this](const RequestWakeup& w) {
                     sniff_wakeup = w.id;
                     return w.delay_ms == 1000;
                   },
                   "RequestWakeup(1000 ms: a server that speaks first)");
    return pb;
  }
  test::Playbook::Expected cancels_sniff() {
    return test::expect<CancelWakeup>(
        [this](const CancelWakeup& c) { return c.id == sniff_wakeup; },
        "CancelWakeup(server first)");
  }
  // relay_live is the TCP relay's live flow (a live PublishFlow).
  static test::Playbook::Expected relay_live() {
    return test::expect<PublishFlow>(
        [](const PublishFlow& p) {
          return p.flow->state == FlowState::kLive && p.flow->kind == FlowKind::kTcp;
        },
        "PublishFlow(live TCP)");
  }

  test::SessionPlaybook session;
  test::Playbook pb;
  OpenConnection open;
  CommandId sniff_wakeup = 0;
};

TEST(SniffSession, BytesThatAreNeitherTlsNorHttpAreRelayedOnceTheyDecide) {
  TunnelSniff t;
  t.connect("ssh.test:22")
      // An HTTP method could still start like this: nothing yet.
      >> DataReceived{kClientConn, "SSH-2"}
      // Not HTTP after all: everything so far goes to the tunnel's connection as it came.
      >> DataReceived{kClientConn, ".0-OpenSSH_9.2\r\n"}
             << t.cancels_sniff() << t.relay_live()  // Started.
             << SendData{1, "SSH-2.0-OpenSSH_9.2\r\n"}
             << t.relay_live()  // Connected (the tunnel's connection, adopted).
      >> DataReceived{1, "SSH-2.0-srv\r\n"}
             << SendData{kClientConn, "SSH-2.0-srv\r\n"}
             << RequestWakeup{0, 251};  // The live view's next progress.
  ASSERT_TRUE(t.pb.check());
}

TEST(SniffSession, SilenceIsAServerThatSpeaksFirstAndWhatItSaidIsKept) {
  TunnelSniff t;
  t.connect("mail.test:25")
      // The server speaks before the client: kept while the client's first bytes may still
      // decide.
      >> DataReceived{1, "220 ready\r\n"} >>
      [&] { return Event(Wakeup{t.sniff_wakeup}); }
          << t.relay_live() << t.relay_live() << SendData{kClientConn, "220 ready\r\n"}
          << RequestWakeup{0, 251}  // The live view's next progress.
      >> DataReceived{kClientConn, "EHLO me\r\n"} << SendData{1, "EHLO me\r\n"};
  ASSERT_TRUE(t.pb.check());
}

TEST(SniffSession, HttpInsideTheTunnelIsParsedOverTheConnectionOpenAlready) {
  TunnelSniff t;
  t.pb.ignore<PublishFlow>();  // The flow's live views.
  t.connect("site.test:80") >>
      DataReceived{kClientConn, "GET /p HTTP/1.1\r\nHost: site.test\r\n\r\n"}
          // No new OpenConnection: the request goes over the tunnel's connection.
          << t.cancels_sniff() << RequestWakeup{0, 120'000}  // The response's limit.
          << SendData{1, "GET /p HTTP/1.1\r\nHost: site.test\r\n\r\n"} >>
      DataReceived{1, "HTTP/1.1 204 No Content\r\n\r\n"}
          << SendData{kClientConn, "HTTP/1.1 204 No Content\r\n\r\n"} << CancelWakeup{0}
          << RequestWakeup{0, 60'000} << RequestWakeup{0, 60'000};  // The idle limits.
  ASSERT_TRUE(t.pb.check());
}

}  // namespace
}  // namespace sightglass::core
