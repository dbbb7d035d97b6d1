// Replay through the core, end to end: a ProxyRuntime (what `sightglass` and `sightglass-gui`
// run) records requests sent by curl, each recorded flow (read back from the JSON Lines log,
// as the GUI loads it) is replayed with ProxyRuntime::replay, and the log gets a second flow
// with the same method, URL and body, marked `_replay`. The origin never sees the replay
// token; a client that sends the header with any other value is an ordinary client.

#include "cli/replay.h"

#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <string>
#include <vector>

#include "cli/runtime.h"
#include "core/export/har_reader.h"
#include "tests/export/test_flows.h"
#include "tests/support/proxy_fixture.h"

namespace sightglass::test {
namespace {

const std::string kBody = "name=it's+\"x\"&n=1";
const std::string kCustom = "X-Custom: it's \"quoted\"";

std::string lower(std::string text) {
  for (char& c : text) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return text;
}

std::string without_scheme(const json& url) {
  const std::string text = url.get<std::string>();
  return text.substr(text.find("://") + 3);
}

std::string post_text(const json& entry) {
  const json& request = entry["request"];
  return request.contains("postData") ? request["postData"].value("text", "") : "";
}

// port_of is the port of a runtime's local address ("host:port").
uint16_t port_of(const std::string& address) {
  return static_cast<uint16_t>(std::stoi(address.substr(address.rfind(':') + 1)));
}

// http_url and https_url are URLs of a local port: http on 127.0.0.1, https on localhost (the
// name the test certificate has).
std::string http_url(uint16_t port, const std::string& path) {
  return "http://127.0.0.1:" + std::to_string(port) + path;
}

std::string https_url(uint16_t port, const std::string& path) {
  return "https://localhost:" + std::to_string(port) + path;
}

class ReplayTest : public ProxyFixture {
 protected:
  void start(cli::ProxyMode mode, const std::string& proxyauth = "") {
    cli::Options options;
    options.confdir = confdir().string();
    options.listen_port = 0;
    options.mode = std::move(mode);
    options.upstream_trust = {origin_ca_->cert_path().string()};
    if (options.mode.kind == cli::ProxyMode::Kind::kUpstream) {
      // The upstream proxy (another runtime with the same confdir) intercepts with our CA.
      options.upstream_trust.push_back((confdir() / "sightglass-ca.pem").string());
    }
    options.write_file = jsonl().string();
    options.proxyauth = proxyauth;
    options.verbosity = 0;
    std::string error;
    runtime_ = cli::ProxyRuntime::start(options, &error);
    ASSERT_NE(runtime_, nullptr) << error;
    proxy_port_ = port_of(runtime_->local_address());
  }

  // send runs curl with |args| (and the proxy's CA trusted).
  void send(std::vector<std::string> args) {
    std::vector<std::string> argv = {"curl", "-sS",      "--max-time",
                                     "60",   "--cacert", (confdir() / "sightglass-ca.pem").string(),
                                     "-H",   kCustom};
    argv.insert(argv.end(), args.begin(), args.end());
    const ProcessResult r = run_process(argv, "", std::chrono::seconds(90));
    EXPECT_EQ(r.exit_code, 0) << r.err;
  }

  // send_via sends |args| with curl's |proxy_args| (how it reaches the proxy) before them.
  void send_via(const std::vector<std::string>& proxy_args, const std::vector<std::string>& args) {
    std::vector<std::string> argv = proxy_args;
    argv.insert(argv.end(), args.begin(), args.end());
    send(std::move(argv));
  }

  // post sends kBody to |url| with curl's |proxy_args|.
  void post(const std::vector<std::string>& proxy_args, const std::string& url) {
    send_via(proxy_args, {"--data-raw", kBody, url});
  }

  // post_plain_and_tls posts to the plain origin's /echo-full/plain and then to the TLS
  // origin's /echo-full/tls.
  void post_plain_and_tls(const std::vector<std::string>& proxy_args, uint16_t plain,
                          uint16_t tls) {
    post(proxy_args, http_url(plain, "/echo-full/plain"));
    post(proxy_args, https_url(tls, "/echo-full/tls"));
  }

  // stop shuts the runtime down and waits for it.
  void stop() {
    runtime_->shutdown();
    EXPECT_EQ(runtime_->wait(), "");
  }

  // wait_for_flows waits until the log has |n| flows and returns them.
  std::vector<json> wait_for_flows(size_t n) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    std::vector<json> flows = read_jsonl_so_far(jsonl());
    while (flows.size() < n && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      flows = read_jsonl_so_far(jsonl());
    }
    EXPECT_EQ(flows.size(), n);
    return flows;
  }

  // replay replays a logged flow (as the GUI has it after reading the log) and waits for the
  // replay to end; returns its error, or "".
  std::string replay(const json& entry) {
    core::FlowSnapshot flow;
    std::string error;
    EXPECT_TRUE(core::from_har_entry(entry, &flow, &error)) << error;
    auto done = std::make_shared<std::promise<std::string>>();
    std::future<std::string> result = done->get_future();
    if (!runtime_->replay(flow, &error, [done](const std::string& e) { done->set_value(e); })) {
      return "refused: " + error;
    }
    if (result.wait_for(std::chrono::seconds(60)) != std::future_status::ready) {
      return "the replay did not end";
    }
    return result.get();
  }

  // replay_all replays every flow logged so far and checks the replays that arrive.
  void replay_all_and_check() {
    const std::vector<json> originals = wait_for_flows(expected_);
    for (const json& flow : originals) {
      EXPECT_EQ(replay(flow), "") << flow["request"]["url"];
    }
    const std::vector<json> all = wait_for_flows(2 * expected_);
    stop();
    runtime_.reset();
    ASSERT_EQ(all.size(), 2 * expected_);
    for (size_t i = 0; i < expected_; ++i) {
      const json& original = all[i];
      const json& replayed = all[expected_ + i];  // Replays run one after the other.
      SCOPED_TRACE(original["request"]["url"].get<std::string>());
      EXPECT_FALSE(original.contains("_replay"));
      EXPECT_EQ(replayed.value("_replay", false), true) << replayed.dump().substr(0, 3000);
      EXPECT_EQ(replayed["request"]["method"], original["request"]["method"]);
      if (original["request"]["httpVersion"] == "HTTP/2.0") {
        // An HTTP/2 flow of a reverse proxy names the client's :scheme, an HTTP/1.1 one the
        // target's: the rest of the URL is the same.
        EXPECT_EQ(without_scheme(replayed["request"]["url"]),
                  without_scheme(original["request"]["url"]));
      } else {
        EXPECT_EQ(replayed["request"]["url"], original["request"]["url"]);
      }
      EXPECT_EQ(post_text(replayed), post_text(original));
      EXPECT_EQ(replayed["response"]["status"], 200) << replayed.value("_error", "");
      EXPECT_EQ(original.contains("_tls"), replayed.contains("_tls"));
      EXPECT_EQ(replayed["request"]["httpVersion"], "HTTP/1.1");
      if (original["request"]["url"].get<std::string>().ends_with("/h2")) {
        EXPECT_EQ(original["request"]["httpVersion"], "HTTP/2.0");
      }
      for (const json& h : replayed["request"]["headers"]) {
        EXPECT_NE(lower(h["name"].get<std::string>()), "x-sightglass-replay");
      }
      // What the origin received: the client's headers and body, never the token.
      const std::string echo = replayed["response"]["content"].value("text", "");
      EXPECT_EQ(lower(echo).find("x-sightglass-replay"), std::string::npos) << echo;
      EXPECT_NE(lower(echo).find(lower("\r\n" + kCustom + "\r\n")), std::string::npos) << echo;
      if (original["request"]["method"] == "POST") {
        EXPECT_TRUE(echo.ends_with("\r\n\r\n" + kBody)) << echo;
      }
    }
  }

  std::unique_ptr<cli::ProxyRuntime> runtime_;
  size_t expected_ = 0;  // Flows sent before the replays.
};

TEST_F(ReplayTest, RegularModeWithCredentialsHttpAndHttpsThroughConnect) {
  const uint16_t plain = start_origin();
  const uint16_t tls = start_origin(good_cert_);
  start({}, "user:pa:ss");
  const std::vector<std::string> proxy = {"-x", http_url(proxy_port_, ""), "--proxy-user",
                                          "user:pa:ss"};
  post(proxy, http_url(plain, "/echo-full/plain?q=1"));
  post(proxy, https_url(tls, "/echo-full/tls?q=2"));
  send_via(proxy, {https_url(tls, "/echo-full/get")});
  expected_ = 3;
  replay_all_and_check();
}

TEST_F(ReplayTest, UpstreamModeChainedThroughAnotherProxy) {
  const uint16_t plain = start_origin();
  const uint16_t tls = start_origin(good_cert_);
  // The upstream proxy: a second runtime, regular mode, logging nothing.
  cli::Options chained;
  chained.confdir = confdir().string();
  chained.listen_port = 0;
  chained.upstream_trust = {origin_ca_->cert_path().string()};
  chained.verbosity = 0;
  std::string error;
  auto upstream = cli::ProxyRuntime::start(chained, &error);
  ASSERT_NE(upstream, nullptr) << error;
  cli::ProxyMode mode;
  mode.kind = cli::ProxyMode::Kind::kUpstream;
  mode.scheme = "http";
  mode.host = "127.0.0.1";
  mode.port = port_of(upstream->local_address());
  start(mode, "u:p");
  post_plain_and_tls({"-x", "http://u:p@127.0.0.1:" + std::to_string(proxy_port_)}, plain, tls);
  expected_ = 2;
  replay_all_and_check();
  upstream->shutdown();
  EXPECT_EQ(upstream->wait(), "");
}

TEST_F(ReplayTest, AWrongTokenIsForwardedAndNotAReplay) {
  const uint16_t plain = start_origin();
  start({});
  const std::string forged = "X-Sightglass-Replay: 00000000000000000000000000000000";
  send({"-x", http_url(proxy_port_, ""), "-H", forged, http_url(plain, "/echo-full/forged")});
  const std::vector<json> flows = wait_for_flows(1);
  stop();
  ASSERT_EQ(flows.size(), 1u);
  EXPECT_FALSE(flows[0].contains("_replay"));
  const std::string echo = flows[0]["response"]["content"].value("text", "");
  EXPECT_NE(echo.find("\r\n" + forged + "\r\n"), std::string::npos) << echo;
  bool logged = false;
  for (const json& h : flows[0]["request"]["headers"]) {
    logged = logged || h["name"] == "X-Sightglass-Replay";
  }
  EXPECT_TRUE(logged);
}

TEST_F(ReplayTest, Socks5WithCredentials) {
  const uint16_t plain = start_origin();
  const uint16_t tls = start_origin(good_cert_);
  cli::ProxyMode socks5;
  socks5.kind = cli::ProxyMode::Kind::kSocks5;
  start(socks5, "user:pass");
  post_plain_and_tls({"-x", "socks5h://user:pass@127.0.0.1:" + std::to_string(proxy_port_)}, plain,
                     tls);
  expected_ = 2;
  replay_all_and_check();
}

TEST_F(ReplayTest, ReverseModeOverTlsAndPlain) {
  const uint16_t tls = start_origin(good_cert_);
  cli::ProxyMode reverse;
  reverse.kind = cli::ProxyMode::Kind::kReverse;
  reverse.scheme = "https";
  reverse.host = "localhost";
  reverse.port = tls;
  start(reverse);
  const std::string port = std::to_string(proxy_port_);
  post({"--resolve", "localhost:" + port + ":127.0.0.1"}, https_url(proxy_port_, "/echo-full/tls"));
  post({}, http_url(proxy_port_, "/echo-full/plain"));
  // An HTTP/2 client (its flow has no Host, lowercase names): replayed as HTTP/1.1.
  post({"--http2-prior-knowledge"}, http_url(proxy_port_, "/echo-full/h2"));
  expected_ = 3;
  replay_all_and_check();
}

TEST(ReplayRefusal, WhatCannotBeReplayed) {
  using Mode = core::ProxyConfig::Mode;
  core::FlowSnapshot flow =
      core::test_flows::request_flow("POST", "https", "example.test", 443, "/");
  auto& request = *flow.request;
  request.body.append("abc", 2);
  EXPECT_NE(cli::replay_refusal(flow, Mode::kRegular).find("--body-limit"), std::string::npos);
  request.body = {};
  EXPECT_EQ(cli::replay_refusal(flow, Mode::kRegular), "");
  EXPECT_EQ(cli::replay_refusal(flow, Mode::kTransparent),
            "replay needs an explicit, SOCKS5 or reverse listener (this proxy is transparent)");
  flow.state = core::FlowState::kLive;
  EXPECT_EQ(cli::replay_refusal(flow, Mode::kSocks5), "the flow is still in progress");
  flow.state = core::FlowState::kFinished;
  request.headers = {{"Upgrade", "websocket"}};
  EXPECT_NE(cli::replay_refusal(flow, Mode::kReverse), "");
  const core::FlowSnapshot tcp = core::test_flows::tcp_flow();
  EXPECT_EQ(cli::replay_refusal(tcp, Mode::kRegular), "only HTTP requests can be replayed");
}

TEST(ReplayRequest, OriginAndAbsoluteFormWithTheTokenLast) {
  core::HttpRequestData request =
      *core::test_flows::request_flow("POST", "http", "example.test", 8080, "/p?q").request;
  request.http_version = "HTTP/2.0";
  request.headers = {{"content-type", "text/plain"},
                     {"content-length", "3"},
                     {"connection", "keep-alive"},
                     {":authority", "example.test:8080"}};
  request.body.append("abc", 100);
  EXPECT_EQ(cli::replay_request(request, false, std::nullopt, "t0k"),
            "POST /p?q HTTP/1.1\r\nHost: example.test:8080\r\ncontent-type: text/plain\r\n"
            "Content-Length: 3\r\nX-Sightglass-Replay: t0k\r\n\r\nabc");
  request.trailers = {{"x-sum", "1"}};
  EXPECT_EQ(cli::replay_request(request, true, core::ProxyCredentials{"u", "p"}, "t0k"),
            "POST http://example.test:8080/p?q HTTP/1.1\r\nHost: example.test:8080\r\n"
            "content-type: text/plain\r\nTransfer-Encoding: chunked\r\n"
            "Proxy-Authorization: Basic dTpw\r\nX-Sightglass-Replay: t0k\r\n\r\n"
            "3\r\nabc\r\n0\r\nx-sum: 1\r\n\r\n");
}

}  // namespace
}  // namespace sightglass::test
