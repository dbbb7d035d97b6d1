// WebSocket capture end to end: the real binary between a Python websockets client
// (tests/support/ws_client.py) and a Python websockets echo server (tests/support/ws_echo.py),
// ws:// and wss:// through CONNECT and in reverse mode, with and without permessage-deflate.
// The client checks every echo; the test checks that the log holds every message in order.
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

class WebSocketTest : public test::ProxyFixture {
 protected:
  void SetUp() override {
    ProxyFixture::SetUp();
    const ProcessResult check = run_process({"/usr/bin/python3", "-c", "import websockets"});
    ASSERT_EQ(check.exit_code, 0)
        << "python3-websockets is missing (scripts/install-deps installs it): " << check.err;
  }

  static std::string support(const std::string& name) {
    return std::string(SIGHTGLASS_SOURCE_DIR) + "/tests/support/" + name;
  }

  // start_echo starts tests/support/ws_echo.py (wss when |tls|) and returns its port.
  uint16_t start_echo(bool tls) {
    std::vector<std::string> argv = {"/usr/bin/python3", support("ws_echo.py")};
    if (tls) {
      argv.insert(argv.end(),
                  {"--cert", good_cert_.first.string(), "--key", good_cert_.second.string()});
    }
    echoes_.push_back(std::make_unique<ChildProcess>(argv));
    const std::string line = echoes_.back()->wait_for_line(false, "PORT ");
    EXPECT_FALSE(line.empty()) << "ws_echo.py did not start";
    return line.empty() ? 0 : static_cast<uint16_t>(std::stoi(line.substr(5)));
  }

  // run_client runs tests/support/ws_client.py against |url|; the transcript of what it sent
  // and received goes to transcript().
  ProcessResult run_client(const std::string& url, std::vector<std::string> extra) {
    std::vector<std::string> argv = {"/usr/bin/python3", support("ws_client.py"), url,
                                     "--transcript", transcript().string()};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return run_process(argv, "", std::chrono::seconds(120));
  }

  std::string proxy_address() const { return "127.0.0.1:" + std::to_string(proxy_port_); }
  std::string sightglass_ca() const { return (confdir() / "sightglass-ca.pem").string(); }
  fs::path transcript() const { return dir_.path() / "transcript.json"; }

  // websocket_flows waits (a little) for the WebSocket flow to be logged, stops the proxy and
  // returns the logged flows with a 101 response.
  std::vector<json> websocket_flows() {
    return upgrades(
        stop_when_logged([](const std::vector<json>& flows) { return !upgrades(flows).empty(); }));
  }

  static std::vector<json> upgrades(const std::vector<json>& flows) {
    std::vector<json> out;
    for (const json& flow : flows) {
      if (flow["response"]["status"] == 101) {
        out.push_back(flow);
      }
    }
    return out;
  }

  // expect_messages_as_sent compares the logged messages with the client's transcript.
  void expect_messages_as_sent(const json& flow) {
    ASSERT_NO_FATAL_FAILURE(test::expect_messages_as_in_transcript(flow, transcript(), 14));
    const json& logged = flow["_webSocketMessages"];
    // Spot checks that do not depend on the transcript.
    EXPECT_EQ(logged[0]["data"], "hello, WebSocket ✓");
    EXPECT_EQ(logged[4]["data"], "fragmented ✓");
    EXPECT_EQ(logged[6]["opcode"], 9);
    EXPECT_EQ(logged[7]["opcode"], 10);
    EXPECT_EQ(logged[12]["opcode"], 8);
    EXPECT_EQ(logged[12]["data"], "D6Fkb25lIGhlcmU=");  // 4001 "done here".
    EXPECT_EQ(logged[13]["data"], "D6Fkb25lIGhlcmU=");
    EXPECT_GE(logged[13]["time"].get<double>(), logged[0]["time"].get<double>());
    EXPECT_FALSE(flow.contains("_error")) << flow["_error"];
  }

  std::vector<std::unique_ptr<ChildProcess>> echoes_;
};

TEST_F(WebSocketTest, PlainThroughConnectWithDeflate) {
  const uint16_t port = start_echo(false);
  start_proxy();
  const ProcessResult client =
      run_client("ws://127.0.0.1:" + std::to_string(port) + "/chat", {"--proxy", proxy_address()});
  ASSERT_EQ(client.exit_code, 0) << client.out << client.err;
  EXPECT_EQ(client.out, "OK\n");
  const auto flows = websocket_flows();
  ASSERT_EQ(flows.size(), 1u);
  EXPECT_EQ(flows[0]["request"]["url"], "http://127.0.0.1:" + std::to_string(port) + "/chat");
  EXPECT_TRUE(has_deflate(flows[0]));
  expect_messages_as_sent(flows[0]);
}

TEST_F(WebSocketTest, PlainThroughConnectWithoutDeflate) {
  const uint16_t port = start_echo(false);
  start_proxy();
  const ProcessResult client = run_client("ws://127.0.0.1:" + std::to_string(port) + "/",
                                          {"--proxy", proxy_address(), "--no-deflate"});
  ASSERT_EQ(client.exit_code, 0) << client.out << client.err;
  const auto flows = websocket_flows();
  ASSERT_EQ(flows.size(), 1u);
  EXPECT_FALSE(has_deflate(flows[0]));
  expect_messages_as_sent(flows[0]);
}

TEST_F(WebSocketTest, TlsThroughConnect) {
  const uint16_t port = start_echo(true);
  start_proxy();
  for (const bool deflate : {true, false}) {
    std::vector<std::string> args = {"--proxy", proxy_address(), "--cafile", sightglass_ca()};
    if (!deflate) {
      args.push_back("--no-deflate");
    }
    const ProcessResult client =
        run_client("wss://localhost:" + std::to_string(port) + "/secure", args);
    ASSERT_EQ(client.exit_code, 0) << client.out << client.err;
  }
  const auto flows = websocket_flows();
  ASSERT_EQ(flows.size(), 2u);
  for (const json& flow : flows) {
    EXPECT_EQ(flow["request"]["url"], "https://localhost:" + std::to_string(port) + "/secure");
    EXPECT_TRUE(flow.contains("_tls"));
  }
  // Both runs send the same messages, so the (last) transcript fits both flows.
  EXPECT_TRUE(has_deflate(flows[0]));
  EXPECT_FALSE(has_deflate(flows[1]));
  expect_messages_as_sent(flows[0]);
  expect_messages_as_sent(flows[1]);
}

TEST_F(WebSocketTest, ReverseModeWithDeflate) {
  const uint16_t port = start_echo(false);
  start_proxy({"--mode", "reverse:http://127.0.0.1:" + std::to_string(port)});
  const ProcessResult client = run_client("ws://" + proxy_address() + "/rev", {});
  ASSERT_EQ(client.exit_code, 0) << client.out << client.err;
  const auto flows = websocket_flows();
  ASSERT_EQ(flows.size(), 1u);
  EXPECT_TRUE(has_deflate(flows[0]));
  expect_messages_as_sent(flows[0]);
}

}  // namespace
}  // namespace sightglass
