#pragma once

#include <openssl/ssl.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ca/leaf_minter.h"

namespace sightglass::ca {

// client_hello_server_name returns the host_name of the ClientHello's server_name extension,
// or an empty string when there is none (or it is malformed).
std::string client_hello_server_name(const SSL_CLIENT_HELLO* hello);

// client_accepts_ecdsa returns whether the ClientHello's signature_algorithms allow a
// certificate with an ECDSA P-256 key. Clients without the extension (before TLS 1.2) get RSA.
bool client_accepts_ecdsa(const SSL_CLIENT_HELLO* hello);

// use_leaf makes |ssl| present |leaf| with its key. Returns false on failure.
bool use_leaf(SSL* ssl, const Leaf& leaf);

// ClientHelloSummary is what a held ClientHello asked for.
struct ClientHelloSummary {
  std::string server_name;        // SNI, or "".
  std::vector<std::string> alpn;  // The ALPN offer in the client's order (empty: none).
};

// LeafSelector serves minted leaves to BoringSSL server connections from the
// select-certificate callback: the name comes from SNI, or from a per-connection fallback
// host (the CONNECT host, the destination IP) when the client sends none; the key type from
// the client's signature algorithms.
class LeafSelector {
 public:
  // install sets |ctx|'s select-certificate callback. |minter| is not owned and must outlive
  // |ctx| and every SSL made from it.
  static bool install(SSL_CTX* ctx, LeafMinter* minter);
  // set_fallback_host sets the name used for |ssl| when its ClientHello has no SNI.
  static bool set_fallback_host(SSL* ssl, std::string_view host);
  // hold_at_client_hello makes the next handshake step of |ssl| stop once the ClientHello is
  // read (SSL_ERROR_PENDING_CERTIFICATE): the caller looks at client_hello(), may connect
  // upstream first, calls set_upstream_names()/set_alpn_choice(), and drives the handshake
  // again to continue.
  static bool hold_at_client_hello(SSL* ssl);
  // client_hello returns the held ClientHello's summary, or null before one was held.
  static const ClientHelloSummary* client_hello(const SSL* ssl);
  // set_upstream_names gives the names of the real server's certificate: without SNI, the
  // leaf carries them (the first becomes the CN), followed by the fallback host.
  static bool set_upstream_names(SSL* ssl, std::vector<std::string> names);
  // set_alpn_choice fixes the ALPN answer for |ssl| (what the upstream chose; "" for none).
  static bool set_alpn_choice(SSL* ssl, std::string protocol);
  // alpn_choice returns the answer set by set_alpn_choice, or null when none was set.
  static const std::string* alpn_choice(const SSL* ssl);
  // last_error returns why the certificate selection for |ssl| failed, or "".
  static std::string last_error(const SSL* ssl);
};

}  // namespace sightglass::ca
