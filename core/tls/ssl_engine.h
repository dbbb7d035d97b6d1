#pragma once

#include <openssl/ssl.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/proxy/flow.h"

namespace sightglass::core {

// SslEngine runs one TLS connection over memory BIOs: ciphertext goes in with
// feed_ciphertext() and comes out with drain_ciphertext(); plaintext goes through
// write_plaintext() and read_plaintext(). It never touches a socket. Owns its SSL.
class SslEngine {
  struct PrivateTag {
    explicit PrivateTag() = default;
  };

 public:
  // kPending: a server engine held at the ClientHello (LeafSelector::hold_at_client_hello).
  enum class Progress : uint8_t { kInProgress, kPending, kDone, kFailed };
  enum class ReadStatus : uint8_t { kOk, kClosed, kFailed };
  // Failure says, typed, why the engine failed: the peer's alert (peer_alert() names it), our
  // own refusal (a leaf that could not be minted), the peer's certificate, a protocol error, or
  // the connection closing.
  enum class Failure : uint8_t { kNone, kPeerAlert, kLocal, kVerify, kProtocol, kClosed };

  // create_server terminates a client's TLS with |ctx| (whose select-certificate callback
  // serves leaves); |fallback_host| names the leaf when the client sends no SNI.
  static std::unique_ptr<SslEngine> create_server(SSL_CTX* ctx, std::string_view fallback_host);
  // create_client opens TLS to a server: SNI |sni| (omitted for IP literals), and, when
  // |verify|, the certificate checked against |host| (a DNS name or an IP literal).
  static std::unique_ptr<SslEngine> create_client(SSL_CTX* ctx, std::string_view host, bool verify);

  SslEngine(PrivateTag /*unused*/, bssl::UniquePtr<SSL> ssl, bool is_server);
  SslEngine(const SslEngine&) = delete;
  SslEngine& operator=(const SslEngine&) = delete;

  void feed_ciphertext(std::string_view data);
  // drain_ciphertext appends everything that is ready to send to |out|.
  void drain_ciphertext(std::string* out);
  // handshake drives the handshake; kFailed sets error().
  Progress handshake();
  bool handshake_done() const { return handshake_done_; }
  // read_plaintext appends all decrypted bytes available to |out|. kClosed after the peer's
  // close_notify; kFailed on a protocol error (error() says why).
  ReadStatus read_plaintext(std::string* out);
  // write_plaintext encrypts |data| (drain the ciphertext afterwards).
  bool write_plaintext(std::string_view data);
  // shutdown queues a close_notify.
  void shutdown();

  // set_alpn_offer makes a client engine offer |protocols| (before the handshake).
  bool set_alpn_offer(const std::vector<std::string>& protocols);
  // peer_certificate_names returns the DNS and IP names of the peer's certificate: the CN
  // first (when it is a name), then the subjectAltName entries, without duplicates.
  std::vector<std::string> peer_certificate_names() const;

  // info describes the session; with the peer certificate for a client engine.
  TlsInfo info() const;
  const std::string& error() const { return error_; }
  Failure failure() const { return failure_; }
  int peer_alert() const { return peer_alert_; }
  SSL* ssl() const { return ssl_.get(); }

 private:
  std::string describe_failure(int ret);

  bssl::UniquePtr<SSL> ssl_;
  BIO* rbio_ = nullptr;  // Owned by ssl_.
  BIO* wbio_ = nullptr;  // Owned by ssl_.
  bool is_server_;
  bool handshake_done_ = false;
  std::string error_;
  Failure failure_ = Failure::kNone;
  int peer_alert_ = -1;
};

}  // namespace sightglass::core
