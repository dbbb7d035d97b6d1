#pragma once

// Proxy authentication (--proxyauth), sans-I/O: the credentials, the checks of an HTTP
// Proxy-Authorization header (Basic, RFC 7617) and of a SOCKS5 username/password (RFC 1929),
// and the 407 response. Secrets are compared in constant time.

#include <optional>
#include <string>
#include <string_view>

namespace sightglass::core {

// ProxyCredentials is the one user the proxy accepts.
struct ProxyCredentials {
  std::string user;
  std::string password;
};

// parse_proxy_credentials splits "user:password" at the first ':' (the password may contain
// ':'). Returns nullopt when there is no ':' or the user is empty.
std::optional<ProxyCredentials> parse_proxy_credentials(std::string_view user_colon_pass);

// check_basic_proxy_authorization says whether a Proxy-Authorization value ("Basic <base64>",
// scheme case-insensitive, surrounding whitespace allowed) carries |expected|. The base64 is
// decoded strictly; anything malformed is false.
bool check_basic_proxy_authorization(std::string_view header_value,
                                     const ProxyCredentials& expected);

// equal_secret compares two strings in constant time (only the lengths may leak).
bool equal_secret(std::string_view a, std::string_view b);

// check_credentials compares a user and password with |expected| in constant time (only the
// lengths may leak).
bool check_credentials(std::string_view user, std::string_view password,
                       const ProxyCredentials& expected);

// proxy_auth_required_response is a complete HTTP/1.1 407 response asking for Basic
// credentials (realm "sightglass"), with a text body and Connection: close.
std::string proxy_auth_required_response();

}  // namespace sightglass::core
