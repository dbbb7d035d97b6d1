#pragma once

// The client side's TLS, a layer of its own: it terminates the client's TLS over memory BIOs
// with a leaf minted for the name the client asked for, can stop at the ClientHello (its SNI
// and ALPN decide between passthrough and interception, and the server is asked first), keeps
// the raw bytes meanwhile (for a passthrough), and names, typed, why a handshake failed.

#include <memory>
#include <string>
#include <string_view>

#include "core/proxy/events.h"
#include "core/tls/ssl_engine.h"

namespace sightglass::core {

class ClientTls {
 public:
  // start begins the handshake with |first| (the bytes received so far), named |fallback_host|
  // when the client sends no SNI. |hold| stops at the ClientHello (handshake() returns
  // kPending), |keep_raw| keeps the raw bytes until keep_raw(false). False when TLS cannot
  // start.
  bool start(SSL_CTX* ctx, std::string_view fallback_host, bool hold, bool keep_raw,
             std::string_view first);
  // feed passes handshake bytes from the client.
  void feed(std::string_view cipher);
  // handshake advances the handshake; what it has for the client goes to |out|.
  SslEngine::Progress handshake(Commands& out);
  // decrypt passes application data from the client: the plaintext is appended to |plain|,
  // and what TLS answers (a key update, an alert) goes to |out|.
  SslEngine::ReadStatus decrypt(std::string_view cipher, std::string* plain, Commands& out);
  // read appends what is decrypted already (after the handshake) to |plain|.
  SslEngine::ReadStatus read(std::string* plain) { return engine_->read_plaintext(plain); }
  // encrypt returns the records carrying |plain|.
  std::string encrypt(std::string_view plain);
  // shutdown sends close_notify.
  void shutdown(Commands& out);

  // keep_raw stops (or starts) keeping the raw bytes; take_raw hands them over.
  void keep_raw(bool keep);
  std::string take_raw();
  size_t raw_size() const { return raw_.size(); }
  bool keeping_raw() const { return keep_raw_; }

  // Failure describes a failed handshake: the name the client asked for (else |dest_host|),
  // the text for people, and whether the client rejected our certificate (an alert that
  // says so, also one OpenSSL's TLS 1.3 clients send in the clear).
  struct Failure {
    std::string host;
    std::string text;
    bool rejected_certificate = false;
  };
  Failure describe_failure(const std::string& error, const std::string& dest_host) const;

  SSL* ssl() const { return engine_->ssl(); }
  const std::string& error() const { return engine_->error(); }
  TlsInfo info() const { return engine_->info(); }

 private:
  std::unique_ptr<SslEngine> engine_;
  bool keep_raw_ = false;
  std::string raw_;
  std::string last_bytes_;  // The start of the last handshake read (for a plaintext alert).
};

}  // namespace sightglass::core
