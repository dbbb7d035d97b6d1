// Defects found by hostile and careless peers (issue 10), each guarded end to end: the real
// binary, real clients (curl, openssl) or raw sockets, and the Python origin on 127.0.0.1.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/proxy_fixture.h"
#include "tests/support/raw_client.h"

namespace sightglass {
namespace {

namespace fs = std::filesystem;
using test::closed_within;
using test::h2_frame;
using test::json;
using test::open_fds;
using test::ProcessResult;
using test::RawClient;
using test::run_process;

// tls_client_on starts a TLS client (no verification: the tests look at what the proxy does,
// not at its certificate) on |client|'s socket, with SNI |name|. The SSL_CTX lives as long as
// the SSL (it is reference-counted).
bssl::UniquePtr<SSL> tls_client_on(RawClient& client, const char* name) {
  bssl::UniquePtr<SSL_CTX> ctx(SSL_CTX_new(TLS_method()));
  bssl::UniquePtr<SSL> ssl(SSL_new(ctx.get()));
  SSL_set_fd(ssl.get(), client.fd());
  SSL_set_tlsext_host_name(ssl.get(), name);
  return ssl;
}

// send_for_three_seconds sends junk on a non-blocking |client| as fast as the peer takes it,
// for three seconds (at most 1 GiB); returns how much was taken.
size_t send_for_three_seconds(RawClient& client) {
  fcntl(client.fd(), F_SETFL, fcntl(client.fd(), F_GETFL) | O_NONBLOCK);
  const std::string junk(1 << 16, 'J');
  size_t sent = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  while (std::chrono::steady_clock::now() < deadline && sent < (size_t{1} << 30)) {
    const ssize_t n = ::send(client.fd(), junk.data(), junk.size(), MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<size_t>(n);
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  return sent;
}

class HostileTest : public test::ProxyFixture {
 protected:
  std::string proxy_url() const { return "http://127.0.0.1:" + std::to_string(proxy_port_); }

  // flows_with waits (up to |seconds|) until at least |n| flows whose error contains |needle|
  // are logged by the running proxy, and returns them.
  std::vector<json> flows_with(const std::string& needle, size_t n, int seconds = 10) {
    std::vector<json> found;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
    do {
      found.clear();
      for (const json& flow : test::read_jsonl_so_far(jsonl())) {
        if (flow.contains("_error") &&
            flow["_error"].get<std::string>().find(needle) != std::string::npos) {
          found.push_back(flow);
        }
      }
      if (found.size() >= n) {
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    } while (std::chrono::steady_clock::now() < deadline);
    return found;
  }

  // tls_through_connect runs a TLS client inside a CONNECT tunnel with openssl s_client.
  std::string get_request(const std::string& url) const {
    return "GET " + url + " HTTP/1.1\r\nHost: x\r\n\r\n";
  }
};

// Defect 1: a download the client aborts (curl -m1 at 2 MB/s) is logged, with the bytes that
// passed and who ended it.
TEST_F(HostileTest, AbortedDownloadIsLoggedWithTheBytesThatPassed) {
  const uint16_t origin = start_origin();
  start_proxy();
  for (int i = 0; i < 3; ++i) {
    const ProcessResult r =
        curl({"-m1", "--limit-rate", "2M", "-o", "/dev/null",
              "http://127.0.0.1:" + std::to_string(origin) + "/bytes?n=100000000"});
    EXPECT_EQ(r.exit_code, 28) << r.err;  // Timed out.
  }
  const std::vector<json> flows = flows_with("the client", 3);
  ASSERT_EQ(flows.size(), 3u);
  for (const json& flow : flows) {
    EXPECT_EQ(flow["response"]["status"], 200);
    EXPECT_GT(flow["response"]["content"]["size"].get<int64_t>(), 0);
    EXPECT_LT(flow["response"]["content"]["size"].get<int64_t>(), 100000000);
    EXPECT_NE(flow["_error"].get<std::string>().find("during the response"), std::string::npos)
        << flow["_error"];
  }
  EXPECT_EQ(stop_proxy().exit_code, 0);
}

// Defect 1: a reset after 1 MB, plain HTTP, is logged every time.
TEST_F(HostileTest, ResetAfterAMegabyteIsLogged) {
  const uint16_t origin = start_origin();
  start_proxy();
  const std::string url = "http://127.0.0.1:" + std::to_string(origin) + "/bytes?n=50000000";
  for (int i = 0; i < 10; ++i) {
    RawClient client(proxy_port_);
    ASSERT_TRUE(client.ok());
    ASSERT_TRUE(client.send_all(get_request(url)));
    EXPECT_GE(client.read_bytes(1 << 20), size_t{1} << 20);
    client.reset();
  }
  // A reset is seen as a failed read or write, or (when the kernel reports it so) as a close.
  const std::vector<json> flows = flows_with("the client c", 10);
  EXPECT_EQ(flows.size(), 10u);
  for (const json& flow : flows) {
    EXPECT_GE(flow["response"]["content"]["size"].get<int64_t>(), 1 << 20);
  }
  EXPECT_EQ(stop_proxy().exit_code, 0);
}

// Defect 1: the same through a CONNECT tunnel with TLS intercepted (openssl s_client reads
// 1 MB, then the test resets the connection under it).
TEST_F(HostileTest, ResetInsideAnInterceptedTunnelIsLogged) {
  const uint16_t origin = start_origin(good_cert_);
  start_proxy();
  for (int i = 0; i < 5; ++i) {
    RawClient client(proxy_port_);
    ASSERT_TRUE(client.ok());
    ASSERT_TRUE(client.connect_tunnel("localhost:" + std::to_string(origin)));
    // A TLS client over the tunnel's socket: openssl s_client on a duplicate of the fd is not
    // possible, so BoringSSL runs here, on the socket itself.
    bssl::UniquePtr<SSL> ssl = tls_client_on(client, "localhost");
    ASSERT_EQ(SSL_connect(ssl.get()), 1);
    const std::string request = get_request("/bytes?n=50000000");
    ASSERT_EQ(SSL_write(ssl.get(), request.data(), static_cast<int>(request.size())),
              static_cast<int>(request.size()));
    size_t got = 0;
    char buf[65536];
    while (got < (1u << 20)) {
      const int n = SSL_read(ssl.get(), buf, sizeof(buf));
      ASSERT_GT(n, 0);
      got += static_cast<size_t>(n);
    }
    client.reset();
  }
  const std::vector<json> flows = flows_with("the client c", 5);
  EXPECT_EQ(flows.size(), 5u);
  for (const json& flow : flows) {
    EXPECT_EQ(flow["request"]["url"].get<std::string>().rfind("https://localhost:", 0), 0u);
  }
  EXPECT_EQ(stop_proxy().exit_code, 0);
}

// Defect 1: a CONNECT tunnel of raw TCP that the client resets is logged with its byte counts.
TEST_F(HostileTest, TunnelResetByTheClientIsLogged) {
  auto echo = std::make_unique<test::ChildProcess>(std::vector<std::string>{
      "/usr/bin/python3", std::string(SIGHTGLASS_SOURCE_DIR) + "/tests/support/origin.py",
      "--echo"});
  const std::string line = echo->wait_for_line(false, "PORT ");
  ASSERT_FALSE(line.empty());
  origins_.push_back(std::move(echo));
  const std::string port = line.substr(5);
  start_proxy();
  for (int i = 0; i < 5; ++i) {
    RawClient client(proxy_port_);
    ASSERT_TRUE(client.connect_tunnel("127.0.0.1:" + port));
    ASSERT_TRUE(client.send_all(std::string("\x01\x02hello tcp", 11)));
    EXPECT_EQ(client.read_until("tcp").size(), 11u);
    client.reset();
  }
  const std::vector<json> flows = flows_with("the client connection failed", 5);
  ASSERT_EQ(flows.size(), 5u);
  for (const json& flow : flows) {
    EXPECT_EQ(flow["_tcp"]["bytesFromClient"], 11) << flow.dump();
  }
  EXPECT_EQ(stop_proxy().exit_code, 0);
}

// Defect 2: clients that leave while their response is pending end their exchanges at once:
// flows logged, upstream connections closed, descriptors freed.
TEST_F(HostileTest, ClientLeavingAPendingResponseEndsTheExchange) {
  const uint16_t origin = start_origin();
  start_proxy();
  const size_t baseline = open_fds(proxy_->pid());
  std::vector<std::thread> clients;
  std::vector<ProcessResult> results(20);
  for (size_t i = 0; i < results.size(); ++i) {
    clients.emplace_back([&, i] {
      results[i] =
          curl({"-m1", "-o", "/dev/null",
                "http://127.0.0.1:" + std::to_string(origin) + "/stall?n=1000&total=1000000"});
    });
  }
  for (auto& t : clients) {
    t.join();
  }
  for (const ProcessResult& r : results) {
    EXPECT_EQ(r.exit_code, 28) << r.err;
  }
  const std::vector<json> flows = flows_with("the client closed the connection", 20, 5);
  EXPECT_EQ(flows.size(), 20u);
  size_t fds = open_fds(proxy_->pid());
  for (int i = 0; i < 50 && fds > baseline + 2; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    fds = open_fds(proxy_->pid());
  }
  EXPECT_LE(fds, baseline + 2) << "from " << baseline;
  EXPECT_EQ(stop_proxy().exit_code, 0);
}

// Defect 7: bytes a server sends past a complete response never make a flow of their own;
// they close that server connection and are noted on the flow they followed.
TEST_F(HostileTest, UnsolicitedServerBytesMakeNoPhantomFlow) {
  const uint16_t origin = start_origin();
  start_proxy();
  const std::string base = "http://127.0.0.1:" + std::to_string(origin);
  // Extra bytes in the same write as the response.
  const ProcessResult r = curl({base + "/extra", base + "/status/204"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "ok");
  // Extra bytes while the connection is idle, then the next request on the same connection.
  RawClient client(proxy_port_);
  ASSERT_TRUE(client.send_all(get_request(base + "/late-extra")));
  EXPECT_NE(client.read_until("\r\n\r\nok").find(" 200 "), std::string::npos);
  std::this_thread::sleep_for(std::chrono::milliseconds(700));  // The late bytes come.
  ASSERT_TRUE(client.send_all(get_request(base + "/")));
  const std::string second = client.read_until("\r\n\r\nok");
  EXPECT_NE(second.find(" 200 "), std::string::npos) << second;
  client.close();
  const std::vector<json> flows =
      stop_when_logged([](const std::vector<json>& f) { return f.size() >= 4; });
  ASSERT_EQ(flows.size(), 4u);
  for (const json& flow : flows) {
    EXPECT_FALSE(flow["request"]["method"].get<std::string>().empty()) << flow.dump();
    EXPECT_GT(flow["response"]["status"].get<int>(), 0) << flow.dump();
  }
  EXPECT_NE(flows[0].value("_error", "").find("nobody asked for"), std::string::npos)
      << flows[0].dump();
  EXPECT_EQ(flows[1]["response"]["status"], 204);
}

// Defect 8: a CONNECT (and a SOCKS5 connect) opens the TCP connection before it answers: an
// unreachable server is a 502 on the CONNECT itself, naming the cause, and SOCKS5 reply 5.
TEST_F(HostileTest, ConnectToAClosedPortIsA502OnTheConnect) {
  start_proxy();
  const uint16_t closed = test::free_port();
  RawClient client(proxy_port_);
  ASSERT_TRUE(client.send_all("CONNECT 127.0.0.1:" + std::to_string(closed) +
                              " HTTP/1.1\r\nHost: x\r\n\r\n"));
  const std::string answer = client.read_until("refused");
  EXPECT_EQ(answer.rfind("HTTP/1.1 502 ", 0), 0u) << answer;
  EXPECT_NE(answer.find("refused"), std::string::npos) << answer;
  const std::vector<json> flows = flows_with("refused", 1);
  ASSERT_EQ(flows.size(), 1u);
  EXPECT_EQ(flows[0]["request"]["method"], "CONNECT");
  EXPECT_EQ(flows[0]["response"]["status"], 502);
  EXPECT_EQ(stop_proxy().exit_code, 0);
}

TEST_F(HostileTest, Socks5ConnectToAClosedPortGetsReplyConnectionRefused) {
  start_proxy({"--mode", "socks5"});
  const uint16_t closed = test::free_port();
  RawClient client(proxy_port_);
  ASSERT_TRUE(client.send_all(std::string("\x05\x01\x00", 3)));
  EXPECT_EQ(client.read_until(std::string("\x05\x00", 2)), std::string("\x05\x00", 2));
  std::string request("\x05\x01\x00\x01\x7f\x00\x00\x01", 8);
  request.push_back(static_cast<char>(closed >> 8));
  request.push_back(static_cast<char>(closed & 0xff));
  ASSERT_TRUE(client.send_all(request));
  const std::string reply = client.read_until(std::string("\x00\x00", 2));
  ASSERT_GE(reply.size(), 2u);
  EXPECT_EQ(reply[1], '\x05') << "REP " << static_cast<int>(reply[1]);
  // curl names the reply too.
  const ProcessResult r = run_process({"curl", "-sS", "--max-time", "20", "--socks5",
                                       "127.0.0.1:" + std::to_string(proxy_port_),
                                       "http://127.0.0.1:" + std::to_string(closed) + "/"});
  EXPECT_EQ(r.exit_code, 97) << r.err;
  EXPECT_NE(r.err.find("(5)"), std::string::npos) << r.err;  // REP 5: connection refused.
  EXPECT_EQ(flows_with("refused", 2).size(), 2u);
  EXPECT_EQ(stop_proxy().exit_code, 0);
}

// Defect 4: while the server's TLS handshake stalls, a client that keeps sending after its
// ClientHello is held to a bounded buffer: reading pauses, memory stays flat.
TEST_F(HostileTest, BytesWhileTheServerHandshakeStallsAreBounded) {
  // A "TLS server" that accepts and never answers.
  const int listener = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(listen(listener, 16), 0);
  socklen_t len = sizeof(addr);
  getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len);
  const uint16_t stalled = ntohs(addr.sin_port);
  start_proxy();
  RawClient client(proxy_port_);
  ASSERT_TRUE(client.connect_tunnel("localhost:" + std::to_string(stalled)));
  // A real ClientHello (from BoringSSL), then junk, as fast as the proxy takes it.
  bssl::UniquePtr<SSL> ssl = tls_client_on(client, "localhost");
  fcntl(client.fd(), F_SETFL, fcntl(client.fd(), F_GETFL) | O_NONBLOCK);
  EXPECT_EQ(SSL_connect(ssl.get()), -1);  // Would block reading: its hello is out.
  const size_t sent = send_for_three_seconds(client);
  // The kernel's buffers take a few MB; the proxy holds at most its cap beyond them.
  EXPECT_LT(sent, size_t{64} << 20) << "the proxy kept reading";
  EXPECT_LT(test::peak_rss_kib(proxy_->pid()), 64 * 1024);
  client.close();
  ::close(listener);
  EXPECT_EQ(stop_proxy().exit_code, 0);
}

// listening_socket is a loopback listener that never accepts nor answers (a server that
// stalls its handshake); returns its fd and port.
std::pair<int, uint16_t> listening_socket() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  listen(fd, 16);
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  return {fd, ntohs(addr.sin_port)};
}

// Defect 5: every phase has a time limit. With one-second limits: a silent client, a partial
// request head, idle keep-alive connections (plain and TLS) and a half ClientHello are closed,
// each with a flow naming the side and the phase where one was in progress.
TEST_F(HostileTest, ClientSideTimeoutsCloseEveryStalledPhase) {
  const uint16_t origin = start_origin(good_cert_);
  const uint16_t plain = start_origin();
  start_proxy({"--client-handshake-timeout", "1", "--client-idle-timeout", "1.5"});
  const auto t0 = std::chrono::steady_clock::now();
  RawClient silent(proxy_port_);
  RawClient partial(proxy_port_);
  ASSERT_TRUE(partial.send_all("GET http://127.0.0.1:" + std::to_string(plain) +
                               "/ HTTP/1.1\r\nHost: x\r\nUser-Ag"));
  RawClient idle(proxy_port_);
  ASSERT_TRUE(idle.send_all(get_request("http://127.0.0.1:" + std::to_string(plain) + "/")));
  EXPECT_NE(idle.read_until("\r\n\r\nok").find(" 200 "), std::string::npos);
  RawClient half(proxy_port_);
  ASSERT_TRUE(half.connect_tunnel("localhost:" + std::to_string(origin)));
  ASSERT_TRUE(half.send_all(std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11)));
  // An idle TLS connection: a request answered, then nothing.
  RawClient tls_idle(proxy_port_);
  ASSERT_TRUE(tls_idle.connect_tunnel("localhost:" + std::to_string(origin)));
  bssl::UniquePtr<SSL> ssl = tls_client_on(tls_idle, "localhost");
  ASSERT_EQ(SSL_connect(ssl.get()), 1);
  const std::string request = get_request("/");
  ASSERT_GT(SSL_write(ssl.get(), request.data(), static_cast<int>(request.size())), 0);
  char buf[4096];
  ASSERT_GT(SSL_read(ssl.get(), buf, sizeof(buf)), 0);

  std::string answer;
  EXPECT_TRUE(closed_within(silent, 5000));
  EXPECT_TRUE(closed_within(partial, 5000, &answer));
  EXPECT_EQ(answer.rfind("HTTP/1.1 408 ", 0), 0u) << answer;
  EXPECT_TRUE(closed_within(idle, 5000));
  EXPECT_TRUE(closed_within(half, 5000));
  EXPECT_EQ(SSL_read(ssl.get(), buf, sizeof(buf)), 0);  // close_notify, then the close.
  EXPECT_TRUE(closed_within(tls_idle, 5000));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(10));

  EXPECT_EQ(flows_with("client timeout: nothing received within 1 s", 1).size(), 1u);
  EXPECT_EQ(flows_with("client timeout: the request head was not complete within 1 s", 1).size(),
            1u);
  EXPECT_EQ(flows_with("client timeout: the TLS handshake was not complete within 1 s", 1).size(),
            1u);
  EXPECT_EQ(stop_proxy().exit_code, 0);
}

// Defects 5 and 6: a server that stalls its TLS handshake gets a 504 naming the server and the
// phase (not blaming the client); a response that never comes is a 504 whose timings are what
// the client lived through.
TEST_F(HostileTest, ServerSideTimeoutsAnswer504WithTrueTimings) {
  const uint16_t plain = start_origin();
  const auto [stall_fd, stall_port] = listening_socket();
  start_proxy({"--server-handshake-timeout", "1", "--server-response-timeout", "1.5"});
  const auto handshake =
      curl({"-w", "\n%{http_code}", "https://localhost:" + std::to_string(stall_port) + "/"});
  EXPECT_EQ(handshake.out.substr(handshake.out.size() - 3), "504")
      << handshake.out << handshake.err;
  EXPECT_NE(handshake.out.find("server timeout: the TLS handshake with localhost"),
            std::string::npos)
      << handshake.out;
  const auto slow =
      curl({"-w", "\n%{http_code}", "http://127.0.0.1:" + std::to_string(plain) + "/slow?ms=4000"});
  EXPECT_EQ(slow.out.substr(slow.out.size() - 3), "504") << slow.out;
  const std::vector<json> tls = flows_with("server timeout: the TLS handshake", 1);
  ASSERT_EQ(tls.size(), 1u);
  const std::vector<json> late = flows_with("server timeout: no response head within 1.5 s", 1);
  ASSERT_EQ(late.size(), 1u);
  EXPECT_GE(late[0]["time"].get<double>(), 1400.0) << late[0]["timings"];
  EXPECT_GE(late[0]["timings"]["wait"].get<double>(), 1400.0) << late[0]["timings"];
  ::close(stall_fd);
  EXPECT_EQ(stop_proxy().exit_code, 0);
}

// Defect 9: automatic passthrough learns only from a rejected certificate. A TLS 1.0-only
// client, a client that leaves mid-handshake and the proxy's own refusal to mint a leaf fail
// (and are logged as what they are), and interception of the host goes on.
TEST_F(HostileTest, AutoPassthroughLearnsOnlyFromRejectedCertificates) {
  const uint16_t origin = start_origin(good_cert_);
  start_proxy();
  const std::string proxy = "127.0.0.1:" + std::to_string(proxy_port_);
  const std::string target = "localhost:" + std::to_string(origin);
  // TLS 1.0 only.
  run_process({"openssl", "s_client", "-proxy", proxy, "-connect", target, "-servername",
               "localhost", "-tls1", "-cipher", "DEFAULT@SECLEVEL=0"},
              "", std::chrono::seconds(20));
  // Half a ClientHello, then a close.
  {
    RawClient client(proxy_port_);
    ASSERT_TRUE(client.connect_tunnel(target));
    ASSERT_TRUE(client.send_all(std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11)));
  }
  // A name the proxy will not put in a certificate.
  run_process(
      {"openssl", "s_client", "-proxy", proxy, "-connect", target, "-servername", "a/b/../c"}, "",
      std::chrono::seconds(20));
  const std::vector<json> failed = flows_with("", 3);
  // Then a client that trusts the Sightglass CA is still intercepted.
  const ProcessResult ok = curl({"https://" + target + "/"});
  EXPECT_EQ(ok.out, "ok") << ok.err;
  const std::vector<json> flows =
      stop_when_logged([](const std::vector<json>& f) { return f.size() >= 4; });
  bool intercepted = false;
  bool refused = false;
  size_t handshake_failures = 0;
  for (const json& flow : flows) {
    EXPECT_FALSE(flow.contains("_tcp") && flow["_tcp"].value("passthroughLearned", false))
        << flow.dump();
    const std::string error = flow.value("_error", "");
    EXPECT_EQ(error.find("rejected the Sightglass certificate"), std::string::npos) << error;
    refused |= error.find("the proxy refused the TLS handshake for a/b/../c") != std::string::npos;
    handshake_failures += error.find("TLS handshake with the client failed") != std::string::npos;
    if (flow["request"].value("url", "") == "https://" + target + "/") {
      intercepted = flow["response"]["status"] == 200;
    }
  }
  EXPECT_TRUE(refused);
  EXPECT_EQ(handshake_failures, 2u);
  EXPECT_TRUE(intercepted);
}

// Defect 1: with --ignore-hosts, a client that rejects the real server's certificate still
// leaves a logged TCP flow, every time.
TEST_F(HostileTest, PassedThroughConnectionWhoseClientRejectsIsLogged) {
  const uint16_t origin = start_origin(good_cert_);
  start_proxy({"--ignore-hosts", "^localhost:"});
  for (int i = 0; i < 20; ++i) {
    // curl does not trust the origin's CA: it rejects the (real) certificate.
    const ProcessResult r = curl({"https://localhost:" + std::to_string(origin) + "/"});
    EXPECT_EQ(r.exit_code, 60) << r.err;
  }
  const std::vector<json> flows =
      stop_when_logged([](const std::vector<json>& f) { return f.size() >= 20; });
  EXPECT_EQ(flows.size(), 20u);
  for (const json& flow : flows) {
    EXPECT_EQ(flow["_tcp"].value("passthrough", ""), "ignore-hosts") << flow.dump();
  }
}

// Defect 3: out of file descriptors (ulimit -n 64, two loops, 150 clients at once, three
// times), the proxy sheds the excess and says so at most once a second, keeps serving, recovers,
// and exits 0 on SIGTERM.
TEST_F(HostileTest, OutOfFileDescriptorsShedsRecoversAndObeysSigterm) {
  const uint16_t origin = start_origin();
  const std::string binary = std::getenv("SIGHTGLASS_TEST_BINARY") != nullptr
                                 ? std::getenv("SIGHTGLASS_TEST_BINARY")
                                 : SIGHTGLASS_BINARY;
  const std::string command = "ulimit -n 64 && SIGHTGLASS_WORKERS=2 exec '" + binary +
                              "' --confdir '" + confdir().string() + "' -p 0 -w '" +
                              jsonl().string() + "'";
  proxy_ = std::make_unique<test::ChildProcess>(std::vector<std::string>{"/bin/sh", "-c", command});
  const std::string line = proxy_->wait_for_line(true, "listening on");
  ASSERT_FALSE(line.empty());
  proxy_port_ =
      static_cast<uint16_t>(std::stoi(line.substr(line.find(':', line.find("listening on")) + 1)));
  const std::string url = "http://127.0.0.1:" + std::to_string(origin) + "/stall?n=10&total=1000";
  const auto t0 = std::chrono::steady_clock::now();
  for (int round = 0; round < 3; ++round) {
    std::vector<std::unique_ptr<RawClient>> clients;
    for (int i = 0; i < 150; ++i) {
      clients.push_back(std::make_unique<RawClient>(proxy_port_));
      if (clients.back()->ok()) {
        clients.back()->send_all(get_request(url));
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    clients.clear();  // All leave.
  }
  // Serving again once descriptors are back.
  ProcessResult ok;
  for (int i = 0; i < 40; ++i) {
    ok = curl({"--max-time", "3", "http://127.0.0.1:" + std::to_string(origin) + "/"});
    if (ok.out == "ok") {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  EXPECT_EQ(ok.out, "ok") << ok.err;
  const auto seconds =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - t0)
          .count();
  proxy_->signal(SIGTERM);
  const ProcessResult stopped = proxy_->wait(std::chrono::seconds(15));
  EXPECT_EQ(stopped.exit_code, 0) << stopped.err.substr(0, 2000);
  EXPECT_FALSE(stopped.timed_out);
  size_t warnings = 0;
  for (size_t at = stopped.err.find("out of file descriptors"); at != std::string::npos;
       at = stopped.err.find("out of file descriptors", at + 1)) {
    ++warnings;
  }
  EXPECT_GE(warnings, 1u) << stopped.err.substr(0, 2000);
  // At most once a second, per loop.
  EXPECT_LE(warnings, 2u * (static_cast<size_t>(seconds) + 2)) << stopped.err.substr(0, 2000);
}

// Defect 11: a flood of empty DATA frames (CVE-2019-9518) closes the HTTP/2 connection with
// GOAWAY ENHANCE_YOUR_CALM, and the stream's flow says why.
TEST_F(HostileTest, EmptyDataFrameFloodClosesTheHttp2Connection) {
  const uint16_t origin = start_origin();
  start_proxy({"--mode", "reverse:http://127.0.0.1:" + std::to_string(origin)});
  RawClient client(proxy_port_);
  ASSERT_TRUE(client.ok());
  // Prior knowledge: the preface, SETTINGS, then a POST / whose body never comes.
  std::string start = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + h2_frame(4, 0, 0, "");
  // :method POST, :scheme http, :path /, :authority x (literal, indexed name 1).
  start += h2_frame(1, 4, 1, std::string("\x83\x86\x84\x01\x01x", 6));
  ASSERT_TRUE(client.send_all(start));
  const std::string empty_data = h2_frame(0, 0, 1, "");
  std::string batch;
  for (int i = 0; i < 10000; ++i) {
    batch += empty_data;
  }
  for (int batches = 0; batches < 100; ++batches) {  // Up to a million frames.
    if (!client.send_all(batch)) {
      break;  // Closed by the proxy.
    }
  }
  // What the proxy sent: its frames, ending with GOAWAY ENHANCE_YOUR_CALM (0xb), then EOF.
  std::string received;
  EXPECT_TRUE(closed_within(client, 5000, &received));
  bool goaway = false;
  for (size_t at = 0; at + 9 <= received.size();) {
    const size_t length = (static_cast<size_t>(static_cast<uint8_t>(received[at])) << 16) |
                          (static_cast<size_t>(static_cast<uint8_t>(received[at + 1])) << 8) |
                          static_cast<uint8_t>(received[at + 2]);
    if (received[at + 3] == 7 && length >= 8 && at + 9 + 8 <= received.size()) {
      goaway |= static_cast<uint8_t>(received[at + 9 + 7]) == 0x0b;
    }
    at += 9 + length;
  }
  EXPECT_TRUE(goaway);
  // Processing stopped a little past the allowance, not after a million frames.
  const std::vector<json> flows = flows_with("empty DATA frames", 1);
  ASSERT_EQ(flows.size(), 1u);
  const std::string error = flows[0]["_error"];
  const size_t count = std::stoul(error.substr(error.find(" with ") + 6));
  EXPECT_LT(count, 2000u) << error;
  EXPECT_EQ(stop_proxy().exit_code, 0);
}

// Defect 4, HTTP side: an upload sent while the server's connection is still being opened
// (its TLS handshake stalls) is held up to a cap, then the client is not read.
TEST_F(HostileTest, UploadWhileTheServerConnectionOpensIsBounded) {
  const auto [stall_fd, stall_port] = listening_socket();
  start_proxy({"--mode", "reverse:https://localhost:" + std::to_string(stall_port)});
  RawClient client(proxy_port_);
  ASSERT_TRUE(
      client.send_all("POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000000\r\n\r\n"));
  const size_t sent = send_for_three_seconds(client);
  EXPECT_LT(sent, size_t{64} << 20) << "the proxy kept reading";
  EXPECT_LT(test::peak_rss_kib(proxy_->pid()), 64 * 1024);
  client.close();
  ::close(stall_fd);
  EXPECT_EQ(stop_proxy().exit_code, 0);
}

}  // namespace
}  // namespace sightglass
