#include "ca/leaf_selector.h"

#include <openssl/bytestring.h>
#include <openssl/err.h>
#include <openssl/pool.h>
#include <openssl/tls1.h>

#include <algorithm>
#include <array>
#include <memory>

namespace sightglass::ca {
namespace {

// TLS SignatureScheme values that a P-256 ECDSA key can produce.
constexpr uint16_t kEcdsaSecp256r1Sha256 = 0x0403;

// SelectorState is the per-SSL state, owned through ex_data.
struct SelectorState {
  std::string fallback_host;
  std::string error;
  bool hold = false;
  std::optional<ClientHelloSummary> hello;
  std::vector<std::string> upstream_names;
  std::optional<std::string> alpn_choice;
};

std::vector<std::string> client_hello_alpn(const SSL_CLIENT_HELLO* hello) {
  std::vector<std::string> out;
  const uint8_t* data = nullptr;
  size_t len = 0;
  if (!SSL_early_callback_ctx_extension_get(
          hello, TLSEXT_TYPE_application_layer_protocol_negotiation, &data, &len)) {
    return out;
  }
  CBS ext, list;
  CBS_init(&ext, data, len);
  if (!CBS_get_u16_length_prefixed(&ext, &list) || CBS_len(&ext) != 0) {
    return out;
  }
  while (CBS_len(&list) > 0) {
    CBS protocol;
    if (!CBS_get_u8_length_prefixed(&list, &protocol) || CBS_len(&protocol) == 0) {
      return {};
    }
    out.emplace_back(reinterpret_cast<const char*>(CBS_data(&protocol)), CBS_len(&protocol));
  }
  return out;
}

void free_state(void* /*parent*/, void* ptr, CRYPTO_EX_DATA* /*ad*/, int /*index*/, long /*argl*/,
                void* /*argp*/) {
  std::unique_ptr<SelectorState> owned(static_cast<SelectorState*>(ptr));
}

int ssl_state_index() {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, free_state);
  return index;
}

int ctx_minter_index() {
  static const int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

SelectorState* state_of(const SSL* ssl) {
  return static_cast<SelectorState*>(SSL_get_ex_data(ssl, ssl_state_index()));
}

SelectorState* ensure_state(SSL* ssl) {
  if (SelectorState* state = state_of(ssl)) {
    return state;
  }
  auto state = std::make_unique<SelectorState>();
  if (!SSL_set_ex_data(ssl, ssl_state_index(), state.get())) {
    return nullptr;
  }
  return state.release();
}

ssl_select_cert_result_t select_certificate(const SSL_CLIENT_HELLO* hello) {
  SSL* ssl = hello->ssl;
  auto* minter =
      static_cast<LeafMinter*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), ctx_minter_index()));
  SelectorState* state = ensure_state(ssl);
  if (minter == nullptr || state == nullptr) {
    return ssl_select_cert_error;
  }
  if (state->hold) {
    state->hold = false;
    state->hello = ClientHelloSummary{client_hello_server_name(hello), client_hello_alpn(hello)};
    return ssl_select_cert_retry;
  }
  std::vector<std::string> names;
  std::string host = client_hello_server_name(hello);
  if (!host.empty()) {
    names.push_back(host);
  } else {
    names = state->upstream_names;
    host = state->fallback_host;
    if (!host.empty() && std::find(names.begin(), names.end(), host) == names.end()) {
      names.push_back(host);
    }
    if (names.empty()) {
      state->error = "the client sent no server name and the destination is unknown";
      return ssl_select_cert_error;
    }
    host = names.front();
  }
  const KeyType key_type = client_accepts_ecdsa(hello) ? KeyType::kEcdsaP256 : KeyType::kRsa2048;
  LeafConstSharedPtr leaf = minter->leaf_for(names, key_type, &state->error);
  if (!leaf) {
    return ssl_select_cert_error;
  }
  if (!use_leaf(ssl, *leaf)) {
    state->error = "cannot use the certificate minted for " + host;
    return ssl_select_cert_error;
  }
  return ssl_select_cert_success;
}

}  // namespace

std::string client_hello_server_name(const SSL_CLIENT_HELLO* hello) {
  const uint8_t* data = nullptr;
  size_t len = 0;
  if (!SSL_early_callback_ctx_extension_get(hello, TLSEXT_TYPE_server_name, &data, &len)) {
    return {};
  }
  CBS ext, list;
  CBS_init(&ext, data, len);
  if (!CBS_get_u16_length_prefixed(&ext, &list) || CBS_len(&ext) != 0) {
    return {};
  }
  while (CBS_len(&list) > 0) {
    uint8_t type = 0;
    CBS name;
    if (!CBS_get_u8(&list, &type) || !CBS_get_u16_length_prefixed(&list, &name)) {
      return {};
    }
    if (type == TLSEXT_NAMETYPE_host_name && CBS_len(&name) > 0 && !CBS_contains_zero_byte(&name)) {
      return std::string(reinterpret_cast<const char*>(CBS_data(&name)), CBS_len(&name));
    }
  }
  return {};
}

bool client_accepts_ecdsa(const SSL_CLIENT_HELLO* hello) {
  const uint8_t* data = nullptr;
  size_t len = 0;
  if (!SSL_early_callback_ctx_extension_get(hello, TLSEXT_TYPE_signature_algorithms, &data, &len)) {
    return false;
  }
  CBS ext, list;
  CBS_init(&ext, data, len);
  if (!CBS_get_u16_length_prefixed(&ext, &list)) {
    return false;
  }
  while (CBS_len(&list) >= 2) {
    uint16_t scheme = 0;
    if (!CBS_get_u16(&list, &scheme)) {
      return false;
    }
    if (scheme == kEcdsaSecp256r1Sha256) {
      return true;
    }
  }
  return false;
}

bool use_leaf(SSL* ssl, const Leaf& leaf) {
  CRYPTO_BUFFER* chain[] = {leaf.cert.get()};
  if (!SSL_set_chain_and_key(ssl, chain, 1, leaf.key.get(), nullptr)) {
    ERR_clear_error();
    return false;
  }
  return true;
}

bool LeafSelector::install(SSL_CTX* ctx, LeafMinter* minter) {
  if (ctx_minter_index() < 0 || ssl_state_index() < 0 ||
      !SSL_CTX_set_ex_data(ctx, ctx_minter_index(), minter)) {
    return false;
  }
  SSL_CTX_set_select_certificate_cb(ctx, select_certificate);
  return true;
}

bool LeafSelector::set_fallback_host(SSL* ssl, std::string_view host) {
  SelectorState* state = ensure_state(ssl);
  if (state == nullptr) {
    return false;
  }
  state->fallback_host = host;
  return true;
}

bool LeafSelector::hold_at_client_hello(SSL* ssl) {
  SelectorState* state = ensure_state(ssl);
  if (state == nullptr) {
    return false;
  }
  state->hold = true;
  return true;
}

const ClientHelloSummary* LeafSelector::client_hello(const SSL* ssl) {
  const SelectorState* state = state_of(ssl);
  return state != nullptr && state->hello ? &*state->hello : nullptr;
}

bool LeafSelector::set_upstream_names(SSL* ssl, std::vector<std::string> names) {
  SelectorState* state = ensure_state(ssl);
  if (state == nullptr) {
    return false;
  }
  state->upstream_names = std::move(names);
  return true;
}

bool LeafSelector::set_alpn_choice(SSL* ssl, std::string protocol) {
  SelectorState* state = ensure_state(ssl);
  if (state == nullptr) {
    return false;
  }
  state->alpn_choice = std::move(protocol);
  return true;
}

const std::string* LeafSelector::alpn_choice(const SSL* ssl) {
  const SelectorState* state = state_of(ssl);
  return state != nullptr && state->alpn_choice ? &*state->alpn_choice : nullptr;
}

std::string LeafSelector::last_error(const SSL* ssl) {
  const SelectorState* state = state_of(ssl);
  return state != nullptr ? state->error : std::string();
}

}  // namespace sightglass::ca
