// WebSocket over HTTP/2 (RFC 8441) end to end: the real binary between a Python h2 + wsproto
// client and an h2 + wsproto echo server (tests/support/ws_h2.py), through CONNECT with TLS and
// ALPN h2 on both sides, with and without permessage-deflate. The client checks every echo;
// the test checks that the log holds every message in order.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <fstream>
#include <string>
#include <vector>

#include "tests/support/proxy_fixture.h"

namespace sightglass {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using test::ChildProcess;
using test::has_deflate;
using test::ProcessResult;
using test::read_jsonl;
using test::run_process;

class WebSocketH2Test : public test::ProxyFixture {
 protected:
  void SetUp() override {
    ProxyFixture::SetUp();
    const ProcessResult check =
        run_process({"/usr/bin/python3", "-c", "import h2.connection, wsproto"});
    ASSERT_EQ(check.exit_code, 0)
        << "python3-h2 or python3-wsproto is missing (scripts/install-deps installs them): "
        << check.err;
  }

  static std::string script() {
    return std::string(SIGHTGLASS_SOURCE_DIR) + "/tests/support/ws_h2.py";
  }

  // start_server starts ws_h2.py's TLS echo server and returns its port.
  uint16_t start_server() {
    server_ = std::make_unique<ChildProcess>(
        std::vector<std::string>{"/usr/bin/python3", script(), "server", "--cert",
                                 good_cert_.first.string(), "--key", good_cert_.second.string()});
    const std::string line = server_->wait_for_line(false, "PORT ");
    EXPECT_FALSE(line.empty()) << "ws_h2.py server did not start";
    return line.empty() ? 0 : static_cast<uint16_t>(std::stoi(line.substr(5)));
  }

  ProcessResult run_client(const std::string& url, bool deflate) {
    std::vector<std::string> argv = {"/usr/bin/python3", script(),
                                     "client",           url,
                                     "--proxy",          "127.0.0.1:" + std::to_string(proxy_port_),
                                     "--cafile",         (confdir() / "sightglass-ca.pem").string(),
                                     "--transcript",     transcript().string()};
    if (!deflate) {
      argv.push_back("--no-deflate");
    }
    return run_process(argv, "", std::chrono::seconds(120));
  }

  fs::path transcript() const { return dir_.path() / "transcript.json"; }

  // websocket_flows waits (a little) for the WebSocket flows to be logged, stops the proxy
  // and returns the logged flows that carry messages.
  std::vector<json> websocket_flows(size_t want) {
    return with_messages(stop_when_logged(
        [want](const std::vector<json>& flows) { return with_messages(flows).size() >= want; }));
  }

  static std::vector<json> with_messages(const std::vector<json>& flows) {
    std::vector<json> out;
    for (const json& flow : flows) {
      if (flow.contains("_webSocketMessages")) {
        out.push_back(flow);
      }
    }
    return out;
  }

  // expect_messages_as_sent compares the logged messages with the client's transcript.
  void expect_messages_as_sent(const json& flow) {
    ASSERT_NO_FATAL_FAILURE(test::expect_messages_as_in_transcript(flow, transcript(), 12));
    const json& logged = flow["_webSocketMessages"];
    EXPECT_EQ(logged[0]["data"], "hello, h2 WebSocket ✓");
    EXPECT_EQ(logged[4]["data"], "fragmented ✓");
    EXPECT_EQ(logged[6]["opcode"], 9);
    EXPECT_EQ(logged[7]["opcode"], 10);
    EXPECT_EQ(logged[8]["opcode"], 2);  // The 1 MiB message, whole.
    EXPECT_EQ(logged[10]["opcode"], 8);
    EXPECT_EQ(logged[10]["data"], "D6Fkb25lIGhlcmU=");  // 4001 "done here".
    EXPECT_EQ(logged[11]["data"], "D6Fkb25lIGhlcmU=");
    EXPECT_FALSE(flow.contains("_error")) << flow["_error"];
  }

  void expect_extended_connect(const json& flow, uint16_t port, const std::string& path) {
    EXPECT_EQ(flow["request"]["method"], "CONNECT");
    EXPECT_EQ(flow["request"]["httpVersion"], "HTTP/2.0");
    EXPECT_EQ(flow["response"]["status"], 200);
    EXPECT_EQ(flow["response"]["httpVersion"], "HTTP/2.0");
    const std::string url = flow["request"]["url"].get<std::string>();
    EXPECT_EQ(url, "https://127.0.0.1:" + std::to_string(port) + path);
  }

  std::unique_ptr<ChildProcess> server_;
};

TEST_F(WebSocketH2Test, ThroughConnectWithDeflate) {
  const uint16_t port = start_server();
  start_proxy();
  const ProcessResult client =
      run_client("https://127.0.0.1:" + std::to_string(port) + "/chat", true);
  ASSERT_EQ(client.exit_code, 0) << client.out << client.err;
  EXPECT_EQ(client.out, "OK\n");
  const auto flows = websocket_flows(1);
  ASSERT_EQ(flows.size(), 1u);
  expect_extended_connect(flows[0], port, "/chat");
  EXPECT_TRUE(has_deflate(flows[0]));
  expect_messages_as_sent(flows[0]);
}

TEST_F(WebSocketH2Test, ThroughConnectWithoutDeflate) {
  const uint16_t port = start_server();
  start_proxy();
  const ProcessResult client =
      run_client("https://127.0.0.1:" + std::to_string(port) + "/plain", false);
  ASSERT_EQ(client.exit_code, 0) << client.out << client.err;
  const auto flows = websocket_flows(1);
  ASSERT_EQ(flows.size(), 1u);
  expect_extended_connect(flows[0], port, "/plain");
  EXPECT_FALSE(has_deflate(flows[0]));
  expect_messages_as_sent(flows[0]);
}

}  // namespace
}  // namespace sightglass
