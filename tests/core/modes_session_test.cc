// ProxySession in the capture modes, without sockets: SOCKS5, transparent, upstream chaining,
// --proxyauth and passthrough of non-TLS tunnels.
#include <gtest/gtest.h>

#include "tests/support/playbook.h"

namespace sightglass::core {
namespace {

using test::all_of;
using test::closes;
using test::flows;
using test::Playbook;
using test::sent_to;
using test::SessionPlaybook;
using test::single_open;

ProxyConfig config_for(ProxyConfig::Mode mode) {
  ProxyConfig config;
  config.mode = mode;
  config.body_limit = 1024;
  return config;
}

const std::string kResponse = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

TEST(ModesSession, Socks5OpensATunnelAndSpeaksHttpInside) {
  SessionPlaybook session(config_for(ProxyConfig::Mode::kSocks5));
  OpenConnection open;
  Playbook pb(session.handler());
  pb.ignore<PublishFlow>().ignore<RequestWakeup>().ignore<CancelWakeup>();  // Timers aside.
  // The greeting (no authentication), then CONNECT site.test:80 by name: the success reply
  // comes once the TCP connection is open.
  pb >> Start{} >> DataReceived{kClientConn, std::string("\x05\x01\x00", 3)}
                       << SendData{kClientConn, std::string("\x05\x00", 2)} >>
      DataReceived{kClientConn, std::string("\x05\x01\x00\x03\x09", 5) + "site.test" +
                                    std::string("\x00\x50", 2)}
          << test::open_to(1, "site.test", 80, false, &open) >>
      [&] { return Event(test::completed(open)); }
          << SendData{kClientConn, std::string("\x05\x00\x00\x01\x00\x00\x00\x00\x00\x00", 10)}
      // Inside the tunnel the HTTP request goes over the connection already open.
      >> DataReceived{kClientConn, "GET /p HTTP/1.1\r\nHost: site.test\r\n\r\n"}
             << SendData{1, "GET /p HTTP/1.1\r\nHost: site.test\r\n\r\n"} >>
      DataReceived{1, kResponse} << SendData{kClientConn, kResponse};
  ASSERT_TRUE(pb.check());
  const auto done = flows(pb.commands());
  ASSERT_EQ(done.size(), 1u) << pb.transcript();
  EXPECT_EQ(done[0]->request->url(), "http://site.test/p");
}

// The SOCKS5 layer's failures (each reply code, a wrong password) are played in
// socks5_test.cc (Socks5Session).

TEST(ModesSession, TransparentPlainHttpGoesToTheOriginalDestination) {
  ClientConnection client;
  client.original_destination = "192.0.2.7:8081";
  SessionPlaybook pb(config_for(ProxyConfig::Mode::kTransparent), client);
  // A server-speaks-first protocol would send nothing: a wakeup is armed (and the first-byte
  // limit).
  EXPECT_EQ(all_of<RequestWakeup>(pb.feed(Start{})).size(), 2u);
  const OpenConnection open =
      single_open(pb.client("GET /x HTTP/1.1\r\nHost: named.test:8081\r\n\r\n"));
  EXPECT_EQ(open.host, "192.0.2.7");
  EXPECT_EQ(open.port, 8081);
  pb.open_ok(open);
  const auto done = flows(pb.server(open.conn, kResponse));
  ASSERT_EQ(done.size(), 1u) << pb.log();
  // The flow names the host the client asked for, not the address.
  EXPECT_EQ(done[0]->request->url(), "http://named.test:8081/x");
}

TEST(ModesSession, TransparentServesTheMagicHostByItsHostHeader) {
  ClientConnection client;
  client.original_destination = "192.0.2.9:80";
  ProxyConfig config = config_for(ProxyConfig::Mode::kTransparent);
  config.ca_cert_pem = "-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n";
  SessionPlaybook pb(config, client);
  pb.feed(Start{});
  const Commands c = pb.client("GET /cert/pem HTTP/1.1\r\nHost: sightglass\r\n\r\n");
  EXPECT_TRUE(all_of<OpenConnection>(c).empty());
  const std::string answer = sent_to(c, kClientConn);
  EXPECT_EQ(answer.rfind("HTTP/1.1 200", 0), 0u) << answer;
  EXPECT_TRUE(answer.ends_with(config.ca_cert_pem)) << answer;
}

TEST(ModesSession, TransparentSilentClientIsRelayedRaw) {
  ClientConnection client;
  client.original_destination = "[2001:db8::5]:25";
  SessionPlaybook pb(config_for(ProxyConfig::Mode::kTransparent), client);
  std::vector<RequestWakeup> wakeups;
  for (const RequestWakeup& w : all_of<RequestWakeup>(pb.feed(Start{}))) {
    if (w.delay_ms == 1000) {
      wakeups.push_back(w);  // The server-speaks-first delay (not the first-byte limit).
    }
  }
  ASSERT_EQ(wakeups.size(), 1u);
  const OpenConnection open = single_open(pb.feed(Wakeup{wakeups[0].id}));
  EXPECT_EQ(open.host, "2001:db8::5");
  EXPECT_EQ(open.port, 25);
  pb.open_ok(open);
  EXPECT_EQ(sent_to(pb.server(open.conn, "220 mail ready\r\n"), kClientConn), "220 mail ready\r\n");
}

TEST(ModesSession, TransparentRedirectLoopIsRefused) {
  ClientConnection client;
  client.original_destination = "127.0.0.1:8080";
  client.refuse_reason = "transparent mode: redirect loop refused: ...";
  SessionPlaybook pb(config_for(ProxyConfig::Mode::kTransparent), client);
  const Commands c = pb.feed(Start{});
  EXPECT_TRUE(closes(c, kClientConn));
  EXPECT_TRUE(all_of<OpenConnection>(c).empty());
  const auto done = flows(c);
  ASSERT_EQ(done.size(), 1u);
  EXPECT_NE(done[0]->error.find("redirect loop"), std::string::npos);
  // Nothing the client sends afterwards opens anything.
  EXPECT_TRUE(all_of<OpenConnection>(pb.client("GET / HTTP/1.1\r\n\r\n")).empty());
}

TEST(ModesSession, UpstreamModeSendsPlainRequestsInAbsoluteFormToTheProxy) {
  ProxyConfig config = config_for(ProxyConfig::Mode::kUpstream);
  config.upstream_proxy_host = "chain.test";
  config.upstream_proxy_port = 3128;
  SessionPlaybook pb(config);
  const OpenConnection open =
      single_open(pb.client("GET http://site.test/a HTTP/1.1\r\nHost: site.test\r\n\r\n"));
  EXPECT_EQ(open.host, "chain.test");
  EXPECT_EQ(open.port, 3128);
  EXPECT_EQ(sent_to(pb.open_ok(open), open.conn),
            "GET http://site.test/a HTTP/1.1\r\nHost: site.test\r\n\r\n");
}

TEST(ModesSession, UpstreamModeTunnelsThroughTheProxyWithConnect) {
  ProxyConfig config = config_for(ProxyConfig::Mode::kUpstream);
  config.upstream_proxy_host = "chain.test";
  config.upstream_proxy_port = 3128;
  SessionPlaybook pb(config);
  // The tunnel through the upstream proxy is made before the client's CONNECT is answered.
  const OpenConnection open = single_open(pb.client("CONNECT site.test:8000 HTTP/1.1\r\n\r\n"));
  EXPECT_EQ(open.host, "chain.test");
  EXPECT_EQ(sent_to(pb.open_ok(open), open.conn),
            "CONNECT site.test:8000 HTTP/1.1\r\nHost: site.test:8000\r\n\r\n");
  EXPECT_EQ(
      sent_to(pb.server(open.conn, "HTTP/1.1 200 Connection established\r\n\r\n"), kClientConn),
      "HTTP/1.1 200 Connection established\r\n\r\n");
  EXPECT_EQ(sent_to(pb.client("GET /t HTTP/1.1\r\nHost: site.test\r\n\r\n"), open.conn),
            "GET /t HTTP/1.1\r\nHost: site.test\r\n\r\n");
  const auto done = flows(pb.server(open.conn, kResponse));
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0]->response->status, 200);
}

TEST(ModesSession, UpstreamProxyRefusingConnectAnswers502) {
  ProxyConfig config = config_for(ProxyConfig::Mode::kUpstream);
  config.upstream_proxy_host = "chain.test";
  config.upstream_proxy_port = 3128;
  SessionPlaybook pb(config);
  const OpenConnection open = single_open(pb.client("CONNECT site.test:8000 HTTP/1.1\r\n\r\n"));
  pb.open_ok(open);
  const Commands c = pb.server(open.conn, "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(sent_to(c, kClientConn).rfind("HTTP/1.1 502", 0), 0u) << pb.log();
  const auto done = flows(c);
  ASSERT_EQ(done.size(), 1u);
  EXPECT_NE(done[0]->error.find("upstream proxy refused CONNECT site.test:8000"), std::string::npos)
      << done[0]->error;
}

TEST(ModesSession, ProxyauthAnswers407WithoutCredentialsAndForwardsWithThem) {
  ProxyConfig config = config_for(ProxyConfig::Mode::kRegular);
  config.proxy_credentials = ProxyCredentials{"u", "p"};
  {
    SessionPlaybook pb(config);
    const Commands c = pb.client("GET http://site.test/ HTTP/1.1\r\nHost: site.test\r\n\r\n");
    EXPECT_EQ(sent_to(c, kClientConn).rfind("HTTP/1.1 407", 0), 0u);
    EXPECT_TRUE(all_of<OpenConnection>(c).empty());
  }
  SessionPlaybook pb(config);
  // "u:p" in base64; the header does not reach the server.
  const OpenConnection open =
      single_open(pb.client("GET http://site.test/ HTTP/1.1\r\nHost: "
                            "site.test\r\nProxy-Authorization: Basic dTpw\r\n\r\n"));
  EXPECT_EQ(sent_to(pb.open_ok(open), open.conn), "GET / HTTP/1.1\r\nHost: site.test\r\n\r\n");
}

TEST(ModesSession, IgnoredHostInsideATunnelIsRelayedUntouched) {
  PassthroughPolicy policy;
  std::string error;
  ASSERT_TRUE(policy.set_ignore_hosts({"^SSH\\.test:22$"}, &error)) << error;
  ProxyConfig config = config_for(ProxyConfig::Mode::kRegular);
  config.passthrough = &policy;
  SessionPlaybook pb(config);
  const OpenConnection open = pb.connect_tunnel("CONNECT ssh.test:22 HTTP/1.1\r\n\r\n");
  EXPECT_EQ(open.host, "ssh.test");
  // Even what looks like HTTP is relayed as it came.
  EXPECT_EQ(sent_to(pb.client("GET / HTTP/1.1\r\n\r\n"), open.conn), "GET / HTTP/1.1\r\n\r\n");
  pb.feed(ConnectionClosed{kClientConn, ""});
  const auto done = flows(pb.feed(ConnectionClosed{open.conn, ""}));
  ASSERT_EQ(done.size(), 1u) << pb.log();
  EXPECT_EQ(done[0]->kind, FlowKind::kTcp);
  EXPECT_EQ(done[0]->passthrough, "ignore-hosts");
}

TEST(ModesSession, PassthroughPolicyMatchesLikeMitmproxy) {
  PassthroughPolicy policy;
  std::string error;
  EXPECT_FALSE(policy.set_ignore_hosts({"("}, &error));
  EXPECT_NE(error.find("invalid regular expression"), std::string::npos);
  ASSERT_TRUE(policy.set_ignore_hosts({"example\\.com"}, &error));
  const std::vector<std::string> hit = {"api.EXAMPLE.com:443"};
  const std::vector<std::string> miss = {"example.org:443"};
  EXPECT_EQ(policy.reason(hit), "ignore-hosts");  // Searched, case-insensitively.
  EXPECT_EQ(policy.reason(miss), "");
  EXPECT_TRUE(policy.learn("Pinned.test:443", "rejected"));
  EXPECT_FALSE(policy.learn("pinned.test:443", "again"));
  const std::vector<std::string> pinned = {"pinned.TEST:443"};
  EXPECT_EQ(policy.reason(pinned), "auto-passthrough");
  ASSERT_EQ(policy.learned().size(), 1u);
  policy.set_auto_learn(false);
  EXPECT_FALSE(policy.learn("other.test:443", "rejected"));
}

}  // namespace
}  // namespace sightglass::core

namespace sightglass::core {
namespace {

TEST(GrpcSession, EveryMessageIsCountedPastTheBodyLimit) {
  using namespace std::string_literals;
  ProxyConfig config = config_for(ProxyConfig::Mode::kRegular);
  config.body_limit = 4;  // Less than one message: the counting goes on regardless.
  SessionPlaybook pb(config);
  const std::string messages = std::string("\0\0\0\0\3abc\0\0\0\0\2hi", 15);
  const OpenConnection open =
      single_open(pb.client("POST http://grpc.test/svc/Call HTTP/1.1\r\nHost: grpc.test\r\n"
                            "Content-Type: application/grpc\r\nContent-Length: 15\r\n\r\n" +
                            messages));
  pb.open_ok(open);
  const auto done =
      flows(pb.server(open.conn,
                      "HTTP/1.1 200 OK\r\nContent-Type: application/grpc\r\nTransfer-Encoding: "
                      "chunked\r\n\r\n7\r\n\0\0\0\0\2ok\r\n0\r\ngrpc-status: 0\r\n\r\n"s));
  ASSERT_EQ(done.size(), 1u) << pb.log();
  ASSERT_TRUE(done[0]->request->body.grpc.has_value());
  EXPECT_EQ(done[0]->request->body.grpc->sizes, (std::vector<uint64_t>{3, 2}));
  EXPECT_TRUE(done[0]->request->body.truncated);
  ASSERT_TRUE(done[0]->response->body.grpc.has_value());
  EXPECT_EQ(done[0]->response->body.grpc->sizes, (std::vector<uint64_t>{2}));
  ASSERT_EQ(done[0]->response->trailers.size(), 1u);
  EXPECT_EQ(done[0]->response->trailers[0].value, "0");
}

}  // namespace
}  // namespace sightglass::core
