#pragma once

#include <openssl/ssl.h>

#include <string>
#include <vector>

#include "ca/leaf_minter.h"

namespace sightglass::core {

// make_client_facing_context returns the server context that terminates clients' TLS: leaves
// minted by |minter| (not owned; must outlive the context) from the select-certificate
// callback, TLS 1.2 and 1.3, ALPN http/1.1.
bssl::UniquePtr<SSL_CTX> make_client_facing_context(ca::LeafMinter* minter);

// make_upstream_context returns the client context for connections to servers, trusting the
// system store plus every PEM file in |extra_trust|. nullptr and *out_error when a file cannot
// be loaded.
bssl::UniquePtr<SSL_CTX> make_upstream_context(const std::vector<std::string>& extra_trust,
                                               std::string* out_error);

}  // namespace sightglass::core
