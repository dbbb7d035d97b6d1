// HTTP/1.1 clients to an HTTP/2-only origin, end to end: curl --http1.1 through the real binary
// to Debian's nghttpd. nghttpd completes a TLS handshake that offers only http/1.1 (choosing no
// ALPN), then closes at once ("Client did not advertise HTTP/2 protocol"): the proxy connects
// again offering h2 and translates (H1OverH2), while the client keeps speaking HTTP/1.1.
#include <gtest/gtest.h>

#include <fstream>
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

class H1OverH2Test : public test::ProxyFixture {
 protected:
  static constexpr size_t kBigSize = 3 * 1024 * 1024 + 17;
  static constexpr size_t kUploadSize = 2 * 1024 * 1024 + 3;

  void SetUp() override {
    ProxyFixture::SetUp();
    if (test::find_program("nghttpd").empty()) {
      GTEST_SKIP() << "nghttpd is not installed (Debian package nghttp2-server)";
    }
    const fs::path docroot = dir_.path() / "htdocs";
    fs::create_directories(docroot);
    std::ofstream(docroot / "big.bin", std::ios::binary) << pattern(kBigSize);
    std::ofstream(docroot / "hello.txt") << "hello over h2\n";
    std::ofstream(dir_.path() / "upload.bin", std::ios::binary) << pattern(kUploadSize);
  }

  std::string sightglass_ca() const { return (confdir() / "sightglass-ca.pem").string(); }

  std::vector<json> finished_flows() {
    EXPECT_EQ(stop_proxy().exit_code, 0);
    return read_jsonl(jsonl());
  }

  // check_h2_flow checks a flow of an HTTP/1.1 client served by the HTTP/2-only origin.
  static void check_h2_flow(const json& flow, const std::string& method, int status) {
    EXPECT_EQ(flow["request"]["method"], method);
    EXPECT_EQ(flow["request"]["httpVersion"], "HTTP/1.1");
    EXPECT_EQ(flow["response"]["status"], status);
    // httpVersion is the client side's (CONTRACT.md); the server side shows in _tls.server.
    EXPECT_EQ(flow["response"]["httpVersion"], "HTTP/1.1");
    EXPECT_EQ(flow["_tls"]["server"]["alpn"], "h2");
    EXPECT_NE(flow["_tls"]["client"]["alpn"], "h2");
  }
};

TEST_F(H1OverH2Test, CurlHttp11ThroughConnectReachesAnH2OnlyOrigin) {
  const uint16_t port = start_nghttpd({"--echo-upload"});
  start_proxy({"-v"});
  const std::string base = "https://localhost:" + std::to_string(port);
  const fs::path out = dir_.path() / "big.out";
  const ProcessResult got = curl(
      {"--http1.1", "-o", out.string(), "-w", "%{http_version} %{http_code}", base + "/big.bin"});
  ASSERT_EQ(got.exit_code, 0) << got.err;
  EXPECT_EQ(got.out, "1.1 200");
  EXPECT_EQ(test::sha256_of(read_file(out)), test::pattern_sha256(kBigSize));

  const fs::path echoed = dir_.path() / "echo.out";
  const ProcessResult post =
      curl({"--http1.1", "-o", echoed.string(), "-w", "%{http_version} %{http_code}",
            "--data-binary", "@" + (dir_.path() / "upload.bin").string(), base + "/echo"});
  ASSERT_EQ(post.exit_code, 0) << post.err;
  EXPECT_EQ(post.out, "1.1 200");
  EXPECT_EQ(test::sha256_of(read_file(echoed)), test::pattern_sha256(kUploadSize));

  // Two client connections: the first one learned that the origin speaks only HTTP/2, the
  // second offered it h2 at once.
  const ProcessResult stopped = stop_proxy();
  EXPECT_EQ(stopped.exit_code, 0);
  size_t retries = 0;
  for (size_t at = stopped.err.find("trying again offering h2"); at != std::string::npos;
       at = stopped.err.find("trying again offering h2", at + 1)) {
    ++retries;
  }
  EXPECT_EQ(retries, 1u) << stopped.err;
  const std::vector<json> flows = read_jsonl(jsonl());
  ASSERT_EQ(flows.size(), 2u);
  check_h2_flow(flows[0], "GET", 200);
  EXPECT_EQ(flows[0]["request"]["url"], base + "/big.bin");
  EXPECT_EQ(flows[0]["response"]["content"]["size"], kBigSize);
  check_h2_flow(flows[1], "POST", 200);
  EXPECT_EQ(flows[1]["request"]["bodySize"], kUploadSize);
}

TEST_F(H1OverH2Test, CurlHttp11InReverseModeKeepsTheConnectionAlive) {
  const uint16_t port = start_nghttpd({"--echo-upload"});
  start_proxy({"--mode", "reverse:https://localhost:" + std::to_string(port)});
  const std::string proxy_url = "https://localhost:" + std::to_string(proxy_port_);
  // Two requests on one client connection (and so one translated server connection), then
  // an upload.
  const fs::path hello = dir_.path() / "hello.out";
  const fs::path out = dir_.path() / "big.out";
  const ProcessResult got =
      run_process({"curl", "-sS", "--max-time", "120", "--cacert", sightglass_ca(), "--http1.1",
                   "-w", "%{http_version} %{http_code} %{num_connects}\n", proxy_url + "/hello.txt",
                   "-o", hello.string(), proxy_url + "/big.bin", "-o", out.string()},
                  "", std::chrono::seconds(180));
  ASSERT_EQ(got.exit_code, 0) << got.err;
  EXPECT_EQ(got.out, "1.1 200 1\n1.1 200 0\n");
  EXPECT_EQ(read_file(hello), "hello over h2\n");
  EXPECT_EQ(test::sha256_of(read_file(out)), test::pattern_sha256(kBigSize));

  const fs::path echoed = dir_.path() / "echo.out";
  const ProcessResult post =
      run_process({"curl", "-sS", "--max-time", "120", "--cacert", sightglass_ca(), "--http1.1",
                   "-o", echoed.string(), "--data-binary",
                   "@" + (dir_.path() / "upload.bin").string(), proxy_url + "/echo"},
                  "", std::chrono::seconds(180));
  ASSERT_EQ(post.exit_code, 0) << post.err;
  EXPECT_EQ(test::sha256_of(read_file(echoed)), test::pattern_sha256(kUploadSize));

  const std::vector<json> flows = finished_flows();
  ASSERT_EQ(flows.size(), 3u);
  check_h2_flow(flows[0], "GET", 200);
  EXPECT_EQ(flows[0]["response"]["content"]["text"], "hello over h2\n");
  check_h2_flow(flows[1], "GET", 200);
  EXPECT_EQ(flows[1]["response"]["content"]["size"], kBigSize);
  check_h2_flow(flows[2], "POST", 200);
}

}  // namespace
}  // namespace sightglass
