#include "core/tls/tls_contexts.h"

#include <openssl/bytestring.h>
#include <openssl/err.h>
#include <unistd.h>

#include <array>
#include <string_view>

#include "ca/leaf_selector.h"

namespace sightglass::core {
namespace {

// kSystemTrustStore is Debian's bundle of the system's trusted CAs.
constexpr char kSystemTrustStore[] = "/etc/ssl/certs/ca-certificates.crt";
constexpr std::string_view kHttp11 = "http/1.1";

// select_alpn answers the client's ALPN offer: with what the upstream chose when the session
// connected upstream first (ALPN mirroring), else http/1.1 when offered.
int select_alpn(SSL* ssl, const uint8_t** out, uint8_t* out_len, const uint8_t* in, unsigned in_len,
                void* /*arg*/) {
  const std::string* choice = ca::LeafSelector::alpn_choice(ssl);
  const std::string_view wanted = choice != nullptr ? std::string_view(*choice) : kHttp11;
  if (wanted.empty()) {
    return SSL_TLSEXT_ERR_NOACK;
  }
  CBS offers;
  CBS_init(&offers, in, in_len);
  while (CBS_len(&offers) > 0) {
    CBS protocol;
    if (!CBS_get_u8_length_prefixed(&offers, &protocol)) {
      return SSL_TLSEXT_ERR_NOACK;
    }
    if (std::string_view(reinterpret_cast<const char*>(CBS_data(&protocol)), CBS_len(&protocol)) ==
        wanted) {
      *out = CBS_data(&protocol);
      *out_len = static_cast<uint8_t>(CBS_len(&protocol));
      return SSL_TLSEXT_ERR_OK;
    }
  }
  return SSL_TLSEXT_ERR_NOACK;
}

std::string last_ssl_error() {
  const uint32_t err = ERR_get_error();
  ERR_clear_error();
  std::array<char, 256> buf{};
  ERR_error_string_n(err, buf.data(), buf.size());
  return buf.data();
}

}  // namespace

bssl::UniquePtr<SSL_CTX> make_client_facing_context(ca::LeafMinter* minter) {
  bssl::UniquePtr<SSL_CTX> ctx(SSL_CTX_new(TLS_method()));
  if (!ctx || !SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION) ||
      !SSL_CTX_set_max_proto_version(ctx.get(), TLS1_3_VERSION) ||
      !ca::LeafSelector::install(ctx.get(), minter)) {
    return nullptr;
  }
  SSL_CTX_set_alpn_select_cb(ctx.get(), select_alpn, nullptr);
  SSL_CTX_set_session_cache_mode(ctx.get(), SSL_SESS_CACHE_SERVER);
  return ctx;
}

bssl::UniquePtr<SSL_CTX> make_upstream_context(const std::vector<std::string>& extra_trust,
                                               std::string* out_error) {
  bssl::UniquePtr<SSL_CTX> ctx(SSL_CTX_new(TLS_method()));
  if (!ctx || !SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION) ||
      !SSL_CTX_set_max_proto_version(ctx.get(), TLS1_3_VERSION)) {
    *out_error = "cannot create the upstream TLS context: " + last_ssl_error();
    return nullptr;
  }
  if (access(kSystemTrustStore, R_OK) == 0 &&
      !SSL_CTX_load_verify_locations(ctx.get(), kSystemTrustStore, nullptr)) {
    *out_error = std::string("cannot load ") + kSystemTrustStore + ": " + last_ssl_error();
    return nullptr;
  }
  for (const std::string& file : extra_trust) {
    if (!SSL_CTX_load_verify_locations(ctx.get(), file.c_str(), nullptr)) {
      *out_error = "cannot load the upstream trust file " + file + ": " + last_ssl_error();
      return nullptr;
    }
  }
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
  return ctx;
}

}  // namespace sightglass::core
