// The HTTP/1 request layer from the client side: a client stream into a ProxySession
// (fuzz/session_driver.h) in regular mode: absolute-form requests, CONNECT (and what the tunnel
// carries), origin-form with Host, keep-alive pipelining; every OpenConnection succeeds and the
// server's bytes go to the connection the session opened last. When the input's length is odd,
// the timeouts due fire before the server's EOF.
//
// Input: the client's bytes [+ kSplit + the server's bytes]. Seeds: a real client's proxy
// requests (curl -x, python), with the server's responses after kSplit.
#include "fuzz/fuzz_input.h"
#include "fuzz/session_driver.h"

using sightglass::core::ProxyConfig;
namespace fuzz = sightglass::fuzz;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const ProxyConfig kConfig = fuzz::tls_config(ProxyConfig::Mode::kRegular);
  const auto [client, server] = fuzz::split_at(fuzz::as_view(data, size), fuzz::kSplit);
  fuzz::SessionDriver::Options options;
  options.timeouts_first = size % 2 == 1;
  fuzz::SessionDriver driver(&kConfig, {}, options);
  driver.run(client, server);
  return 0;
}
