#include "core/layers/socks5.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <utility>

namespace sightglass::core {
namespace {

constexpr uint8_t kSocksVersion = 0x05;
constexpr uint8_t kAuthVersion = 0x01;  // RFC 1929 subnegotiation version.
constexpr uint8_t kMethodNoAuth = 0x00;
constexpr uint8_t kMethodUserPass = 0x02;
constexpr uint8_t kMethodNoneAcceptable = 0xff;
constexpr uint8_t kAuthSuccess = 0x00;
constexpr uint8_t kAuthFailure = 0x01;
constexpr uint8_t kCommandConnect = 0x01;
constexpr uint8_t kCommandBind = 0x02;
constexpr uint8_t kCommandUdpAssociate = 0x03;
constexpr size_t kRequestHeaderBytes = 4;  // VER CMD RSV ATYP.
constexpr size_t kPortBytes = 2;

void append_bytes(std::string* out, uint8_t a, uint8_t b) {
  out->push_back(static_cast<char>(a));
  out->push_back(static_cast<char>(b));
}

// printable quotes |s| for an error line: control and non-ASCII bytes become \xNN.
std::string printable(std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "\"";
  for (const char c : s) {
    const auto b = static_cast<uint8_t>(c);
    if (b < 0x20 || b >= 0x7f || c == '"' || c == '\\') {
      out += "\\x";
      out.push_back(kHex[b >> 4]);
      out.push_back(kHex[b & 0x0f]);
    } else {
      out.push_back(c);
    }
  }
  out.push_back('"');
  return out;
}

std::string command_name(uint8_t command) {
  return command == kCommandBind           ? "BIND"
         : command == kCommandUdpAssociate ? "UDP ASSOCIATE"
                                           : std::to_string(command);
}

// valid_domain_name rejects names that would be cut short or garble a log line (NUL, control
// bytes); anything else is passed on as given.
bool valid_domain_name(std::string_view name) {
  return std::ranges::none_of(name,
                              [](char c) { return static_cast<uint8_t>(c) < 0x20 || c == 0x7f; });
}

std::string address_text(int family, const char* bytes) {
  std::array<char, INET6_ADDRSTRLEN> text{};
  if (inet_ntop(family, bytes, text.data(), static_cast<socklen_t>(text.size())) == nullptr) {
    return {};
  }
  return std::string(text.data());
}

}  // namespace

Socks5Handshake::Socks5Handshake(std::optional<ProxyCredentials> credentials)
    : credentials_(std::move(credentials)) {}

Socks5Handshake::Status Socks5Handshake::feed(std::string_view data, std::string* reply) {
  if (status_ == Status::kFailed) {
    return status_;
  }
  buffer_.append(data);
  // Each message that completes moves on to the next stage, until one is incomplete.
  while (status_ == Status::kNeedMore && !buffer_.empty() &&
         (stage_ == Stage::kMethods ? parse_methods(reply)
          : stage_ == Stage::kAuth  ? parse_auth(reply)
                                    : parse_request(reply))) {
  }
  return status_;
}

std::string Socks5Handshake::take_remainder() {
  return status_ == Status::kConnect ? std::exchange(buffer_, {}) : std::string();
}

std::string Socks5Handshake::success_reply() { return failure_reply(kSucceeded); }

std::string Socks5Handshake::failure_reply(uint8_t code) {
  // VER REP RSV ATYP(IPv4) BND.ADDR(0.0.0.0) BND.PORT(0).
  return {
      static_cast<char>(kSocksVersion), static_cast<char>(code), 0, kAddressIpv4, 0, 0, 0, 0, 0, 0};
}

bool Socks5Handshake::fail(std::string error) {
  status_ = Status::kFailed;
  error_ = std::move(error);
  buffer_.clear();
  return false;
}

bool Socks5Handshake::parse_methods(std::string* reply) {
  // VER NMETHODS METHODS[NMETHODS].
  const auto version = static_cast<uint8_t>(buffer_[0]);
  if (version != kSocksVersion) {
    return fail("SOCKS5: not a SOCKS5 client (version " + std::to_string(version) + ")");
  }
  if (buffer_.size() < 2) {
    return false;
  }
  const size_t count = static_cast<uint8_t>(buffer_[1]);
  if (buffer_.size() < 2 + count) {
    return false;
  }
  const uint8_t wanted = credentials_ ? kMethodUserPass : kMethodNoAuth;
  const bool offered = std::string_view(buffer_).substr(2, count).find(static_cast<char>(wanted)) !=
                       std::string_view::npos;
  buffer_.erase(0, 2 + count);
  if (!offered) {
    append_bytes(reply, kSocksVersion, kMethodNoneAcceptable);
    return fail(
        std::string("SOCKS5: the client offered no acceptable authentication method ") +
        (credentials_ ? "(username/password is required)" : "(no authentication is configured)"));
  }
  append_bytes(reply, kSocksVersion, wanted);
  stage_ = credentials_ ? Stage::kAuth : Stage::kRequest;
  return true;
}

bool Socks5Handshake::parse_auth(std::string* reply) {
  // VER ULEN UNAME[ULEN] PLEN PASSWD[PLEN].
  const auto version = static_cast<uint8_t>(buffer_[0]);
  if (version != kAuthVersion) {
    append_bytes(reply, kAuthVersion, kAuthFailure);
    return fail("SOCKS5: unsupported username/password subnegotiation version " +
                std::to_string(version));
  }
  if (buffer_.size() < 2) {
    return false;
  }
  const size_t user_len = static_cast<uint8_t>(buffer_[1]);
  if (buffer_.size() < 3 + user_len) {
    return false;
  }
  const size_t password_len = static_cast<uint8_t>(buffer_[2 + user_len]);
  const size_t total = 3 + user_len + password_len;
  if (buffer_.size() < total) {
    return false;
  }
  const std::string user = buffer_.substr(2, user_len);
  const bool ok = check_credentials(
      user, std::string_view(buffer_).substr(3 + user_len, password_len), *credentials_);
  buffer_.erase(0, total);
  if (!ok) {
    append_bytes(reply, kAuthVersion, kAuthFailure);
    return fail("SOCKS5: wrong username or password for user " + printable(user));
  }
  append_bytes(reply, kAuthVersion, kAuthSuccess);
  stage_ = Stage::kRequest;
  return true;
}

bool Socks5Handshake::parse_request(std::string* reply) {
  // VER CMD RSV ATYP DST.ADDR DST.PORT. The whole request is read before any rejection but an
  // unknown ATYP (whose length is unknown), so the client's bytes are consumed before closing.
  const auto version = static_cast<uint8_t>(buffer_[0]);
  if (version != kSocksVersion) {
    return fail("SOCKS5: request with version " + std::to_string(version) + ", expected 5");
  }
  if (buffer_.size() < kRequestHeaderBytes) {
    return false;
  }
  const auto command = static_cast<uint8_t>(buffer_[1]);
  const auto atyp = static_cast<uint8_t>(buffer_[3]);
  if (atyp != kAddressIpv4 && atyp != kAddressIpv6 && atyp != kAddressDomain) {
    reply->append(failure_reply(kAddressTypeNotSupported));
    return fail("SOCKS5: unsupported address type " + std::to_string(atyp));
  }
  // A domain name comes with its length byte first.
  const bool domain = atyp == kAddressDomain;
  if (domain && buffer_.size() < kRequestHeaderBytes + 1) {
    return false;
  }
  const size_t address_start = kRequestHeaderBytes + (domain ? 1 : 0);
  const size_t address_len = domain ? static_cast<uint8_t>(buffer_[kRequestHeaderBytes])
                             : atyp == kAddressIpv4 ? 4
                                                    : 16;
  const size_t total = address_start + address_len + kPortBytes;
  if (buffer_.size() < total) {
    return false;
  }
  const char* address = buffer_.data() + address_start;
  std::string host = atyp == kAddressIpv4   ? address_text(AF_INET, address)
                     : atyp == kAddressIpv6 ? address_text(AF_INET6, address)
                                            : std::string(address, address_len);
  const auto port_hi = static_cast<uint8_t>(buffer_[address_start + address_len]);
  const auto port_lo = static_cast<uint8_t>(buffer_[address_start + address_len + 1]);
  buffer_.erase(0, total);

  if (command != kCommandConnect) {
    reply->append(failure_reply(kCommandNotSupported));
    return fail("SOCKS5: unsupported command " + command_name(command));
  }
  if (domain && host.empty()) {
    reply->append(failure_reply(kGeneralFailure));
    return fail("SOCKS5: empty domain name in the CONNECT request");
  }
  if (domain && !valid_domain_name(host)) {
    reply->append(failure_reply(kGeneralFailure));
    return fail("SOCKS5: invalid domain name " + printable(host) + " in the CONNECT request");
  }
  host_ = std::move(host);
  port_ = static_cast<uint16_t>((port_hi << 8) | port_lo);
  address_type_ = atyp;
  status_ = Status::kConnect;
  return true;
}

}  // namespace sightglass::core
