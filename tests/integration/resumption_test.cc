// TLS session resumption on both legs, end to end: openssl s_client (-sess_out / -sess_in,
// TLS 1.2 and 1.3) and curl resume their sessions with the proxy, the proxy resumes its own
// with the origin (openssl s_server -www, whose page says "Reused" or "New"), the log says
// which side resumed (_tls.client.resumed, _tls.server.resumed), and a session for one server
// name is never offered to another.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <memory>
#include <string>
#include <vector>

#include "tests/support/proxy_fixture.h"

namespace sightglass {
namespace {

using nlohmann::json;
using test::ChildProcess;
using test::ProcessResult;
using test::run_process;

class ResumptionTest : public test::ProxyFixture {
 protected:
  // start_s_server starts openssl s_server -www with the good certificate (localhost and
  // 127.0.0.1); it answers every request with a page describing its TLS session.
  uint16_t start_s_server() {
    const uint16_t port = test::free_port();
    origins_.push_back(std::make_unique<ChildProcess>(std::vector<std::string>{
        "openssl", "s_server", "-accept", "127.0.0.1:" + std::to_string(port), "-cert",
        good_cert_.first.string(), "-key", good_cert_.second.string(), "-www", "-quiet"}));
    EXPECT_TRUE(test::wait_for_port(port)) << "s_server did not start";
    return port;
  }

  // s_client connects to the proxy (reverse mode) as |version|, sends a request and waits for
  // the answer; |session| is written (-sess_out) or, when |resume|, offered (-sess_in).
  ProcessResult s_client(const std::string& version, const std::string& session, bool resume) {
    return run_process(
        {"openssl", "s_client", version, "-connect", "127.0.0.1:" + std::to_string(proxy_port_),
         "-servername", "localhost", "-CAfile", (confdir() / "sightglass-ca.pem").string(),
         "-ign_eof", resume ? "-sess_in" : "-sess_out", session},
        "GET / HTTP/1.0\r\nHost: localhost\r\n\r\n", std::chrono::seconds(30));
  }

  // fetch GETs |url| through the proxy (explicit) on a connection of its own; the page.
  std::string fetch(const std::string& url) {
    const ProcessResult r = curl({"--http1.1", "-H", "Connection: close", url});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return r.out;
  }
};

bool resumed(const json& flow, const char* side) {
  return flow["_tls"][side].value("resumed", false);
}

TEST_F(ResumptionTest, OpensslClientsResumeWithTheProxyOverTls12And13) {
  const uint16_t origin = start_s_server();
  start_proxy({"--mode", "reverse:https://localhost:" + std::to_string(origin)});
  for (const std::string version : {"-tls1_3", "-tls1_2"}) {
    const std::string session = (dir_.path() / ("session" + version)).string();
    const ProcessResult first = s_client(version, session, false);
    EXPECT_NE(first.out.find("\nNew, TLSv1."), std::string::npos) << first.out << first.err;
    const ProcessResult second = s_client(version, session, true);
    EXPECT_NE(second.out.find("\nReused, TLSv1." + version.substr(6)), std::string::npos)
        << version << ": " << second.out << second.err;
  }
  const std::vector<json> flows =
      stop_when_logged([](const std::vector<json>& f) { return f.size() >= 4; });
  ASSERT_EQ(flows.size(), 4u);
  EXPECT_FALSE(resumed(flows[0], "client"));
  EXPECT_TRUE(resumed(flows[1], "client"));
  EXPECT_FALSE(resumed(flows[2], "client"));
  EXPECT_TRUE(resumed(flows[3], "client"));
  EXPECT_EQ(flows[1]["_tls"]["client"]["version"], "TLSv1.3");
  EXPECT_EQ(flows[3]["_tls"]["client"]["version"], "TLSv1.2");
}

TEST_F(ResumptionTest, CurlResumesWithTheProxyAndTheProxyWithTheOrigin) {
  const uint16_t origin = start_s_server();
  start_proxy({"--mode", "reverse:https://localhost:" + std::to_string(origin)});
  const std::string url = "https://localhost:" + std::to_string(proxy_port_) + "/";
  // One curl, two transfers on two connections: the second offers the first's session.
  const ProcessResult r =
      run_process({"curl", "-sS", "-v", "--max-time", "30", "--http1.1", "--cacert",
                   (confdir() / "sightglass-ca.pem").string(), "-H", "Connection: close", url, url},
                  "", std::chrono::seconds(60));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("SSL re-using session ID"), std::string::npos) << r.err;
  // The origin's pages: the proxy's first connection was new, its second resumed.
  const size_t first_page = r.out.find("New, TLSv1.3");
  EXPECT_NE(first_page, std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Reused, TLSv1.3", first_page), std::string::npos) << r.out;
  const std::vector<json> flows =
      stop_when_logged([](const std::vector<json>& f) { return f.size() >= 2; });
  ASSERT_EQ(flows.size(), 2u);
  EXPECT_FALSE(resumed(flows[0], "client"));
  EXPECT_FALSE(resumed(flows[0], "server"));
  EXPECT_TRUE(resumed(flows[1], "client"));
  EXPECT_TRUE(resumed(flows[1], "server"));
}

TEST_F(ResumptionTest, ASessionIsNeverOfferedToAnotherServerName) {
  // One origin under two names (its certificate has both): it would accept either name's
  // ticket, so only the proxy's cache keeps them apart.
  const uint16_t origin = start_s_server();
  start_proxy();
  const std::string by_name = "https://localhost:" + std::to_string(origin) + "/";
  const std::string by_ip = "https://127.0.0.1:" + std::to_string(origin) + "/";
  EXPECT_NE(fetch(by_name).find("New, TLSv1.3"), std::string::npos);
  EXPECT_NE(fetch(by_name).find("Reused, TLSv1.3"), std::string::npos);
  EXPECT_NE(fetch(by_ip).find("New, TLSv1.3"), std::string::npos);
  EXPECT_NE(fetch(by_ip).find("Reused, TLSv1.3"), std::string::npos);
  const std::vector<json> flows =
      stop_when_logged([](const std::vector<json>& f) { return f.size() >= 4; });
  ASSERT_EQ(flows.size(), 4u);
  const std::vector<bool> expected = {false, true, false, true};
  for (size_t i = 0; i < flows.size(); ++i) {
    EXPECT_EQ(resumed(flows[i], "server"), expected[i]) << flows[i].dump();
  }
}

}  // namespace
}  // namespace sightglass
