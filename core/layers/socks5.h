#pragma once

// The server side of a SOCKS5 handshake (RFC 1928, with RFC 1929 username/password), sans-I/O:
// client bytes in, reply bytes and a CONNECT target out.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/layers/proxy_auth.h"

namespace sightglass::core {

// Socks5Handshake reads the method selection, the optional username/password subnegotiation
// and the request. Bytes may arrive split anywhere or several messages at once. Only CONNECT
// is supported. The reply to the CONNECT itself is left to the caller, who sends
// success_reply() or failure_reply() once it has tried the upstream.
class Socks5Handshake {
 public:
  enum class Status : uint8_t {
    kNeedMore,  // Send the reply bytes, then feed more.
    kConnect,   // A CONNECT request: host(), port(), take_remainder().
    kFailed,    // Send the reply bytes, then close; error() says why.
  };

  // RFC 1928 REP values.
  enum Reply : uint8_t {
    kSucceeded,
    kGeneralFailure,
    kNotAllowed,
    kNetworkUnreachable,
    kHostUnreachable,
    kConnectionRefused,
    kTtlExpired,
    kCommandNotSupported,
    kAddressTypeNotSupported,
  };
  // RFC 1928 ATYP values, as address_type() returns them.
  enum AddressType : uint8_t { kAddressIpv4 = 1, kAddressDomain = 3, kAddressIpv6 = 4 };

  // With |credentials| the client must authenticate with username/password (method 0x02);
  // without, it must offer "no authentication" (method 0x00).
  explicit Socks5Handshake(std::optional<ProxyCredentials> credentials);

  // feed consumes |data| and appends to |*reply| the bytes to send to the client. Once the
  // result is kConnect or kFailed it stays so; later bytes after kConnect join the remainder.
  Status feed(std::string_view data, std::string* reply);

  Status status() const { return status_; }
  // error is a one-line reason after kFailed.
  const std::string& error() const { return error_; }
  // host is the requested domain name as given, an IPv4 address in dotted form or an IPv6
  // address in textual form without brackets.
  const std::string& host() const { return host_; }
  uint16_t port() const { return port_; }
  // address_type is the request's ATYP: kAddressIpv4, kAddressDomain or kAddressIpv6.
  uint8_t address_type() const { return address_type_; }
  // take_remainder returns the bytes received after the request (pipelined data), once.
  std::string take_remainder();

  // success_reply answers a CONNECT that succeeded (bound address 0.0.0.0:0).
  static std::string success_reply();
  // failure_reply answers a CONNECT that failed with REP |code| (kGeneralFailure...).
  static std::string failure_reply(uint8_t code);

 private:
  enum class Stage : uint8_t { kMethods, kAuth, kRequest };

  // Each parse_* consumes one message from buffer_ (not empty) when it is complete; they return
  // false when more bytes are needed or the handshake failed (fail() returns false).
  bool parse_methods(std::string* reply);
  bool parse_auth(std::string* reply);
  bool parse_request(std::string* reply);
  bool fail(std::string error);

  std::optional<ProxyCredentials> credentials_;
  Stage stage_ = Stage::kMethods;
  Status status_ = Status::kNeedMore;
  std::string buffer_;  // Received, not yet consumed.
  std::string error_;
  std::string host_;
  uint16_t port_ = 0;
  uint8_t address_type_ = 0;
};

}  // namespace sightglass::core
