#include "core/proxy/host_port.h"

#include <charconv>

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

}  // namespace sightglass::core
