#include "core/proxy/host_port.h"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstring>
#include <span>

namespace sightglass::core {

std::string format_host(std::string_view host) {
  return host.find(':') != std::string_view::npos ? "[" + std::string(host) + "]"
                                                  : std::string(host);
}

std::string format_host_port(std::string_view host, uint16_t port) {
  return format_host(host) + ":" + std::to_string(port);
}

std::string format_authority(std::string_view host, uint16_t port, std::string_view scheme) {
  const bool default_port =
      port == 0 || (scheme == "https" && port == 443) || (scheme == "http" && port == 80);
  return default_port ? format_host(host) : format_host_port(host, port);
}

std::optional<HostPort> parse_host_port(std::string_view text,
                                        std::optional<uint16_t> default_port) {
  std::string_view host = text;
  std::string_view port_text;
  if (text.starts_with('[')) {
    const size_t close = text.find(']');
    if (close == std::string_view::npos) {
      return std::nullopt;
    }
    host = text.substr(1, close - 1);
    const std::string_view rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') {
        return std::nullopt;
      }
      port_text = rest.substr(1);
    }
  } else if (const size_t colon = text.rfind(':'); colon != std::string_view::npos) {
    host = text.substr(0, colon);
    port_text = text.substr(colon + 1);
  }
  if (host.empty() || host.find_first_of(" /?#@") != std::string_view::npos) {
    return std::nullopt;
  }
  uint16_t port = default_port.value_or(0);
  if (!port_text.empty()) {
    unsigned value = 0;
    const auto [end, ec] =
        std::from_chars(port_text.data(), port_text.data() + port_text.size(), value);
    if (ec != std::errc() || end != port_text.data() + port_text.size() || value == 0 ||
        value > 65535) {
      return std::nullopt;
    }
    port = static_cast<uint16_t>(value);
  }
  if (port == 0) {
    return std::nullopt;
  }
  return HostPort{std::string(host), port};
}

std::string_view address_host(std::string_view address) {
  if (address.starts_with('[')) {
    const size_t close = address.find(']');
    return address.substr(1, close == std::string_view::npos ? address.size() - 1 : close - 1);
  }
  const size_t colon = address.rfind(':');
  if (colon == std::string_view::npos || address.find(':') != colon) {
    return address;  // No port, or a bare IPv6 address.
  }
  return address.substr(0, colon);
}

std::string_view address_port(std::string_view address) {
  const size_t colon = address.rfind(':');
  if (colon == std::string_view::npos) {
    return "";
  }
  if (!address.starts_with('[') && address.find(':') != colon) {
    return "";  // A bare IPv6 address.
  }
  if (address.starts_with('[') && address.rfind(']') > colon) {
    return "";
  }
  return address.substr(colon + 1);
}

namespace {

// Network is a prefix of |bytes| bits: 4 bytes for IPv4, 16 for IPv6.
struct Network {
  std::array<uint8_t, 16> address;
  unsigned bits;
};

bool in_network(const uint8_t* ip, const Network& net) {
  const unsigned whole = net.bits / 8;
  const unsigned rest = net.bits % 8;
  if (std::memcmp(ip, net.address.data(), whole) != 0) {
    return false;
  }
  const auto mask = static_cast<uint8_t>(0xff << (8 - rest));
  return rest == 0 || (ip[whole] & mask) == (net.address[whole] & mask);
}

// The special-purpose ranges that are not global (IANA's registries, as Python lists them).
constexpr Network kNotGlobalV4[] = {
    {{0}, 8},         {{10}, 8},       {{100, 64}, 10},      {{127}, 8},
    {{169, 254}, 16}, {{172, 16}, 12}, {{192, 0, 0}, 24},    {{192, 0, 2}, 24},
    {{192, 168}, 16}, {{198, 18}, 15}, {{198, 51, 100}, 24}, {{203, 0, 113}, 24},
    {{240}, 4},
};
constexpr Network kNotGlobalV6[] = {
    {{}, 127},                          // :: and ::1.
    {{0, 0x64, 0xff, 0x9b, 0, 1}, 48},  // Local-use NAT64.
    {{0x01}, 64},                       // 100::/64, discard-only.
    {{0x20, 0x01}, 23},                 // IETF protocol assignments.
    {{0x20, 0x01, 0x0d, 0xb8}, 32},     // Documentation.
    {{0xfc}, 7},                        // Unique local.
    {{0xfe, 0x80}, 10},                 // Link-local.
};

bool outside_all(const uint8_t* ip, std::span<const Network> networks) {
  return std::none_of(networks.begin(), networks.end(),
                      [ip](const Network& net) { return in_network(ip, net); });
}

}  // namespace

bool is_public_ip(std::string_view ip) {
  const std::string text(ip);
  uint8_t bytes[16] = {};
  if (inet_pton(AF_INET, text.c_str(), bytes) == 1) {
    return outside_all(bytes, kNotGlobalV4);
  }
  if (inet_pton(AF_INET6, text.c_str(), bytes) != 1) {
    return false;
  }
  static constexpr uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::memcmp(bytes, kMapped, sizeof kMapped) == 0) {
    return outside_all(bytes + 12, kNotGlobalV4);
  }
  return outside_all(bytes, kNotGlobalV6);
}

}  // namespace sightglass::core
