#include "core/proxy/host_port.h"

#include <gtest/gtest.h>

namespace sightglass::core {
namespace {

TEST(HostPortTest, FormatsIpv4NamesAndIpv6) {
  EXPECT_EQ(format_host_port("1.2.3.4", 80), "1.2.3.4:80");
  EXPECT_EQ(format_host_port("example.com", 443), "example.com:443");
  EXPECT_EQ(format_host_port("::1", 8080), "[::1]:8080");
  EXPECT_EQ(format_host_port("2001:db8::5", 0), "[2001:db8::5]:0");
  EXPECT_EQ(format_host("::1"), "[::1]");
  EXPECT_EQ(format_host("example.com"), "example.com");
}

TEST(HostPortTest, FormatsAuthorityWithoutTheDefaultPort) {
  EXPECT_EQ(format_authority("example.com", 443, "https"), "example.com");
  EXPECT_EQ(format_authority("example.com", 80, "http"), "example.com");
  EXPECT_EQ(format_authority("example.com", 0, "http"), "example.com");
  EXPECT_EQ(format_authority("example.com", 80, "https"), "example.com:80");
  EXPECT_EQ(format_authority("example.com", 8443, "https"), "example.com:8443");
  EXPECT_EQ(format_authority("::1", 443, "https"), "[::1]");
  EXPECT_EQ(format_authority("::1", 8080, "http"), "[::1]:8080");
}

TEST(HostPortTest, ParsesIpv4Ipv6AndNames) {
  EXPECT_EQ(parse_host_port("1.2.3.4:80"), (HostPort{"1.2.3.4", 80}));
  EXPECT_EQ(parse_host_port("[::1]:443"), (HostPort{"::1", 443}));
  EXPECT_EQ(parse_host_port("[2001:db8::5]:25"), (HostPort{"2001:db8::5", 25}));
  EXPECT_EQ(parse_host_port("example.com:65535"), (HostPort{"example.com", 65535}));
  EXPECT_EQ(parse_host_port("example.com:1"), (HostPort{"example.com", 1}));
}

TEST(HostPortTest, MissingPortTakesTheDefaultOrFails) {
  EXPECT_EQ(parse_host_port("example.com"), std::nullopt);
  EXPECT_EQ(parse_host_port("[::1]"), std::nullopt);
  EXPECT_EQ(parse_host_port("example.com", 80), (HostPort{"example.com", 80}));
  EXPECT_EQ(parse_host_port("[::1]", 443), (HostPort{"::1", 443}));
  // An empty port is a missing one.
  EXPECT_EQ(parse_host_port("example.com:", 80), (HostPort{"example.com", 80}));
  EXPECT_EQ(parse_host_port("[::1]:", 443), (HostPort{"::1", 443}));
  EXPECT_EQ(parse_host_port("example.com:"), std::nullopt);
  // A default of 0 is no default.
  EXPECT_EQ(parse_host_port("example.com", 0), std::nullopt);
  // An explicit port wins over the default.
  EXPECT_EQ(parse_host_port("example.com:8080", 80), (HostPort{"example.com", 8080}));
}

TEST(HostPortTest, RejectsBadPorts) {
  for (const char* text :
       {"example.com:0", "example.com:65536", "example.com:99999999999", "example.com:http",
        "example.com:80x", "example.com:-1", "example.com:+80", "example.com: 80", "[::1]:0",
        "[::1]:65536", "[::1]:abc"}) {
    EXPECT_EQ(parse_host_port(text), std::nullopt) << text;
    EXPECT_EQ(parse_host_port(text, 80), std::nullopt) << text;
  }
}

TEST(HostPortTest, RejectsBadHostsAndStrayBrackets) {
  for (const char* text :
       {"", ":80", "[]:80", "[]", "[::1", "[::1:80", "[::1]80", "[::1]x:80", "user@example.com:80",
        "example.com/x:80", "exa mple.com:80", "example.com?:80", "example.com#:80"}) {
    EXPECT_EQ(parse_host_port(text), std::nullopt) << text;
    EXPECT_EQ(parse_host_port(text, 80), std::nullopt) << text;
  }
}

TEST(HostPortTest, RoundTripsWhatItFormats) {
  for (const HostPort& hp : {HostPort{"1.2.3.4", 80}, HostPort{"::1", 443},
                             HostPort{"fe80::1:2", 65535}, HostPort{"example.com", 1}}) {
    EXPECT_EQ(parse_host_port(format_host_port(hp.host, hp.port)), hp);
  }
}

TEST(HostPortTest, SplitsAddresses) {
  EXPECT_EQ(address_host("1.2.3.4:80"), "1.2.3.4");
  EXPECT_EQ(address_port("1.2.3.4:80"), "80");
  EXPECT_EQ(address_host("[::1]:443"), "::1");
  EXPECT_EQ(address_port("[::1]:443"), "443");
  // Without a port, or a bare IPv6 address: the host as it is, no port.
  EXPECT_EQ(address_host("1.2.3.4"), "1.2.3.4");
  EXPECT_EQ(address_port("1.2.3.4"), "");
  EXPECT_EQ(address_host("::1"), "::1");
  EXPECT_EQ(address_port("::1"), "");
  EXPECT_EQ(address_host("[::1]"), "::1");
  EXPECT_EQ(address_port("[::1]"), "");
  EXPECT_EQ(address_host(""), "");
  EXPECT_EQ(address_port(""), "");
}

// The addresses --allow-remote is about: global ones, as Python's ipaddress.is_global.
TEST(HostPortTest, TellsPublicAddressesFromLocalAndPrivateOnes) {
  for (const char* ip :
       {"5.5.5.2", "8.8.8.8", "1.1.1.1", "172.32.0.1", "100.128.0.1", "192.169.0.1",
        "2a00:1450:4001::200e", "2606:4700::1111", "::ffff:8.8.8.8", "223.255.255.255"}) {
    EXPECT_TRUE(is_public_ip(ip)) << ip;
  }
  for (const char* ip : {"127.0.0.1",
                         "127.255.0.9",
                         "10.0.0.1",
                         "172.16.0.1",
                         "172.31.255.255",
                         "192.168.1.1",
                         "169.254.1.1",
                         "100.64.0.1",
                         "100.127.255.255",
                         "0.0.0.0",
                         "192.0.2.5",
                         "198.18.1.2",
                         "198.51.100.7",
                         "203.0.113.9",
                         "240.0.0.1",
                         "255.255.255.255",
                         "::1",
                         "::",
                         "fd00::1",
                         "fc12::5",
                         "fe80::1",
                         "2001:db8::1",
                         "::ffff:192.168.0.1",
                         "::ffff:127.0.0.1",
                         "not an address",
                         "",
                         "1.2.3",
                         "[::1]"}) {
    EXPECT_FALSE(is_public_ip(ip)) << ip;
  }
}

}  // namespace
}  // namespace sightglass::core
