#pragma once

// HostPort: the one place that parses and formats "host:port" (an IPv6 literal in brackets,
// "[::1]:443"). Sans-I/O: strings in, strings out.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sightglass::core {

struct HostPort {
  std::string host;  // Without brackets.
  uint16_t port = 0;
  bool operator==(const HostPort&) const = default;
};

// format_host is |host| as it goes before ":port" or in a URL: in brackets when it contains a
// colon (an IPv6 literal), as it is otherwise.
std::string format_host(std::string_view host);

// format_host_port is "host:port", an IPv6 host in brackets ("[::1]:443").
std::string format_host_port(std::string_view host, uint16_t port);

// format_authority is "host[:port]" as a URL or a Host header names it: the host as
// format_host writes it, the port only when it is neither 0 nor |scheme|'s default (http 80,
// https 443).
std::string format_authority(std::string_view host, uint16_t port, std::string_view scheme);

// parse_host_port splits "host[:port]" or "[v6][:port]". Without a port (or with an empty one)
// the port is |default_port|; the result is nullopt when there is neither (a default of 0 counts
// as none), when the port is not 1..65535 in digits, when the host is empty or has one of
// " /?#@", or when a bracketed host is unterminated or followed by anything but ":port".
// Without brackets the port follows the last colon.
std::optional<HostPort> parse_host_port(std::string_view text,
                                        std::optional<uint16_t> default_port = std::nullopt);

// address_host returns the host part of an "ip:port" address without brackets: "1.2.3.4:80" ->
// "1.2.3.4", "[::1]:443" -> "::1"; an address without a port (or a bare IPv6 one) as it is.
std::string_view address_host(std::string_view address);

// address_port returns the port text of "ip:port" / "[v6]:port", or "" when there is none.
std::string_view address_port(std::string_view address);

// is_public_ip says whether |ip| (a v4 or v6 literal, without brackets) is a global address:
// none of loopback, the private networks (10/8, 172.16/12, 192.168/16, fc00::/7), link-local,
// shared (100.64/10), documentation, benchmarking or reserved ranges (Python's
// ipaddress.is_global, which mitmproxy's block_global uses); an IPv4-mapped v6 address as its v4
// one. False for text that is not an IP literal.
bool is_public_ip(std::string_view ip);

}  // namespace sightglass::core
