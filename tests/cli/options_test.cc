#include "cli/options.h"

#include <gtest/gtest.h>

namespace sightglass::cli {
namespace {

bool parse(const std::vector<std::string>& args, Options* out, std::string* error) {
  return parse_options(args, out, nullptr, error);
}

TEST(Options, DefaultsFollowTheContract) {
  Options o;
  std::string error;
  ASSERT_TRUE(parse({}, &o, &error)) << error;
  EXPECT_EQ(o.listen_host, "127.0.0.1");
  EXPECT_EQ(o.listen_port, 8080);
  EXPECT_EQ(o.mode.kind, ProxyMode::Kind::kRegular);
  EXPECT_FALSE(o.ssl_insecure);
  EXPECT_EQ(o.body_limit, 1024u * 1024u);
  EXPECT_TRUE(o.auto_passthrough);
  EXPECT_EQ(o.verbosity, 1);
}

TEST(Options, ParsesEveryOptionInLongShortAndInlineForms) {
  Options o;
  std::string error;
  ASSERT_TRUE(parse({"--listen-host",
                     "::1",
                     "-p",
                     "0",
                     "--mode=socks5",
                     "--confdir",
                     "/c",
                     "--ssl-insecure",
                     "--upstream-trust",
                     "a.pem",
                     "--upstream-trust=b.pem",
                     "-w",
                     "-",
                     "--har",
                     "out.har",
                     "--ignore-hosts",
                     "^example\\.com:443$",
                     "--allow-hosts",
                     ".*",
                     "--filter",
                     "~d x",
                     "--body-limit",
                     "64K",
                     "--proxyauth",
                     "u:p",
                     "--no-auto-passthrough",
                     "--keylog",
                     "k.log",
                     "-q"},
                    &o, &error))
      << error;
  EXPECT_EQ(o.listen_host, "::1");
  EXPECT_EQ(o.listen_port, 0);
  EXPECT_EQ(o.mode.kind, ProxyMode::Kind::kSocks5);
  EXPECT_EQ(o.confdir, "/c");
  EXPECT_TRUE(o.ssl_insecure);
  EXPECT_EQ(o.upstream_trust, (std::vector<std::string>{"a.pem", "b.pem"}));
  EXPECT_EQ(o.write_file, "-");
  EXPECT_EQ(o.har_file, "out.har");
  EXPECT_EQ(o.ignore_hosts.size(), 1u);
  EXPECT_EQ(o.allow_hosts.size(), 1u);
  EXPECT_EQ(o.filter, "~d x");
  EXPECT_EQ(o.body_limit, 64u * 1024u);
  EXPECT_EQ(o.proxyauth, "u:p");
  EXPECT_FALSE(o.auto_passthrough);
  EXPECT_EQ(o.keylog_file, "k.log");
  EXPECT_EQ(o.verbosity, 0);
  Options v;
  ASSERT_TRUE(parse({"-v", "-p8081"}, &v, &error)) << error;
  EXPECT_EQ(v.verbosity, 2);
  EXPECT_EQ(v.listen_port, 8081);
}

TEST(Options, ErrorsNameTheBadOption) {
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--bogus"}, "--bogus"},
      {{"-x"}, "-x"},
      {{"-p", "http"}, "--listen-port"},
      {{"-p", "65536"}, "--listen-port"},
      {{"--listen-port"}, "--listen-port"},
      {{"--mode", "sideways"}, "--mode"},
      {{"--mode", "reverse:ftp://x"}, "--mode"},
      {{"--mode", "upstream:https://x:1"}, "--mode"},
      {{"--body-limit", "lots"}, "--body-limit"},
      {{"--ignore-hosts", "("}, "--ignore-hosts"},
      {{"--proxyauth", "nocolon"}, "--proxyauth"},
      {{"--ssl-insecure=yes"}, "--ssl-insecure"},
      {{"stray"}, "stray"},
  };
  for (const auto& [args, needle] : cases) {
    Options o;
    std::string error;
    EXPECT_FALSE(parse(args, &o, &error)) << args[0];
    EXPECT_NE(error.find(needle), std::string::npos) << error;
  }
}

TEST(Options, ParsesModes) {
  ProxyMode mode;
  std::string error;
  ASSERT_TRUE(parse_mode("reverse:https://example.com", &mode, &error)) << error;
  EXPECT_EQ(mode.kind, ProxyMode::Kind::kReverse);
  EXPECT_EQ(mode.scheme, "https");
  EXPECT_EQ(mode.host, "example.com");
  EXPECT_EQ(mode.port, 443);
  ASSERT_TRUE(parse_mode("reverse:http://127.0.0.1:8000/", &mode, &error)) << error;
  EXPECT_EQ(mode.scheme, "http");
  EXPECT_EQ(mode.host, "127.0.0.1");
  EXPECT_EQ(mode.port, 8000);
  ASSERT_TRUE(parse_mode("reverse:https://[::1]:8443", &mode, &error)) << error;
  EXPECT_EQ(mode.host, "::1");
  EXPECT_EQ(mode.port, 8443);
  ASSERT_TRUE(parse_mode("upstream:http://proxy.local:3128", &mode, &error)) << error;
  EXPECT_EQ(mode.kind, ProxyMode::Kind::kUpstream);
  EXPECT_EQ(mode.port, 3128);
  ASSERT_TRUE(parse_mode("transparent", &mode, &error));
  EXPECT_EQ(mode.kind, ProxyMode::Kind::kTransparent);
  for (const char* bad : {"reverse:", "reverse:https://", "reverse:https://h:0",
                          "reverse:https://h:99999", "reverse:https://[::1", "upstream:x"}) {
    EXPECT_FALSE(parse_mode(bad, &mode, &error)) << bad;
  }
}

TEST(Options, ParsesSizes) {
  EXPECT_EQ(parse_size("0"), 0u);
  EXPECT_EQ(parse_size("1234"), 1234u);
  EXPECT_EQ(parse_size("2k"), 2048u);
  EXPECT_EQ(parse_size("3M"), 3u << 20);
  EXPECT_EQ(parse_size("1G"), uint64_t{1} << 30);
  EXPECT_FALSE(parse_size(""));
  EXPECT_FALSE(parse_size("K"));
  EXPECT_FALSE(parse_size("-1"));
  EXPECT_FALSE(parse_size("1.5M"));
  EXPECT_FALSE(parse_size("99999999999999999999"));
}

TEST(Options, ParsesTimeLimits) {
  EXPECT_EQ(parse_seconds("30"), 30'000);
  EXPECT_EQ(parse_seconds("0.5"), 500);
  EXPECT_EQ(parse_seconds("1.25"), 1250);
  EXPECT_FALSE(parse_seconds("0"));
  EXPECT_FALSE(parse_seconds(""));
  EXPECT_FALSE(parse_seconds("-1"));
  EXPECT_FALSE(parse_seconds("1."));
  EXPECT_FALSE(parse_seconds("0.0001"));
  EXPECT_FALSE(parse_seconds("1s"));
  Options o;
  std::string error;
  EXPECT_EQ(o.client_handshake_timeout_ms, 30'000);
  EXPECT_EQ(o.server_response_timeout_ms, 120'000);
  ASSERT_TRUE(parse({"--client-handshake-timeout", "2", "--client-idle-timeout=3",
                     "--server-idle-timeout", "4", "--server-connect-timeout", "5",
                     "--server-handshake-timeout", "6", "--server-response-timeout", "7.5"},
                    &o, &error))
      << error;
  EXPECT_EQ(o.client_handshake_timeout_ms, 2000);
  EXPECT_EQ(o.client_idle_timeout_ms, 3000);
  EXPECT_EQ(o.server_idle_timeout_ms, 4000);
  EXPECT_EQ(o.server_connect_timeout_ms, 5000);
  EXPECT_EQ(o.server_handshake_timeout_ms, 6000);
  EXPECT_EQ(o.server_response_timeout_ms, 7500);
  EXPECT_FALSE(parse({"--server-response-timeout", "soon"}, &o, &error));
  EXPECT_NE(error.find("--server-response-timeout"), std::string::npos) << error;
}

TEST(Options, UsageListsEveryContractOption) {
  const std::string usage = usage_text();
  for (const char* name : {"--listen-host",
                           "--listen-port",
                           "--mode",
                           "--confdir",
                           "--ssl-insecure",
                           "--upstream-trust",
                           "--write",
                           "--har",
                           "--ignore-hosts",
                           "--allow-hosts",
                           "--filter",
                           "--body-limit",
                           "--proxyauth",
                           "--no-auto-passthrough",
                           "--keylog",
                           "--quiet",
                           "--verbose",
                           "ca export",
                           "ca path",
                           "har IN [OUT.har]",
                           "show IN [FILTER] [-w OUT|-]",
                           "--save"}) {
    EXPECT_NE(usage.find(name), std::string::npos) << name;
  }
}

}  // namespace
}  // namespace sightglass::cli
