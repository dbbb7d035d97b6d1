// ProxySession + HttpLayer without sockets: scripted bytes in, commands out.
#include <gtest/gtest.h>

#include "core/layers/http1.h"
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

ProxyConfig regular() {
  ProxyConfig config;
  config.mode = ProxyConfig::Mode::kRegular;
  config.body_limit = 1024;
  return config;
}

ProxyConfig reverse_http() {
  ProxyConfig config;
  config.mode = ProxyConfig::Mode::kReverse;
  config.reverse_scheme = "http";
  config.reverse_host = "origin.test";
  config.reverse_port = 8000;
  config.body_limit = 1024;
  return config;
}

const std::string kRequest =
    "GET http://example.test:8080/a/b?x=1 HTTP/1.1\r\nHost: example.test:8080\r\n"
    "X-Mixed-Case: One\r\nProxy-Connection: keep-alive\r\naccept: */*\r\n"
    "Proxy-Authorization: Basic dTpw\r\nX-Mixed-Case: Two\r\n\r\n";
const std::string kForwarded =
    "GET /a/b?x=1 HTTP/1.1\r\nHost: example.test:8080\r\nX-Mixed-Case: One\r\n"
    "accept: */*\r\nX-Mixed-Case: Two\r\n\r\n";
const std::string kResponse =
    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\nX-Server: a\r\n\r\nhello";

TEST(HttpSession, AbsoluteFormBecomesOriginFormWithHeadersUnchanged) {
  SessionPlaybook session(regular());
  OpenConnection open;
  Playbook pb(session.handler());
  pb.ignore<PublishFlow>();  // Live snapshots; the finished flow is checked below.
  pb >> DataReceived{kClientConn, kRequest} << test::open_to(1, "example.test", 8080, false, &open)
                                            << RequestWakeup{0, 120'000}  // The response timeout.
      >> [&] { return Event(test::completed(open)); }
             // Origin form; header names, case, order and repetitions as sent; the proxy's own
             // headers (Proxy-Connection, Proxy-Authorization) gone.
             << SendData{1, kForwarded} >>
      DataReceived{1, kResponse} << SendData{kClientConn, kResponse} << CancelWakeup{0}
                                 << RequestWakeup{0, 60'000}
                                 << RequestWakeup{0, 60'000};  // The two idle limits.
  ASSERT_TRUE(pb.check());
  const auto done = flows(pb.commands());
  ASSERT_EQ(done.size(), 1u) << pb.transcript();
  const FlowSnapshot& flow = *done[0];
  EXPECT_EQ(flow.request->method, "GET");
  EXPECT_EQ(flow.request->url(), "http://example.test:8080/a/b?x=1");
  EXPECT_EQ(flow.request->headers.size(), 4u);
  EXPECT_EQ(flow.response->status, 200);
  EXPECT_EQ(flow.response->body.contiguous(), "hello");
  EXPECT_EQ(flow.server_address, "192.0.2.1:8080");
  EXPECT_EQ(flow.client_address, "127.0.0.1:50000");
  EXPECT_TRUE(flow.error.empty());
  EXPECT_EQ(flow.timings.dns_us, 100);
}

TEST(HttpSession, EverySplitOfRequestAndResponseGivesTheSameBytes) {
  for (size_t split = 0; split <= kRequest.size(); ++split) {
    SessionPlaybook pb(regular());
    Commands c = pb.client(kRequest.substr(0, split));
    Commands more = pb.client(kRequest.substr(split));
    c.insert(c.end(), more.begin(), more.end());
    const OpenConnection open = single_open(c);
    const Commands opened = pb.open_ok(open);
    ASSERT_EQ(sent_to(opened, open.conn), kForwarded) << "split " << split << "\n" << pb.log();
  }
  for (size_t split = 0; split <= kResponse.size(); ++split) {
    SessionPlaybook pb(regular());
    const OpenConnection open = single_open(pb.client(kRequest));
    pb.open_ok(open);
    Commands c = pb.server(open.conn, kResponse.substr(0, split));
    Commands more = pb.server(open.conn, kResponse.substr(split));
    c.insert(c.end(), more.begin(), more.end());
    ASSERT_EQ(sent_to(c, kClientConn), kResponse) << "split " << split << "\n" << pb.log();
    ASSERT_EQ(flows(c).size(), 1u) << "split " << split;
  }
}

TEST(HttpSession, KeepAliveReusesTheUpstreamAndPipelinedRequestsAreAnsweredInOrder) {
  SessionPlaybook pb(reverse_http());
  const std::string two =
      "GET /1 HTTP/1.1\r\nHost: proxy\r\n\r\nGET /2 HTTP/1.1\r\nHost: proxy\r\n\r\n";
  const OpenConnection open = single_open(pb.client(two));
  EXPECT_EQ(open.host, "origin.test");
  const Commands c1 = pb.open_ok(open);
  // Only the first request goes out; the Host header is rewritten for the origin.
  EXPECT_EQ(sent_to(c1, open.conn), "GET /1 HTTP/1.1\r\nHost: origin.test:8000\r\n\r\n");
  const Commands c2 = pb.server(open.conn, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n1");
  EXPECT_EQ(sent_to(c2, kClientConn), "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n1");
  EXPECT_EQ(sent_to(c2, open.conn), "GET /2 HTTP/1.1\r\nHost: origin.test:8000\r\n\r\n");
  EXPECT_TRUE(all_of<OpenConnection>(c2).empty());
  const Commands c3 = pb.server(open.conn, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n2");
  EXPECT_EQ(sent_to(c3, kClientConn), "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n2");
  EXPECT_EQ(flows(pb.all()).size(), 2u);
  EXPECT_EQ(flows(pb.all())[1]->timings.dns_us, -1);  // The reused connection.
}

TEST(HttpSession, ChunkedBodiesAndTrailersBothWays) {
  SessionPlaybook pb(reverse_http());
  const OpenConnection open = single_open(pb.client(
      "POST /up HTTP/1.1\r\nHost: p\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"));
  Commands c = pb.open_ok(open);
  Commands more = pb.client("6\r\n world\r\n0\r\nX-Sum: 11\r\n\r\n");
  c.insert(c.end(), more.begin(), more.end());
  EXPECT_EQ(sent_to(c, open.conn),
            "POST /up HTTP/1.1\r\nHost: origin.test:8000\r\nTransfer-Encoding: chunked\r\n\r\n"
            "5\r\nhello\r\n6\r\n world\r\n0\r\nX-Sum: 11\r\n\r\n");
  const std::string response =
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-T: 1\r\n\r\n";
  const Commands r = pb.server(open.conn, response);
  EXPECT_EQ(sent_to(r, kClientConn), response);
  const auto done = flows(r);
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0]->request->body.contiguous(), "hello world");
  EXPECT_EQ(done[0]->request->trailers, (Headers{{"X-Sum", "11"}}));
  EXPECT_EQ(done[0]->response->body.contiguous(), "abc");
  EXPECT_EQ(done[0]->response->trailers, (Headers{{"X-T", "1"}}));
}

TEST(HttpSession, BodyBeyondTheLimitIsForwardedWholeButKeptTruncated) {
  SessionPlaybook pb(reverse_http());
  const OpenConnection open = single_open(pb.client("GET / HTTP/1.1\r\nHost: p\r\n\r\n"));
  pb.open_ok(open);
  const std::string body(5000, 'z');
  const std::string response = "HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n" + body;
  const Commands r = pb.server(open.conn, response);
  EXPECT_EQ(sent_to(r, kClientConn), response);
  const auto done = flows(r);
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0]->response->body.size, 5000u);
  EXPECT_EQ(done[0]->response->body.kept, 1024u);
  EXPECT_TRUE(done[0]->response->body.truncated);
}

TEST(HttpSession, HeadAnd204And304HaveNoBody) {
  SessionPlaybook pb(reverse_http());
  const OpenConnection open = single_open(pb.client("HEAD /h HTTP/1.1\r\nHost: p\r\n\r\n"));
  pb.open_ok(open);
  const Commands r = pb.server(open.conn, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n");
  EXPECT_EQ(flows(r).size(), 1u) << pb.log();
  EXPECT_FALSE(closes(pb.all(), kClientConn));
  pb.client("GET /n HTTP/1.1\r\nHost: p\r\n\r\n");
  const Commands r2 = pb.server(open.conn, "HTTP/1.1 304 Not Modified\r\nETag: x\r\n\r\n");
  EXPECT_EQ(flows(r2).size(), 1u) << pb.log();
  pb.client("DELETE /n HTTP/1.1\r\nHost: p\r\n\r\n");
  const Commands r3 = pb.server(open.conn, "HTTP/1.1 204 No Content\r\n\r\n");
  EXPECT_EQ(flows(r3).size(), 1u) << pb.log();
  EXPECT_FALSE(closes(pb.all(), kClientConn));
}

TEST(HttpSession, HeadAfterAnInterimResponseHasNoBodyEither) {
  // A 1xx before the answer to a HEAD (103 Early Hints, 100 Continue) leaves the final head
  // without a body too: its Content-Length announces nothing to read, and the next response on
  // the connection is its own (found by fuzz/h1_over_h2_fuzzer.cc).
  SessionPlaybook pb(reverse_http());
  const OpenConnection open = single_open(pb.client("HEAD /h HTTP/1.1\r\nHost: p\r\n\r\n"));
  pb.open_ok(open);
  const Commands r = pb.server(open.conn,
                               "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n"
                               "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n");
  EXPECT_EQ(sent_to(r, kClientConn),
            "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n"
            "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n");
  ASSERT_EQ(flows(r).size(), 1u) << pb.log();
  EXPECT_TRUE(flows(r)[0]->error.empty()) << flows(r)[0]->error;
  pb.client("GET /n HTTP/1.1\r\nHost: p\r\n\r\n");
  const Commands r2 = pb.server(open.conn, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
  ASSERT_EQ(flows(r2).size(), 1u) << pb.log();
  EXPECT_EQ(flows(r2)[0]->response->body.contiguous(), "ok");
  EXPECT_FALSE(closes(pb.all(), kClientConn));
}

TEST(HttpSession, ExpectContinueIsRelayed) {
  SessionPlaybook pb(reverse_http());
  const OpenConnection open = single_open(
      pb.client("PUT /f HTTP/1.1\r\nHost: p\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n"));
  pb.open_ok(open);
  const Commands c = pb.server(open.conn, "HTTP/1.1 100 Continue\r\n\r\n");
  EXPECT_EQ(sent_to(c, kClientConn), "HTTP/1.1 100 Continue\r\n\r\n");
  EXPECT_EQ(sent_to(pb.client("abc"), open.conn), "abc");
  const Commands r = pb.server(open.conn, "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(sent_to(r, kClientConn), "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n");
  ASSERT_EQ(flows(r).size(), 1u);
  EXPECT_EQ(flows(r)[0]->response->status, 201);
  EXPECT_EQ(flows(r)[0]->request->body.contiguous(), "abc");
}

TEST(HttpSession, ResponseDelimitedByCloseEndsWithTheConnection) {
  SessionPlaybook pb(reverse_http());
  const OpenConnection open = single_open(pb.client("GET / HTTP/1.1\r\nHost: p\r\n\r\n"));
  pb.open_ok(open);
  const Commands c = pb.server(open.conn, "HTTP/1.1 200 OK\r\n\r\nstream");
  EXPECT_EQ(sent_to(c, kClientConn), "HTTP/1.1 200 OK\r\n\r\nstream");
  const Commands end = pb.feed(ConnectionClosed{open.conn, ""});
  const auto done = flows(end);
  ASSERT_EQ(done.size(), 1u) << pb.log();
  EXPECT_TRUE(done[0]->error.empty()) << done[0]->error;
  EXPECT_EQ(done[0]->response->body.contiguous(), "stream");
  EXPECT_TRUE(closes(end, kClientConn));
}

TEST(HttpSession, RefusedUpstreamAnswers502AndLogsTheError) {
  SessionPlaybook pb(regular());
  const OpenConnection open =
      single_open(pb.client("GET http://127.0.0.1:1/ HTTP/1.1\r\nHost: 127.0.0.1:1\r\n\r\n"));
  OpenCompleted failed;
  failed.id = open.id;
  failed.conn = open.conn;
  failed.error = "connection to 127.0.0.1:1 refused";
  const Commands c = pb.feed(failed);
  const std::string answer = sent_to(c, kClientConn);
  EXPECT_EQ(answer.rfind("HTTP/1.1 502 Bad Gateway\r\n", 0), 0u) << answer;
  EXPECT_NE(answer.find("connection to 127.0.0.1:1 refused"), std::string::npos);
  ASSERT_EQ(flows(c).size(), 1u);
  EXPECT_EQ(flows(c)[0]->error, "connection to 127.0.0.1:1 refused");
  EXPECT_FALSE(flows(c)[0]->response.has_value());
  EXPECT_TRUE(closes(c, kClientConn));
}

TEST(HttpSession, ConnectTimeoutAnswers504) {
  SessionPlaybook pb(reverse_http());
  const OpenConnection open = single_open(pb.client("GET / HTTP/1.1\r\nHost: p\r\n\r\n"));
  OpenCompleted failed;
  failed.id = open.id;
  failed.conn = open.conn;
  failed.timed_out = true;
  failed.error = "connection to origin.test:8000 timed out";
  const Commands c = pb.feed(failed);
  EXPECT_EQ(sent_to(c, kClientConn).rfind("HTTP/1.1 504 Gateway Timeout", 0), 0u);
}

TEST(HttpSession, ResponseTimeoutAnswers504) {
  SessionPlaybook pb(reverse_http());
  const OpenConnection open = single_open(pb.client("GET / HTTP/1.1\r\nHost: p\r\n\r\n"));
  pb.open_ok(open);
  std::vector<RequestWakeup> wakeups;
  for (const RequestWakeup& w : all_of<RequestWakeup>(pb.all())) {
    if (w.delay_ms == 120'000) {
      wakeups.push_back(w);  // The response limit (others: the idle limits).
    }
  }
  ASSERT_EQ(wakeups.size(), 1u) << pb.log();
  pb.clock().now_us += 120'000'000;
  const Commands t = pb.feed(Wakeup{wakeups[0].id});
  EXPECT_EQ(sent_to(t, kClientConn).rfind("HTTP/1.1 504 Gateway Timeout", 0), 0u) << pb.log();
  ASSERT_EQ(flows(t).size(), 1u);
  EXPECT_NE(flows(t)[0]->error.find("server timeout: no response head within 120 s"),
            std::string::npos);
  // The flow's timings are what the client lived through: two minutes of waiting.
  EXPECT_GE(flows(t)[0]->timings.wait_us, 120'000'000);
  EXPECT_GE(flows(t)[0]->timings.total_us(), 120'000'000);
}

TEST(HttpSession, UpstreamResetMidBodyClosesTheClientAndLogsTheError) {
  SessionPlaybook pb(reverse_http());
  const OpenConnection open = single_open(pb.client("GET / HTTP/1.1\r\nHost: p\r\n\r\n"));
  pb.open_ok(open);
  pb.server(open.conn, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial");
  const Commands c = pb.feed(ConnectionClosed{open.conn, "connection reset by peer"});
  ASSERT_EQ(flows(c).size(), 1u) << pb.log();
  EXPECT_NE(flows(c)[0]->error.find("reset"), std::string::npos) << flows(c)[0]->error;
  EXPECT_TRUE(closes(c, kClientConn));
  EXPECT_TRUE(sent_to(c, kClientConn).empty());  // No 502 after a response has started.
}

TEST(HttpSession, UpstreamClosingWithoutResponseAnswers502) {
  SessionPlaybook pb(reverse_http());
  const OpenConnection open = single_open(pb.client("GET / HTTP/1.1\r\nHost: p\r\n\r\n"));
  pb.open_ok(open);
  const Commands c = pb.feed(ConnectionClosed{open.conn, ""});
  EXPECT_EQ(sent_to(c, kClientConn).rfind("HTTP/1.1 502 Bad Gateway", 0), 0u) << pb.log();
  EXPECT_NE(flows(c).at(0)->error.find("without sending a response"), std::string::npos);
}

TEST(HttpSession, MalformedRequestAnswers400AndHugeHeaders431) {
  {
    SessionPlaybook pb(reverse_http());
    const Commands c = pb.client("GET / HTTP/1.1\r\nBad Header\r\n\r\n");
    EXPECT_EQ(sent_to(c, kClientConn).rfind("HTTP/1.1 400 Bad Request", 0), 0u) << pb.log();
    ASSERT_EQ(flows(c).size(), 1u);
    EXPECT_NE(flows(c)[0]->error.find("malformed request"), std::string::npos);
    EXPECT_TRUE(closes(c, kClientConn));
  }
  {
    SessionPlaybook pb(reverse_http());
    const Commands c =
        pb.client("GET / HTTP/1.1\r\nX-Big: " + std::string(70 * 1024, 'a') + "\r\n\r\n");
    EXPECT_EQ(sent_to(c, kClientConn).rfind("HTTP/1.1 431", 0), 0u) << pb.log();
    EXPECT_EQ(flows(c).size(), 1u);
  }
  {
    SessionPlaybook pb(regular());
    const Commands c = pb.client("GET /relative HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECT_EQ(sent_to(c, kClientConn).rfind("HTTP/1.1 400 Bad Request", 0), 0u);
    EXPECT_NE(sent_to(c, kClientConn).find("absolute-form"), std::string::npos);
  }
}

TEST(HttpSession, InvalidResponseAnswers502) {
  SessionPlaybook pb(reverse_http());
  const OpenConnection open = single_open(pb.client("GET / HTTP/1.1\r\nHost: p\r\n\r\n"));
  pb.open_ok(open);
  const Commands c = pb.server(open.conn, "SSH-2.0-OpenSSH\r\n");
  EXPECT_EQ(sent_to(c, kClientConn).rfind("HTTP/1.1 502 Bad Gateway", 0), 0u) << pb.log();
  EXPECT_NE(flows(c).at(0)->error.find("invalid response"), std::string::npos);
}

TEST(HttpSession, ConnectThenPlainHttpInsideTheTunnel) {
  SessionPlaybook pb(regular());
  // The TCP connection opens before the CONNECT is answered; the request inside adopts it.
  const OpenConnection open =
      pb.connect_tunnel("CONNECT example.test:8081 HTTP/1.1\r\nHost: example.test:8081\r\n\r\n");
  EXPECT_EQ(open.host, "example.test");
  EXPECT_EQ(open.port, 8081);
  const Commands c = pb.client("GET /in HTTP/1.1\r\nHost: example.test\r\n\r\n");
  EXPECT_TRUE(all_of<OpenConnection>(c).empty()) << pb.log();
  EXPECT_EQ(sent_to(c, open.conn), "GET /in HTTP/1.1\r\nHost: example.test\r\n\r\n");
  const Commands r = pb.server(open.conn, kResponse);
  ASSERT_EQ(flows(r).size(), 1u);
  EXPECT_EQ(flows(r)[0]->request->url(), "http://example.test:8081/in");
}

TEST(HttpSession, ConnectThenAnythingElseIsRelayedRawAndLoggedAsTcp) {
  SessionPlaybook session(regular());
  OpenConnection open;
  const std::string postgres = std::string("\x00\x00\x00\x08\x04\xd2\x16\x2f", 8);
  Playbook pb(session.handler());
  pb.ignore<PublishFlow>();
  // The tunnel's first bytes come in the same packet as the CONNECT; the TCP connection opens
  // before the CONNECT is answered.
  pb >> DataReceived{kClientConn, "CONNECT db.test:5432 HTTP/1.1\r\n\r\n" + postgres}
            << test::open_to(1, "db.test", 5432, false, &open) >>
      [&] { return Event(test::completed(open)); }
          << SendData{kClientConn, "HTTP/1.1 200 Connection established\r\n\r\n"}
          // Not TLS, not HTTP: relayed as it came, both ways.
          << SendData{1, postgres} >>
      DataReceived{1, "S"} << SendData{kClientConn, "S"} << RequestWakeup{0, 251}
      // The next live snapshot of the flow's progress.
      >> ConnectionClosed{kClientConn, ""} << CloseConnection{1, true}
      // Each side's end goes to the other as a half close; the flow ends with both.
      >> ConnectionClosed{1, ""} << CloseConnection{kClientConn, true} << CancelWakeup{0};
  ASSERT_TRUE(pb.check());
  const auto done = flows(pb.commands());
  ASSERT_EQ(done.size(), 1u) << pb.transcript();
  EXPECT_EQ(done[0]->kind, FlowKind::kTcp);
  EXPECT_EQ(done[0]->bytes_from_client, 8u);
  EXPECT_EQ(done[0]->bytes_from_server, 1u);
}

TEST(HttpSession, MagicHostServesTheCaWithoutTouchingTheNetwork) {
  ProxyConfig config = regular();
  config.ca_cert_pem = "-----BEGIN CERTIFICATE-----\nabc\n-----END CERTIFICATE-----\n";
  config.ca_cert_der = std::string("\x30\x03\x02\x01\x00", 5);
  for (const auto& [path, body] : std::vector<std::pair<std::string, std::string>>{
           {"/cert/pem", config.ca_cert_pem}, {"/cert/der", config.ca_cert_der}}) {
    SessionPlaybook pb(config);
    const Commands c =
        pb.client("GET http://sightglass" + path + " HTTP/1.1\r\nHost: sightglass\r\n\r\n");
    EXPECT_TRUE(all_of<OpenConnection>(c).empty());
    const std::string answer = sent_to(c, kClientConn);
    EXPECT_EQ(answer.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << answer;
    EXPECT_EQ(answer.substr(answer.find("\r\n\r\n") + 4), body);
    ASSERT_EQ(flows(c).size(), 1u);
    EXPECT_EQ(flows(c)[0]->response->status, 200);
  }
  SessionPlaybook page(config);
  const std::string html = sent_to(
      page.client("GET http://sightglass/ HTTP/1.1\r\nHost: sightglass\r\n\r\n"), kClientConn);
  EXPECT_NE(html.find("update-ca-certificates"), std::string::npos);
  EXPECT_NE(html.find("/cert/der"), std::string::npos);
  SessionPlaybook missing(config);
  EXPECT_EQ(sent_to(missing.client("GET http://sightglass/nope HTTP/1.1\r\n\r\n"), kClientConn)
                .rfind("HTTP/1.1 404", 0),
            0u);
}

TEST(HttpSession, SilentTunnelIsRelayedForServerFirstProtocols) {
  SessionPlaybook pb(regular());
  const OpenConnection open = pb.connect_tunnel("CONNECT mail.test:25 HTTP/1.1\r\n\r\n");
  EXPECT_EQ(open.host, "mail.test");
  EXPECT_EQ(open.port, 25);
  const auto wakeups = all_of<RequestWakeup>(pb.all());
  ASSERT_EQ(wakeups.size(), 1u) << pb.log();
  // Silence from the client: after a while the tunnel is relayed raw on the same connection.
  EXPECT_TRUE(all_of<OpenConnection>(pb.feed(Wakeup{wakeups[0].id})).empty()) << pb.log();
  EXPECT_EQ(sent_to(pb.server(open.conn, "220 mail.test ESMTP\r\n"), kClientConn),
            "220 mail.test ESMTP\r\n");
  EXPECT_EQ(sent_to(pb.client("EHLO me\r\n"), open.conn), "EHLO me\r\n");
}

TEST(HttpSession, ConnectToAnUnreachableServerIsA502OnTheConnectItself) {
  SessionPlaybook pb(regular());
  const Commands c = pb.client("CONNECT db.test:5432 HTTP/1.1\r\n\r\n");
  const OpenConnection open = single_open(c);
  EXPECT_EQ(sent_to(c, kClientConn), "");
  const Commands f = pb.open_failed(open, "connection to 192.0.2.7:5432 refused",
                                    OpenCompleted::Failure::kRefused);
  EXPECT_EQ(sent_to(f, kClientConn).rfind("HTTP/1.1 502 Bad Gateway", 0), 0u) << pb.log();
  EXPECT_NE(sent_to(f, kClientConn).find("refused"), std::string::npos);
  ASSERT_EQ(flows(f).size(), 1u);
  EXPECT_EQ(flows(f)[0]->request->method, "CONNECT");
  EXPECT_EQ(flows(f)[0]->response->status, 502);
  EXPECT_NE(flows(f)[0]->error.find("refused"), std::string::npos);
  EXPECT_TRUE(closes(f, kClientConn));
}

// WebSocket upgrades are read as frames (websocket_test.cc); any other is relayed raw.
TEST(HttpSession, UpgradeSwitchesToARawRelay) {
  SessionPlaybook pb(reverse_http());
  const OpenConnection open = single_open(
      pb.client("GET /ws HTTP/1.1\r\nHost: p\r\nConnection: Upgrade\r\nUpgrade: chat/2\r\n\r\n"));
  pb.open_ok(open);
  const Commands c = pb.server(open.conn,
                               "HTTP/1.1 101 Switching Protocols\r\nConnection: "
                               "Upgrade\r\nUpgrade: chat/2\r\n\r\n\x81\x01x");
  EXPECT_EQ(sent_to(c, kClientConn),
            "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: "
            "chat/2\r\n\r\n\x81\x01x");
  ASSERT_EQ(flows(c).size(), 1u);
  EXPECT_EQ(flows(c)[0]->response->status, 101);
  EXPECT_EQ(sent_to(pb.client("\x81\x81"), open.conn), "\x81\x81");
  EXPECT_EQ(sent_to(pb.server(open.conn, "more"), kClientConn), "more");
}

TEST(HttpSession, RefusedUpgradeContinuesAsHttp) {
  SessionPlaybook pb(reverse_http());
  const OpenConnection open = single_open(pb.client(
      "GET /ws HTTP/1.1\r\nHost: p\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"));
  pb.open_ok(open);
  pb.server(open.conn, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nno");
  const Commands c = pb.client("GET /next HTTP/1.1\r\nHost: p\r\n\r\n");
  EXPECT_EQ(sent_to(c, open.conn), "GET /next HTTP/1.1\r\nHost: origin.test:8000\r\n\r\n")
      << pb.log();
}

TEST(HttpSession, UpgradeToH2cIsDeclined) {
  SessionPlaybook pb(reverse_http());
  const OpenConnection open = single_open(
      pb.client("GET /a HTTP/1.1\r\nHost: p\r\nConnection: Upgrade, HTTP2-Settings, keep-alive\r\n"
                "Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n"));
  // The server never sees the offer, and answers in HTTP/1.1; the connection goes on.
  EXPECT_EQ(sent_to(pb.open_ok(open), open.conn),
            "GET /a HTTP/1.1\r\nHost: origin.test:8000\r\nConnection: keep-alive\r\n\r\n");
  EXPECT_EQ(
      sent_to(pb.server(open.conn, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"), kClientConn),
      "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
  EXPECT_EQ(sent_to(pb.client("GET /b HTTP/1.1\r\nHost: p\r\n\r\n"), open.conn),
            "GET /b HTTP/1.1\r\nHost: origin.test:8000\r\n\r\n")
      << pb.log();
}

TEST(HttpSession, ClientClosingMidRequestLogsTheFlow) {
  SessionPlaybook pb(reverse_http());
  const OpenConnection open =
      single_open(pb.client("POST / HTTP/1.1\r\nHost: p\r\nContent-Length: 10\r\n\r\nabc"));
  pb.open_ok(open);
  const Commands c = pb.feed(ConnectionClosed{kClientConn, ""});
  ASSERT_EQ(flows(c).size(), 1u);
  EXPECT_NE(flows(c)[0]->error.find("client closed"), std::string::npos);
  EXPECT_TRUE(closes(c, open.conn));
}

}  // namespace
}  // namespace sightglass::core
