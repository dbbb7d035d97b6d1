// `sightglass --mode transparent` on a router between two network namespaces, with the
// redirect rules of scripts/transparent:
//
//   client (198.18.1.2) --c0/r0-- router (198.18.1.1, 198.18.2.1) --r1/o0-- origin (198.18.2.2)
//
// The origin runs tests/support/origin.py on 443 (TLS for origin.test and 198.18.2.2, issued
// by an origin CA made at run time), 80 (plain HTTP) and 7000 (a raw TCP echo). The router
// forwards, runs sightglass on 198.18.1.1 and redirects TCP 80, 443 and 7000 arriving on r0 to
// it with `scripts/transparent --gateway r0 ... --apply`. The client reaches the origin by its
// address: no proxy configured. Needs root and network namespaces; skipped otherwise.
#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/netns.h"
#include "tests/support/netns_fixture.h"
#include "tests/support/process.h"
#include "tests/support/proxy_fixture.h"

namespace sightglass {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using test::ChildProcess;
using test::NetnsLab;
using test::ProcessResult;
using test::run_process;

constexpr char kClientIp[] = "198.18.1.2";
constexpr char kRouterClientSideIp[] = "198.18.1.1";
constexpr char kRouterOriginSideIp[] = "198.18.2.1";
constexpr char kOriginIp[] = "198.18.2.2";
constexpr char kRouterClientSideIf[] = "r0";
constexpr char kEchoPort[] = "7000";
constexpr char kH2cPort[] = "7080";  // nghttpd --no-tls, started by the test that uses it.

std::string script_path() { return std::string(SIGHTGLASS_SOURCE_DIR) + "/scripts/transparent"; }
std::string origin_py() { return std::string(SIGHTGLASS_SOURCE_DIR) + "/tests/support/origin.py"; }

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

size_t count_of(const std::string& haystack, const std::string& needle) {
  size_t n = 0;
  for (size_t at = haystack.find(needle); at != std::string::npos;
       at = haystack.find(needle, at + needle.size())) {
    ++n;
  }
  return n;
}

// A client that sends |argv[3]| bytes of a binary pattern (not TLS, not HTTP) to
// argv[1]:argv[2] while reading the echo, closes once all of it came back, and prints
// "ECHOED <bytes received> <equal>".
constexpr char kEchoClient[] = R"py(
import socket, sys, threading
host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
payload = b"\x00\x01\x02sightglass\xff" + bytes((i * 7 + 3) % 256 for i in range(n - 14))
s = socket.create_connection((host, port), timeout=20)
def send():
    for i in range(0, len(payload), 4096):
        s.sendall(payload[i:i + 4096])
sender = threading.Thread(target=send)
sender.start()
got = b""
while len(got) < len(payload):
    data = s.recv(65536)
    if not data:
        break
    got += data
sender.join()
s.close()
print("ECHOED", len(got), got == payload)
)py";

// A client that sends an HTTP request to argv[1]:argv[2] and reports how the connection
// ended: "CLOSED <n>" (EOF after n bytes), "RESET <n>" or "TIMEOUT <n>".
constexpr char kLoopClient[] = R"py(
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=15)
s.sendall(b"GET /loop HTTP/1.1\r\nHost: loop.test\r\n\r\n")
got = b""
try:
    while True:
        data = s.recv(65536)
        if not data:
            print("CLOSED", len(got), got[:200])
            break
        got += data
except ConnectionResetError:
    print("RESET", len(got), got[:200])
except socket.timeout:
    print("TIMEOUT", len(got), got[:200])
)py";

// A stand-in for the proxy: answers every connection with its SO_ORIGINAL_DST and closes.
constexpr char kOriginalDstServer[] = R"py(
import socket, struct, sys
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind((sys.argv[1], 0))
srv.listen(16)
print("PORT", srv.getsockname()[1], flush=True)
while True:
    conn, _ = srv.accept()
    raw = conn.getsockopt(socket.SOL_IP, 80, 16)  # SO_ORIGINAL_DST: a sockaddr_in.
    port, = struct.unpack("!H", raw[2:4])
    conn.sendall(("%s:%d\n" % (socket.inet_ntoa(raw[4:8]), port)).encode())
    conn.close()
)py";

class TransparentTest : public test::NetnsHubFixture {
 protected:
  void SetUp() override {
    set_up_hub({"client", "c0", std::string(kClientIp) + "/24", kRouterClientSideIf,
                std::string(kRouterClientSideIp) + "/24"},
               "router",
               {"origin", "o0", std::string(kOriginIp) + "/24", "r1",
                std::string(kRouterOriginSideIp) + "/24"});
    if (IsSkipped() || HasFatalFailure()) {
      return;
    }
    client_ = left_;
    router_ = hub_;
    origin_ = right_;
    ASSERT_TRUE(lab_->add_default_route(client_, kRouterClientSideIp)) << lab_->error();
    ASSERT_TRUE(lab_->add_default_route(origin_, kRouterOriginSideIp)) << lab_->error();

    origin_cert_ = make_cert("origin", {"origin.test", kOriginIp}, {});
    // Started together, then awaited: each takes a Python start-up.
    start_in_origin({"--cert", origin_cert_.first.string(), "--key", origin_cert_.second.string(),
                     "--port", "443"});
    start_in_origin({"--port", "80"});
    start_in_origin({"--echo", "--port", kEchoPort});
    for (const auto& origin : children_) {
      ASSERT_FALSE(origin->wait_for_line(false, "PORT ").empty())
          << "origin.py did not start: " << origin->wait(std::chrono::seconds(5)).err;
    }
  }

  void TearDown() override {
    if (proxy_ns_) {
      proxy_ns_->signal(SIGTERM);
      const ProcessResult r = proxy_ns_->wait(std::chrono::seconds(10));
      if (HasFailure()) {
        std::cerr << "--- sightglass (exit " << r.exit_code << ") stderr:\n"
                  << r.err << "--- flows:\n";
        for (const json& flow : test::read_jsonl_so_far(jsonl())) {
          std::cerr << flow.dump() << "\n";
        }
      }
    }
    // Processes first, then the namespaces they run in.
    proxy_ns_.reset();
    children_.clear();
    lab_.reset();
  }

  // start_in_origin starts origin.py on 0.0.0.0 in the origin namespace (it prints "PORT n"
  // once listening).
  void start_in_origin(std::vector<std::string> args) {
    std::vector<std::string> argv = {"/usr/bin/python3", origin_py(), "--host", "0.0.0.0"};
    argv.insert(argv.end(), args.begin(), args.end());
    children_.push_back(std::make_unique<ChildProcess>(NetnsLab::exec(origin_, argv)));
  }

  // start_transparent_proxy starts sightglass in the router on its client-side address, then
  // applies scripts/transparent there for its port.
  void start_transparent_proxy() {
    proxy_ns_ = std::make_unique<ChildProcess>(NetnsLab::exec(
        router_, {SIGHTGLASS_BINARY, "--mode", "transparent", "--listen-host", kRouterClientSideIp,
                  "-p", "0", "--confdir", confdir().string(), "--upstream-trust",
                  origin_ca_->cert_path().string(), "-w", jsonl().string()}));
    const std::string line = proxy_ns_->wait_for_line(true, "listening on");
    if (line.empty()) {
      const ProcessResult r = proxy_ns_->wait(std::chrono::seconds(10));
      proxy_ns_.reset();
      FAIL() << "sightglass --mode transparent did not start (exit " << r.exit_code
             << "): " << r.err;
    }
    proxy_port_ = static_cast<uint16_t>(std::stoi(line.substr(line.rfind(':') + 1)));
    ASSERT_NO_FATAL_FAILURE(apply_rules(proxy_port_));
  }

  // apply_rules runs scripts/transparent --gateway r0 ... --apply in the router.
  void apply_rules(uint16_t port) {
    const ProcessResult r = router(
        {script_path(), "--gateway", kRouterClientSideIf, "--proxy-port", std::to_string(port),
         "--ports", std::string("80,443,") + kEchoPort + "," + kH2cPort, "--apply"});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  }

  ProcessResult client(const std::vector<std::string>& argv) {
    return NetnsLab::run(client_, argv, "", std::chrono::seconds(40));
  }
  ProcessResult router(const std::vector<std::string>& argv) {
    return NetnsLab::run(router_, argv, "", std::chrono::seconds(40));
  }
  // curl runs curl in the client namespace (origin.test resolving to the origin's address).
  ProcessResult curl(std::vector<std::string> args) {
    std::vector<std::string> argv = {"curl",       "-sS",
                                     "--max-time", "20",
                                     "--resolve",  std::string("origin.test:443:") + kOriginIp,
                                     "--resolve",  std::string("origin.test:80:") + kOriginIp};
    argv.insert(argv.end(), args.begin(), args.end());
    return client(argv);
  }
  std::string sightglass_ca() const { return (confdir() / "sightglass-ca.pem").string(); }

  // wait_for_flow polls the log until a flow satisfies |match|.
  std::optional<json> wait_for_flow(const std::function<bool(const json&)>& match,
                                    std::chrono::seconds timeout = std::chrono::seconds(15)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    do {
      for (const json& flow : test::read_jsonl_so_far(jsonl())) {
        if (match(flow)) {
          return flow;
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    } while (std::chrono::steady_clock::now() < deadline);
    return std::nullopt;
  }

  static std::string url_of(const json& flow) {
    return flow.value("/request/url"_json_pointer, std::string());
  }

  std::string client_, router_, origin_;
  std::pair<fs::path, fs::path> origin_cert_;
  std::vector<std::unique_ptr<ChildProcess>> children_;
  std::unique_ptr<ChildProcess> proxy_ns_;
};

// The script and the topology without the proxy: a stand-in listener in the router gets the
// redirected connections and sees their original destinations.
TEST_F(TransparentTest, ScriptRedirectsToTheListenerWithTheOriginalDestination) {
  children_.push_back(std::make_unique<ChildProcess>(NetnsLab::exec(
      router_, {"/usr/bin/python3", "-c", kOriginalDstServer, kRouterClientSideIp})));
  const std::string line = children_.back()->wait_for_line(false, "PORT ");
  ASSERT_FALSE(line.empty());
  ASSERT_NO_FATAL_FAILURE(apply_rules(static_cast<uint16_t>(std::stoi(line.substr(5)))));
  for (const std::string port : {"80", "443", kEchoPort}) {
    const ProcessResult r =
        client({"/usr/bin/python3", "-c",
                "import socket, sys; s = socket.create_connection((sys.argv[1], int(sys.argv[2])), "
                "timeout=20); print(s.makefile().readline().strip())",
                kOriginIp, port});
    EXPECT_EQ(r.out, std::string(kOriginIp) + ":" + port + "\n") << r.err;
  }
  // Other ports go through the router untouched (it forwards): the origin itself refuses 22.
  const ProcessResult other = client({"/usr/bin/python3", "-c",
                                      "import socket, sys; socket.create_connection((sys.argv[1], "
                                      "22), timeout=5)",
                                      kOriginIp});
  EXPECT_TRUE(contains(other.err, "ConnectionRefused")) << other.err;
}

// a. HTTPS by name: the client trusts only the Sightglass CA and gets the origin's answer.
TEST_F(TransparentTest, HttpsWithSniIsInterceptedWithALeafForTheName) {
  ASSERT_NO_FATAL_FAILURE(start_transparent_proxy());
  const ProcessResult r =
      curl({"--cacert", sightglass_ca(), "-w", "\n%{http_code}", "https://origin.test/echo-raw"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "GET /echo-raw HTTP/1.1\r\nHost: origin.test\r\n")) << r.out;
  EXPECT_TRUE(r.out.ends_with("\n200")) << r.out;
  const auto flow =
      wait_for_flow([](const json& f) { return url_of(f) == "https://origin.test/echo-raw"; });
  ASSERT_TRUE(flow.has_value()) << "no flow for https://origin.test/echo-raw";
  EXPECT_EQ((*flow)["response"]["status"], 200);
  EXPECT_EQ(flow->value("/_tls/client/sni"_json_pointer, std::string()), "origin.test");
  EXPECT_EQ(flow->value("serverIPAddress", std::string()), kOriginIp);
  EXPECT_TRUE(flow->value("/_clientAddress"_json_pointer, std::string())
                  .starts_with(std::string(kClientIp) + ":"))
      << flow->dump();
}

// b. HTTPS without SNI: the proxy asks the origin first and names the leaf like its
// certificate (DNS origin.test and the IP).
TEST_F(TransparentTest, HttpsWithoutSniGetsALeafNamedLikeTheUpstreamCertificate) {
  ASSERT_NO_FATAL_FAILURE(start_transparent_proxy());
  // curl by address (no SNI for an IP literal) verifies the leaf's IP name.
  const ProcessResult r = curl({"--cacert", sightglass_ca(), "-w", "\n%{http_code}",
                                "https://" + std::string(kOriginIp) + "/echo-raw"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(r.out.ends_with("\n200")) << r.out;
  const auto flow = wait_for_flow([](const json& f) {
    return url_of(f).ends_with("/echo-raw") && f.value("/response/status"_json_pointer, 0) == 200;
  });
  ASSERT_TRUE(flow.has_value()) << "no flow for the request without SNI";
  EXPECT_EQ(flow->value("/_tls/client/sni"_json_pointer, std::string()), "") << flow->dump();

  // openssl s_client without SNI prints the leaf it is served. It sends a request and reads
  // the answer: a client that closes right after the handshake without a word looks like one
  // that pins certificates, which the proxy answers with passthrough (auto-passthrough).
  const ProcessResult s_client = NetnsLab::run(
      client_,
      {"openssl", "s_client", "-connect", std::string(kOriginIp) + ":443", "-noservername",
       "-CAfile", sightglass_ca(), "-verify_return_error", "-ign_eof"},
      "GET /s_client HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", std::chrono::seconds(40));
  ASSERT_EQ(s_client.exit_code, 0) << s_client.out << s_client.err;
  EXPECT_TRUE(contains(s_client.out, "Verify return code: 0 (ok)")) << s_client.out;
  EXPECT_TRUE(contains(s_client.out, "HTTP/1.1 200")) << s_client.out;
  const size_t begin = s_client.out.find("-----BEGIN CERTIFICATE-----");
  const size_t end = s_client.out.find("-----END CERTIFICATE-----");
  ASSERT_TRUE(begin != std::string::npos && end != std::string::npos) << s_client.out;
  const fs::path leaf = dir_.path() / "served-leaf.pem";
  ASSERT_TRUE(test::write_file_bytes(leaf, s_client.out.substr(begin, end + 25 - begin) + "\n"));
  const ProcessResult san =
      run_process({"openssl", "x509", "-noout", "-ext", "subjectAltName", "-in", leaf.string()});
  ASSERT_EQ(san.exit_code, 0) << san.err;
  EXPECT_TRUE(contains(san.out, "DNS:origin.test")) << san.out;
  EXPECT_TRUE(contains(san.out, std::string("IP Address:") + kOriginIp)) << san.out;
  const ProcessResult issuer =
      run_process({"openssl", "x509", "-noout", "-issuer", "-in", leaf.string()});
  const ProcessResult ca_subject =
      run_process({"openssl", "x509", "-noout", "-subject", "-in", sightglass_ca()});
  EXPECT_EQ(issuer.out.substr(issuer.out.find('=') + 1),
            ca_subject.out.substr(ca_subject.out.find('=') + 1));
}

// c. Plain HTTP: the flow is named by the Host header.
TEST_F(TransparentTest, PlainHttpIsLoggedWithTheHostName) {
  ASSERT_NO_FATAL_FAILURE(start_transparent_proxy());
  const ProcessResult r = curl({"-w", "\n%{http_code}", "http://origin.test/x"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "ok\n200");
  const auto flow =
      wait_for_flow([](const json& f) { return url_of(f) == "http://origin.test/x"; });
  ASSERT_TRUE(flow.has_value()) << "no flow for http://origin.test/x";
  EXPECT_EQ((*flow)["response"]["status"], 200);
  EXPECT_FALSE(flow->contains("_tls")) << flow->dump();
  EXPECT_EQ(flow->value("serverIPAddress", std::string()), kOriginIp);
}

// Cleartext HTTP/2 with prior knowledge to the original destination: nghttpd --no-tls speaks
// only h2c (an HTTP/1.1 request gets a GOAWAY), so a 200 proves HTTP/2 on both sides.
TEST_F(TransparentTest, CleartextH2WithPriorKnowledgeIsHttp2BothSides) {
  if (test::find_program("nghttpd").empty()) {
    GTEST_SKIP() << "nghttpd is not installed (Debian package nghttp2-server)";
  }
  const fs::path docroot = dir_.path() / "htdocs";
  fs::create_directories(docroot);
  std::ofstream(docroot / "hello.txt") << "hello over h2c\n";
  children_.push_back(std::make_unique<ChildProcess>(NetnsLab::exec(
      origin_, {"nghttpd", "-a", "0.0.0.0", "--no-tls", "-d", docroot.string(), kH2cPort})));
  const ProcessResult up =
      NetnsLab::run(origin_,
                    {"/usr/bin/python3", "-c",
                     "import socket, sys, time\n"
                     "for _ in range(100):\n"
                     "  try: socket.create_connection((sys.argv[1], int(sys.argv[2])), "
                     "timeout=1); sys.exit(0)\n"
                     "  except OSError: time.sleep(0.05)\n"
                     "sys.exit(1)",
                     "127.0.0.1", kH2cPort},
                    "", std::chrono::seconds(20));
  ASSERT_EQ(up.exit_code, 0) << "nghttpd did not start: " << up.err;
  ASSERT_NO_FATAL_FAILURE(start_transparent_proxy());
  const std::string url = std::string("http://origin.test:") + kH2cPort + "/hello.txt";
  const ProcessResult r =
      curl({"--resolve", std::string("origin.test:") + kH2cPort + ":" + kOriginIp,
            "--http2-prior-knowledge", "-w", "\n%{http_version} %{http_code}", url});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "hello over h2c\n\n2 200");
  const auto flow = wait_for_flow([&](const json& f) { return url_of(f) == url; });
  ASSERT_TRUE(flow.has_value()) << "no flow for " << url;
  EXPECT_EQ((*flow)["request"]["httpVersion"], "HTTP/2.0");
  EXPECT_EQ((*flow)["response"]["status"], 200);
  EXPECT_EQ(flow->value("serverIPAddress", std::string()), kOriginIp);
}

// d. Neither TLS nor HTTP: relayed byte for byte and logged as a TCP flow with the counts.
TEST_F(TransparentTest, OtherTcpIsRelayedAndLoggedWithByteCounts) {
  ASSERT_NO_FATAL_FAILURE(start_transparent_proxy());
  constexpr int kBytes = 100000;
  const ProcessResult r =
      client({"/usr/bin/python3", "-c", kEchoClient, kOriginIp, kEchoPort, std::to_string(kBytes)});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "ECHOED " + std::to_string(kBytes) + " True\n") << r.err;
  const std::string url = "tcp://" + std::string(kOriginIp) + ":" + kEchoPort;
  const auto flow = wait_for_flow([&](const json& f) { return url_of(f) == url; });
  ASSERT_TRUE(flow.has_value()) << "no flow for " << url;
  EXPECT_EQ((*flow)["request"]["method"], "CONNECT");
  EXPECT_EQ(flow->value("/_tcp/bytesFromClient"_json_pointer, -1), kBytes) << flow->dump();
  EXPECT_EQ(flow->value("/_tcp/bytesFromServer"_json_pointer, -1), kBytes) << flow->dump();
  EXPECT_FALSE(flow->contains("_error")) << flow->dump();
}

// e. A connection straight to the proxy's listener (not redirected) would make the proxy
// connect to itself: it is refused and logged, and the proxy goes on serving.
TEST_F(TransparentTest, ConnectionToTheListenerItselfIsRefusedAsARedirectLoop) {
  ASSERT_NO_FATAL_FAILURE(start_transparent_proxy());
  const ProcessResult r = client(
      {"/usr/bin/python3", "-c", kLoopClient, kRouterClientSideIp, std::to_string(proxy_port_)});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(r.out.starts_with("CLOSED") || r.out.starts_with("RESET")) << r.out;
  const auto flow = wait_for_flow(
      [](const json& f) { return contains(f.value("_error", std::string()), "redirect loop"); });
  ASSERT_TRUE(flow.has_value()) << "no flow with a redirect loop error";
  EXPECT_TRUE(flow->value("_clientAddress", std::string()).starts_with(std::string(kClientIp)))
      << flow->dump();
  // The proxy did not connect to itself: no flow comes from the router's own address, and the
  // loop was logged once.
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  int loops = 0;
  for (const json& f : test::read_jsonl_so_far(jsonl())) {
    EXPECT_FALSE(f.value("_clientAddress", std::string()).starts_with(kRouterClientSideIp))
        << f.dump();
    loops += contains(f.value("_error", std::string()), "redirect loop") ? 1 : 0;
  }
  EXPECT_EQ(loops, 1);
  // And it keeps serving.
  const ProcessResult later =
      curl({"--cacert", sightglass_ca(), "-w", "\n%{http_code}", "https://origin.test/after"});
  ASSERT_EQ(later.exit_code, 0) << later.err;
  EXPECT_EQ(later.out, "ok\n200");
}

// f. --apply twice does not duplicate; --undo removes exactly the chain and its jump, twice
// in a row; afterwards the client reaches the origin directly through the forwarding router.
TEST_F(TransparentTest, ScriptApplyIsIdempotentAndUndoRemovesTheRules) {
  ASSERT_NO_FATAL_FAILURE(start_transparent_proxy());
  const ProcessResult intercepted = curl({"--cacert", sightglass_ca(), "-o", "/dev/null", "-w",
                                          "%{http_code}", "https://origin.test/"});
  EXPECT_EQ(intercepted.out, "200") << intercepted.err;
  ASSERT_NO_FATAL_FAILURE(apply_rules(proxy_port_));
  for (const char* save : {"iptables-save", "ip6tables-save"}) {
    const ProcessResult rules = router({save, "-t", "nat"});
    ASSERT_EQ(rules.exit_code, 0) << rules.err;
    EXPECT_EQ(count_of(rules.out, "-j SIGHTGLASS"), 1u) << rules.out;
    EXPECT_EQ(count_of(rules.out, "-j REDIRECT"), 1u) << rules.out;
    EXPECT_TRUE(contains(rules.out, "-A PREROUTING -i r0 -p tcp -j SIGHTGLASS")) << rules.out;
  }
  // Someone else's rule stays.
  ASSERT_EQ(
      router({"iptables", "-t", "nat", "-A", "OUTPUT", "-p", "udp", "-j", "ACCEPT"}).exit_code, 0);
  for (int i = 0; i < 2; ++i) {
    const ProcessResult undo = router({script_path(), "--undo"});
    ASSERT_EQ(undo.exit_code, 0) << "--undo #" << i + 1 << ": " << undo.err;
    for (const char* save : {"iptables-save", "ip6tables-save"}) {
      const ProcessResult rules = router({save, "-t", "nat"});
      ASSERT_EQ(rules.exit_code, 0) << rules.err;
      EXPECT_FALSE(contains(rules.out, "SIGHTGLASS")) << rules.out;
      EXPECT_FALSE(contains(rules.out, "REDIRECT")) << rules.out;
    }
  }
  EXPECT_TRUE(contains(router({"iptables-save", "-t", "nat"}).out, "-A OUTPUT -p udp -j ACCEPT"));
  // Not intercepted any more: the origin's own certificate reaches the client.
  const ProcessResult direct = curl({"--cacert", origin_ca_->cert_path().string(), "-w",
                                     "\n%{http_code}", "https://origin.test/"});
  EXPECT_EQ(direct.exit_code, 0) << direct.err;
  EXPECT_EQ(direct.out, "ok\n200");
  const ProcessResult distrusted = curl({"--cacert", sightglass_ca(), "https://origin.test/"});
  EXPECT_NE(distrusted.exit_code, 0) << distrusted.out;
}

// g. The other setup, this machine's own traffic of one user (nat OUTPUT): in the client
// namespace, with the proxy running as root there, user nobody's connections are intercepted;
// redirecting root's as well sends the proxy's own upstream connections back to it, a loop
// that it refuses (the client gets a 502) instead of connecting to itself forever.
TEST_F(TransparentTest, UserSetupInterceptsOneUserAndRefusesTheProxysOwnConnections) {
  if (test::find_program("setpriv").empty()) {
    GTEST_SKIP() << "setpriv (util-linux) is not installed";
  }
  // No rules in the router this time; it only forwards.
  ASSERT_TRUE(lab_->set_sysctl(router_, "net.ipv4.ip_forward", "1")) << lab_->error();
  proxy_ns_ = std::make_unique<ChildProcess>(NetnsLab::exec(
      client_,
      {SIGHTGLASS_BINARY, "--mode", "transparent", "-p", "0", "--confdir", confdir().string(),
       "--upstream-trust", origin_ca_->cert_path().string(), "-w", jsonl().string()}));
  const std::string line = proxy_ns_->wait_for_line(true, "listening on");
  ASSERT_FALSE(line.empty()) << proxy_ns_->wait(std::chrono::seconds(10)).err;
  EXPECT_TRUE(contains(line, "127.0.0.1:")) << line;
  const std::string port = std::to_string(std::stoi(line.substr(line.rfind(':') + 1)));
  const auto apply = [&](const std::string& user) {
    return NetnsLab::run(client_, {script_path(), "--user", user, "--proxy-port", port, "--ports",
                                   "80,443", "--apply"});
  };
  const ProcessResult applied = apply("nobody");
  ASSERT_EQ(applied.exit_code, 0) << applied.err;
  // nobody must read the CA: a copy outside the private confdir.
  fs::permissions(dir_.path(), fs::perms::others_exec, fs::perm_options::add);
  const fs::path ca = dir_.path() / "sightglass-ca-public.pem";
  ASSERT_TRUE(test::write_file_bytes(ca, test::read_file_bytes(sightglass_ca())));
  fs::permissions(ca, fs::perms::others_read, fs::perm_options::add);
  const std::vector<std::string> as_nobody = {"setpriv",
                                              "--reuid=65534",
                                              "--regid=65534",
                                              "--clear-groups",
                                              "curl",
                                              "-sS",
                                              "--max-time",
                                              "20",
                                              "--resolve",
                                              std::string("origin.test:443:") + kOriginIp,
                                              "--cacert",
                                              ca.string(),
                                              "-w",
                                              "\n%{http_code}"};
  std::vector<std::string> argv = as_nobody;
  argv.push_back("https://origin.test/as-nobody");
  const ProcessResult nobody = client(argv);
  ASSERT_EQ(nobody.exit_code, 0) << nobody.err;
  EXPECT_EQ(nobody.out, "ok\n200");
  EXPECT_TRUE(wait_for_flow([](const json& f) {
                return url_of(f) == "https://origin.test/as-nobody" &&
                       f.value("/response/status"_json_pointer, 0) == 200;
              }).has_value());
  // root is not redirected yet: the origin's own certificate arrives.
  const ProcessResult root_direct = curl({"--cacert", origin_ca_->cert_path().string(), "-w",
                                          "\n%{http_code}", "https://origin.test/as-root"});
  EXPECT_EQ(root_direct.out, "ok\n200") << root_direct.err;

  ASSERT_EQ(apply("root").exit_code, 0);
  const ProcessResult loop = curl({"-w", "\n%{http_code}", "http://origin.test/loop"});
  EXPECT_TRUE(loop.out.ends_with("\n502")) << loop.out << loop.err;
  const auto refused = wait_for_flow(
      [](const json& f) { return contains(f.value("_error", std::string()), "redirect loop"); });
  ASSERT_TRUE(refused.has_value()) << "no flow with a redirect loop error";
  EXPECT_TRUE(wait_for_flow([](const json& f) {
                return url_of(f) == "http://origin.test/loop" && f.contains("_error");
              }).has_value());
  // Refused at the first turn: the only flow for the URL is curl's; a second one would be the
  // proxy's own upstream connection served as a client before it was recognised.
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  int served = 0;
  int loops = 0;
  for (const json& f : test::read_jsonl_so_far(jsonl())) {
    served += url_of(f) == "http://origin.test/loop" ? 1 : 0;
    loops += contains(f.value("_error", std::string()), "redirect loop") ? 1 : 0;
  }
  EXPECT_EQ(served, 1) << "the proxy served its own redirected upstream connection as a client";
  EXPECT_EQ(loops, 1);
  const ProcessResult undo = NetnsLab::run(client_, {script_path(), "--undo"});
  EXPECT_EQ(undo.exit_code, 0) << undo.err;
}

// NetnsLab itself: everything goes, also when an assertion fails inside its scope, and
// namespaces of a dead earlier run are removed.
std::vector<std::string> g_doomed;

void FailWithALab() {
  NetnsLab lab;
  g_doomed.push_back(lab.add_namespace("doomed"));
  ASSERT_FALSE(g_doomed.back().empty()) << lab.error();
  FAIL() << "deliberate failure with a namespace alive";
}

TEST(NetnsLabTest, RemovesItsNamespacesAndThoseOfDeadRuns) {
  std::string why;
  if (!NetnsLab::available(&why)) {
    GTEST_SKIP() << "network namespaces unavailable: " << why;
  }
  const auto listed = [](const std::string& ns) {
    for (const std::string& name : NetnsLab::list_namespaces()) {
      if (name == ns) {
        return true;
      }
    }
    return false;
  };
  // A namespace left by a run whose process is gone (a pid above pid_max never exists),
  // with a process still inside.
  std::ifstream pid_max_file("/proc/sys/kernel/pid_max");
  long pid_max = 0;
  pid_max_file >> pid_max;
  ASSERT_GT(pid_max, 0);
  const std::string stale = std::string(NetnsLab::kPrefix) + std::to_string(pid_max + 1) + "-0-x";
  ASSERT_EQ(run_process({"ip", "netns", "add", stale}).exit_code, 0);
  ChildProcess stale_sleeper(NetnsLab::exec(stale, {"sleep", "600"}));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // Inside by now.
  // (Not asserted listed here: a lab of a test running in parallel may remove it first.)

  std::unique_ptr<ChildProcess> sleeper;
  std::string a;
  std::string b;
  {
    NetnsLab lab;
    EXPECT_FALSE(listed(stale)) << "the stale namespace survived";
    a = lab.add_namespace("a");
    b = lab.add_namespace("b");
    ASSERT_FALSE(a.empty() || b.empty()) << lab.error();
    EXPECT_TRUE(a.find("-" + std::to_string(getpid()) + "-") != std::string::npos) << a;
    ASSERT_TRUE(lab.add_link(a, "x0", "198.18.9.1/24", b, "y0", "198.18.9.2/24")) << lab.error();
    const ProcessResult addr = NetnsLab::run(b, {"ip", "-o", "addr", "show", "y0"});
    EXPECT_TRUE(contains(addr.out, "198.18.9.2/24")) << addr.out << addr.err;
    const ProcessResult reach =
        NetnsLab::run(a, {"/usr/bin/python3", "-c",
                          "import socket; socket.create_connection(('198.18.9.2', 9), timeout=5)"});
    EXPECT_TRUE(contains(reach.err, "ConnectionRefused")) << reach.err;  // b answered RST.
    sleeper = std::make_unique<ChildProcess>(NetnsLab::exec(a, {"sleep", "600"}));
    ASSERT_TRUE(sleeper->started());
    bool inside = false;
    for (int i = 0; i < 100 && !inside; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      inside = contains(run_process({"ip", "netns", "pids", a}).out,
                        std::to_string(sleeper->pid()) + "\n");
    }
    ASSERT_TRUE(inside);
  }
  EXPECT_FALSE(listed(a));
  EXPECT_FALSE(listed(b));
  // The process inside was killed with its namespace.
  const ProcessResult ended = sleeper->wait(std::chrono::seconds(5));
  EXPECT_FALSE(ended.timed_out);
  EXPECT_EQ(ended.exit_code, -1);  // Killed.
  EXPECT_EQ(stale_sleeper.wait(std::chrono::seconds(5)).timed_out, false);

  EXPECT_FATAL_FAILURE(FailWithALab(), "deliberate failure");
  ASSERT_EQ(g_doomed.size(), 1u);
  EXPECT_FALSE(g_doomed[0].empty());
  EXPECT_FALSE(listed(g_doomed[0]));
}

}  // namespace
}  // namespace sightglass
