// ProxySession's connection layers, each by its Playbook transcript: the client's TLS, the
// server connection (its opening, an upstream proxy's CONNECT, its TLS and verification), the
// server-first handshake (the ClientHello held while the server is asked first) and the retry
// offering h2 to a server that turns HTTP/1.1 down. Real BoringSSL peers over memory; the
// transcripts state every command, in order (TLS records matched by connection, their
// plaintext checked at the peers).
#include <gtest/gtest.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <array>
#include <deque>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "ca/ca_store.h"
#include "ca/leaf_minter.h"
#include "core/layers/http1.h"
#include "core/tls/tls_contexts.h"
#include "tests/support/h2_peer.h"
#include "tests/support/memory_tls.h"
#include "tests/support/playbook.h"

namespace sightglass::core {
namespace {

using test::cancel;
using test::expect;
using test::flows;
using test::MemoryPeer;
using test::open_to;
using test::Playbook;
using test::SessionPlaybook;
using test::wakeup;

// What an origin answers to the ALPN offer.
enum class Choose {
  kHttp11,   // http/1.1 when offered.
  kH2,       // h2 when offered.
  kNothing,  // No ALPN at all (nghttpd without ALPN, many old servers).
  kH2Only,   // h2, and a no_application_protocol alert when h2 is not offered.
};

// OriginAlpn is what an origin chooses, and what it was offered.
struct OriginAlpn {
  Choose choose = Choose::kHttp11;
  std::vector<std::string> offered;
};

int select_alpn(SSL* /*ssl*/, const uint8_t** out, uint8_t* out_len, const uint8_t* in,
                unsigned in_len, void* arg) {
  auto* origin = static_cast<OriginAlpn*>(arg);
  origin->offered.clear();
  for (unsigned i = 0; i < in_len; i += 1 + in[i]) {
    origin->offered.emplace_back(reinterpret_cast<const char*>(in + i + 1), in[i]);
  }
  if (origin->choose == Choose::kNothing) {
    return SSL_TLSEXT_ERR_NOACK;
  }
  const std::string want = origin->choose == Choose::kHttp11 ? "http/1.1" : "h2";
  for (unsigned i = 0; i < in_len; i += 1 + in[i]) {
    if (std::string(reinterpret_cast<const char*>(in + i + 1), in[i]) == want) {
      *out = in + i + 1;
      *out_len = in[i];
      return SSL_TLSEXT_ERR_OK;
    }
  }
  return origin->choose == Choose::kH2Only ? SSL_TLSEXT_ERR_ALERT_FATAL : SSL_TLSEXT_ERR_NOACK;
}

// Matchers for the transcripts.

// tls_to matches a SendData of TLS records to |conn| and keeps them in |inbox| for the peer.
Playbook::Expected tls_to(ConnId conn, std::string* inbox, const std::string& what) {
  return expect<SendData>(
      [conn, inbox](const SendData& s) {
        if (s.conn != conn || s.data.empty() || s.data[0] < 0x14 || s.data[0] > 0x17) {
          return false;  // Not a TLS record.
        }
        inbox->append(s.data);
        return true;
      },
      "SendData(" + std::to_string(conn) + ", TLS: " + what + ")");
}

// finished is the PublishFlow of a finished flow with |error| (compared by its description).
PublishFlow finished(std::string error) {
  auto flow = std::make_shared<FlowSnapshot>();
  flow->state = FlowState::kFinished;
  flow->error = std::move(error);
  return PublishFlow{flow};
}

PublishFlow live() {
  auto flow = std::make_shared<FlowSnapshot>();
  flow->state = FlowState::kLive;
  return PublishFlow{flow};
}

const std::string kConnect = "CONNECT origin.test:443 HTTP/1.1\r\n\r\n";
const std::string kEstablished = "HTTP/1.1 200 Connection established\r\n\r\n";
const std::string kGet = "GET /secret HTTP/1.1\r\nHost: origin.test\r\n\r\n";
const std::string kOk = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

class SessionLayers : public test::TlsWorld {
 protected:
  void SetUp() override {
    TlsWorld::SetUp();
    config_.body_limit = 1024;
  }

  // origin serves |name| with a leaf from |issuer| (the origin CA, which the proxy trusts, by
  // default) and answers the ALPN offer as |choose| says.
  std::unique_ptr<MemoryPeer> origin(Choose choose, ca::LeafMinter* issuer = nullptr,
                                     const std::string& name = "origin.test") {
    SSL_CTX* ctx = contexts_.emplace_back(SSL_CTX_new(TLS_method())).get();
    std::string error;
    auto leaf = (issuer != nullptr ? issuer : origin_minter_.get())
                    ->leaf_for(std::array<std::string, 1>{name}, ca::KeyType::kEcdsaP256, &error);
    CRYPTO_BUFFER* chain[] = {leaf->cert.get()};
    SSL_CTX_set_chain_and_key(ctx, chain, 1, leaf->key.get(), nullptr);
    OriginAlpn& alpn = origin_alpn_.emplace_back();
    alpn.choose = choose;
    SSL_CTX_set_alpn_select_cb(ctx, select_alpn, &alpn);
    auto peer = std::make_unique<MemoryPeer>(SSL_new(ctx));
    SSL_set_accept_state(peer->ssl());
    return peer;
  }
  // offered is what the last origin made was offered by the proxy.
  const std::vector<std::string>& offered() const { return origin_alpn_.back().offered; }

  // client trusts |trust| (the Sightglass CA by default), asks for origin.test and offers
  // |alpn|.
  std::unique_ptr<MemoryPeer> client(std::vector<std::string> alpn = {"http/1.1"},
                                     const ca::CertificateAuthority* trust = nullptr) {
    SSL_CTX* ctx = contexts_.emplace_back(SSL_CTX_new(TLS_method())).get();
    X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx), (trust != nullptr ? *trust : *ca_).cert());
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
    auto peer = std::make_unique<MemoryPeer>(SSL_new(ctx));
    SSL_set_connect_state(peer->ssl());
    const std::string name = "origin.test";
    SSL_set_tlsext_host_name(peer->ssl(), name.c_str());
    X509_VERIFY_PARAM_set1_host(SSL_get0_param(peer->ssl()), name.data(), name.size());
    std::string wire;
    for (const std::string& protocol : alpn) {
      wire.push_back(static_cast<char>(protocol.size()));
      wire += protocol;
    }
    SSL_set_alpn_protos(peer->ssl(), reinterpret_cast<const uint8_t*>(wire.data()),
                        static_cast<unsigned>(wire.size()));
    return peer;
  }

  // from makes the event of what |peer| sends once it has read |inbox| (emptied).
  static std::function<Event()> from(MemoryPeer* peer, std::string* inbox, ConnId conn) {
    return [peer, inbox, conn] {
      return Event(DataReceived{conn, peer->pump(std::exchange(*inbox, std::string()))});
    };
  }

  std::deque<bssl::UniquePtr<SSL_CTX>> contexts_;
  std::deque<OriginAlpn> origin_alpn_;
};

// --- The client's TLS ----------------------------------------------------------------------

TEST_F(SessionLayers, ClientTlsInsideConnectCompletesAndCarriesTheRequest) {
  SessionPlaybook session(config_);
  auto browser = client();
  auto server = origin(Choose::kHttp11);
  std::string to_client, to_server;
  OpenConnection open;
  CommandId sniff = 0, client_limit = 0, client_limit2 = 0, server_limit = 0, response = 0;
  CommandId idle = 0, idle2 = 0;
  Playbook pb(session.handler());
  pb >>
      DataReceived{kClientConn, kConnect}  // The TCP connection first, the answer once it is open.
          << open_to(1, "origin.test", 443, false, &open) >>
      [&] { return Event(test::completed(open)); }
          << SendData{kClientConn, kEstablished}
          << wakeup(1000, &sniff, "a server that speaks first")
      // The ClientHello: the server is asked first (TLS on the tunnel's connection).
      >>
      [&] {
        return Event(DataReceived{kClientConn, browser->pump("")});
      } << cancel(&sniff, "server first")
        << wakeup(30'000, &client_limit, "client handshake")
        << wakeup(15'000, &server_limit, "server handshake")
        << tls_to(1, &to_server, "ClientHello") >>
      from(server.get(), &to_server, 1)
          << tls_to(1, &to_server, "Finished")
          << cancel(&server_limit, "server handshake")
          // The client's limit counts from now.
          << cancel(&client_limit, "client handshake")
          << wakeup(30'000, &client_limit2, "client handshake")
          << tls_to(kClientConn, &to_client, "ServerHello..Finished") >>
      from(browser.get(), &to_client, kClientConn)
          << tls_to(kClientConn, &to_client, "NewSessionTicket")
          << cancel(&client_limit2, "client handshake") << wakeup(60'000, &idle, "client idle")
      // The request goes over the connection opened for the CONNECT.
      >>
      [&] {
        browser->pump(std::exchange(to_client, std::string()));
        return Event(DataReceived{kClientConn, browser->send(kGet)});
      } << wakeup(120'000, &response, "response")
        << live() << tls_to(1, &to_server, "request") >>
      [&] {
        server->pump(std::exchange(to_server, std::string()));
        return Event(DataReceived{1, server->send(kOk)});
      } << tls_to(kClientConn, &to_client, "response")
        << cancel(&response, "response")
        << expect<PublishFlow>()
        // The server connection's idle limit (the client's is armed already).
        << wakeup(60'000, &idle2, "server idle");
  ASSERT_TRUE(pb.check());
  browser->pump(to_client);
  EXPECT_TRUE(browser->done());
  EXPECT_EQ(browser->alpn(), "http/1.1");
  EXPECT_EQ(SSL_get_verify_result(browser->ssl()), X509_V_OK);
  EXPECT_EQ(server->plain, kGet);
  EXPECT_EQ(server->sni(), "origin.test");
  EXPECT_EQ(offered(), (std::vector<std::string>{"http/1.1"}));
  EXPECT_EQ(browser->plain, kOk);
  const auto done = flows(pb.commands());
  ASSERT_EQ(done.size(), 1u) << pb.transcript();
  EXPECT_EQ(done[0]->request->url(), "https://origin.test/secret");
  ASSERT_TRUE(done[0]->client_tls.has_value());
  EXPECT_EQ(done[0]->client_tls->sni, "origin.test");
  ASSERT_TRUE(done[0]->server_tls.has_value());
  EXPECT_EQ(done[0]->server_tls->alpn, "http/1.1");
}

TEST_F(SessionLayers, ClientTlsRejectingOurCertificateEndsTheTunnelWithoutARequest) {
  PassthroughPolicy policy;
  config_.passthrough = &policy;
  SessionPlaybook session(config_);
  auto browser = client({"http/1.1"}, origin_ca_.get());  // Does not trust the Sightglass CA.
  auto server = origin(Choose::kHttp11);
  std::string to_client, to_server;
  OpenConnection open;
  CommandId sniff = 0, client_limit = 0, server_limit = 0;
  const std::string error =
      "the client rejected the Sightglass certificate for origin.test (it does not trust the "
      "Sightglass CA, or it pins its certificates): tlsv1 alert unknown ca";
  Playbook pb(session.handler());
  pb >> DataReceived{kClientConn, kConnect} << open_to(1, "origin.test", 443, false, &open) >>
      [&] { return Event(test::completed(open)); } << SendData{kClientConn, kEstablished}
                                                   << wakeup(1000, &sniff, "server first") >>
      [&] {
        return Event(DataReceived{kClientConn, browser->pump("")});
      } << cancel(&sniff, "server first")
        << wakeup(30'000, &client_limit, "client handshake")
        << wakeup(15'000, &server_limit, "server handshake")
        << tls_to(1, &to_server, "ClientHello") >>
      from(server.get(), &to_server, 1)
          << tls_to(1, &to_server, "Finished") << cancel(&server_limit, "server handshake")
          << cancel(&client_limit, "client handshake")
          << wakeup(30'000, &client_limit, "client handshake")
          << tls_to(kClientConn, &to_client, "ServerHello..Finished")
      // The client's alert: the tunnel ends, nothing more goes to the server but the close.
      >> from(browser.get(), &to_client, kClientConn)
             << cancel(&client_limit, "client handshake")
             << Learn{Learn::What::kPassthrough, "origin.test:443", error} << finished(error)
             << CloseConnection{kClientConn} << CloseConnection{1};
  ASSERT_TRUE(pb.check());
  EXPECT_TRUE(browser->failed);
  EXPECT_FALSE(browser->done());
  EXPECT_EQ(server->plain, "");
}

TEST_F(SessionLayers, ClientTlsInReverseModeDoesNotWaitForTheServer) {
  // Reverse mode, a client that does not offer h2: the client's handshake is ours alone; the
  // server is contacted for the first request.
  config_.mode = ProxyConfig::Mode::kReverse;
  config_.reverse_host = "origin.test";
  config_.reverse_port = 443;
  SessionPlaybook session(config_);
  auto browser = client();
  std::string to_client;
  CommandId first_byte = 0, client_limit = 0, idle = 0;
  Playbook pb(session.handler());
  pb >> Start{} << wakeup(30'000, &first_byte, "first byte") >>
      [&] {
        return Event(DataReceived{kClientConn, browser->pump("")});
      } << cancel(&first_byte, "first byte")
        << wakeup(30'000, &client_limit, "handshake")
        << tls_to(kClientConn, &to_client, "ServerHello..Finished") >>
      from(browser.get(), &to_client, kClientConn)
          << tls_to(kClientConn, &to_client, "NewSessionTicket")
          << cancel(&client_limit, "handshake") << wakeup(60'000, &idle, "client idle");
  ASSERT_TRUE(pb.check());
  browser->pump(to_client);
  EXPECT_TRUE(browser->done());
  EXPECT_EQ(browser->alpn(), "http/1.1");
  EXPECT_EQ(SSL_get_verify_result(browser->ssl()), X509_V_OK);
}

// --- The server connection -----------------------------------------------------------------

// ServerConnection is reverse mode toward https://origin.test with a plaintext client: only the
// server connection runs TLS.
class ServerConnection : public SessionLayers {
 protected:
  void SetUp() override {
    SessionLayers::SetUp();
    config_.mode = ProxyConfig::Mode::kReverse;
    config_.reverse_host = "origin.test";
    config_.reverse_port = 443;
  }
  const std::string kPlainGet = "GET /r HTTP/1.1\r\nHost: proxy.test\r\n\r\n";
  const std::string kForwarded = "GET /r HTTP/1.1\r\nHost: origin.test\r\n\r\n";
};

TEST_F(ServerConnection, OpensThenHandshakesThenSendsTheRequest) {
  SessionPlaybook session(config_);
  auto server = origin(Choose::kHttp11);
  std::string to_server;
  OpenConnection open;
  CommandId first_byte = 0, response = 0, server_limit = 0, idle = 0, idle2 = 0;
  Playbook pb(session.handler());
  pb >> Start{} << wakeup(30'000, &first_byte, "first byte") >>
      DataReceived{kClientConn, kPlainGet} << cancel(&first_byte, "first byte")
                                           << open_to(1, "origin.test", 443, true, &open)
                                           << wakeup(120'000, &response, "response") << live()
      // TCP is open: the session's TLS starts (the driver never sees it).
      >> [&] { return Event(test::completed(open)); }
             << wakeup(15'000, &server_limit, "server handshake")
             << tls_to(1, &to_server, "ClientHello")
      // Handshake done: the open completes and the request goes out.
      >> from(server.get(), &to_server, 1)
             << tls_to(1, &to_server, "Finished") << cancel(&server_limit, "server handshake")
             << tls_to(1, &to_server, "request") >>
      [&] {
        server->pump(std::exchange(to_server, std::string()));
        return Event(DataReceived{1, server->send(kOk)});
      } << SendData{kClientConn, kOk}
        << cancel(&response, "response") << expect<PublishFlow>()
        << wakeup(60'000, &idle, "client idle") << wakeup(60'000, &idle2, "server idle");
  ASSERT_TRUE(pb.check());
  EXPECT_EQ(server->plain, kForwarded);
  EXPECT_EQ(server->sni(), "origin.test");
  EXPECT_EQ(offered(), (std::vector<std::string>{"http/1.1"}));
  const auto done = flows(pb.commands());
  ASSERT_EQ(done.size(), 1u) << pb.transcript();
  ASSERT_TRUE(done[0]->server_tls.has_value());
  EXPECT_EQ(done[0]->server_tls->alpn, "http/1.1");
  EXPECT_EQ(done[0]->server_address, "192.0.2.1:443");
  EXPECT_GE(done[0]->timings.ssl_us, 0);
}

TEST_F(ServerConnection, CertificateThatFailsVerificationAnswers502) {
  // The OpenCompleted of the failure (kTlsVerify) is the layer's: through the session it shows
  // as its error, which names the verification (not "TLS handshake with ... failed").
  SessionPlaybook session(config_);
  auto server = origin(Choose::kHttp11, minter_.get());  // Issued by a CA the proxy distrusts.
  std::string to_server;
  OpenConnection open;
  CommandId first_byte = 0, response = 0, server_limit = 0;
  const std::string error =
      "upstream certificate verify failed: unable to get local issuer certificate";
  Playbook pb(session.handler());
  pb >> Start{} << wakeup(30'000, &first_byte, "first byte") >>
      DataReceived{kClientConn, kPlainGet} << cancel(&first_byte, "first byte")
                                           << open_to(1, "origin.test", 443, true, &open)
                                           << wakeup(120'000, &response, "response") << live() >>
      [&] { return Event(test::completed(open)); }
          << wakeup(15'000, &server_limit, "server handshake")
          << tls_to(1, &to_server, "ClientHello") >>
      from(server.get(), &to_server, 1)
          << tls_to(1, &to_server, "alert") << cancel(&server_limit, "server handshake")
          << CloseConnection{1} << SendData{kClientConn, error_response(502, "Bad Gateway", error)}
          << cancel(&response, "response") << finished(error) << CloseConnection{kClientConn};
  ASSERT_TRUE(pb.check());
  EXPECT_EQ(server->plain, "");
  server->pump(to_server);
  EXPECT_TRUE(server->failed);  // The alert.
}

// garbage plays a plaintext HTTP server on the TLS port: a failed handshake (kTlsHandshake),
// not a certificate that failed verification.
void garbage_from_the_server(ProxyConfig config) {
  SessionPlaybook session(config);
  std::string to_server;
  OpenConnection open;
  CommandId first_byte = 0, response = 0, server_limit = 0;
  const std::string error = "TLS handshake with origin.test failed: wrong version number";
  Playbook pb(session.handler());
  pb >> Start{} << wakeup(30'000, &first_byte, "first byte") >>
      DataReceived{kClientConn, "GET /r HTTP/1.1\r\nHost: proxy.test\r\n\r\n"}
          << cancel(&first_byte, "first byte") << open_to(1, "origin.test", 443, true, &open)
          << wakeup(120'000, &response, "response") << live() >>
      [&] { return Event(test::completed(open)); }
          << wakeup(15'000, &server_limit, "server handshake")
          << tls_to(1, &to_server, "ClientHello") >>
      DataReceived{1, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"}
          << tls_to(1, &to_server, "protocol_version alert")
          << cancel(&server_limit, "server handshake") << CloseConnection{1}
          << SendData{kClientConn, error_response(502, "Bad Gateway", error)}
          << cancel(&response, "response") << finished(error) << CloseConnection{kClientConn};
  ASSERT_TRUE(pb.check());
}

TEST_F(ServerConnection, GarbageInsteadOfAServerHelloAnswers502WithoutVerification) {
  config_.verify_upstream = false;
  garbage_from_the_server(config_);
}

// With verification on (the default): before the certificate is checked, SSL_get_verify_result
// is X509_V_ERR_INVALID_CALL, which is no verify failure (it was reported as "upstream
// certificate verify failed: Invalid certificate verification context" before 2049a41).
TEST_F(ServerConnection, GarbageInsteadOfAServerHelloAnswers502) {
  garbage_from_the_server(config_);
}

TEST_F(ServerConnection, UpstreamProxyTunnelThenTls) {
  config_.mode = ProxyConfig::Mode::kUpstream;
  config_.upstream_proxy_host = "chain.test";
  config_.upstream_proxy_port = 3128;
  SessionPlaybook session(config_);
  auto browser = client();
  auto server = origin(Choose::kHttp11);
  std::string to_client, to_server;
  OpenConnection open;
  CommandId proxy_limit = 0, sniff = 0, client_limit = 0, server_limit = 0, idle = 0;
  Playbook pb(session.handler());
  pb >> DataReceived{kClientConn, kConnect}
            // To the upstream proxy, which is asked for a tunnel once connected.
            << open_to(1, "chain.test", 3128, false, &open) >>
      [&] { return Event(test::completed(open)); }
          << SendData{1, "CONNECT origin.test:443 HTTP/1.1\r\nHost: origin.test:443\r\n\r\n"}
          << wakeup(15'000, &proxy_limit, "upstream proxy answer") >>
      DataReceived{1, "HTTP/1.1 200 Connection established\r\n\r\n"}
          << cancel(&proxy_limit, "upstream proxy answer") << SendData{kClientConn, kEstablished}
          << wakeup(1000, &sniff, "server first")
      // Then TLS with the server through the tunnel, as for a direct connection.
      >>
      [&] {
        return Event(DataReceived{kClientConn, browser->pump("")});
      } << cancel(&sniff, "server first")
        << wakeup(30'000, &client_limit, "client handshake")
        << wakeup(15'000, &server_limit, "server handshake")
        << tls_to(1, &to_server, "ClientHello") >>
      from(server.get(), &to_server, 1)
          << tls_to(1, &to_server, "Finished") << cancel(&server_limit, "server handshake")
          << cancel(&client_limit, "client handshake")
          << wakeup(30'000, &client_limit, "client handshake")
          << tls_to(kClientConn, &to_client, "ServerHello..Finished") >>
      from(browser.get(), &to_client, kClientConn)
          << tls_to(kClientConn, &to_client, "NewSessionTicket")
          << cancel(&client_limit, "client handshake") << wakeup(60'000, &idle, "client idle");
  ASSERT_TRUE(pb.check());
  browser->pump(to_client);
  EXPECT_TRUE(browser->done());
  EXPECT_EQ(server->sni(), "origin.test");
}

TEST_F(ServerConnection, UpstreamProxyRefusingConnectAnswersTheClient502) {
  config_.mode = ProxyConfig::Mode::kUpstream;
  config_.upstream_proxy_host = "chain.test";
  config_.upstream_proxy_port = 3128;
  SessionPlaybook session(config_);
  OpenConnection open;
  CommandId proxy_limit = 0;
  const std::string error =
      "cannot open the tunnel to origin.test:443: the upstream proxy refused CONNECT "
      "origin.test:443: HTTP/1.1 407 Proxy Authentication Required";
  Playbook pb(session.handler());
  pb >> DataReceived{kClientConn, kConnect} << open_to(1, "chain.test", 3128, false, &open) >>
      [&] { return Event(test::completed(open)); }
          << SendData{1, "CONNECT origin.test:443 HTTP/1.1\r\nHost: origin.test:443\r\n\r\n"}
          << wakeup(15'000, &proxy_limit, "upstream proxy answer") >>
      DataReceived{1, "HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n"}
          << cancel(&proxy_limit, "upstream proxy answer") << CloseConnection{1}
          << SendData{kClientConn, error_response(502, "Bad Gateway", error)}
          << Log{Log::Level::kInfo, error} << finished(error) << CloseConnection{kClientConn};
  ASSERT_TRUE(pb.check());
}

// --- Server first: the ClientHello held ----------------------------------------------------

// Transparent mode knows the destination from the start: the client's ClientHello waits while
// the server is connected and asked, and the answer copies the server's ALPN choice.
class ServerFirst : public SessionLayers {
 protected:
  // run plays the handshakes: the server answers the client's |offer| as |choose| says; the
  // client must get |chosen|, and the server must have been offered |server_offered|.
  void run(Choose choose, const std::vector<std::string>& offer, const std::string& chosen,
           const std::vector<std::string>& server_offered) {
    ClientConnection redirected;
    redirected.original_destination = "192.0.2.7:443";
    config_.mode = ProxyConfig::Mode::kTransparent;
    SessionPlaybook session(config_, redirected);
    auto browser = client(offer);
    auto server = origin(choose);
    std::string to_client, to_server;
    OpenConnection open;
    CommandId first_byte = 0, sniff = 0, client_limit = 0, server_limit = 0;
    Playbook pb(session.handler());
    pb >>
        Start{} << wakeup(30'000, &first_byte, "first byte") << wakeup(1000, &sniff, "server first")
        // The ClientHello is held: no answer to the client, a connection to the destination.
        >>
        [&] {
          return Event(DataReceived{kClientConn, browser->pump("")});
        } << cancel(&first_byte, "first byte")
          << cancel(&sniff, "server first") << wakeup(30'000, &client_limit, "client handshake")
          << open_to(1, "192.0.2.7", 443, true, &open) >>
        [&] { return Event(test::completed(open)); }
            << wakeup(15'000, &server_limit, "server handshake")
            << tls_to(1, &to_server, "ClientHello")
        // The server's handshake is done first; then the client gets its answer.
        >> from(server.get(), &to_server, 1)
               << tls_to(1, &to_server, "Finished") << cancel(&server_limit, "server handshake")
               << cancel(&client_limit, "client handshake")
               << wakeup(30'000, &client_limit, "client handshake")
               << tls_to(kClientConn, &to_client, "ServerHello..Finished");
    ASSERT_TRUE(pb.check());
    browser->pump(to_client);
    EXPECT_TRUE(browser->done());
    EXPECT_EQ(SSL_get_verify_result(browser->ssl()), X509_V_OK);
    EXPECT_EQ(browser->alpn(), chosen);
    // The server was asked by the client's name, with the client's offer.
    EXPECT_EQ(server->sni(), "origin.test");
    EXPECT_EQ(offered(), server_offered);
  }
};

TEST_F(ServerFirst, TheServersHttp11ChoiceIsTheClients) {
  run(Choose::kHttp11, {"h2", "http/1.1"}, "http/1.1", {"h2", "http/1.1"});
}

TEST_F(ServerFirst, TheServersH2ChoiceIsTheClients) {
  run(Choose::kH2, {"h2", "http/1.1"}, "h2", {"h2", "http/1.1"});
}

TEST_F(ServerFirst, NoAlpnFromTheServerIsNoAlpnForTheClient) {
  run(Choose::kNothing, {"h2", "http/1.1"}, "", {"h2", "http/1.1"});
}

// --- The retry offering h2 -----------------------------------------------------------------

class H2OnlyRetry : public ServerConnection {
 protected:
  void settings(bool translated);
  void alert(ProxyConfig config);
};

TEST_F(H2OnlyRetry, ServerWithoutAlpnClosingAfterTheHandshakeIsOpenedAgainOfferingH2) {
  SessionPlaybook session(config_);
  auto first = origin(Choose::kNothing);
  auto second = origin(Choose::kH2Only);
  std::string to_first, to_second;
  test::H2Peer h2(true);
  OpenConnection open, again;
  CommandId first_byte = 0, response = 0, limit = 0, limit2 = 0, idle = 0, idle2 = 0;
  Playbook pb(session.handler());
  pb >> Start{} << wakeup(30'000, &first_byte, "first byte") >>
      DataReceived{kClientConn, kPlainGet} << cancel(&first_byte, "first byte")
                                           << open_to(1, "origin.test", 443, true, &open)
                                           << wakeup(120'000, &response, "response") << live() >>
      [&] { return Event(test::completed(open)); } << wakeup(15'000, &limit, "server handshake")
                                                   << tls_to(1, &to_first, "ClientHello")
      // No ALPN: the request goes out, kept in case the server turns out to speak h2 only.
      >> from(first.get(), &to_first, 1)
             << tls_to(1, &to_first, "Finished") << cancel(&limit, "server handshake")
             << tls_to(1, &to_first, "request")
      // It closes without answering (nghttpd does that): the connection is opened again.
      >> ConnectionClosed{1, ""}
             << tls_to(1, &to_first, "close_notify") << CloseConnection{1}
             << Log{Log::Level::kInfo,
                    "origin.test:443: the server chose no ALPN and closed the connection without "
                    "answering; trying again offering h2 (HTTP/1.1 for the client, translated)"}
             << open_to(2, "origin.test", 443, true, &again) >>
      [&] { return Event(test::completed(again)); } << wakeup(15'000, &limit2, "server handshake")
                                                    << tls_to(2, &to_second, "ClientHello")
      // h2: learned for every session, and the request is translated.
      >> from(second.get(), &to_second, 2)
             << tls_to(2, &to_second, "Finished")
             << Learn{Learn::What::kH2Only, "origin.test:443", ""}
             << tls_to(2, &to_second, "preface, SETTINGS") << cancel(&limit2, "server handshake")
             << tls_to(2, &to_second, "HEADERS") >>
      [&] {
        second->pump(std::exchange(to_second, std::string()));
        h2.receive(std::exchange(second->plain, std::string()));
        h2.respond(1, {{":status", "200"}, {"content-length", "2"}}, "ok");
        return Event(DataReceived{2, second->send(h2.drain())});
      }
          // The HTTP/2 response, in HTTP/1.1 (header names as HTTP/2 has them).
          << tls_to(2, &to_second, "SETTINGS ack")
          << SendData{kClientConn, "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"}
          << cancel(&response, "response") << expect<PublishFlow>()
          << wakeup(60'000, &idle, "client idle") << wakeup(60'000, &idle2, "server idle");
  ASSERT_TRUE(pb.check());
  first->pump(to_first);
  EXPECT_EQ(first->plain, kForwarded);
  EXPECT_EQ(offered(), (std::vector<std::string>{"h2"}));
  ASSERT_EQ(h2.messages.count(1), 1u);
  EXPECT_EQ(h2.messages[1].headers, (Headers{{":method", "GET"},
                                             {":scheme", "https"},
                                             {":authority", "origin.test"},
                                             {":path", "/r"}}));
  const auto done = flows(pb.commands());
  ASSERT_EQ(done.size(), 1u) << pb.transcript();
  EXPECT_EQ(done[0]->response->status, 200);
  EXPECT_TRUE(done[0]->error.empty()) << done[0]->error;
}

// settings plays an HTTP/2 server without ALPN that answers an HTTP/1.1 request with its
// SETTINGS: the connection is opened again offering h2. |translated|: the whole exchange, the
// request sent again (translated) on the new connection and its answer; else up to the new
// connection's ClientHello.
void H2OnlyRetry::settings(bool translated) {
  SessionPlaybook session(config_);
  auto first = origin(Choose::kNothing);
  auto second = origin(Choose::kNothing);  // Again no ALPN: HTTP/2 with prior knowledge.
  std::string to_first, to_second;
  test::H2Peer h2_first(true), h2(true);
  OpenConnection open, again;
  CommandId first_byte = 0, response = 0, limit = 0, limit2 = 0, idle = 0, idle2 = 0;
  Playbook pb(session.handler());
  pb >> Start{} << wakeup(30'000, &first_byte, "first byte") >>
      DataReceived{kClientConn, kPlainGet} << cancel(&first_byte, "first byte")
                                           << open_to(1, "origin.test", 443, true, &open)
                                           << wakeup(120'000, &response, "response") << live() >>
      [&] { return Event(test::completed(open)); } << wakeup(15'000, &limit, "server handshake")
                                                   << tls_to(1, &to_first, "ClientHello") >>
      from(first.get(), &to_first, 1)
          << tls_to(1, &to_first, "Finished") << cancel(&limit, "server handshake")
          << tls_to(1, &to_first, "request")
      // An HTTP/2 server without ALPN speaks first: its SETTINGS, not an HTTP/1.1 answer.
      >>
      [&] {
        first->pump(std::exchange(to_first, std::string()));
        return Event(DataReceived{1, first->send(h2_first.drain())});
      } << tls_to(1, &to_first, "close_notify")
        << CloseConnection{1}
        << Log{Log::Level::kInfo,
               "origin.test:443: the server answered HTTP/1.1 with HTTP/2 (no ALPN); trying "
               "again offering h2 (HTTP/1.1 for the client, translated)"}
        << open_to(2, "origin.test", 443, true, &again) >>
      [&] { return Event(test::completed(again)); } << wakeup(15'000, &limit2, "server handshake")
                                                    << tls_to(2, &to_second, "ClientHello");
  if (!translated) {
    ASSERT_TRUE(pb.check());
    first->pump(to_first);
    EXPECT_EQ(first->plain, kForwarded);
    return;
  }
  pb >> from(second.get(), &to_second, 2)
            << tls_to(2, &to_second, "Finished")
            << Learn{Learn::What::kH2Only, "origin.test:443", ""}
            << tls_to(2, &to_second, "preface, SETTINGS")
            << cancel(&limit2, "server handshake")
            // The request the first connection carried, again, translated.
            << tls_to(2, &to_second, "HEADERS") >>
      [&] {
        second->pump(std::exchange(to_second, std::string()));
        h2.receive(std::exchange(second->plain, std::string()));
        h2.respond(1, {{":status", "200"}, {"content-length", "2"}}, "ok");
        return Event(DataReceived{2, second->send(h2.drain())});
      } << tls_to(2, &to_second, "SETTINGS ack")
        << SendData{kClientConn, "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"}
        << cancel(&response, "response") << expect<PublishFlow>()
        << wakeup(60'000, &idle, "client idle") << wakeup(60'000, &idle2, "server idle");
  ASSERT_TRUE(pb.check());
  ASSERT_EQ(h2.messages.count(1), 1u);
  EXPECT_EQ(h2.messages[1].headers, (Headers{{":method", "GET"},
                                             {":scheme", "https"},
                                             {":authority", "origin.test"},
                                             {":path", "/r"}}));
}

TEST_F(H2OnlyRetry, Http2SettingsInAnswerToHttp11OpenTheConnectionAgainOfferingH2) {
  settings(false);
}

// The request sent on probation goes again on the new connection, translated.
TEST_F(H2OnlyRetry, Http2SettingsInAnswerToHttp11AreTranslatedOnANewConnection) { settings(true); }

// alert plays a server that refuses the HTTP/1.1 offer with a no_application_protocol alert.
void H2OnlyRetry::alert(ProxyConfig config) {
  SessionPlaybook session(config);
  auto first = origin(Choose::kH2Only);
  auto second = origin(Choose::kH2Only);
  std::string to_first, to_second;
  OpenConnection open, again;
  CommandId first_byte = 0, response = 0, limit = 0, limit2 = 0;
  Playbook pb(session.handler());
  pb.ignore<PublishFlow>();
  pb >> Start{} << wakeup(30'000, &first_byte, "first byte") >>
      DataReceived{kClientConn, kPlainGet} << cancel(&first_byte, "first byte")
                                           << open_to(1, "origin.test", 443, true, &open)
                                           << wakeup(120'000, &response, "response") >>
      [&] { return Event(test::completed(open)); } << wakeup(15'000, &limit, "server handshake")
                                                   << tls_to(1, &to_first, "ClientHello")
      // no_application_protocol: the server wants something else than HTTP/1.1.
      >> from(first.get(), &to_first, 1)
             << CloseConnection{1}
             << Log{Log::Level::kInfo,
                    "origin.test:443: TLS handshake with origin.test failed: tlsv1 alert no "
                    "application protocol; trying again offering h2 (HTTP/1.1 for the client, "
                    "translated)"}
             << open_to(2, "origin.test", 443, true, &again) >>
      [&] { return Event(test::completed(again)); } << wakeup(15'000, &limit2, "server handshake")
                                                    << tls_to(2, &to_second, "ClientHello") >>
      from(second.get(), &to_second, 2)
          << tls_to(2, &to_second, "Finished") << Learn{Learn::What::kH2Only, "origin.test:443", ""}
          << tls_to(2, &to_second, "preface, SETTINGS") << cancel(&limit2, "server handshake")
          << tls_to(2, &to_second, "HEADERS");
  ASSERT_TRUE(pb.check());
  EXPECT_EQ(first->plain, "");
  EXPECT_EQ(offered(), (std::vector<std::string>{"h2"}));
  second->pump(to_second);
  EXPECT_EQ(second->alpn(), "h2");
  test::H2Peer h2(true);
  EXPECT_TRUE(h2.receive(second->plain));
  ASSERT_EQ(h2.messages.count(1), 1u);
  EXPECT_EQ(h2.messages[1].headers, (Headers{{":method", "GET"},
                                             {":scheme", "https"},
                                             {":authority", "origin.test"},
                                             {":path", "/r"}}));
}

TEST_F(H2OnlyRetry, AlertRefusingHttp11IsOpenedAgainOfferingH2WithoutVerification) {
  config_.verify_upstream = false;
  alert(config_);
}

// With verification on (the default): the alert is the server's, no verify failure (before
// 2049a41 it was taken for one, and the retry never happened).
TEST_F(H2OnlyRetry, AlertRefusingHttp11IsOpenedAgainOfferingH2) { alert(config_); }

}  // namespace
}  // namespace sightglass::core
