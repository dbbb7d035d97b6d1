// The HTTP/2 layer facing a client (Http2Layer's nghttp2 server session: core/layers/
// http2_layer.cc, http2_server.cc, http2_hold.cc, http2_ping.cc, http2_h1_pool.cc), reached the
// way real traffic reaches it: a ProxySession sniffs the h2c connection preface.
//
// Input: the bytes an HTTP/2 client sent, starting with the connection preface ("PRI * HTTP/2.0
// ...": curl --http2-prior-knowledge, nghttp, h2load), optionally followed by kSplit and the
// bytes the server answered with (HTTP/2 frames starting with its SETTINGS, or an HTTP/1.1
// server's responses starting with "HTTP/"). Seed: such a capture, with or without the server
// part.
//
// Each input runs three sessions (fuzz/h2_fuzz_driver.h drives them):
//  1. regular mode: a CONNECT tunnel to origin.test:80 (written by the target), then the client's
//     bytes in it: HTTP/2 both sides (the tunnel's connection adopted);
//  2. transparent mode, with every flow held by the hooks (FuzzHooks edits by request target):
//     HTTP/2 both sides;
//  3. reverse mode (http://origin.test:8000), hooks too: the streams go to an HTTP/1.1 pool.
// The server side is the input's server part when it is of that protocol (fed to every server
// connection the session opens), else an origin that answers every request (H2Origin, H1Origin).
// After the bytes: kept hooks are resumed, timers fire, the servers and then the client close.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "fuzz/fuzz_input.h"
#include "fuzz/h2_fuzz_driver.h"

namespace {

using namespace sightglass;
using fuzz::h2drv::Driver;

struct Configs {
  fuzz::h2drv::FuzzHooks hooks;
  core::ProxyConfig regular;
  core::ProxyConfig transparent;
  core::ProxyConfig reverse;
  Configs() {
    regular.mode = core::ProxyConfig::Mode::kRegular;
    regular.body_limit = 4096;
    transparent.mode = core::ProxyConfig::Mode::kTransparent;
    transparent.body_limit = 4096;
    transparent.hooks = &hooks;
    transparent.hold_body_limit = 8192;
    reverse.mode = core::ProxyConfig::Mode::kReverse;
    reverse.reverse_scheme = "http";
    reverse.reverse_host = "origin.test";
    reverse.reverse_port = 8000;
    reverse.body_limit = 4096;
    reverse.hooks = &hooks;
  }
};

const Configs& configs() {
  static const Configs c;
  return c;
}

// run_session plays one session: the client's bytes (after |prefix|), then the server's (when
// |raw_server|) on each connection the session opened, then the end.
void run_session(const core::ProxyConfig& config, const std::string& original_destination,
                 std::string_view prefix, std::string_view client, std::string_view server,
                 bool raw_server, bool h1_origin) {
  core::ClientConnection conn;
  conn.peer_address = "127.0.0.1:50000";
  conn.original_destination = original_destination;
  Driver d(&config, conn,
           [&](const core::OpenConnection& /*open*/,
               size_t /*index*/) -> std::unique_ptr<fuzz::h2drv::Peer> {
             if (raw_server) {
               return nullptr;
             }
             if (h1_origin) {
               return std::make_unique<fuzz::h2drv::H1Origin>();
             }
             return std::make_unique<fuzz::h2drv::H2Origin>();
           });
  d.start();
  d.client(prefix);
  d.client_reads(client);
  if (raw_server) {
    for (size_t i = 0; i < d.opened().size() && i < 4 && !d.done(); ++i) {
      d.server_reads(d.opened()[i], server);
    }
  }
  d.wind_down();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto [client, server] = fuzz::split_at(fuzz::as_view(data, size), fuzz::kSplit);
  const bool server_h1 = server.starts_with("HTTP/");
  const bool server_h2 = !server.empty() && !server_h1;
  const Configs& c = configs();
  run_session(c.regular, "", "CONNECT origin.test:80 HTTP/1.1\r\nHost: origin.test:80\r\n\r\n",
              client, server, server_h2, false);
  run_session(c.transparent, "192.0.2.7:80", "", client, server, server_h2, false);
  run_session(c.reverse, "", "", client, server, server_h1, true);
  return 0;
}
