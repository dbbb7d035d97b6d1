// The HTTP/1 response layer: a ProxySession (fuzz/session_driver.h) in reverse mode to
// http://origin.test:80, whose server answers with the input's bytes (status line, headers,
// chunked / Content-Length / close framing, 1xx, bodies, trailers, pipelined answers). When the
// input's length is odd, flows stop at both hold points (hooks that resume them unchanged); when
// bit 1 of the length is set, the timeouts due fire before the server's EOF.
//
// Input: the server's bytes alone (the client sends "GET / HTTP/1.1", Host origin.test), or
// the client's bytes + kSplit + the server's bytes. Seeds: a request and the response a real
// server sent to it (python http.server, nginx), joined with kSplit.
#include "fuzz/fuzz_input.h"
#include "fuzz/session_driver.h"

using sightglass::core::ProxyConfig;
namespace fuzz = sightglass::fuzz;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static fuzz::HoldAll hold;
  static const auto make = [](bool holds) {
    ProxyConfig config = fuzz::tls_config(ProxyConfig::Mode::kReverse);
    config.reverse_scheme = "http";
    config.reverse_host = "origin.test";
    config.reverse_port = 80;
    config.body_limit = 4096;
    config.hold_body_limit = 4096;
    config.hooks = holds ? &hold : nullptr;
    return config;
  };
  static const ProxyConfig kPlain = make(false);
  static const ProxyConfig kHeld = make(true);
  const std::string_view input = fuzz::as_view(data, size);
  auto [client, server] = fuzz::split_at(input, fuzz::kSplit);
  if (input.find(fuzz::kSplit) == std::string_view::npos) {
    client = "GET / HTTP/1.1\r\nHost: origin.test\r\nUser-Agent: fuzz\r\n\r\n";
    server = input;
  }
  fuzz::SessionDriver::Options options;
  options.timeouts_first = (size & 2) != 0;
  fuzz::SessionDriver driver(size % 2 == 0 ? &kPlain : &kHeld, {}, options);
  driver.run(client, server);
  return 0;
}
