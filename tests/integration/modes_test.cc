// The capture modes and TLS adaptation end to end: SOCKS5 (RFC 1928/1929), --proxyauth,
// upstream chaining through a second Sightglass, passthrough (--ignore-hosts, --allow-hosts,
// automatic), a leaf named by the upstream certificate for clients without SNI, and ALPN
// mirroring. The real binary, curl, openssl s_client and the Python origin, on 127.0.0.1.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/support/proxy_fixture.h"

namespace sightglass {
namespace {

namespace fs = std::filesystem;
using test::ChildProcess;
using test::ProcessResult;
using test::read_jsonl;
using test::run_process;

class ModesTest : public test::ProxyFixture {
 protected:
  std::string sightglass_ca() const { return (confdir() / "sightglass-ca.pem").string(); }
  std::string proxy_address() const { return "127.0.0.1:" + std::to_string(proxy_port_); }

  // curl_with runs curl with |args| only (no proxy options added).
  static ProcessResult curl_with(std::vector<std::string> args) {
    args.insert(args.begin(), {"curl", "-sS", "--max-time", "30"});
    return run_process(args, "", std::chrono::seconds(60));
  }

  // served_certificate connects through the proxy with openssl s_client and returns the
  // certificate it was shown, as `openssl x509 -text` prints it, and the s_client output.
  std::pair<std::string, std::string> served_certificate(const std::vector<std::string>& extra) {
    std::vector<std::string> argv = {"openssl", "s_client", "-proxy", proxy_address()};
    argv.insert(argv.end(), extra.begin(), extra.end());
    const ProcessResult shown = run_process(argv, "", std::chrono::seconds(30));
    const ProcessResult text =
        run_process({"openssl", "x509", "-noout", "-issuer", "-ext", "subjectAltName"}, shown.out,
                    std::chrono::seconds(30));
    return {text.out, shown.out};
  }

  // subject_of returns a certificate file's subject as `openssl x509 -issuer` would print it.
  static std::string subject_of(const std::filesystem::path& pem) {
    std::string subject =
        run_process({"openssl", "x509", "-noout", "-subject", "-in", pem.string()}).out;
    while (!subject.empty() && subject.back() == '\n') {
      subject.pop_back();
    }
    return subject.starts_with("subject=") ? subject.substr(8) : subject;
  }

  // with_tcp returns the logged flows that are TCP flows.
  static std::vector<test::json> with_tcp(const std::vector<test::json>& flows) {
    std::vector<test::json> out;
    for (const auto& flow : flows) {
      if (flow.contains("_tcp")) {
        out.push_back(flow);
      }
    }
    return out;
  }
};

TEST_F(ModesTest, Socks5ReachesHttpsAndHttpOriginsAndTheMagicHost) {
  const uint16_t tls_port = start_origin(good_cert_);
  const uint16_t plain_port = start_origin();
  start_proxy({"--mode", "socks5"});
  const std::string socks = "127.0.0.1:" + std::to_string(proxy_port_);
  // Names resolved by the proxy (socks5-hostname), and an IPv4 address resolved by curl.
  const auto https = curl_with({"--cacert", sightglass_ca(), "--socks5-hostname", socks,
                                "https://localhost:" + std::to_string(tls_port) + "/echo-raw"});
  EXPECT_EQ(https.exit_code, 0) << https.err;
  EXPECT_NE(https.out.find("GET /echo-raw HTTP/1.1"), std::string::npos) << https.out;
  const auto by_ip = curl_with({"--cacert", sightglass_ca(), "--socks5", socks,
                                "https://127.0.0.1:" + std::to_string(tls_port) + "/x"});
  EXPECT_EQ(by_ip.out, "ok") << by_ip.err;
  const auto plain = curl_with(
      {"--socks5-hostname", socks, "http://localhost:" + std::to_string(plain_port) + "/x"});
  EXPECT_EQ(plain.out, "ok") << plain.err;
  const auto magic = curl_with({"--socks5-hostname", socks, "http://sightglass/cert/pem"});
  EXPECT_EQ(magic.out, test::read_file_bytes(confdir() / "sightglass-ca.pem"));
  EXPECT_EQ(stop_proxy().exit_code, 0);

  const auto flows = read_jsonl(jsonl());
  std::vector<std::string> urls;
  for (const auto& flow : flows) {
    urls.push_back(flow["request"]["url"].get<std::string>());
  }
  EXPECT_NE(std::find(urls.begin(), urls.end(),
                      "https://localhost:" + std::to_string(tls_port) + "/echo-raw"),
            urls.end());
  EXPECT_NE(
      std::find(urls.begin(), urls.end(), "http://localhost:" + std::to_string(plain_port) + "/x"),
      urls.end());
}

TEST_F(ModesTest, Socks5WithCredentialsRefusesWrongOnesPerRfc1929) {
  const uint16_t port = start_origin(good_cert_);
  start_proxy({"--mode", "socks5", "--proxyauth", "alice:s3cret:colon"});
  const std::string url = "https://localhost:" + std::to_string(port) + "/x";
  const auto good = curl_with({"--cacert", sightglass_ca(), "--socks5-hostname",
                               "127.0.0.1:" + std::to_string(proxy_port_), "--proxy-user",
                               "alice:s3cret:colon", url});
  EXPECT_EQ(good.out, "ok") << good.err;
  const auto wrong =
      curl_with({"--cacert", sightglass_ca(), "--socks5-hostname",
                 "127.0.0.1:" + std::to_string(proxy_port_), "--proxy-user", "alice:wrong", url});
  // curl's CURLE_LOGIN_DENIED-like SOCKS error: "User was rejected by the SOCKS5 server (1 1)".
  EXPECT_EQ(wrong.exit_code, 97) << wrong.err;
  EXPECT_NE(wrong.err.find("(1 1)"), std::string::npos) << wrong.err;
  const auto none = curl_with({"--cacert", sightglass_ca(), "--socks5-hostname",
                               "127.0.0.1:" + std::to_string(proxy_port_), url});
  EXPECT_NE(none.exit_code, 0);
  EXPECT_EQ(stop_proxy().exit_code, 0);
  bool logged = false;
  for (const auto& flow : read_jsonl(jsonl())) {
    logged |= flow.value("_error", "").find("wrong username or password") != std::string::npos;
  }
  EXPECT_TRUE(logged);
}

TEST_F(ModesTest, ProxyauthRequiresBasicCredentialsInRegularMode) {
  const uint16_t tls_port = start_origin(good_cert_);
  const uint16_t plain_port = start_origin();
  start_proxy({"--proxyauth", "bob:pw"});
  const std::string plain_url = "http://localhost:" + std::to_string(plain_port) + "/x";
  const std::string tls_url = "https://localhost:" + std::to_string(tls_port) + "/x";
  const auto denied = curl({"-i", plain_url});
  EXPECT_NE(denied.out.find("HTTP/1.1 407"), std::string::npos) << denied.out;
  EXPECT_NE(denied.out.find("Proxy-Authenticate: Basic"), std::string::npos) << denied.out;
  const auto denied_tunnel = curl({tls_url});
  EXPECT_EQ(denied_tunnel.exit_code, 56) << denied_tunnel.err;  // CONNECT answered 407.
  const auto wrong = curl({"--proxy-user", "bob:nope", "-i", plain_url});
  EXPECT_NE(wrong.out.find("HTTP/1.1 407"), std::string::npos) << wrong.out;
  EXPECT_EQ(curl({"--proxy-user", "bob:pw", plain_url}).out, "ok");
  EXPECT_EQ(curl({"--proxy-user", "bob:pw", tls_url}).out, "ok");
  EXPECT_EQ(stop_proxy().exit_code, 0);
  // The credentials never reach the origin, and refused requests are not flows.
  EXPECT_EQ(read_jsonl(jsonl()).size(), 2u);
}

TEST_F(ModesTest, UpstreamModeChainsThroughASecondSightglass) {
  const uint16_t tls_port = start_origin(good_cert_);
  const uint16_t plain_port = start_origin();
  start_proxy();  // The second hop: a regular proxy trusting the origin's CA.
  const fs::path front_conf = dir_.path() / "front-conf";
  const fs::path front_log = dir_.path() / "front.jsonl";
  ChildProcess front({SIGHTGLASS_BINARY, "--confdir", front_conf.string(), "-p", "0", "--mode",
                      "upstream:http://127.0.0.1:" + std::to_string(proxy_port_),
                      "--upstream-trust", sightglass_ca(), "-w", front_log.string()});
  const std::string line = front.wait_for_line(true, "listening on");
  ASSERT_FALSE(line.empty());
  const std::string front_port = line.substr(line.find(':', line.find("listening on")) + 1);
  const std::string front_proxy = "http://127.0.0.1:" + std::to_string(std::stoi(front_port));
  const std::string front_ca = (front_conf / "sightglass-ca.pem").string();

  const auto https = curl_with({"-x", front_proxy, "--cacert", front_ca,
                                "https://localhost:" + std::to_string(tls_port) + "/echo-raw"});
  EXPECT_NE(https.out.find("GET /echo-raw HTTP/1.1"), std::string::npos) << https.err;
  const auto plain = curl_with(
      {"-x", front_proxy, "http://localhost:" + std::to_string(plain_port) + "/echo-raw"});
  // The second proxy got an absolute-form request and sent origin-form to the origin.
  EXPECT_NE(plain.out.find("GET /echo-raw HTTP/1.1"), std::string::npos) << plain.err;
  front.signal(SIGTERM);
  EXPECT_EQ(front.wait(std::chrono::seconds(10)).exit_code, 0);
  EXPECT_EQ(stop_proxy().exit_code, 0);
  // Both hops logged both requests.
  EXPECT_EQ(read_jsonl(front_log).size(), 2u);
  EXPECT_EQ(read_jsonl(jsonl()).size(), 2u);
  for (const auto& flow : read_jsonl(front_log)) {
    EXPECT_EQ(flow["response"]["status"], 200) << flow.dump();
  }
}

TEST_F(ModesTest, IgnoreHostsPassesTlsThroughByteForByte) {
  const uint16_t port = start_origin(good_cert_);
  start_proxy({"--ignore-hosts", "^LOCALHOST:" + std::to_string(port) + "$"});
  // The client sees the origin's own certificate: it trusts only the origin's CA.
  const std::string url = "https://localhost:" + std::to_string(port) + "/bytes?n=300000";
  const auto through = curl({"--cacert", origin_ca_->cert_path().string(), url});
  ASSERT_EQ(through.exit_code, 0) << through.err;
  EXPECT_EQ(test::sha256_of(through.out), test::pattern_sha256(300000));
  const auto [cert, shown] = served_certificate(
      {"-connect", "localhost:" + std::to_string(port), "-servername", "localhost"});
  EXPECT_NE(cert.find("issuer=" + subject_of(origin_ca_->cert_path())), std::string::npos) << cert;
  // Another name for the same server is intercepted.
  EXPECT_EQ(curl({"https://127.0.0.1:" + std::to_string(port) + "/x"}).out, "ok");
  EXPECT_EQ(stop_proxy().exit_code, 0);

  const auto tcp = with_tcp(read_jsonl(jsonl()));
  ASSERT_GE(tcp.size(), 1u);
  EXPECT_EQ(tcp[0]["_tcp"]["passthrough"], "ignore-hosts") << tcp[0].dump();
  EXPECT_EQ(tcp[0]["_tcp"]["sni"], "localhost");
  EXPECT_GT(tcp[0]["_tcp"]["bytesFromServer"].get<int64_t>(), 300000);
  EXPECT_GT(tcp[0]["_tcp"]["bytesFromClient"].get<int64_t>(), 0);
}

TEST_F(ModesTest, AllowHostsInterceptsOnlyMatchingHosts) {
  const uint16_t port = start_origin(good_cert_);
  start_proxy({"--allow-hosts", "^127\\.0\\.0\\.1:"});
  const std::string path = ":" + std::to_string(port) + "/x";
  // 127.0.0.1 is intercepted (the Sightglass CA), localhost passed through (the origin's CA).
  EXPECT_EQ(curl({"https://127.0.0.1" + path}).out, "ok");
  const auto passed =
      curl({"--cacert", origin_ca_->cert_path().string(), "https://localhost" + path});
  EXPECT_EQ(passed.out, "ok") << passed.err;
  EXPECT_EQ(stop_proxy().exit_code, 0);
  const auto tcp = with_tcp(read_jsonl(jsonl()));
  ASSERT_EQ(tcp.size(), 1u);
  EXPECT_EQ(tcp[0]["_tcp"]["passthrough"], "allow-hosts");
}

TEST_F(ModesTest, AutoPassthroughLearnsAHostWhoseClientRejectsTheCa) {
  const uint16_t port = start_origin(good_cert_);
  start_proxy();
  const std::string url = "https://localhost:" + std::to_string(port) + "/x";
  // A client that trusts only the real CA (as a pinning app would) fails once...
  const std::vector<std::string> pinned = {"--cacert", origin_ca_->cert_path().string(), url};
  EXPECT_EQ(curl(pinned).exit_code, 60);
  // ...then reaches the origin untouched.
  const auto second = curl(pinned);
  EXPECT_EQ(second.out, "ok") << second.err;
  const ProcessResult stopped = stop_proxy();
  EXPECT_EQ(stopped.exit_code, 0);
  EXPECT_NE(stopped.err.find("auto-passthrough learned 1 host"), std::string::npos) << stopped.err;
  EXPECT_NE(stopped.err.find("localhost:" + std::to_string(port)), std::string::npos);
  const auto tcp = with_tcp(read_jsonl(jsonl()));
  ASSERT_EQ(tcp.size(), 2u);
  EXPECT_EQ(tcp[0]["_tcp"].value("passthroughLearned", false), true) << tcp[0].dump();
  EXPECT_NE(tcp[0].value("_error", "").find("rejected the Sightglass certificate"),
            std::string::npos);
  EXPECT_EQ(tcp[1]["_tcp"]["passthrough"], "auto-passthrough") << tcp[1].dump();
}

TEST_F(ModesTest, AutoPassthroughLearnsFromAClientThatLeavesRightAfterTheHandshake) {
  const uint16_t port = start_origin(good_cert_);
  start_proxy();
  const std::string target = "localhost:" + std::to_string(port);
  // s_client completes the handshake with our leaf and leaves without a byte.
  const auto first = served_certificate({"-connect", target, "-servername", "localhost"});
  EXPECT_NE(first.first.find("issuer=" + subject_of(sightglass_ca())), std::string::npos);
  const auto second =
      curl({"--cacert", origin_ca_->cert_path().string(), "https://" + target + "/x"});
  EXPECT_EQ(second.out, "ok") << second.err;
  EXPECT_EQ(stop_proxy().exit_code, 0);
  const auto tcp = with_tcp(read_jsonl(jsonl()));
  ASSERT_EQ(tcp.size(), 2u);
  EXPECT_NE(tcp[0].value("_error", "").find("right after the TLS handshake"), std::string::npos)
      << tcp[0].dump();
  EXPECT_EQ(tcp[0]["_tcp"].value("passthroughLearned", false), true);
  EXPECT_EQ(tcp[1]["_tcp"]["passthrough"], "auto-passthrough");
}

TEST_F(ModesTest, NoAutoPassthroughKeepsIntercepting) {
  const uint16_t port = start_origin(good_cert_);
  start_proxy({"--no-auto-passthrough"});
  const std::vector<std::string> pinned = {"--cacert", origin_ca_->cert_path().string(),
                                           "https://localhost:" + std::to_string(port) + "/x"};
  EXPECT_EQ(curl(pinned).exit_code, 60);
  EXPECT_EQ(curl(pinned).exit_code, 60);
  const ProcessResult stopped = stop_proxy();
  EXPECT_EQ(stopped.err.find("auto-passthrough learned"), std::string::npos) << stopped.err;
  for (const auto& flow : read_jsonl(jsonl())) {
    EXPECT_FALSE(flow["_tcp"].contains("passthroughLearned")) << flow.dump();
  }
}

TEST_F(ModesTest, ClientWithoutSniGetsALeafNamedLikeTheUpstreamCertificate) {
  const auto cert = make_cert("named", {"origin.example", "127.0.0.1"}, {});
  const uint16_t port = start_origin(cert);
  start_proxy();
  const auto [text, shown] =
      served_certificate({"-connect", "127.0.0.1:" + std::to_string(port), "-noservername"});
  EXPECT_NE(text.find("DNS:origin.example"), std::string::npos) << text << shown;
  EXPECT_NE(text.find("IP Address:127.0.0.1"), std::string::npos) << text;
  EXPECT_NE(text.find("issuer=" + subject_of(sightglass_ca())), std::string::npos) << text;
  EXPECT_EQ(stop_proxy().exit_code, 0);
}

TEST_F(ModesTest, AlpnFollowsWhatTheUpstreamChose) {
  const uint16_t port = start_origin(good_cert_);  // The origin speaks http/1.1 only.
  // s_client leaves right after the handshake, as a pinning client would: no learning here.
  start_proxy({"--no-auto-passthrough"});
  const std::string target = "localhost:" + std::to_string(port);
  // The offer goes upstream as it came (h2 included); the origin picks http/1.1, so do we.
  const auto mixed = served_certificate({"-connect", target, "-alpn", "h2,http/1.1"});
  EXPECT_NE(mixed.second.find("ALPN protocol: http/1.1"), std::string::npos) << mixed.second;
  // A protocol the origin does not speak: it chose none, and neither do we.
  const auto other = served_certificate({"-connect", target, "-alpn", "imap"});
  EXPECT_NE(other.second.find("No ALPN negotiated"), std::string::npos) << other.second;
  EXPECT_EQ(stop_proxy().exit_code, 0);
}

}  // namespace
}  // namespace sightglass
