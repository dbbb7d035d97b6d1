// ProxySession with real BoringSSL peers over memory: a client that trusts only the
// Sightglass CA, and an origin whose certificate comes from a separate test CA.
#include <gtest/gtest.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <array>

#include "ca/ca_store.h"
#include "ca/leaf_minter.h"
#include "ca/leaf_selector.h"
#include "core/tls/tls_contexts.h"
#include "tests/support/playbook.h"
#include "tests/support/temp_dir.h"

namespace sightglass::core {
namespace {

using test::all_of;
using test::flows;
using test::sent_to;
using test::TempDir;

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
  SSL* ssl() { return ssl_.get(); }

 private:
  bssl::UniquePtr<SSL> ssl_;
  BIO* rbio_;
  BIO* wbio_;
};

class TlsSessionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string error;
    ca_ = ca::CertificateAuthority::load_or_create(dir_.path() / "sightglass", &error);
    ASSERT_NE(ca_, nullptr) << error;
    origin_ca_ = ca::CertificateAuthority::load_or_create(dir_.path() / "origin", &error);
    ASSERT_NE(origin_ca_, nullptr) << error;
    minter_ = ca::LeafMinter::create(ca_, {}, &error);
    origin_minter_ = ca::LeafMinter::create(origin_ca_, {}, &error);
    client_facing_ = make_client_facing_context(minter_.get());
    upstream_ = make_upstream_context({origin_ca_->cert_path().string()}, &error);
    ASSERT_NE(upstream_, nullptr) << error;
    config_.mode = ProxyConfig::Mode::kRegular;
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
  ProxyConfig config_;
};

// Pumps bytes between the client peer, the session and the origin peer until quiet.
struct Pump {
  test::SessionPlaybook* pb;
  MemoryPeer* client;
  MemoryPeer* origin;  // May be null until connected.
  ConnId server_conn = 0;
  std::string to_client_plain;
  std::string to_origin_plain;
  std::vector<OpenConnection> opens;

  void run(Commands commands) {
    for (int round = 0; round < 50; ++round) {
      // The session connects upstream (first, before answering the client's ClientHello).
      for (const OpenConnection& open : all_of<OpenConnection>(commands)) {
        if (origin != nullptr && server_conn == 0) {
          opens.push_back(open);
          server_conn = open.conn;
          auto c = pb->open_ok(open);
          commands.insert(commands.end(), c.begin(), c.end());
        }
      }
      client->feed(sent_to(commands, kClientConn));
      if (origin != nullptr && server_conn != 0) {
        origin->feed(sent_to(commands, server_conn));
      }
      client->step();
      to_client_plain += client->read();
      std::string from_client = client->drain();
      std::string from_origin;
      if (origin != nullptr) {
        origin->step();
        to_origin_plain += origin->read();
        from_origin = origin->drain();
      }
      commands.clear();
      if (!from_client.empty()) {
        auto c = pb->client(from_client);
        commands.insert(commands.end(), c.begin(), c.end());
      }
      if (!from_origin.empty() && server_conn != 0) {
        auto c = pb->server(server_conn, from_origin);
        commands.insert(commands.end(), c.begin(), c.end());
      }
      if (from_client.empty() && from_origin.empty() && sent_to(commands, kClientConn).empty()) {
        return;
      }
    }
  }
};

TEST_F(TlsSessionTest, InterceptsHttpsInsideConnect) {
  test::SessionPlaybook pb(config_);
  auto client = client_peer(*ca_, "origin.test");
  auto origin = origin_peer(*origin_minter_, "origin.test");
  const OpenConnection tcp = pb.connect_tunnel("CONNECT origin.test:443 HTTP/1.1\r\n\r\n");
  Pump pump{&pb, client.get(), origin.get(), tcp.conn, {}, {}, {tcp}};
  client->step();
  pump.run(pb.client(client->drain()));
  ASSERT_TRUE(SSL_is_init_finished(client->ssl())) << pb.log();
  // The client verified the minted leaf against the Sightglass CA, and got http/1.1: what the
  // origin chose.
  EXPECT_EQ(SSL_get_verify_result(client->ssl()), X509_V_OK);
  const uint8_t* alpn = nullptr;
  unsigned alpn_len = 0;
  SSL_get0_alpn_selected(client->ssl(), &alpn, &alpn_len);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(alpn), alpn_len), "http/1.1");

  // The server was asked first: one connection, opened for the CONNECT, its TLS handshake
  // done before the client's ended, and used for the request.
  ASSERT_EQ(pump.opens.size(), 1u) << pb.log();
  EXPECT_EQ(pump.opens[0].host, "origin.test");
  EXPECT_EQ(pump.opens[0].port, 443);
  client->write("GET /secret HTTP/1.1\r\nHost: origin.test\r\n\r\n");
  const Commands c = pb.client(client->drain());
  EXPECT_TRUE(all_of<OpenConnection>(c).empty()) << pb.log();
  pump.run(c);
  EXPECT_EQ(pump.to_origin_plain, "GET /secret HTTP/1.1\r\nHost: origin.test\r\n\r\n") << pb.log();
  origin->write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
  pump.run(pb.server(pump.server_conn, origin->drain()));
  EXPECT_EQ(pump.to_client_plain, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
  const auto done = flows(pb.all());
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0]->request->url(), "https://origin.test/secret");
  ASSERT_TRUE(done[0]->client_tls.has_value());
  EXPECT_EQ(done[0]->client_tls->sni, "origin.test");
  EXPECT_EQ(done[0]->client_tls->alpn, "http/1.1");
  ASSERT_TRUE(done[0]->server_tls.has_value());
  EXPECT_EQ(done[0]->server_tls->version, "TLSv1.3");
  ASSERT_TRUE(done[0]->server_tls->certificate.has_value());
  EXPECT_NE(done[0]->server_tls->certificate->subject.find("origin.test"), std::string::npos);
  EXPECT_GE(done[0]->timings.ssl_us, 0);
}

TEST_F(TlsSessionTest, UntrustedUpstreamCertificateAnswers502) {
  test::SessionPlaybook pb(config_);
  auto client = client_peer(*ca_, "origin.test");
  // The origin's certificate comes from a CA that the proxy does not trust.
  auto origin = origin_peer(*minter_, "origin.test");
  const OpenConnection tcp = pb.connect_tunnel("CONNECT origin.test:443 HTTP/1.1\r\n\r\n");
  Pump pump{&pb, client.get(), origin.get(), tcp.conn, {}, {}, {tcp}};
  client->step();
  pump.run(pb.client(client->drain()));
  // The upstream handshake failed first; the client's completes, and its request gets a 502.
  ASSERT_TRUE(SSL_is_init_finished(client->ssl())) << pb.log();
  ASSERT_EQ(pump.opens.size(), 1u);
  client->write("GET / HTTP/1.1\r\nHost: origin.test\r\n\r\n");
  pump.run(pb.client(client->drain()));
  EXPECT_EQ(pump.to_client_plain.rfind("HTTP/1.1 502 Bad Gateway", 0), 0u) << pump.to_client_plain;
  EXPECT_NE(pump.to_client_plain.find("upstream certificate verify failed"), std::string::npos)
      << pump.to_client_plain;
  const auto done = flows(pb.all());
  ASSERT_EQ(done.size(), 1u);
  EXPECT_NE(done[0]->error.find("upstream certificate verify failed"), std::string::npos);
}

TEST_F(TlsSessionTest, ClientThatDistrustsTheCaIsLoggedWithAClearError) {
  PassthroughPolicy policy;
  config_.passthrough = &policy;
  test::SessionPlaybook pb(config_);
  auto client = client_peer(*origin_ca_, "origin.test");  // Trusts some other CA.
  auto origin = origin_peer(*origin_minter_, "origin.test");
  const OpenConnection tcp = pb.connect_tunnel("CONNECT origin.test:443 HTTP/1.1\r\n\r\n");
  Pump pump{&pb, client.get(), origin.get(), tcp.conn, {}, {}, {tcp}};
  client->step();
  pump.run(pb.client(client->drain()));
  EXPECT_FALSE(SSL_is_init_finished(client->ssl()));
  const auto done = flows(pb.all());
  ASSERT_EQ(done.size(), 1u) << pb.log();
  EXPECT_NE(done[0]->error.find("origin.test"), std::string::npos) << done[0]->error;
  EXPECT_NE(done[0]->error.find("rejected the Sightglass certificate"), std::string::npos)
      << done[0]->error;
  EXPECT_TRUE(test::closes(pb.all(), kClientConn));
  // What the session learned for every session goes out as a command that the driver applies:
  // the transcript shows it, and the shared policy is not changed behind the commands.
  const auto learned = test::all_of<Learn>(pb.all());
  ASSERT_EQ(learned.size(), 1u) << pb.log();
  EXPECT_EQ(learned[0].what, Learn::What::kPassthrough);
  EXPECT_EQ(learned[0].host_port, "origin.test:443");
  EXPECT_EQ(learned[0].why, done[0]->error);
  EXPECT_NE(pb.log().find("<< Learn(passthrough origin.test:443"), std::string::npos) << pb.log();
  EXPECT_TRUE(done[0]->passthrough_learned);
  EXPECT_TRUE(policy.learned().empty()) << "the session changed the shared policy itself";
}

}  // namespace
}  // namespace sightglass::core
