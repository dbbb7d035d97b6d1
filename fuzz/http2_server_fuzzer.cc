// Http2Layer's side toward an HTTP/2 server (its nghttp2 client sessions: core/layers/
// http2_server.cc, http2_layer.cc, http2_ping.cc, http2_hold.cc): what a SERVER sends it.
// A ProxySession in transparent mode sniffs the h2c preface of a fixed, valid client (an nghttp2
// client session) and speaks HTTP/2 to the server; the input is the server's bytes.
//
// Input: the bytes an HTTP/2 server (h2c, e.g. nghttpd --no-tls) sent in answer to these
// requests, on streams 1, 3 and 5 in this order, starting with its SETTINGS:
//   1: GET  http://origin.test/index.html
//   3: POST http://origin.test/form  (content-type application/x-www-form-urlencoded, body
//      "a=1&b=2", content-length 7)
//   5: GET  http://origin.test/big.txt  (te: trailers)
// Optionally followed by kSplit and more server bytes: when the server's SETTINGS enabled
// extended CONNECT, the client then opens stream 7, a WebSocket (RFC 8441: CONNECT :protocol
// websocket to /chat) and sends masked frames on it; the second part is what the server sends
// after that (its 200 on stream 7 and its WebSocket frames in DATA). Seed: a capture of such a
// server's answer.
//
// Each input runs twice: without hooks, and with every flow held by the hooks (FuzzHooks). The
// client answers like a browser (nghttp2: SETTINGS ACK, WINDOW_UPDATEs, PING ACKs). After the
// bytes: kept hooks resume, timers fire, the server and then the client close.
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

// Browser is the client: an nghttp2 client session with the requests above.
class Browser : public fuzz::h2drv::Peer {
 public:
  Browser() {
    peer_.request({{":method", "GET"},
                   {":scheme", "http"},
                   {":authority", "origin.test"},
                   {":path", "/index.html"},
                   {"user-agent", "fuzz/1"},
                   {"accept", "*/*"}});
    peer_.request({{":method", "POST"},
                   {":scheme", "http"},
                   {":authority", "origin.test"},
                   {":path", "/form"},
                   {"content-type", "application/x-www-form-urlencoded"},
                   {"content-length", "7"}},
                  std::string("a=1&b=2"));
    peer_.request({{":method", "GET"},
                   {":scheme", "http"},
                   {":authority", "origin.test"},
                   {":path", "/big.txt"},
                   {"te", "trailers"}});
  }
  void receive(std::string_view bytes) override {
    if (ok_ && !peer_.receive(std::string(bytes))) {
      ok_ = false;
    }
  }
  std::string take() override { return ok_ ? peer_.drain() : std::string(); }

  // websocket opens the extended CONNECT stream, if the proxy takes it, with masked frames: a
  // text message in two fragments, a ping between them, a binary one.
  void websocket() {
    if (!ok_ || peer_.remote_setting(NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL) != 1) {
      return;
    }
    const int32_t id = peer_.request({{":method", "CONNECT"},
                                      {":protocol", "websocket"},
                                      {":scheme", "http"},
                                      {":authority", "origin.test"},
                                      {":path", "/chat"},
                                      {"sec-websocket-version", "13"},
                                      {"sec-websocket-extensions", "permessage-deflate"}},
                                     masked(0x01, "hel") + masked(0x89, "hb") + masked(0x80, "lo") +
                                         masked(0x82, "\x01\x02\x03"));
    peer_.open_ended(id);
  }

 private:
  static std::string masked(uint8_t b0, std::string_view payload) {
    static constexpr uint8_t kKey[4] = {0x12, 0x34, 0x56, 0x78};
    std::string frame;
    frame += static_cast<char>(b0);
    frame += static_cast<char>(0x80 | payload.size());
    frame.append(reinterpret_cast<const char*>(kKey), 4);
    for (size_t i = 0; i < payload.size(); ++i) {
      frame += static_cast<char>(payload[i] ^ kKey[i % 4]);
    }
    return frame;
  }

  test::H2Peer peer_{false};
  bool ok_ = true;
};

struct Configs {
  fuzz::h2drv::FuzzHooks hooks;
  core::ProxyConfig plain;
  core::ProxyConfig held;
  Configs() {
    for (core::ProxyConfig* c : {&plain, &held}) {
      c->mode = core::ProxyConfig::Mode::kTransparent;
      c->body_limit = 4096;
    }
    held.hooks = &hooks;
    held.hold_body_limit = 8192;
  }
};

const Configs& configs() {
  static const Configs c;
  return c;
}

void run_session(const core::ProxyConfig& config, std::string_view first, std::string_view second) {
  core::ClientConnection conn;
  conn.peer_address = "127.0.0.1:50000";
  conn.original_destination = "192.0.2.7:80";
  auto browser = std::make_unique<Browser>();
  Browser* client = browser.get();
  Driver d(&config, conn, nullptr, std::move(browser));
  d.start();
  if (d.opened().empty()) {
    return;
  }
  const core::ConnId server = d.opened().front();
  d.server_reads(server, first);
  if (!second.empty()) {
    client->websocket();
    d.settle();
    d.server_reads(server, second);
  }
  d.wind_down();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto [first, second] = fuzz::split_at(fuzz::as_view(data, size), fuzz::kSplit);
  run_session(configs().plain, first, second);
  run_session(configs().held, first, second);
  return 0;
}
