// Proxy authentication: a client stream into a ProxySession (fuzz/session_driver.h) in regular
// mode with credentials required (--proxyauth user:pass): requests and CONNECTs carrying
// Proxy-Authorization (Basic, malformed base64, long values), the 407 answers, and what an
// accepted request goes on to.
// Input: the client's bytes [+ kSplit + the server's bytes]. Seeds: curl -x with
// --proxy-user user:pass (and wrong credentials), with the server's response after kSplit.
#include "fuzz/fuzz_input.h"
#include "fuzz/session_driver.h"

using sightglass::core::ProxyConfig;
namespace fuzz = sightglass::fuzz;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const ProxyConfig kConfig = [] {
    ProxyConfig config = fuzz::tls_config(ProxyConfig::Mode::kRegular);
    config.proxy_credentials = sightglass::core::ProxyCredentials{"user", "pass"};
    return config;
  }();
  const auto [client, server] = fuzz::split_at(fuzz::as_view(data, size), fuzz::kSplit);
  fuzz::SessionDriver driver(&kConfig, {});
  driver.run(client, server);
  return 0;
}
