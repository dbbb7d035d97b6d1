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
#include "tests/support/memory_tls.h"
#include "tests/support/playbook.h"

namespace sightglass::core {
namespace {

using test::all_of;
using test::flows;
using test::sent_to;

using test::MemoryPeer;
using TlsSessionTest = test::TlsWorld;

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
