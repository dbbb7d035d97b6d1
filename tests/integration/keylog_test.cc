// Acceptance test for --keylog: Wireshark's tshark decrypts a capture of an intercepted HTTPS
// request with the file the proxy wrote, on both legs (client -> proxy inside the CONNECT
// tunnel, proxy -> origin). Needs root (to capture on lo) and tshark + dumpcap
// (scripts/install-deps); skipped otherwise.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/proxy_fixture.h"

namespace sightglass {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using test::ChildProcess;
using test::find_program;
using test::ProcessResult;
using test::read_file_bytes;
using test::run_process;
using test::write_file_bytes;

// HttpRequest is one HTTP request tshark dissected, with the TCP ports of its frame.
struct HttpRequest {
  std::string src_port;
  std::string dst_port;
  std::string method;
  std::string uri;
  std::string host;
};

class KeylogTest : public test::ProxyFixture {
 protected:
  void SetUp() override {
    if (geteuid() != 0) {
      GTEST_SKIP() << "capturing on lo needs root";
    }
    tshark_ = find_program("tshark");
    dumpcap_ = find_program("dumpcap");
    if (tshark_.empty() || dumpcap_.empty()) {
      GTEST_SKIP() << "tshark and dumpcap are not installed (scripts/install-deps installs them)";
    }
    ProxyFixture::SetUp();
  }

  // http_requests dissects |capture| with the TLS secrets in |keylog| and returns every HTTP
  // request in it; |output| gets what tshark printed, for failure messages. Both ports are
  // random, so tshark is told what they carry: the proxy's port HTTP (a CONNECT, then TLS
  // inside the tunnel, which the HTTP dissector hands over to TLS by itself), the origin's TLS.
  std::vector<HttpRequest> http_requests(const fs::path& capture, const fs::path& keylog,
                                         uint16_t origin_port, std::string* output) {
    // An empty configuration directory: no personal preference of whoever runs the test
    // (a keylog file, decode-as rules, disabled protocols) takes part.
    const fs::path config = dir_.path() / "wireshark-config";
    fs::create_directories(config);
    const ProcessResult result =
        run_process({"env",   "WIRESHARK_CONFIG_DIR=" + config.string(),
                     tshark_, "-n",
                     "-r",    capture.string(),
                     "-o",    "tls.keylog_file:" + keylog.string(),
                     "-d",    "tcp.port==" + std::to_string(proxy_port_) + ",http",
                     "-d",    "tcp.port==" + std::to_string(origin_port) + ",tls",
                     "-Y",    "http.request",
                     "-T",    "fields",
                     "-e",    "tcp.srcport",
                     "-e",    "tcp.dstport",
                     "-e",    "http.request.method",
                     "-e",    "http.request.uri",
                     "-e",    "http.host"},
                    "", 120s);
    *output = "tshark exit " + std::to_string(result.exit_code) + "\nstdout:\n" + result.out +
              "stderr:\n" + result.err;
    EXPECT_EQ(result.exit_code, 0) << *output;
    std::vector<HttpRequest> requests;
    std::istringstream lines(result.out);
    std::string line;
    while (std::getline(lines, line)) {
      std::array<std::string, 5> fields;
      std::istringstream columns(line);
      for (std::string& field : fields) {
        std::getline(columns, field, '\t');
      }
      requests.push_back({fields[0], fields[1], fields[2], fields[3], fields[4]});
    }
    return requests;
  }

  std::string tshark_;
  std::string dumpcap_;
};

// count_requests counts the requests for |method| |uri| sent to |dst_port|.
size_t count_requests(const std::vector<HttpRequest>& requests, uint16_t dst_port,
                      const std::string& method, const std::string& uri) {
  size_t n = 0;
  for (const HttpRequest& r : requests) {
    if (r.dst_port == std::to_string(dst_port) && r.method == method && r.uri == uri) {
      ++n;
    }
  }
  return n;
}

TEST_F(KeylogTest, TsharkDecryptsBothLegsOfAnInterceptedRequestWithTheKeylog) {
  const uint16_t origin_port = start_origin(good_cert_);
  ASSERT_NE(origin_port, 0);
  const fs::path keylog = dir_.path() / "keys.log";
  start_proxy({"--keylog", keylog.string()});
  ASSERT_NE(proxy_port_, 0);

  // A path found nowhere else, so that only this request can match.
  std::random_device random;
  std::array<uint8_t, 8> token{};
  for (uint8_t& b : token) {
    b = static_cast<uint8_t>(random());
  }
  const std::string path = "/keylog-acceptance-" + test::hex(token.data(), token.size());
  const std::string authority = "localhost:" + std::to_string(origin_port);

  const fs::path capture = dir_.path() / "capture.pcapng";
  ChildProcess dumpcap(
      {dumpcap_, "-i", "lo", "-f",
       "tcp port " + std::to_string(proxy_port_) + " or tcp port " + std::to_string(origin_port),
       "-w", capture.string(), "-q"});
  ASSERT_TRUE(dumpcap.started());
  // dumpcap prints "Capturing on 'Loopback: lo'" before it even opens the interface, and
  // "File: <path>" once its packet socket is bound with the capture filter attached (and the
  // file created): from then on every matching packet is kept.
  if (dumpcap.wait_for_line(true, "File: ").empty()) {
    const std::string why = dumpcap.wait(5s).err;
    // Root without CAP_NET_RAW (some containers): nothing to test here, say so.
    if (why.find("Operation not permitted") != std::string::npos ||
        why.find("permission") != std::string::npos) {
      GTEST_SKIP() << "this machine does not allow packet capture on lo: " << why;
    }
    FAIL() << "dumpcap did not start capturing:\n" << why;
  }

  const ProcessResult got = curl({"https://" + authority + path});
  EXPECT_EQ(got.exit_code, 0) << got.err;
  EXPECT_EQ(got.out, "ok");
  // The packets are in dumpcap's ring buffer at once, but it reads them out in batches and
  // drops what it has not read when it stops: give it time to write them all.
  std::this_thread::sleep_for(1s);
  dumpcap.signal(SIGINT);
  const ProcessResult captured = dumpcap.wait(30s);
  ASSERT_EQ(captured.exit_code, 0) << captured.err;
  EXPECT_EQ(stop_proxy().exit_code, 0);

  const std::string keys = read_file_bytes(keylog);
  ASSERT_NE(keys.find("CLIENT_TRAFFIC_SECRET_0 "), std::string::npos) << keys;
  // Both legs are encrypted: the path is nowhere in the captured bytes.
  const std::string raw = read_file_bytes(capture);
  ASSERT_FALSE(raw.empty()) << captured.err;
  EXPECT_EQ(raw.find(path), std::string::npos);

  // With the keylog, tshark finds the request on both legs.
  std::string output;
  const auto decrypted = http_requests(capture, keylog, origin_port, &output);
  const std::string context = output + "dumpcap:\n" + captured.err + "keylog:\n" + keys;
  // The CONNECT is in the clear: the capture and the dissection of the proxy's port work.
  EXPECT_EQ(count_requests(decrypted, proxy_port_, "CONNECT", authority), 1u) << context;
  EXPECT_EQ(count_requests(decrypted, proxy_port_, "GET", path), 1u)
      << "client -> proxy, in the tunnel:\n"
      << context;
  EXPECT_EQ(count_requests(decrypted, origin_port, "GET", path), 1u) << "proxy -> origin:\n"
                                                                     << context;

  // Negative control: the same capture with an empty keylog shows the CONNECT only.
  const fs::path no_keys = dir_.path() / "empty-keys.log";
  ASSERT_TRUE(write_file_bytes(no_keys, ""));
  const auto encrypted = http_requests(capture, no_keys, origin_port, &output);
  EXPECT_EQ(count_requests(encrypted, proxy_port_, "CONNECT", authority), 1u) << output;
  EXPECT_EQ(count_requests(encrypted, proxy_port_, "GET", path), 0u) << output;
  EXPECT_EQ(count_requests(encrypted, origin_port, "GET", path), 0u) << output;
  for (const HttpRequest& r : encrypted) {
    EXPECT_EQ(r.uri.find(path), std::string::npos) << output;
  }
}

}  // namespace
}  // namespace sightglass
