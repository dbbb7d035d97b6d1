// SOCKS5 mode: a client stream into a ProxySession (fuzz/session_driver.h) in socks5 mode: the
// greeting, RFC 1929 authentication when credentials are configured, the CONNECT request, then
// what the tunnel carries (sniffed: TLS, HTTP or relayed); the server's bytes go to the
// connection the CONNECT opened. Credentials (user "user", password "pass") are configured when
// the greeting offers username/password (method 2), as a client given credentials does; an
// input whose length is 7 modulo 8 turns that around (an offer the proxy does not need, or a
// client without credentials at a proxy that wants them).
//
// Input: the client's bytes [+ kSplit + the server's bytes]. Seeds: what curl --socks5-hostname
// (with and without -U user:pass) sent, and the server's answer after kSplit.
#include "fuzz/fuzz_input.h"
#include "fuzz/session_driver.h"

using sightglass::core::ProxyConfig;
namespace fuzz = sightglass::fuzz;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const ProxyConfig kOpen = fuzz::tls_config(ProxyConfig::Mode::kSocks5);
  static const ProxyConfig kAuth = [] {
    ProxyConfig config = fuzz::tls_config(ProxyConfig::Mode::kSocks5);
    config.proxy_credentials = sightglass::core::ProxyCredentials{"user", "pass"};
    return config;
  }();
  const auto [client, server] = fuzz::split_at(fuzz::as_view(data, size), fuzz::kSplit);
  // The greeting: VER NMETHODS METHODS...
  const std::string_view greeting =
      client.substr(0, size_t{2} + (client.size() > 1 ? static_cast<uint8_t>(client[1]) : 0u));
  const bool offers_password =
      greeting.size() > 2 && greeting.find('\x02', 2) != std::string_view::npos;
  const bool credentials = offers_password != (size % 8 == 7);
  fuzz::SessionDriver driver(credentials ? &kAuth : &kOpen, {});
  driver.run(client, server);
  return 0;
}
