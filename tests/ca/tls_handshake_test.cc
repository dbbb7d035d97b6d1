// Real TLS handshakes over loopback: a BoringSSL server presents leaves minted on the fly
// (from the select-certificate callback) to real clients, curl and openssl s_client, that
// trust only the Sightglass CA and check the host name.
#include <gtest/gtest.h>
#include <openssl/ssl.h>

#include <string>

#include "ca/ca_store.h"
#include "ca/leaf_minter.h"
#include "ca/leaf_selector.h"
#include "tests/support/process.h"
#include "tests/support/temp_dir.h"
#include "tests/support/tls_server.h"

namespace sightglass::ca {
namespace {

using test::find_program;
using test::run_process;
using test::TempDir;
using test::TlsTestServer;

constexpr char kBody[] = "hello from a minted leaf";

class TlsHandshakeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string error;
    ca_ = CertificateAuthority::load_or_create(dir_.path() / "ca", &error);
    ASSERT_NE(ca_, nullptr) << error;
    other_ca_ = CertificateAuthority::load_or_create(dir_.path() / "other", &error);
    ASSERT_NE(other_ca_, nullptr) << error;
    minter_ = LeafMinter::create(ca_, LeafMinterOptions{}, &error);
    ASSERT_NE(minter_, nullptr) << error;
  }

  // start_server serves minted leaves; |fallback_host| is used when there is no SNI.
  void start_server(const std::string& fallback_host = "") {
    bssl::UniquePtr<SSL_CTX> ctx(SSL_CTX_new(TLS_method()));
    ASSERT_NE(ctx, nullptr);
    ASSERT_TRUE(SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION));
    ASSERT_TRUE(LeafSelector::install(ctx.get(), minter_.get()));
    server_ = std::make_unique<TlsTestServer>(std::move(ctx), kBody, [fallback_host](SSL* ssl) {
      if (!fallback_host.empty()) {
        LeafSelector::set_fallback_host(ssl, fallback_host);
      }
    });
    ASSERT_TRUE(server_->listening());
  }

  std::string port() const { return std::to_string(server_->port()); }

  TempDir dir_;
  std::shared_ptr<CertificateAuthority> ca_, other_ca_;
  std::unique_ptr<LeafMinter> minter_;
  std::unique_ptr<TlsTestServer> server_;
};

TEST_F(TlsHandshakeTest, CurlTrustingOnlyTheCaAcceptsAMintedLeaf) {
  start_server();
  const auto result = run_process(
      {"curl", "-sS", "--max-time", "20", "--cacert", ca_->cert_path().string(), "--resolve",
       "intercepted.test:" + port() + ":127.0.0.1", "https://intercepted.test:" + port() + "/"});
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.out, kBody);
  EXPECT_EQ(server_->last_sni(), "intercepted.test");
  EXPECT_EQ(server_->handshakes_ok(), 1);
}

TEST_F(TlsHandshakeTest, CurlWithAnotherInstallsCaRejectsTheLeaf) {
  start_server();
  const auto result = run_process(
      {"curl", "-sS", "--max-time", "20", "--cacert", other_ca_->cert_path().string(), "--resolve",
       "intercepted.test:" + port() + ":127.0.0.1", "https://intercepted.test:" + port() + "/"});
  EXPECT_EQ(result.exit_code, 60) << result.err;  // Peer certificate cannot be authenticated.
  EXPECT_TRUE(result.out.empty());
  EXPECT_EQ(server_->handshakes_ok(), 0);
}

TEST_F(TlsHandshakeTest, CurlToAnIpLiteralWithoutSniGetsAnIpLeaf) {
  // curl sends no SNI for an IP literal: the fallback host (the destination) names the leaf.
  start_server("127.0.0.1");
  const auto result = run_process({"curl", "-sS", "--max-time", "20", "--cacert",
                                   ca_->cert_path().string(), "https://127.0.0.1:" + port() + "/"});
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.out, kBody);
  EXPECT_EQ(server_->last_sni(), "");
}

TEST_F(TlsHandshakeTest, OpensslSClientVerifiesTheLeafAndHostName) {
  start_server();
  const auto ok = run_process(
      {"openssl", "s_client", "-connect", "127.0.0.1:" + port(), "-servername", "api.example.test",
       "-verify_hostname", "api.example.test", "-verify_return_error", "-CAfile",
       ca_->cert_path().string(), "-brief", "-ign_eof"},
      "GET / HTTP/1.1\r\nHost: api.example.test\r\n\r\n", std::chrono::seconds(30));
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_NE(ok.err.find("Verification: OK"), std::string::npos) << ok.err;
  EXPECT_NE(ok.out.find(kBody), std::string::npos) << ok.out;

  const auto bad = run_process(
      {"openssl", "s_client", "-connect", "127.0.0.1:" + port(), "-servername", "api.example.test",
       "-verify_hostname", "api.example.test", "-verify_return_error", "-CAfile",
       other_ca_->cert_path().string(), "-brief", "-ign_eof"},
      "", std::chrono::seconds(30));
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.err.find("verify error"), std::string::npos) << bad.err;
}

TEST_F(TlsHandshakeTest, ClientWithoutEcdsaGetsAnRsaLeaf) {
  start_server();
  const auto result = run_process(
      {"openssl", "s_client", "-connect", "127.0.0.1:" + port(), "-servername", "rsa.example.test",
       "-verify_hostname", "rsa.example.test", "-verify_return_error", "-CAfile",
       ca_->cert_path().string(), "-sigalgs", "RSA-PSS+SHA256", "-brief", "-ign_eof"},
      "GET / HTTP/1.1\r\nHost: rsa.example.test\r\n\r\n", std::chrono::seconds(30));
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.err.find("Verification: OK"), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("RSA-PSS"), std::string::npos) << result.err;
  EXPECT_NE(result.out.find(kBody), std::string::npos);
}

TEST_F(TlsHandshakeTest, NoServerNameAndNoFallbackFailsTheHandshake) {
  start_server();
  const auto result = run_process({"curl", "-sS", "--max-time", "20", "--cacert",
                                   ca_->cert_path().string(), "https://127.0.0.1:" + port() + "/"});
  EXPECT_NE(result.exit_code, 0);
  EXPECT_EQ(server_->handshakes_failed(), 1);
}

}  // namespace
}  // namespace sightglass::ca
