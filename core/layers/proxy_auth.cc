#include "core/layers/proxy_auth.h"

#include <openssl/base64.h>
#include <openssl/mem.h>

#include <algorithm>
#include <cstdint>

#include "core/proxy/flow.h"

namespace sightglass::core {
namespace {

constexpr std::string_view kBody = "Proxy authentication required\n";

// decode_base64 decodes strictly (length a multiple of 4, no whitespace, '=' only as padding).
std::optional<std::string> decode_base64(std::string_view in) {
  size_t max_len = 0;
  if (in.empty() || EVP_DecodedLength(&max_len, in.size()) == 0) {
    return std::nullopt;
  }
  std::string out(max_len, '\0');
  size_t out_len = 0;
  if (EVP_DecodeBase64(reinterpret_cast<uint8_t*>(out.data()), &out_len, out.size(),
                       reinterpret_cast<const uint8_t*>(in.data()), in.size()) == 0) {
    return std::nullopt;
  }
  out.resize(out_len);
  return out;
}

}  // namespace

bool equal_secret(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::optional<ProxyCredentials> parse_proxy_credentials(std::string_view user_colon_pass) {
  const size_t colon = user_colon_pass.find(':');
  if (colon == std::string_view::npos || colon == 0) {
    return std::nullopt;
  }
  return ProxyCredentials{std::string(user_colon_pass.substr(0, colon)),
                          std::string(user_colon_pass.substr(colon + 1))};
}

bool check_basic_proxy_authorization(std::string_view header_value,
                                     const ProxyCredentials& expected) {
  const std::string_view value = trim_whitespace(header_value);
  const size_t space = std::min(value.find_first_of(" \t"), value.size());
  if (!iequals(value.substr(0, space), "basic")) {
    return false;
  }
  // token68 after the scheme; the strict decoder rejects any whitespace inside it (and "").
  const std::optional<std::string> decoded = decode_base64(trim_whitespace(value.substr(space)));
  if (!decoded) {
    return false;
  }
  // RFC 7617: the user-id cannot contain ':', the password can.
  const std::string_view pair(*decoded);
  const size_t colon = pair.find(':');
  if (colon == std::string_view::npos) {
    return false;
  }
  return check_credentials(pair.substr(0, colon), pair.substr(colon + 1), expected);
}

bool check_credentials(std::string_view user, std::string_view password,
                       const ProxyCredentials& expected) {
  // Both comparisons run whichever fails.
  const bool user_ok = equal_secret(user, expected.user);
  const bool password_ok = equal_secret(password, expected.password);
  return user_ok & password_ok;
}

std::string proxy_auth_required_response() {
  return "HTTP/1.1 407 Proxy Authentication Required\r\n"
         "Proxy-Authenticate: Basic realm=\"sightglass\"\r\n"
         "Content-Type: text/plain; charset=utf-8\r\n"
         "Content-Length: " +
         std::to_string(kBody.size()) + "\r\nConnection: close\r\n\r\n" + std::string(kBody);
}

}  // namespace sightglass::core
