// Safe defaults, end to end: who may use a proxy that listens beyond loopback, and what never
// leaks (credentials, the CA key). The address tests run the real binary in a network namespace
// of their own, with one client on a public address and one on a private address.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <signal.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "tests/support/netns.h"
#include "tests/support/netns_fixture.h"
#include "tests/support/process.h"
#include "tests/support/proxy_fixture.h"

namespace sightglass {
namespace {

using nlohmann::json;
using test::ChildProcess;
using test::NetnsLab;
using test::ProcessResult;

// 5.5.5.0/24 is a global range (only ever used inside the test's own namespaces); 10.9.0.0/24
// is private.
constexpr char kPublicClientIp[] = "5.5.5.2";
constexpr char kProxyPublicSideIp[] = "5.5.5.1";
constexpr char kPrivateClientIp[] = "10.9.0.2";
constexpr char kProxyPrivateSideIp[] = "10.9.0.1";

class ExposureTest : public test::NetnsHubFixture {
 protected:
  void SetUp() override {
    set_up_hub({"public", "p0", std::string(kPublicClientIp) + "/24", "x0",
                std::string(kProxyPublicSideIp) + "/24"},
               "proxy",
               {"private", "q0", std::string(kPrivateClientIp) + "/24", "x1",
                std::string(kProxyPrivateSideIp) + "/24"});
    if (IsSkipped() || HasFatalFailure()) {
      return;
    }
    public_ns_ = left_;
    proxy_ns_ = hub_;
    private_ns_ = right_;
  }

  void TearDown() override {
    if (proxy_) {
      proxy_->signal(SIGTERM);
      const ProcessResult r = proxy_->wait(std::chrono::seconds(10));
      if (HasFailure()) {
        std::cerr << "--- sightglass (exit " << r.exit_code << ") stderr:\n" << r.err;
      }
    }
    proxy_.reset();
    lab_.reset();
  }

  // start starts sightglass on 0.0.0.0 in the proxy's namespace with |extra| options.
  void start(std::vector<std::string> extra) {
    std::vector<std::string> argv = {SIGHTGLASS_BINARY,
                                     "--listen-host",
                                     "0.0.0.0",
                                     "-p",
                                     "0",
                                     "--confdir",
                                     confdir().string(),
                                     "-w",
                                     jsonl().string()};
    argv.insert(argv.end(), extra.begin(), extra.end());
    proxy_ = std::make_unique<ChildProcess>(NetnsLab::exec(proxy_ns_, argv));
    const std::string line = proxy_->wait_for_line(true, "listening on");
    ASSERT_FALSE(line.empty()) << "sightglass did not start";
    port_ = line.substr(line.rfind(':') + 1, line.find(' ', line.rfind(':')) - line.rfind(':') - 1);
  }

  // fetch asks for the magic host's page from |ns| through the proxy at |proxy_ip|; returns
  // curl's result ("%{http_code}" on stdout).
  ProcessResult fetch(const std::string& ns, const std::string& proxy_ip,
                      std::vector<std::string> extra = {}) {
    std::vector<std::string> argv = {
        "curl",      "-sS", "--max-time",   "10", "-o",
        "/dev/null", "-w",  "%{http_code}", "-x", "http://" + proxy_ip + ":" + port_};
    argv.insert(argv.end(), extra.begin(), extra.end());
    argv.push_back("http://sightglass/");
    return NetnsLab::run(ns, argv, "", std::chrono::seconds(30));
  }

  // stop stops the proxy and returns what it printed and logged.
  std::pair<ProcessResult, std::vector<json>> stop() {
    proxy_->signal(SIGTERM);
    ProcessResult r = proxy_->wait(std::chrono::seconds(10));
    proxy_.reset();
    return {r, test::read_jsonl(jsonl())};
  }

  std::string proxy_ns_, public_ns_, private_ns_;
  std::unique_ptr<ChildProcess> proxy_;
  std::string port_;
};

TEST_F(ExposureTest, PublicClientsAreRefusedWithoutCredentials) {
  ASSERT_NO_FATAL_FAILURE(start({}));
  const ProcessResult refused = fetch(public_ns_, kProxyPublicSideIp);
  EXPECT_NE(refused.exit_code, 0) << "a public client was served: " << refused.out;
  EXPECT_EQ(refused.out, "000");
  const ProcessResult served = fetch(private_ns_, kProxyPrivateSideIp);
  EXPECT_EQ(served.exit_code, 0) << served.err;
  EXPECT_EQ(served.out, "200");

  const auto [proxy, flows] = stop();
  EXPECT_NE(proxy.err.find("warning: listening on 0.0.0.0:" + port_ +
                           " without --proxyauth: clients from loopback and private addresses "
                           "are served, clients from public addresses are refused"),
            std::string::npos)
      << proxy.err;
  EXPECT_NE(proxy.err.find(std::string("client ") + kPublicClientIp), std::string::npos)
      << proxy.err;
  // The refusal is a flow of its own, naming the client and the reason.
  int refusals = 0;
  for (const json& flow : flows) {
    const std::string error = flow.value("_error", "");
    if (error.find("refused: a public address") != std::string::npos) {
      ++refusals;
      EXPECT_EQ(flow.value("_clientAddress", "").rfind(kPublicClientIp, 0), 0u) << flow.dump();
    }
  }
  EXPECT_EQ(refusals, 1);
}

TEST_F(ExposureTest, AllowRemoteServesPublicClientsAndSaysSo) {
  ASSERT_NO_FATAL_FAILURE(start({"--allow-remote"}));
  const ProcessResult served = fetch(public_ns_, kProxyPublicSideIp);
  EXPECT_EQ(served.exit_code, 0) << served.err;
  EXPECT_EQ(served.out, "200");
  const auto [proxy, flows] = stop();
  EXPECT_NE(proxy.err.find("--allow-remote serves clients from public addresses: anyone who can "
                           "reach this port can use the proxy"),
            std::string::npos)
      << proxy.err;
}

TEST_F(ExposureTest, CredentialsServePublicClientsAndNeverLeak) {
  ASSERT_NO_FATAL_FAILURE(start({"--proxyauth", "alice:s3cret-pass", "-v", "-v"}));
  const ProcessResult served =
      fetch(public_ns_, kProxyPublicSideIp, {"--proxy-user", "alice:s3cret-pass"});
  EXPECT_EQ(served.exit_code, 0) << served.err;
  EXPECT_EQ(served.out, "200");
  const ProcessResult wrong =
      fetch(public_ns_, kProxyPublicSideIp, {"--proxy-user", "alice:wrong-pass"});
  EXPECT_EQ(wrong.out, "407");
  const auto [proxy, flows] = stop();
  EXPECT_EQ(proxy.err.find("warning: listening"), std::string::npos) << proxy.err;
  // Neither the password (plain or in the header's base64) nor the header reach a log.
  const std::string logged = proxy.err + test::read_file(jsonl());
  for (const std::string secret :
       {"s3cret-pass", "wrong-pass", "YWxpY2U6czNjcmV0LXBhc3M", "YWxpY2U6d3JvbmctcGFzcw",
        "Proxy-Authorization", "proxy-authorization"}) {
    EXPECT_EQ(logged.find(secret), std::string::npos) << secret << " was logged";
  }
  // The 407 makes no flow (the client retries with credentials); stderr names the failure.
  EXPECT_NE(
      proxy.err.find(std::string("proxy authentication failed for a client at ") + kPublicClientIp),
      std::string::npos)
      << proxy.err;
  ASSERT_EQ(flows.size(), 1u);
  EXPECT_EQ(flows[0]["response"]["status"], 200);
}

class MagicHostTest : public test::ProxyFixture {};

// http://sightglass/ serves the CA certificate; no path (traversal, encoded, guessed) serves
// its key.
TEST_F(MagicHostTest, NeverServesTheCaKey) {
  start_proxy();
  const ProcessResult pem = curl({"http://sightglass/cert/pem"});
  EXPECT_NE(pem.out.find("BEGIN CERTIFICATE"), std::string::npos) << pem.out;
  const std::string key = test::read_file(confdir() / "sightglass-ca-key.pem");
  ASSERT_NE(key.find("PRIVATE KEY"), std::string::npos);
  for (const std::string path :
       {"/cert/key", "/cert/pem/../key", "/sightglass-ca-key.pem", "/../sightglass-ca-key.pem",
        "/%2e%2e/sightglass-ca-key.pem", "/cert/..%2fsightglass-ca-key.pem", "/cert/pem?key=1",
        "/cert/der/../../sightglass-ca-key.pem", "/key", "/cert/p12", "/cert/PEM"}) {
    const ProcessResult r = curl({"--path-as-is", "-i", "http://sightglass" + path});
    EXPECT_EQ(r.out.find("PRIVATE KEY"), std::string::npos) << path;
    EXPECT_EQ(r.out.find(key.substr(key.find('\n') + 1, 40)), std::string::npos) << path;
  }
  stop_proxy();
}

}  // namespace
}  // namespace sightglass
