// The session's first-bytes decisions: a client stream into a ProxySession (fuzz/session_driver.h)
// in regular mode (HTTP, or a CONNECT and then the tunnel's sniff), transparent mode (TLS, HTTP,
// or anything else to 192.0.2.10:443) or reverse mode (to https://origin.test). The sniffer, the
// CONNECT path and the TLS/HTTP/other split run as for real traffic.
// Input: the bytes a client sent [+ kSplit + the bytes the server sent]. The input's length
// modulo 3 picks the mode (0 regular, 1 transparent, 2 reverse). Seeds: any captured client
// stream (a curl proxy request, a CONNECT and the TLS or HTTP after it, a ClientHello).
#include "fuzz/fuzz_input.h"
#include "fuzz/session_driver.h"

using sightglass::core::ProxyConfig;
namespace fuzz = sightglass::fuzz;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const ProxyConfig kRegular = fuzz::tls_config(ProxyConfig::Mode::kRegular);
  static const ProxyConfig kTransparent = fuzz::tls_config(ProxyConfig::Mode::kTransparent);
  static const ProxyConfig kReverse = [] {
    ProxyConfig config = fuzz::tls_config(ProxyConfig::Mode::kReverse);
    config.reverse_scheme = "https";
    config.reverse_host = "origin.test";
    config.reverse_port = 443;
    return config;
  }();
  const ProxyConfig* configs[] = {&kRegular, &kTransparent, &kReverse};
  const auto [client, server] = fuzz::split_at(fuzz::as_view(data, size), fuzz::kSplit);
  sightglass::core::ClientConnection connection;
  connection.original_destination = "192.0.2.10:443";
  fuzz::SessionDriver driver(configs[size % 3], connection);
  driver.run(client, server);
  return 0;
}
