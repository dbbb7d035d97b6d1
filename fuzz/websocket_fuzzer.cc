// The WebSocket reader (core/layers/websocket.*, websocket_capture.*) as a session reaches it: a
// ProxySession in reverse mode (http://origin.test:8000) relays an Upgrade and its 101, then
// HttpLayer reads a copy of each direction's frames (masked from the client, unmasked from the
// server; permessage-deflate as the 101 negotiated it) into the flow.
//
// Input, one of:
//  - a capture: the bytes a WebSocket client sent (its Upgrade request in origin form, then its
//    masked frames), kSplit, the bytes the server sent (its 101, then its frames). The heads go
//    first (the client's, then the server's); the rest of both streams is interleaved, a read of
//    each in turn. Seed: such a capture (python websockets, a browser, with and without
//    permessage-deflate).
//  - without kSplit: frames for a handshake the target writes. The first byte picks it: bit 0
//    permessage-deflate, bit 1 client_no_context_takeover, bit 2 server_no_context_takeover,
//    bits 3-4 server_max_window_bits (15, 12, 9, 8, which the reader must take), bit 5 a body
//    limit of 1 MiB instead of 1 KiB (deflate bombs). The rest is read as frames in both
//    directions (the same bytes from the client and from the server, a read of each in turn).
// After the bytes: timers fire, the server and then the client close.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz/fuzz_input.h"
#include "fuzz/h2_fuzz_driver.h"

namespace {

using namespace sightglass;
using fuzz::h2drv::Driver;

core::ProxyConfig reverse_config(uint64_t body_limit) {
  core::ProxyConfig config;
  config.mode = core::ProxyConfig::Mode::kReverse;
  config.reverse_scheme = "http";
  config.reverse_host = "origin.test";
  config.reverse_port = 8000;
  config.body_limit = body_limit;
  return config;
}

const core::ProxyConfig& config(bool large) {
  static const core::ProxyConfig small_limit = reverse_config(1024);
  static const core::ProxyConfig large_limit = reverse_config(1024 * 1024);
  return large ? large_limit : small_limit;
}

// head_end is the length of the HTTP head at the start of |bytes| (all of it when it does not
// end).
size_t head_end(std::string_view bytes) {
  const size_t at = bytes.find("\r\n\r\n");
  return at == std::string_view::npos ? bytes.size() : at + 4;
}

void run(const core::ProxyConfig& config, std::string_view client, std::string_view server) {
  core::ClientConnection conn;
  conn.peer_address = "127.0.0.1:50000";
  Driver d(&config, conn, nullptr);
  d.start();
  const size_t client_head = head_end(client);
  d.client(client.substr(0, client_head));
  client.remove_prefix(client_head);
  const core::ConnId upstream = d.opened().empty() ? 0 : d.opened().front();
  if (upstream != 0) {
    const size_t server_head = head_end(server);
    d.server(upstream, server.substr(0, server_head));
    server.remove_prefix(server_head);
  }
  fuzz::Reads from_client(client);
  fuzz::Reads from_server(server);
  while ((!from_client.done() || !from_server.done()) && !d.done()) {
    d.client(from_client.next());
    if (upstream != 0) {
      d.server(upstream, from_server.next());
    } else {
      from_server.next();
    }
    d.tick(50'000);
  }
  d.run_timers(4);
  d.close_servers();
  d.close_client();
  d.run_timers(4);
  d.finish();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input = fuzz::as_view(data, size);
  const auto [client, server] = fuzz::split_at(input, fuzz::kSplit);
  if (!server.empty()) {
    run(config(false), client, server);
    return 0;
  }
  if (input.empty()) {
    return 0;
  }
  const auto choice = static_cast<uint8_t>(input[0]);
  const std::string_view frames = input.substr(1);
  std::string request =
      "GET /chat HTTP/1.1\r\nHost: origin.test:8000\r\nUpgrade: websocket\r\n"
      "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
      "Sec-WebSocket-Version: 13\r\n";
  std::string response =
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n";
  if ((choice & 1) != 0) {
    static constexpr const char* kBits[] = {"15", "12", "9", "8"};
    request += "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n";
    response += "Sec-WebSocket-Extensions: permessage-deflate";
    response += (choice & 2) != 0 ? "; client_no_context_takeover" : "";
    response += (choice & 4) != 0 ? "; server_no_context_takeover" : "";
    response += std::string("; server_max_window_bits=") + kBits[(choice >> 3) & 3] + "\r\n";
  }
  request += "\r\n";
  response += "\r\n";
  run(config((choice & 0x20) != 0), request + std::string(frames), response + std::string(frames));
  return 0;
}
