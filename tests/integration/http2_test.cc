// HTTP/2 end to end: curl, nghttp and h2load through the real binary to Debian's nghttpd (an
// HTTP/2-only origin), with certificates from the test's origin CA.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "tests/support/proxy_fixture.h"

namespace sightglass {
namespace {

namespace fs = std::filesystem;
using test::json;
using test::pattern;
using test::ProcessResult;
using test::read_file;
using test::read_jsonl;
using test::run_process;

class Http2Test : public test::ProxyFixture {
 protected:
  static constexpr size_t kBigSize = 3 * 1024 * 1024 + 17;
  static constexpr size_t kMediumSize = 100'000;

  void SetUp() override {
    ProxyFixture::SetUp();
    if (test::find_program("nghttpd").empty()) {
      GTEST_SKIP() << "nghttpd is not installed (Debian package nghttp2-server)";
    }
    const fs::path docroot = dir_.path() / "htdocs";
    fs::create_directories(docroot);
    std::ofstream(docroot / "big.bin", std::ios::binary) << pattern(kBigSize);
    std::ofstream(docroot / "medium.bin", std::ios::binary) << pattern(kMediumSize);
    std::ofstream(docroot / "hello.txt") << "hello over h2\n";
  }

  std::string sightglass_ca() const { return (confdir() / "sightglass-ca.pem").string(); }
  std::string proxy_url() const { return "https://localhost:" + std::to_string(proxy_port_); }

  // finished_flows stops the proxy and returns the flow log.
  std::vector<json> finished_flows() {
    EXPECT_EQ(stop_proxy().exit_code, 0);
    return read_jsonl(jsonl());
  }
};

TEST_F(Http2Test, CurlSpeaksH2ThroughTheProxyToAnH2Origin) {
  const uint16_t port = start_nghttpd({"--echo-upload", "--trailer", "x-origin-trailer: yes"});
  start_proxy();
  const std::string base = "https://localhost:" + std::to_string(port);
  const fs::path out = dir_.path() / "big.out";
  const ProcessResult got = curl(
      {"--http2", "-o", out.string(), "-w", "%{http_version} %{http_code}", base + "/big.bin"});
  ASSERT_EQ(got.exit_code, 0) << got.err;
  EXPECT_EQ(got.out, "2 200");
  EXPECT_EQ(test::sha256_of(read_file(out)), test::pattern_sha256(kBigSize));

  // An upload, echoed by the origin.
  const fs::path upload = dir_.path() / "htdocs" / "medium.bin";
  const fs::path echoed = dir_.path() / "echo.out";
  const ProcessResult post = curl({"--http2", "-o", echoed.string(), "-w", "%{http_version}",
                                   "--data-binary", "@" + upload.string(), base + "/echo"});
  ASSERT_EQ(post.exit_code, 0) << post.err;
  EXPECT_EQ(post.out, "2");
  EXPECT_EQ(test::sha256_of(read_file(echoed)), test::pattern_sha256(kMediumSize));

  const std::vector<json> flows = finished_flows();
  ASSERT_EQ(flows.size(), 2u);
  const json& get = flows[0];
  EXPECT_EQ(get["request"]["httpVersion"], "HTTP/2.0");
  EXPECT_EQ(get["response"]["httpVersion"], "HTTP/2.0");
  EXPECT_EQ(get["request"]["method"], "GET");
  EXPECT_EQ(get["request"]["url"], base + "/big.bin");
  EXPECT_EQ(get["response"]["status"], 200);
  EXPECT_EQ(get["response"]["content"]["size"], kBigSize);
  EXPECT_EQ(get["_tls"]["client"]["alpn"], "h2");
  EXPECT_EQ(get["_tls"]["server"]["alpn"], "h2");
  EXPECT_FALSE(get.contains("_error")) << get.dump();
  EXPECT_EQ(get["response"]["_trailers"].dump(), R"([{"name":"x-origin-trailer","value":"yes"}])");
  const json& echo = flows[1];
  EXPECT_EQ(echo["request"]["method"], "POST");
  EXPECT_EQ(echo["request"]["httpVersion"], "HTTP/2.0");
  EXPECT_EQ(echo["response"]["content"]["size"], kMediumSize);
}

TEST_F(Http2Test, NghttpInReverseModeNegotiatesH2WithTheSightglassLeaf) {
  const uint16_t port = start_nghttpd();
  start_proxy({"--mode", "reverse:https://localhost:" + std::to_string(port)});
  // nghttp verifies against SSL_CERT_FILE: only the Sightglass CA is trusted.
  const ProcessResult got = run_process(
      {"env", "SSL_CERT_FILE=" + sightglass_ca(), "nghttp", "-nv", proxy_url() + "/hello.txt"}, "",
      std::chrono::seconds(30));
  ASSERT_EQ(got.exit_code, 0) << got.out << got.err;
  EXPECT_NE(got.out.find("The negotiated protocol: h2"), std::string::npos) << got.out;
  EXPECT_EQ((got.out + got.err).find("Certificate verification failed"), std::string::npos)
      << got.out << got.err;
  EXPECT_NE(got.out.find(":status: 200"), std::string::npos) << got.out;
  // Trusting the origin CA instead fails verification: the leaf is Sightglass's.
  const ProcessResult other =
      run_process({"env", "SSL_CERT_FILE=" + origin_ca_->cert_path().string(), "nghttp", "-nv",
                   proxy_url() + "/hello.txt"},
                  "", std::chrono::seconds(30));
  EXPECT_NE((other.out + other.err).find("Certificate verification failed"), std::string::npos)
      << other.out << other.err;

  const std::vector<json> flows = finished_flows();
  ASSERT_EQ(flows.size(), 2u);
  EXPECT_EQ(flows[0]["request"]["httpVersion"], "HTTP/2.0");
  EXPECT_EQ(flows[0]["response"]["content"]["text"], "hello over h2\n");
}

TEST_F(Http2Test, HundredConcurrentStreamsOverOneConnectionAreByteExact) {
  const uint16_t port = start_nghttpd();
  start_proxy({"--mode", "reverse:https://localhost:" + std::to_string(port)});
  // nghttp: 100 concurrent requests for the same resource on one connection (the bodies
  // arrive interleaved on stdout, so only their total size is checked here).
  const ProcessResult got = run_process({"nghttp", "-m", "100", proxy_url() + "/medium.bin"}, "",
                                        std::chrono::seconds(120));
  ASSERT_EQ(got.exit_code, 0) << got.err;
  EXPECT_EQ(got.out.size(), 100 * kMediumSize);

  // curl: 100 transfers in parallel, multiplexed on one connection, each body byte-exact.
  const fs::path outs = dir_.path() / "parallel";
  fs::create_directories(outs);
  const ProcessResult parallel =
      run_process({"curl", "-sS", "--max-time", "120", "--cacert", sightglass_ca(), "--http2", "-Z",
                   "--parallel-max", "100", "-w", "%{http_version} %{num_connects}\n", "-o",
                   (outs / "out_#1").string(), proxy_url() + "/medium.bin?[1-100]"},
                  "", std::chrono::seconds(180));
  ASSERT_EQ(parallel.exit_code, 0) << parallel.err;
  size_t connects = 0;
  size_t transfers = 0;
  std::istringstream lines(parallel.out);
  for (std::string line; std::getline(lines, line);) {
    ++transfers;
    EXPECT_EQ(line.substr(0, 2), "2 ") << line;
    connects += static_cast<size_t>(std::stoul(line.substr(2)));
  }
  EXPECT_EQ(transfers, 100u);
  EXPECT_EQ(connects, 1u) << parallel.out;
  const std::string expected_sha = test::pattern_sha256(kMediumSize);
  for (int i = 1; i <= 100; ++i) {
    EXPECT_EQ(test::sha256_of(read_file(outs / ("out_" + std::to_string(i)))), expected_sha) << i;
  }

  // h2load: 100 streams at once on one connection, no errors.
  const ProcessResult load =
      run_process({"h2load", "-n", "100", "-c", "1", "-m", "100", proxy_url() + "/big.bin"}, "",
                  std::chrono::seconds(120));
  ASSERT_EQ(load.exit_code, 0) << load.out << load.err;
  EXPECT_NE(load.out.find("100 succeeded, 0 failed, 0 errored, 0 timeout"), std::string::npos)
      << load.out;
  EXPECT_NE(load.out.find("status codes: 100 2xx"), std::string::npos) << load.out;

  const std::vector<json> flows = finished_flows();
  EXPECT_EQ(flows.size(), 300u);
  size_t ok = 0;
  for (const json& flow : flows) {
    if (flow["response"]["status"] == 200 && flow["request"]["httpVersion"] == "HTTP/2.0" &&
        !flow.contains("_error")) {
      ++ok;
    }
  }
  EXPECT_EQ(ok, 300u);
}

TEST_F(Http2Test, AnH2OnlyClientIsTranslatedToAnHttp11Origin) {
  const uint16_t port = start_origin(good_cert_);  // HTTP/1.1 only.
  start_proxy({"--mode", "reverse:https://localhost:" + std::to_string(port)});
  // nghttp offers h2 and nothing else: it gets h2, and each stream becomes an HTTP/1.1 request.
  const ProcessResult got =
      run_process({"nghttp", "-nv", proxy_url() + "/chunked"}, "", std::chrono::seconds(30));
  ASSERT_EQ(got.exit_code, 0) << got.out << got.err;
  EXPECT_NE(got.out.find("The negotiated protocol: h2"), std::string::npos) << got.out;
  EXPECT_NE(got.out.find(":status: 200"), std::string::npos) << got.out;
  EXPECT_NE(got.out.find("x-check: done"), std::string::npos) << got.out;  // The trailer.
  const ProcessResult load =
      run_process({"h2load", "-n", "100", "-c", "1", "-m", "100", proxy_url() + "/bytes?n=50000"},
                  "", std::chrono::seconds(120));
  EXPECT_NE(load.out.find("100 succeeded, 0 failed, 0 errored, 0 timeout"), std::string::npos)
      << load.out << load.err;
  // An upload many stream windows long: the client is credited as the HTTP/1.1 connection
  // writes (WriteDrained), so it arrives whole.
  const fs::path upload = dir_.path() / "upload.bin";
  std::ofstream(upload, std::ios::binary) << test::pattern(5 * 1024 * 1024 + 3);
  const ProcessResult up = run_process({"nghttp", "-d", upload.string(), proxy_url() + "/upload"},
                                       "", std::chrono::seconds(60));
  ASSERT_EQ(up.exit_code, 0) << up.out << up.err;
  EXPECT_NE(up.out.find(std::to_string(5 * 1024 * 1024 + 3)), std::string::npos) << up.out;
  EXPECT_NE(up.out.find(test::pattern_sha256(5 * 1024 * 1024 + 3)), std::string::npos) << up.out;
  // A client that offers HTTP/1.1 too keeps HTTP/1.1, byte for byte.
  const ProcessResult both = curl(
      {"--http2", "--cacert", sightglass_ca(), "-w", " %{http_version}", proxy_url() + "/chunked"},
      /*through_proxy=*/false);
  EXPECT_EQ(both.out, "hello, world 1.1") << both.err;

  const std::vector<json> flows = finished_flows();
  ASSERT_EQ(flows.size(), 103u);
  EXPECT_EQ(flows[0]["request"]["httpVersion"], "HTTP/2.0");
  EXPECT_EQ(flows[0]["response"]["httpVersion"], "HTTP/2.0");  // The client side's (CONTRACT).
  EXPECT_EQ(flows[0]["response"]["content"]["text"], "hello, world");
  EXPECT_EQ(flows[0]["_tls"]["client"]["alpn"], "h2");
  EXPECT_EQ(flows[0]["_tls"]["server"]["alpn"], "http/1.1");
  EXPECT_EQ(flows[102]["request"]["httpVersion"], "HTTP/1.1");
}

TEST_F(Http2Test, OneGibDownloadOverH2StreamsWithBoundedMemory) {
#ifdef SIGHTGLASS_SANITIZED
  const uint64_t size = uint64_t{128} << 20;  // Sanitizers are slow and use more memory.
#else
  const uint64_t size = uint64_t{1} << 30;
#endif
  const fs::path big = dir_.path() / "htdocs" / "huge.bin";
  { std::ofstream create(big); }
  ASSERT_EQ(truncate(big.c_str(), static_cast<off_t>(size)), 0);  // Sparse zeros.
  const uint16_t port = start_nghttpd();
  start_proxy({"-q"});
  const std::string url = "https://localhost:" + std::to_string(port) + "/huge.bin";
  const auto down = run_process(
      {"sh", "-c",
       "curl -sS --http2 --max-time 300 -x http://127.0.0.1:" + std::to_string(proxy_port_) +
           " --cacert " + sightglass_ca() + " -w '%{http_version}' -o /dev/stdout '" + url +
           "' | sha256sum"},
      "", std::chrono::seconds(320));
  ASSERT_EQ(down.exit_code, 0) << down.err;
  // curl writes the body, then "2" (its -w): the digest covers both.
  const auto expected = run_process(
      {"sh", "-c", "(head -c " + std::to_string(size) + " /dev/zero; printf 2) | sha256sum"});
  EXPECT_EQ(down.out.substr(0, 64), expected.out.substr(0, 64)) << "not byte-exact over h2";
  const int64_t peak_kib = test::peak_rss_kib(proxy_->pid());
#ifndef SIGHTGLASS_SANITIZED
  EXPECT_GT(peak_kib, 0);
  EXPECT_LT(peak_kib, 100 * 1024) << "peak RSS " << peak_kib << " KiB";
#endif
  RecordProperty("proxy_peak_rss_kib", std::to_string(peak_kib));
  const std::vector<json> flows = finished_flows();
  ASSERT_EQ(flows.size(), 1u);
  EXPECT_EQ(flows[0]["request"]["httpVersion"], "HTTP/2.0");
  EXPECT_EQ(flows[0]["response"]["content"]["size"], size);
}

TEST_F(Http2Test, CleartextH2WithPriorKnowledgeInReverseMode) {
  const uint16_t plain = start_origin();  // HTTP/1.1 only, no TLS.
  start_proxy({"--mode", "reverse:http://127.0.0.1:" + std::to_string(plain)});
  const std::string base = "http://127.0.0.1:" + std::to_string(proxy_port_);
  const ProcessResult h2c =
      run_process({"curl", "-sS", "--max-time", "30", "--http2-prior-knowledge", "-w",
                   " %{http_version}", base + "/x"});
  EXPECT_EQ(h2c.out, "ok 2") << h2c.err;
  const ProcessResult chunked =
      run_process({"nghttp", "-n", "-s", base + "/chunked"}, "", std::chrono::seconds(30));
  EXPECT_EQ(chunked.exit_code, 0) << chunked.out << chunked.err;
  EXPECT_NE(chunked.out.find(" 200 "), std::string::npos) << chunked.out;
  // An HTTP/1.1 client on the same port is unaffected.
  EXPECT_EQ(run_process({"curl", "-sS", "--max-time", "30", base + "/x"}).out, "ok");
  const std::vector<json> flows = finished_flows();
  ASSERT_EQ(flows.size(), 3u);
  EXPECT_EQ(flows[0]["request"]["httpVersion"], "HTTP/2.0");
  EXPECT_EQ(flows[0]["response"]["status"], 200);
  EXPECT_EQ(flows[2]["request"]["httpVersion"], "HTTP/1.1");
}

TEST_F(Http2Test, CleartextH2WithPriorKnowledgeThroughATunnelIsH2BothSides) {
  // nghttpd without TLS speaks only h2c: an HTTP/1.1 request would get a GOAWAY, so a 200
  // proves the proxy spoke HTTP/2 to it.
  const uint16_t port = start_nghttpd({"--no-tls"}, false);
  ASSERT_TRUE(test::accepts_connections(port)) << "nghttpd did not start";
  start_proxy();
  const fs::path out = dir_.path() / "big.out";
  const ProcessResult got = run_process(
      {"curl", "-sS", "--max-time", "30", "--http2-prior-knowledge", "--proxytunnel", "-x",
       "http://127.0.0.1:" + std::to_string(proxy_port_), "-o", out.string(), "-w",
       "%{http_version} %{http_code}", "http://127.0.0.1:" + std::to_string(port) + "/big.bin"});
  ASSERT_EQ(got.exit_code, 0) << got.err;
  EXPECT_EQ(got.out, "2 200");
  EXPECT_EQ(test::sha256_of(read_file(out)), test::pattern_sha256(kBigSize));
  const std::vector<json> flows = finished_flows();
  ASSERT_FALSE(flows.empty());
  const json& flow = flows.back();
  EXPECT_EQ(flow["request"]["httpVersion"], "HTTP/2.0");
  EXPECT_EQ(flow["request"]["url"], "http://127.0.0.1:" + std::to_string(port) + "/big.bin");
  EXPECT_EQ(flow["response"]["status"], 200);
  EXPECT_EQ(flow["response"]["content"]["size"], kBigSize);
}

}  // namespace
}  // namespace sightglass
