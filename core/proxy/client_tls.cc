#include "core/proxy/client_tls.h"

#include <utility>

#include "ca/leaf_selector.h"
#include "core/proxy/session_internal.h"

namespace sightglass::core {
namespace {

// rejects_certificate says whether a TLS alert tells that the peer did not accept our
// certificate.
bool rejects_certificate(int alert) {
  return alert == SSL_AD_BAD_CERTIFICATE || alert == SSL_AD_UNSUPPORTED_CERTIFICATE ||
         alert == SSL_AD_CERTIFICATE_UNKNOWN || alert == SSL_AD_UNKNOWN_CA;
}

// plaintext_alert finds an unencrypted alert record in |bytes| (OpenSSL's TLS 1.3 clients send
// their alert in the clear when they reject the server's certificate; BoringSSL, expecting an
// encrypted record, fails with a record error): its description, or -1.
int plaintext_alert(std::string_view bytes) {
  size_t i = 0;
  while (i + 5 <= bytes.size()) {
    const auto type = static_cast<uint8_t>(bytes[i]);
    const size_t length = (static_cast<size_t>(static_cast<uint8_t>(bytes[i + 3])) << 8) |
                          static_cast<uint8_t>(bytes[i + 4]);
    if (type == 21 && length == 2 && i + 7 <= bytes.size()) {
      return static_cast<uint8_t>(bytes[i + 6]);
    }
    i += 5 + length;
  }
  return -1;
}

}  // namespace

bool ClientTls::start(SSL_CTX* ctx, std::string_view fallback_host, bool hold, bool keep_raw,
                      std::string_view first) {
  engine_ = SslEngine::create_server(ctx, fallback_host);
  if (!engine_ || (hold && !ca::LeafSelector::hold_at_client_hello(engine_->ssl()))) {
    return false;
  }
  keep_raw_ = keep_raw;
  raw_ = keep_raw ? std::string(first) : std::string();
  engine_->feed_ciphertext(first);
  return true;
}

void ClientTls::feed(std::string_view cipher) {
  if (keep_raw_) {
    raw_.append(cipher);
  }
  last_bytes_ = cipher.substr(0, 256);
  engine_->feed_ciphertext(cipher);
}

SslEngine::Progress ClientTls::handshake(Commands& out) {
  const SslEngine::Progress progress = engine_->handshake();
  session_internal::send_ciphertext(*engine_, kClientConn, out);
  return progress;
}

SslEngine::ReadStatus ClientTls::decrypt(std::string_view cipher, std::string* plain,
                                         Commands& out) {
  engine_->feed_ciphertext(cipher);
  const SslEngine::ReadStatus status = engine_->read_plaintext(plain);
  session_internal::send_ciphertext(*engine_, kClientConn, out);
  return status;
}

std::string ClientTls::encrypt(std::string_view plain) {
  engine_->write_plaintext(plain);
  std::string cipher;
  engine_->drain_ciphertext(&cipher);
  return cipher;
}

void ClientTls::shutdown(Commands& out) {
  engine_->shutdown();
  session_internal::send_ciphertext(*engine_, kClientConn, out);
}

void ClientTls::keep_raw(bool keep) {
  keep_raw_ = keep;
  if (!keep) {
    raw_.clear();
  }
}

std::string ClientTls::take_raw() {
  keep_raw_ = false;
  return std::exchange(raw_, std::string());
}

ClientTls::Failure ClientTls::describe_failure(const std::string& error,
                                               const std::string& dest_host) const {
  Failure out;
  out.host = dest_host;
  SslEngine::Failure failure = SslEngine::Failure::kClosed;
  int alert = -1;
  if (engine_) {
    if (const char* sni = SSL_get_servername(engine_->ssl(), TLSEXT_NAMETYPE_host_name)) {
      out.host = sni;
    }
    failure = engine_->failure();
    alert = engine_->peer_alert();
    if (failure == SslEngine::Failure::kProtocol) {
      alert = plaintext_alert(last_bytes_);
    }
  }
  // Decided on typed reasons only: an alert that rejects our certificate. (A client that
  // completes the handshake and leaves at once is judged by the session.)
  out.rejected_certificate = rejects_certificate(alert);
  if (out.rejected_certificate) {
    out.text = "the client rejected the Sightglass certificate for " + out.host +
               " (it does not trust the Sightglass CA, or it pins its certificates): " + error;
  } else if (failure == SslEngine::Failure::kLocal) {
    out.text = "the proxy refused the TLS handshake for " + out.host + ": " + error;
  } else {
    out.text = "TLS handshake with the client failed for " + out.host + ": " + error;
  }
  return out;
}

}  // namespace sightglass::core
