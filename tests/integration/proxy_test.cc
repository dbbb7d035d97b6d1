// The real `sightglass` binary between real curl and a real origin (tests/support/origin.py),
// all on 127.0.0.1 with port 0.
#include <brotli/encode.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <signal.h>
#include <sys/stat.h>
#include <zlib.h>
#include <zstd.h>

#include <array>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "tests/support/proxy_fixture.h"

namespace sightglass {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using test::ChildProcess;
using test::pattern_sha256;
using test::peak_rss_kib;
using test::ProcessResult;
using test::read_file_bytes;
using test::read_jsonl;
using test::run_process;
using test::sha256_of;
using test::TempDir;
using test::write_file_bytes;

class ProxyTest : public test::ProxyFixture {};

TEST_F(ProxyTest, MethodsAreByteExactOverHttpsAndHttp) {
  const uint16_t tls_port = start_origin(good_cert_);
  const uint16_t plain_port = start_origin();
  start_proxy();
  const std::string upload(300000, 'u');
  ASSERT_TRUE(write_file_bytes(dir_.path() / "upload.bin", upload));
  for (const std::string& base : {"https://localhost:" + std::to_string(tls_port),
                                  "http://127.0.0.1:" + std::to_string(plain_port)}) {
    const auto get = curl({base + "/bytes?n=200000"});
    ASSERT_EQ(get.exit_code, 0) << get.err;
    EXPECT_EQ(sha256_of(get.out), pattern_sha256(200000)) << base;
    const auto head = curl({"-I", base + "/bytes?n=200000"});
    EXPECT_EQ(head.exit_code, 0) << head.err;
    EXPECT_NE(head.out.find("Content-Length: 200000"), std::string::npos) << head.out;
    for (const char* method : {"POST", "PUT"}) {
      const auto post = curl({"-X", method, "--data-binary",
                              "@" + (dir_.path() / "upload.bin").string(), base + "/upload"});
      ASSERT_EQ(post.exit_code, 0) << post.err;
      const json answer = json::parse(post.out);
      EXPECT_EQ(answer["size"], upload.size());
      EXPECT_EQ(answer["sha256"], sha256_of(upload));
    }
    const auto del = curl({"-X", "DELETE", base + "/thing"});
    EXPECT_EQ(del.out, "ok");
  }
  const auto result = stop_proxy();
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(read_jsonl(jsonl()).size(), 10u);
}

TEST_F(ProxyTest, KeepAliveChunkedAndExpectContinue) {
  const uint16_t port = start_origin(good_cert_);
  start_proxy();
  const std::string base = "https://localhost:" + std::to_string(port);
  // Two requests on one client connection: the second connects nothing.
  const auto two = curl(
      {"-o", "/dev/null", "-o", "/dev/null", "-w", "%{num_connects}\n", base + "/a", base + "/b"});
  ASSERT_EQ(two.exit_code, 0) << two.err;
  EXPECT_EQ(two.out, "1\n0\n");
  const auto chunked = curl({base + "/chunked"});
  EXPECT_EQ(chunked.out, "hello, world");
  const std::string body(70000, 'c');
  ASSERT_TRUE(write_file_bytes(dir_.path() / "c.bin", body));
  const auto up = curl({"-H", "Transfer-Encoding: chunked", "--data-binary",
                        "@" + (dir_.path() / "c.bin").string(), base + "/upload"});
  ASSERT_EQ(up.exit_code, 0) << up.err;
  EXPECT_EQ(json::parse(up.out)["sha256"], sha256_of(body));
  const auto expect = curl({"-v", "-H", "Expect: 100-continue", "--data-binary",
                            "@" + (dir_.path() / "c.bin").string(), base + "/upload"});
  ASSERT_EQ(expect.exit_code, 0) << expect.err;
  EXPECT_NE(expect.err.find("HTTP/1.1 100 Continue"), std::string::npos) << expect.err;
  EXPECT_EQ(json::parse(expect.out)["size"], body.size());
  stop_proxy();
  const auto flows = read_jsonl(jsonl());
  ASSERT_EQ(flows.size(), 5u);
  EXPECT_EQ(flows[2]["response"]["content"]["text"], "hello, world");
}

TEST_F(ProxyTest, HeaderCaseAndOrderReachTheOriginUnchanged) {
  const uint16_t tls_port = start_origin(good_cert_);
  const uint16_t plain_port = start_origin();
  start_proxy();
  for (const std::string& url : {"https://localhost:" + std::to_string(tls_port) + "/echo-raw",
                                 "http://127.0.0.1:" + std::to_string(plain_port) + "/echo-raw"}) {
    const auto echo = curl({"-H", "X-First: 1", "-H", "x-MiXeD-case: two", "-H", "X-Last: 3", url});
    ASSERT_EQ(echo.exit_code, 0) << echo.err;
    EXPECT_EQ(echo.out.rfind("GET /echo-raw HTTP/1.1\r\n", 0), 0u) << echo.out;
    EXPECT_NE(echo.out.find("X-First: 1\r\nx-MiXeD-case: two\r\nX-Last: 3\r\n"), std::string::npos)
        << echo.out;
    EXPECT_EQ(echo.out.find("Proxy-Connection"), std::string::npos) << echo.out;
  }
}

TEST_F(ProxyTest, UpstreamCertificateProblemsAnswer502UnlessInsecure) {
  ca::LeafMinterOptions expired;
  expired.backdate_seconds = 400 * 86400;
  expired.validity_seconds = 10 * 86400;
  const uint16_t expired_port = start_origin(make_cert("expired", {"localhost"}, expired));
  const uint16_t wrong_port = start_origin(make_cert("wrong", {"wrong.test"}, {}));
  // A self-signed server certificate, as `openssl req -x509` makes one.
  const fs::path self_cert = dir_.path() / "self.pem";
  const fs::path self_key = dir_.path() / "self-key.pem";
  const auto made = run_process({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                                 "ec_paramgen_curve:P-256", "-nodes", "-keyout", self_key.string(),
                                 "-out", self_cert.string(), "-days", "30", "-subj",
                                 "/CN=localhost", "-addext", "subjectAltName=DNS:localhost"});
  ASSERT_EQ(made.exit_code, 0) << made.err;
  const uint16_t self_port = start_origin({self_cert, self_key});
  start_proxy();
  const std::vector<std::pair<uint16_t, std::string>> cases = {
      {expired_port, "certificate has expired"},
      {wrong_port, "upstream certificate verify failed"},
      {self_port, "self signed certificate"}};
  for (const auto& [port, cause] : cases) {
    const auto result =
        curl({"-w", "\n%{http_code}", "https://localhost:" + std::to_string(port) + "/x"});
    EXPECT_EQ(result.exit_code, 0) << result.err;
    EXPECT_NE(result.out.find(cause), std::string::npos) << port << ": " << result.out;
    EXPECT_EQ(result.out.substr(result.out.size() - 3), "502") << result.out;
  }
  stop_proxy();
  const auto flows = read_jsonl(jsonl());
  ASSERT_EQ(flows.size(), 3u);
  for (const json& flow : flows) {
    EXPECT_NE(flow.value("_error", "").find("upstream certificate verify failed"),
              std::string::npos)
        << flow.dump();
  }
  // With --ssl-insecure the same requests succeed.
  start_proxy({"--ssl-insecure"});
  for (const auto& [port, cause] : cases) {
    const auto result = curl({"https://localhost:" + std::to_string(port) + "/x"});
    EXPECT_EQ(result.out, "ok") << port << ": " << result.err;
  }
}

TEST_F(ProxyTest, ClientThatDistrustsTheCaIsLoggedAndOthersKeepWorking) {
  const uint16_t port = start_origin(good_cert_);
  // Without learning: the host would be passed through for the next client (modes_test).
  start_proxy({"--no-auto-passthrough"});
  const std::string url = "https://localhost:" + std::to_string(port) + "/x";
  const auto rejected = run_process({"curl", "-sS", "--max-time", "30", "-x",
                                     "http://127.0.0.1:" + std::to_string(proxy_port_), "--cacert",
                                     origin_ca_->cert_path().string(), url});
  EXPECT_EQ(rejected.exit_code, 60) << rejected.err;
  const auto ok = curl({url});
  EXPECT_EQ(ok.out, "ok") << ok.err;
  stop_proxy();
  const auto flows = read_jsonl(jsonl());
  ASSERT_EQ(flows.size(), 2u);
  EXPECT_NE(flows[0].value("_error", "").find("rejected the Sightglass certificate for localhost"),
            std::string::npos)
      << flows[0].dump();
}

TEST_F(ProxyTest, DnsFailureRefusedPortAndResetGiveClearErrors) {
  const uint16_t port = start_origin(good_cert_);
  start_proxy();
  const auto dns = curl({"-w", "\n%{http_code}", "http://no-such-host.invalid/"});
  EXPECT_NE(dns.out.find("DNS"), std::string::npos) << dns.out;
  EXPECT_EQ(dns.out.substr(dns.out.size() - 3), "502");
  const auto refused = curl({"-w", "\n%{http_code}", "http://127.0.0.1:1/"});
  EXPECT_NE(refused.out.find("refused"), std::string::npos) << refused.out;
  EXPECT_EQ(refused.out.substr(refused.out.size() - 3), "502");
  // A CONNECT opens the TCP connection before it answers: the 502 is the CONNECT's own
  // (issue 10, defect 8).
  const auto tunnel_dns = curl({"-w", "\n%{http_code}", "https://no-such-host.invalid/"});
  EXPECT_EQ(tunnel_dns.exit_code, 56) << tunnel_dns.err;
  EXPECT_NE(tunnel_dns.err.find("CONNECT tunnel failed, response 502"), std::string::npos)
      << tunnel_dns.err;
  const auto reset = curl({"https://localhost:" + std::to_string(port) + "/reset"});
  EXPECT_NE(reset.exit_code, 0);
  // The proxy is still up.
  EXPECT_EQ(curl({"https://localhost:" + std::to_string(port) + "/x"}).out, "ok");
  stop_proxy();
  const auto flows = read_jsonl(jsonl());
  ASSERT_GE(flows.size(), 4u);
  EXPECT_NE(flows[0].value("_error", "").find("DNS"), std::string::npos);
  EXPECT_NE(flows[1].value("_error", "").find("refused"), std::string::npos);
  EXPECT_NE(flows[2].value("_error", "").find("DNS"), std::string::npos);
  // The origin resets the connection mid-body; depending on timing the proxy reads the reset
  // or an end of stream, and says so.
  std::string reset_error;
  for (const json& flow : flows) {
    if (flow["request"].value("url", "").find("/reset") != std::string::npos) {
      reset_error = flow.value("_error", "");
    }
  }
  EXPECT_TRUE(reset_error.find("reset") != std::string::npos ||
              reset_error.find("in the middle of the response") != std::string::npos)
      << reset_error;
}

std::string gzip_bytes(const std::string& in) {
  z_stream z{};
  deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&z, in.size()) + 32, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

std::string brotli_bytes(const std::string& in) {
  size_t size = BrotliEncoderMaxCompressedSize(in.size());
  std::string out(size, '\0');
  BrotliEncoderCompress(BROTLI_DEFAULT_QUALITY, BROTLI_DEFAULT_WINDOW, BROTLI_MODE_GENERIC,
                        in.size(), reinterpret_cast<const uint8_t*>(in.data()), &size,
                        reinterpret_cast<uint8_t*>(out.data()));
  out.resize(size);
  return out;
}

std::string zstd_bytes(const std::string& in) {
  std::string out(ZSTD_compressBound(in.size()), '\0');
  out.resize(ZSTD_compress(out.data(), out.size(), in.data(), in.size(), 3));
  return out;
}

TEST_F(ProxyTest, SigtermWritesExactlyTheFlowsAsHarEntries) {
  const uint16_t port = start_origin(good_cert_);
  start_proxy({"-q"});
  const std::string text = "{\"message\": \"compressed hello\", \"n\": 42}";
  const std::string base = "https://localhost:" + std::to_string(port);
  std::vector<std::string> urls;
  for (const auto& [enc, bytes] : std::vector<std::pair<std::string, std::string>>{
           {"gzip", gzip_bytes(text)}, {"br", brotli_bytes(text)}, {"zstd", zstd_bytes(text)}}) {
    const fs::path file = dir_.path() / ("body." + enc);
    ASSERT_TRUE(write_file_bytes(file, bytes));
    urls.push_back(base + "/file?type=application/json&enc=" + enc + "&path=" + file.string());
  }
  urls.push_back(base + "/bytes?n=1000");             // Binary: base64.
  urls.push_back(base + "/x?a=1&b=two%20words&a=3");  // A query string.
  for (const std::string& url : urls) {
    const auto r = curl({"-o", "/dev/null", "-H", "Cookie: session=abc; theme=dark", url});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  const auto result = stop_proxy();
  EXPECT_EQ(result.exit_code, 0) << result.err;
  const auto flows = read_jsonl(jsonl());
  ASSERT_EQ(flows.size(), urls.size());
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(flows[i]["response"]["content"]["text"], text) << flows[i].dump();
    EXPECT_EQ(flows[i]["response"]["content"]["size"], text.size());
  }
  EXPECT_EQ(flows[3]["response"]["content"]["encoding"], "base64");
  EXPECT_EQ(flows[4]["request"]["queryString"].size(), 3u);
  for (const json& flow : flows) {
    for (const char* field : {"startedDateTime", "time", "request", "response", "cache", "timings",
                              "serverIPAddress", "connection", "_id", "_clientAddress", "_tls"}) {
      EXPECT_TRUE(flow.contains(field)) << field << " in " << flow.dump();
    }
    for (const char* field : {"method", "url", "httpVersion", "cookies", "headers", "queryString",
                              "headersSize", "bodySize"}) {
      EXPECT_TRUE(flow["request"].contains(field)) << field;
    }
    EXPECT_EQ(flow["request"]["cookies"].size(), 2u);
    for (const char* field : {"status", "statusText", "httpVersion", "cookies", "headers",
                              "content", "redirectURL", "headersSize", "bodySize"}) {
      EXPECT_TRUE(flow["response"].contains(field)) << field;
    }
    for (const char* field : {"blocked", "dns", "connect", "ssl", "send", "wait", "receive"}) {
      EXPECT_TRUE(flow["timings"].contains(field)) << field;
    }
  }
  // The HAR written at exit holds the same entries, and `sightglass har` rebuilds it.
  const json har_file = json::parse(read_file_bytes(har()));
  ASSERT_EQ(har_file["log"]["entries"].size(), flows.size());
  for (size_t i = 0; i < flows.size(); ++i) {
    EXPECT_EQ(har_file["log"]["entries"][i], flows[i]);
  }
  const auto converted = run_process({SIGHTGLASS_BINARY, "har", jsonl().string()});
  ASSERT_EQ(converted.exit_code, 0) << converted.err;
  EXPECT_EQ(json::parse(converted.out), har_file);
}

TEST_F(ProxyTest, ReverseModeServesTlsAndPlainClients) {
  const uint16_t port = start_origin(good_cert_);
  start_proxy({"--mode", "reverse:https://localhost:" + std::to_string(port)});
  const std::string proxy = std::to_string(proxy_port_);
  const auto tls = curl({"--cacert", (confdir() / "sightglass-ca.pem").string(),
                         "https://localhost:" + proxy + "/bytes?n=50000"},
                        false);
  ASSERT_EQ(tls.exit_code, 0) << tls.err;
  EXPECT_EQ(sha256_of(tls.out), pattern_sha256(50000));
  const auto plain = curl({"http://127.0.0.1:" + proxy + "/echo-raw"}, false);
  ASSERT_EQ(plain.exit_code, 0) << plain.err;
  EXPECT_NE(plain.out.find("Host: localhost:" + std::to_string(port)), std::string::npos)
      << plain.out;
  // Methods, bodies both ways, chunked, keep-alive: as in regular mode.
  const std::string body(150000, 'r');
  ASSERT_TRUE(write_file_bytes(dir_.path() / "r.bin", body));
  const std::string base = "https://localhost:" + proxy;
  const std::string ca = (confdir() / "sightglass-ca.pem").string();
  const auto post = curl({"--cacert", ca, "-H", "Transfer-Encoding: chunked", "--data-binary",
                          "@" + (dir_.path() / "r.bin").string(), base + "/upload"},
                         false);
  ASSERT_EQ(post.exit_code, 0) << post.err;
  EXPECT_EQ(json::parse(post.out)["sha256"], sha256_of(body));
  const auto two =
      curl({"--cacert", ca, "-w", "%{num_connects}\n", base + "/chunked", base + "/x"}, false);
  EXPECT_EQ(two.out, "hello, world1\nok0\n") << two.err;
  stop_proxy();
  EXPECT_EQ(read_jsonl(jsonl()).size(), 5u);
}

TEST_F(ProxyTest, SigtermLetsAnExchangeInFlightFinish) {
  const uint16_t port = start_origin(good_cert_);
  start_proxy({"-q"});
  // A download that takes about two seconds at the client's pace, more than the socket
  // buffers hold, so the proxy is still relaying it when the signal comes.
  const fs::path out = dir_.path() / "slow.bin";
  ChildProcess slow({"curl", "-sS", "--max-time", "30", "--limit-rate", "10M", "-x",
                     "http://127.0.0.1:" + std::to_string(proxy_port_), "--cacert",
                     (confdir() / "sightglass-ca.pem").string(), "-o", out.string(), "-w",
                     "%{http_code} %{size_download}",
                     "https://localhost:" + std::to_string(port) + "/bytes?n=20000000"});
  // Once bytes arrive the exchange is under way: then ask the proxy to stop.
  for (int i = 0; i < 200; ++i) {
    std::error_code ec;
    if (fs::exists(out, ec) && fs::file_size(out, ec) > 0) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  proxy_->signal(SIGTERM);
  const auto download = slow.wait(std::chrono::seconds(30));
  EXPECT_EQ(download.out, "200 20000000") << download.err;
  const auto result = proxy_->wait(std::chrono::seconds(10));
  EXPECT_EQ(result.exit_code, 0) << result.err;
  const auto flows = read_jsonl(jsonl());
  ASSERT_EQ(flows.size(), 1u);
  EXPECT_EQ(flows[0]["response"]["content"]["size"], 20000000);
}

TEST_F(ProxyTest, ResponseDelimitedByCloseIsDeliveredWhole) {
  const uint16_t port = start_origin(good_cert_);
  start_proxy();
  const auto result = curl({"https://localhost:" + std::to_string(port) + "/close-delimited"});
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.out, "until the end");
  stop_proxy();
  const auto flows = read_jsonl(jsonl());
  ASSERT_EQ(flows.size(), 1u);
  EXPECT_FALSE(flows[0].contains("_error")) << flows[0].dump();
  EXPECT_EQ(flows[0]["response"]["content"]["text"], "until the end");
}

TEST_F(ProxyTest, MagicHostServesTheCaCertificate) {
  start_proxy();
  const auto exported =
      run_process({SIGHTGLASS_BINARY, "ca", "export", "--confdir", confdir().string()});
  const auto exported_der =
      run_process({SIGHTGLASS_BINARY, "ca", "export", "--der", "--confdir", confdir().string()});
  ASSERT_EQ(exported.exit_code, 0);
  EXPECT_EQ(curl({"http://sightglass/cert/pem"}).out, exported.out);
  EXPECT_EQ(curl({"http://sightglass/cert/der"}).out, exported_der.out);
  // Through a CONNECT tunnel with TLS too, with a leaf minted for the magic name.
  EXPECT_EQ(curl({"https://sightglass/cert/pem"}).out, exported.out);
  const auto page = curl({"http://sightglass/"});
  EXPECT_NE(page.out.find("Sightglass CA certificate"), std::string::npos);
}

TEST_F(ProxyTest, KeylogRecordsTheSecretsOfBothSides) {
  const uint16_t port = start_origin(good_cert_);
  const fs::path keylog = dir_.path() / "keys.log";
  start_proxy({"--keylog", keylog.string()});
  EXPECT_EQ(curl({"https://localhost:" + std::to_string(port) + "/x"}).out, "ok");
  EXPECT_EQ(stop_proxy().exit_code, 0);
  struct stat st {};
  ASSERT_EQ(stat(keylog.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  // TLS 1.3 on both legs: one CLIENT_TRAFFIC_SECRET_0 per connection, each with its own random.
  std::istringstream lines(read_file_bytes(keylog));
  std::set<std::string> randoms;
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream fields(line);
    std::string label, random, secret;
    fields >> label >> random >> secret;
    if (label == "CLIENT_TRAFFIC_SECRET_0") {
      EXPECT_EQ(random.size(), 64u);
      EXPECT_FALSE(secret.empty());
      randoms.insert(random);
    }
  }
  EXPECT_EQ(randoms.size(), 2u) << read_file_bytes(keylog);
}

TEST_F(ProxyTest, ClientWithoutEcdsaGetsAnRsaLeafThroughTheProxy) {
  const uint16_t port = start_origin(good_cert_);
  start_proxy({"--mode", "reverse:https://localhost:" + std::to_string(port)});
  const auto result = run_process(
      {"openssl", "s_client", "-connect", "127.0.0.1:" + std::to_string(proxy_port_), "-servername",
       "localhost", "-verify_hostname", "localhost", "-verify_return_error", "-CAfile",
       (confdir() / "sightglass-ca.pem").string(), "-sigalgs", "RSA-PSS+SHA256", "-brief",
       "-ign_eof"},
      "GET /x HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n", std::chrono::seconds(30));
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.err.find("Verification: OK"), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("RSA-PSS"), std::string::npos) << result.err;
  EXPECT_NE(result.out.find("\r\n\r\nok"), std::string::npos) << result.out;
}

TEST_F(ProxyTest, PortInUseIsAOneLineErrorWithExit1) {
  start_proxy();
  const auto second = run_process(
      {SIGHTGLASS_BINARY, "--confdir", confdir().string(), "-p", std::to_string(proxy_port_)});
  EXPECT_EQ(second.exit_code, 1);
  EXPECT_NE(second.err.find("address already in use"), std::string::npos) << second.err;
  EXPECT_EQ(std::count(second.err.begin(), second.err.end(), '\n'), 1) << second.err;
  // The first one is unharmed.
  const uint16_t port = start_origin();
  EXPECT_EQ(curl({"http://127.0.0.1:" + std::to_string(port) + "/x"}).out, "ok");
}

TEST_F(ProxyTest, LargeDownloadAndUploadStreamWithBoundedMemory) {
#ifdef SIGHTGLASS_SANITIZED
  const uint64_t size = uint64_t{128} << 20;  // Sanitizers are slow and use more memory.
#else
  const uint64_t size = uint64_t{1} << 30;
#endif
  const uint16_t port = start_origin(good_cert_);
  start_proxy({"-q"});
  const std::string base = "https://localhost:" + std::to_string(port);
  const auto down =
      run_process({"sh", "-c",
                   "curl -sS --max-time 300 -x http://127.0.0.1:" + std::to_string(proxy_port_) +
                       " --cacert " + (confdir() / "sightglass-ca.pem").string() + " '" + base +
                       "/bytes?n=" + std::to_string(size) + "' | sha256sum"},
                  "", std::chrono::seconds(320));
  ASSERT_EQ(down.exit_code, 0) << down.err;
  EXPECT_EQ(down.out.substr(0, 64), pattern_sha256(size));
  const fs::path big = dir_.path() / "big.bin";
  { std::ofstream create(big); }
  ASSERT_EQ(truncate(big.c_str(), static_cast<off_t>(size)), 0);  // Sparse zeros.
  const auto up = curl({"-X", "POST", "-T", big.string(), base + "/upload"});
  ASSERT_EQ(up.exit_code, 0) << up.err;
  const json answer = json::parse(up.out);
  EXPECT_EQ(answer["size"], size);
  const auto zeros =
      run_process({"sh", "-c", "head -c " + std::to_string(size) + " /dev/zero | sha256sum"});
  EXPECT_EQ(answer["sha256"], zeros.out.substr(0, 64));
  const int64_t peak_kib = peak_rss_kib(proxy_->pid());
#ifndef SIGHTGLASS_SANITIZED
  EXPECT_GT(peak_kib, 0);
  EXPECT_LT(peak_kib, 100 * 1024) << "peak RSS " << peak_kib << " KiB";
#endif
  RecordProperty("proxy_peak_rss_kib", std::to_string(peak_kib));
  stop_proxy();
}

}  // namespace
}  // namespace sightglass
