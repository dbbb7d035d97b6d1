// The client's TLS: a ClientHello (and what follows it) into a ProxySession
// (fuzz/session_driver.h) that terminates TLS with leaves minted by a test CA: in transparent
// mode (to 192.0.2.10:443) when the input's length is even, else in regular mode after
// "CONNECT origin.test:443" (the input's own CONNECT when it starts with one). The ClientHello is
// held (its SNI and ALPN peeked) and the server is connected first (server-first): without
// server bytes in the input the server is an in-process TLS origin for "origin.test" (trusted;
// it picks h2 first when bit 1 of the input's length is set, else http/1.1), whose handshake
// succeeds so the client's goes on with a minted leaf and the server's ALPN; with server bytes,
// they (and their EOF) make the upstream TLS fail in their own way first.
//
// Input: the client's bytes [+ kSplit + the server's bytes]. Seeds: the bytes a real TLS client
// sent (openssl s_client, curl, nghttp, python), starting with its ClientHello.
#include "fuzz/fuzz_input.h"
#include "fuzz/session_driver.h"

using sightglass::core::ProxyConfig;
namespace fuzz = sightglass::fuzz;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const ProxyConfig kRegular = fuzz::tls_config(ProxyConfig::Mode::kRegular);
  static const ProxyConfig kTransparent = fuzz::tls_config(ProxyConfig::Mode::kTransparent);
  const auto [hello, server] = fuzz::split_at(fuzz::as_view(data, size), fuzz::kSplit);
  sightglass::core::ClientConnection connection;
  connection.original_destination = "192.0.2.10:443";
  // A capture that starts with its own CONNECT is fed as it is, in regular mode.
  const bool own_connect = hello.starts_with("CONNECT ");
  const bool transparent = !own_connect && size % 2 == 0;
  fuzz::TlsOrigin origin((size & 2) != 0, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
  fuzz::SessionDriver::Options options;
  if (server.empty()) {
    options.server_answer = [&origin](sightglass::core::ConnId conn, std::string_view bytes) {
      return origin.answer(conn, bytes);
    };
  }
  fuzz::SessionDriver driver(transparent ? &kTransparent : &kRegular, connection, options);
  driver.start();
  if (!transparent && !own_connect) {
    driver.pump("CONNECT origin.test:443 HTTP/1.1\r\nHost: origin.test:443\r\n\r\n", {});
  }
  driver.pump(hello, server);
  driver.close_servers();
  driver.fire_wakeups();
  driver.close_client();
  driver.fire_wakeups();
  driver.finish();
  return 0;
}
