// The client TLS layer with a real BoringSSL client over memory: a handshake that completes
// with a leaf the client verifies, a hold at the ClientHello with the raw bytes kept, and the
// typed verdict on a client that rejects our certificate.
#include "core/proxy/client_tls.h"

#include "ca/leaf_selector.h"
#include "tests/support/memory_tls.h"
#include "tests/support/playbook.h"

namespace sightglass::core {
namespace {

using test::MemoryPeer;
using test::sent_to;

class ClientTlsTest : public test::TlsWorld {
 protected:
  // round trips bytes between |client| and |tls| until the handshake stops moving; returns
  // the last progress.
  SslEngine::Progress pump(MemoryPeer& client, ClientTls& tls) {
    SslEngine::Progress progress = SslEngine::Progress::kInProgress;
    for (int i = 0; i < 10; ++i) {
      Commands out;
      progress = tls.handshake(out);
      client.feed(sent_to(out, kClientConn));
      client.step();
      const std::string next = client.drain();
      if (next.empty() || progress != SslEngine::Progress::kInProgress) {
        if (!next.empty()) {
          tls.feed(next);
        }
        return progress;
      }
      tls.feed(next);
    }
    return progress;
  }
};

TEST_F(ClientTlsTest, HandshakeWithTheMintedLeafThenDataBothWays) {
  auto client = client_peer(*ca_, "example.test");
  client->step();
  ClientTls tls;
  ASSERT_TRUE(tls.start(config_.client_tls_ctx, "fallback.test", false, false, client->drain()));
  SslEngine::Progress progress = pump(*client, tls);
  if (progress == SslEngine::Progress::kInProgress) {
    Commands out;
    progress = tls.handshake(out);
    client->feed(sent_to(out, kClientConn));
  }
  ASSERT_EQ(progress, SslEngine::Progress::kDone) << tls.error();
  ASSERT_EQ(client->step(), 1);  // The client verified our leaf for example.test.
  EXPECT_EQ(tls.info().alpn, "http/1.1");
  EXPECT_EQ(tls.info().sni, "example.test");

  client->write("GET / HTTP/1.1\r\n\r\n");
  std::string plain;
  Commands out;
  EXPECT_EQ(tls.decrypt(client->drain(), &plain, out), SslEngine::ReadStatus::kOk);
  EXPECT_EQ(plain, "GET / HTTP/1.1\r\n\r\n");
  client->feed(tls.encrypt("HTTP/1.1 204 No Content\r\n\r\n"));
  EXPECT_EQ(client->read(), "HTTP/1.1 204 No Content\r\n\r\n");
  EXPECT_EQ(tls.raw_size(), 0u);  // Not asked to keep raw bytes.
}

TEST_F(ClientTlsTest, HoldAtTheClientHelloKeepsTheRawBytes) {
  auto client = client_peer(*ca_, "held.test");
  client->step();
  const std::string hello = client->drain();
  ClientTls tls;
  ASSERT_TRUE(tls.start(config_.client_tls_ctx, "fallback.test", true, true, hello));
  Commands out;
  EXPECT_EQ(tls.handshake(out), SslEngine::Progress::kPending);
  EXPECT_TRUE(out.empty());  // Nothing answered while held.
  const ca::ClientHelloSummary* summary = ca::LeafSelector::client_hello(tls.ssl());
  ASSERT_NE(summary, nullptr);
  EXPECT_EQ(summary->server_name, "held.test");
  EXPECT_EQ(summary->alpn, std::vector<std::string>{"http/1.1"});
  EXPECT_TRUE(tls.keeping_raw());
  EXPECT_EQ(tls.take_raw(), hello);  // For a passthrough: the ClientHello as it came.
  EXPECT_FALSE(tls.keeping_raw());
}

TEST_F(ClientTlsTest, ClientThatDistrustsOurCaIsARejectedCertificate) {
  auto client = client_peer(*origin_ca_, "pinned.test");  // Trusts another CA only.
  client->step();
  ClientTls tls;
  ASSERT_TRUE(tls.start(config_.client_tls_ctx, "fallback.test", false, false, client->drain()));
  const SslEngine::Progress progress = pump(*client, tls);
  Commands out;
  const SslEngine::Progress last =
      progress == SslEngine::Progress::kFailed ? progress : tls.handshake(out);
  ASSERT_EQ(last, SslEngine::Progress::kFailed);
  const ClientTls::Failure failure = tls.describe_failure(tls.error(), "10.0.0.1");
  EXPECT_TRUE(failure.rejected_certificate);
  EXPECT_EQ(failure.host, "pinned.test");  // The SNI, not the destination address.
  EXPECT_TRUE(
      failure.text.starts_with("the client rejected the Sightglass certificate for "
                               "pinned.test"))
      << failure.text;
}

TEST_F(ClientTlsTest, GarbageIsAHandshakeFailureNotARejection) {
  ClientTls tls;
  ASSERT_TRUE(tls.start(config_.client_tls_ctx, "dest.test", false, false,
                        std::string("\x16\x03\x01\x00\x05hello", 10)));
  Commands out;
  EXPECT_EQ(tls.handshake(out), SslEngine::Progress::kFailed);
  const ClientTls::Failure failure = tls.describe_failure(tls.error(), "dest.test");
  EXPECT_FALSE(failure.rejected_certificate);
  EXPECT_EQ(failure.host, "dest.test");
  EXPECT_TRUE(failure.text.starts_with("TLS handshake with the client failed for dest.test: "))
      << failure.text;
}

}  // namespace
}  // namespace sightglass::core
