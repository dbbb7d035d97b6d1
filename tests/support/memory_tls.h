#pragma once

// Real BoringSSL peers over memory BIOs for the sans-I/O tests: a client that trusts a given
// CA, an origin whose leaf comes from a given minter, and the Sightglass CA with the proxy's
// two contexts (client-facing, upstream trusting a separate origin CA).

#include <gtest/gtest.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <array>
#include <memory>
#include <string>

#include "ca/ca_store.h"
#include "ca/leaf_minter.h"
#include "core/proxy/context.h"
#include "core/tls/tls_contexts.h"
#include "tests/support/temp_dir.h"

namespace sightglass::test {

// MemoryPeer is one TLS endpoint over memory BIOs.
class MemoryPeer {
 public:
  explicit MemoryPeer(SSL* ssl) : ssl_(ssl) {
    BIO* rbio = BIO_new(BIO_s_mem());
    BIO* wbio = BIO_new(BIO_s_mem());
    BIO_set_mem_eof_return(rbio, -1);
    rbio_ = rbio;
    wbio_ = wbio;
    SSL_set_bio(ssl_.get(), rbio, wbio);
  }
  void feed(const std::string& data) {
    if (!data.empty()) {
      BIO_write(rbio_, data.data(), static_cast<int>(data.size()));
    }
  }
  std::string drain() {
    const uint8_t* p = nullptr;
    size_t n = 0;
    BIO_mem_contents(wbio_, &p, &n);
    std::string out(reinterpret_cast<const char*>(p), n);
    BIO_reset(wbio_);
    return out;
  }
  // step advances the handshake; returns 1 done, 0 in progress, -1 failed.
  int step() {
    const int r = SSL_do_handshake(ssl_.get());
    if (r == 1) {
      return 1;
    }
    const int e = SSL_get_error(ssl_.get(), r);
    ERR_clear_error();
    return e == SSL_ERROR_WANT_READ ? 0 : -1;
  }
  std::string read() {
    std::string out;
    std::array<char, 16384> buf{};
    int n;
    while ((n = SSL_read(ssl_.get(), buf.data(), static_cast<int>(buf.size()))) > 0) {
      out.append(buf.data(), static_cast<size_t>(n));
    }
    ERR_clear_error();
    return out;
  }
  void write(const std::string& s) { SSL_write(ssl_.get(), s.data(), static_cast<int>(s.size())); }
  // send encrypts |s| and returns the records.
  std::string send(const std::string& s) {
    write(s);
    return drain();
  }
  // pump feeds |in|, advances the handshake, keeps the plaintext that came (in |plain|) and
  // returns what the peer sends; a failed handshake sets |failed|.
  std::string pump(const std::string& in) {
    feed(in);
    const int r = SSL_do_handshake(ssl_.get());
    if (r != 1 && SSL_get_error(ssl_.get(), r) != SSL_ERROR_WANT_READ) {
      failed = true;
    }
    ERR_clear_error();
    if (r == 1) {
      plain += read();
    }
    return drain();
  }
  bool done() { return SSL_is_init_finished(ssl_.get()) != 0; }
  std::string alpn() {
    const uint8_t* p = nullptr;
    unsigned n = 0;
    SSL_get0_alpn_selected(ssl_.get(), &p, &n);
    return std::string(reinterpret_cast<const char*>(p), n);
  }
  std::string sni() {
    const char* name = SSL_get_servername(ssl_.get(), TLSEXT_NAMETYPE_host_name);
    return name == nullptr ? "" : name;
  }
  SSL* ssl() { return ssl_.get(); }

  std::string plain;  // What pump() received.
  bool failed = false;

 private:
  bssl::UniquePtr<SSL> ssl_;
  BIO* rbio_;
  BIO* wbio_;
};

// TlsWorld is the Sightglass CA, a separate origin CA, and the proxy's contexts in |config|.
class TlsWorld : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string error;
    ca_ = ca::CertificateAuthority::load_or_create(dir_.path() / "sightglass", &error);
    ASSERT_NE(ca_, nullptr) << error;
    origin_ca_ = ca::CertificateAuthority::load_or_create(dir_.path() / "origin", &error);
    ASSERT_NE(origin_ca_, nullptr) << error;
    minter_ = ca::LeafMinter::create(ca_, {}, &error);
    origin_minter_ = ca::LeafMinter::create(origin_ca_, {}, &error);
    client_facing_ = core::make_client_facing_context(minter_.get());
    upstream_ = core::make_upstream_context({origin_ca_->cert_path().string()}, &error);
    ASSERT_NE(upstream_, nullptr) << error;
    config_.mode = core::ProxyConfig::Mode::kRegular;
    config_.client_tls_ctx = client_facing_.get();
    config_.upstream_tls_ctx = upstream_.get();
  }

  // origin_peer serves |name| with a leaf from |issuer|, choosing http/1.1 when offered.
  std::unique_ptr<MemoryPeer> origin_peer(ca::LeafMinter& issuer, const std::string& name) {
    origin_ctx_.reset(SSL_CTX_new(TLS_method()));
    std::string error;
    auto leaf = issuer.leaf_for(std::array<std::string, 1>{name}, ca::KeyType::kEcdsaP256, &error);
    CRYPTO_BUFFER* chain[] = {leaf->cert.get()};
    SSL_CTX_set_chain_and_key(origin_ctx_.get(), chain, 1, leaf->key.get(), nullptr);
    SSL_CTX_set_alpn_select_cb(
        origin_ctx_.get(),
        [](SSL*, const uint8_t** out, uint8_t* out_len, const uint8_t* in, unsigned in_len, void*) {
          static const uint8_t kHttp11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
          uint8_t* selected = nullptr;
          if (SSL_select_next_proto(&selected, out_len, kHttp11, sizeof(kHttp11), in, in_len) !=
              OPENSSL_NPN_NEGOTIATED) {
            return SSL_TLSEXT_ERR_NOACK;
          }
          *out = selected;
          return SSL_TLSEXT_ERR_OK;
        },
        nullptr);
    auto peer = std::make_unique<MemoryPeer>(SSL_new(origin_ctx_.get()));
    SSL_set_accept_state(peer->ssl());
    return peer;
  }

  // client_peer connects to |name|, trusting only |trust|, offering http/1.1.
  std::unique_ptr<MemoryPeer> client_peer(const ca::CertificateAuthority& trust,
                                          const std::string& name) {
    client_ctx_.reset(SSL_CTX_new(TLS_method()));
    X509_STORE_add_cert(SSL_CTX_get_cert_store(client_ctx_.get()), trust.cert());
    SSL_CTX_set_verify(client_ctx_.get(), SSL_VERIFY_PEER, nullptr);
    auto peer = std::make_unique<MemoryPeer>(SSL_new(client_ctx_.get()));
    SSL_set_connect_state(peer->ssl());
    SSL_set_tlsext_host_name(peer->ssl(), name.c_str());
    X509_VERIFY_PARAM_set1_host(SSL_get0_param(peer->ssl()), name.data(), name.size());
    static const uint8_t kAlpn[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
    SSL_set_alpn_protos(peer->ssl(), kAlpn, sizeof(kAlpn));
    return peer;
  }

  TempDir dir_;
  std::shared_ptr<ca::CertificateAuthority> ca_, origin_ca_;
  std::unique_ptr<ca::LeafMinter> minter_, origin_minter_;
  bssl::UniquePtr<SSL_CTX> client_facing_, upstream_, origin_ctx_, client_ctx_;
  core::ProxyConfig config_;
};

}  // namespace sightglass::test
