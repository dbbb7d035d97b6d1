#include "core/tls/ssl_engine.h"

#include <arpa/inet.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pool.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <array>
#include <ctime>

#include "ca/leaf_selector.h"

namespace sightglass::core {
namespace {

constexpr size_t kReadChunk = 16384;

bool is_ip_literal(std::string_view host) {
  std::array<uint8_t, 16> buf{};
  const std::string s(host);
  return inet_pton(AF_INET, s.c_str(), buf.data()) == 1 ||
         inet_pton(AF_INET6, s.c_str(), buf.data()) == 1;
}

std::string name_text(const X509_NAME* name) {
  bssl::UniquePtr<BIO> bio(BIO_new(BIO_s_mem()));
  if (!bio || X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253) < 0) {
    return {};
  }
  const uint8_t* data = nullptr;
  size_t len = 0;
  BIO_mem_contents(bio.get(), &data, &len);
  return std::string(reinterpret_cast<const char*>(data), len);
}

std::string iso_time(const ASN1_TIME* t) {
  int days = 0;
  int seconds = 0;
  bssl::UniquePtr<ASN1_TIME> now(ASN1_TIME_set(nullptr, time(nullptr)));
  if (!now || !ASN1_TIME_diff(&days, &seconds, now.get(), t)) {
    return {};
  }
  const time_t when = time(nullptr) + static_cast<time_t>(days) * 86400 + seconds;
  struct tm tm {};
  gmtime_r(&when, &tm);
  std::array<char, 32> buf{};
  strftime(buf.data(), buf.size(), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf.data();
}

// certificate_info describes a DER certificate for the flow log. The last certificate
// described on this thread is remembered: a loop talks to the same few servers again and again,
// and parsing and hashing the certificate costs more than a resumed handshake's crypto.
TlsCertificateInfo certificate_info(const CRYPTO_BUFFER* cert) {
  thread_local std::string last_der;
  thread_local TlsCertificateInfo last_info;
  const std::string_view der(reinterpret_cast<const char*>(CRYPTO_BUFFER_data(cert)),
                             CRYPTO_BUFFER_len(cert));
  if (!last_der.empty() && der == last_der) {
    return last_info;
  }
  TlsCertificateInfo info;
  std::array<uint8_t, SHA256_DIGEST_LENGTH> digest{};
  SHA256(CRYPTO_BUFFER_data(cert), CRYPTO_BUFFER_len(cert), digest.data());
  constexpr char kHex[] = "0123456789abcdef";
  for (uint8_t b : digest) {
    info.sha256.push_back(kHex[b >> 4]);
    info.sha256.push_back(kHex[b & 0xf]);
  }
  bssl::UniquePtr<X509> x509(X509_parse_from_buffer(const_cast<CRYPTO_BUFFER*>(cert)));
  if (x509) {
    info.subject = name_text(X509_get_subject_name(x509.get()));
    info.issuer = name_text(X509_get_issuer_name(x509.get()));
    info.not_after = iso_time(X509_get0_notAfter(x509.get()));
  }
  ERR_clear_error();
  last_der.assign(der);
  last_info = info;
  return info;
}

}  // namespace

std::unique_ptr<SslEngine> SslEngine::create_server(SSL_CTX* ctx, std::string_view fallback_host) {
  bssl::UniquePtr<SSL> ssl(SSL_new(ctx));
  if (!ssl) {
    return nullptr;
  }
  SSL_set_accept_state(ssl.get());
  if (!fallback_host.empty() && !ca::LeafSelector::set_fallback_host(ssl.get(), fallback_host)) {
    return nullptr;
  }
  return std::make_unique<SslEngine>(PrivateTag{}, std::move(ssl), true);
}

std::unique_ptr<SslEngine> SslEngine::create_client(SSL_CTX* ctx, std::string_view host,
                                                    bool verify) {
  bssl::UniquePtr<SSL> ssl(SSL_new(ctx));
  if (!ssl) {
    return nullptr;
  }
  SSL_set_connect_state(ssl.get());
  const std::string h(host);
  const bool ip = is_ip_literal(host);
  if (!ip && !h.empty() && !SSL_set_tlsext_host_name(ssl.get(), h.c_str())) {
    return nullptr;
  }
  SSL_set_verify(ssl.get(), verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, nullptr);
  if (verify) {
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl.get());
    const int ok = ip ? X509_VERIFY_PARAM_set1_ip_asc(param, h.c_str())
                      : X509_VERIFY_PARAM_set1_host(param, h.data(), h.size());
    if (!ok) {
      return nullptr;
    }
  }
  return std::make_unique<SslEngine>(PrivateTag{}, std::move(ssl), false);
}

SslEngine::SslEngine(PrivateTag /*unused*/, bssl::UniquePtr<SSL> ssl, bool is_server)
    : ssl_(std::move(ssl)), is_server_(is_server) {
  rbio_ = BIO_new(BIO_s_mem());
  wbio_ = BIO_new(BIO_s_mem());
  BIO_set_mem_eof_return(rbio_, -1);
  SSL_set_bio(ssl_.get(), rbio_, wbio_);
}

void SslEngine::feed_ciphertext(std::string_view data) {
  if (!data.empty()) {
    BIO_write(rbio_, data.data(), static_cast<int>(data.size()));
  }
}

void SslEngine::drain_ciphertext(std::string* out) {
  const uint8_t* contents = nullptr;
  size_t len = 0;
  if (BIO_mem_contents(wbio_, &contents, &len) && len > 0) {
    out->append(reinterpret_cast<const char*>(contents), len);
    BIO_reset(wbio_);
  }
}

SslEngine::Progress SslEngine::handshake() {
  if (handshake_done_) {
    return Progress::kDone;
  }
  const int ret = SSL_do_handshake(ssl_.get());
  if (ret == 1) {
    handshake_done_ = true;
    if (is_server_) {
      // BoringSSL holds a TLS 1.3 server's session tickets back until its first write; an empty
      // write sends them now, so that a client that only sends (or leaves early) can resume.
      SSL_write(ssl_.get(), "", 0);
      ERR_clear_error();
    }
    return Progress::kDone;
  }
  const int err = SSL_get_error(ssl_.get(), ret);
  if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
    return Progress::kInProgress;
  }
  if (err == SSL_ERROR_PENDING_CERTIFICATE) {
    return Progress::kPending;
  }
  error_ = describe_failure(ret);
  return Progress::kFailed;
}

SslEngine::ReadStatus SslEngine::read_plaintext(std::string* out) {
  // A scratch buffer per thread: no zero-filling of the output on every call.
  thread_local std::array<char, kReadChunk> scratch;
  for (;;) {
    const int n = SSL_read(ssl_.get(), scratch.data(), static_cast<int>(scratch.size()));
    if (n > 0) {
      out->append(scratch.data(), static_cast<size_t>(n));
      continue;
    }
    const int err = SSL_get_error(ssl_.get(), n);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
      return ReadStatus::kOk;
    }
    if (err == SSL_ERROR_ZERO_RETURN) {
      return ReadStatus::kClosed;
    }
    error_ = describe_failure(n);
    return ReadStatus::kFailed;
  }
}

bool SslEngine::write_plaintext(std::string_view data) {
  size_t done = 0;
  while (done < data.size()) {
    const size_t chunk = std::min<size_t>(data.size() - done, 1 << 20);
    const int n = SSL_write(ssl_.get(), data.data() + done, static_cast<int>(chunk));
    if (n <= 0) {
      error_ = describe_failure(n);
      return false;
    }
    done += static_cast<size_t>(n);
  }
  return true;
}

bool SslEngine::set_alpn_offer(const std::vector<std::string>& protocols) {
  std::string wire;
  for (const std::string& protocol : protocols) {
    if (protocol.empty() || protocol.size() > 255) {
      continue;
    }
    wire.push_back(static_cast<char>(protocol.size()));
    wire.append(protocol);
  }
  if (wire.empty()) {
    return true;
  }
  // SSL_set_alpn_protos returns 0 on success.
  return SSL_set_alpn_protos(ssl_.get(), reinterpret_cast<const uint8_t*>(wire.data()),
                             static_cast<unsigned>(wire.size())) == 0;
}

std::vector<std::string> SslEngine::peer_certificate_names() const {
  std::vector<std::string> names;
  const STACK_OF(CRYPTO_BUFFER)* chain = SSL_get0_peer_certificates(ssl_.get());
  if (chain == nullptr || sk_CRYPTO_BUFFER_num(chain) == 0) {
    return names;
  }
  bssl::UniquePtr<X509> x509(
      X509_parse_from_buffer(const_cast<CRYPTO_BUFFER*>(sk_CRYPTO_BUFFER_value(chain, 0))));
  if (!x509) {
    ERR_clear_error();
    return names;
  }
  auto add = [&names](std::string name) {
    if (!name.empty() && name.find('\0') == std::string::npos &&
        std::find(names.begin(), names.end(), name) == names.end()) {
      names.push_back(std::move(name));
    }
  };
  X509_NAME* subject = X509_get_subject_name(x509.get());
  const int cn_index = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
  if (cn_index >= 0) {
    const ASN1_STRING* cn = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, cn_index));
    unsigned char* utf8 = nullptr;
    const int len = ASN1_STRING_to_UTF8(&utf8, cn);
    if (len > 0) {
      std::string text(reinterpret_cast<const char*>(utf8), static_cast<size_t>(len));
      // A CN that is not a host name (an organisation's label) is no use as a leaf name.
      if (text.find(' ') == std::string::npos) {
        add(std::move(text));
      }
    }
    OPENSSL_free(utf8);
  }
  bssl::UniquePtr<GENERAL_NAMES> sans(static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(x509.get(), NID_subject_alt_name, nullptr, nullptr)));
  for (size_t i = 0; sans && i < sk_GENERAL_NAME_num(sans.get()); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(sans.get(), i);
    if (name->type == GEN_DNS) {
      const ASN1_STRING* dns = name->d.dNSName;
      add(std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(dns)),
                      static_cast<size_t>(ASN1_STRING_length(dns))));
    } else if (name->type == GEN_IPADD) {
      const ASN1_OCTET_STRING* ip = name->d.iPAddress;
      std::array<char, INET6_ADDRSTRLEN> text{};
      const int family = ASN1_STRING_length(ip) == 4    ? AF_INET
                         : ASN1_STRING_length(ip) == 16 ? AF_INET6
                                                        : 0;
      if (family != 0 && inet_ntop(family, ASN1_STRING_get0_data(ip), text.data(),
                                   static_cast<socklen_t>(text.size())) != nullptr) {
        add(text.data());
      }
    }
  }
  ERR_clear_error();
  return names;
}

void SslEngine::shutdown() {
  if (handshake_done_) {
    SSL_shutdown(ssl_.get());
    ERR_clear_error();
  }
}

TlsInfo SslEngine::info() const {
  TlsInfo info;
  if (const char* sni = SSL_get_servername(ssl_.get(), TLSEXT_NAMETYPE_host_name)) {
    info.sni = sni;
  }
  info.version = SSL_get_version(ssl_.get());
  if (const SSL_CIPHER* cipher = SSL_get_current_cipher(ssl_.get())) {
    info.cipher = SSL_CIPHER_standard_name(cipher);
  }
  const uint8_t* alpn = nullptr;
  unsigned alpn_len = 0;
  SSL_get0_alpn_selected(ssl_.get(), &alpn, &alpn_len);
  info.alpn.assign(reinterpret_cast<const char*>(alpn), alpn_len);
  info.resumed = SSL_session_reused(ssl_.get()) == 1;
  if (!is_server_) {
    const STACK_OF(CRYPTO_BUFFER)* chain = SSL_get0_peer_certificates(ssl_.get());
    if (chain != nullptr && sk_CRYPTO_BUFFER_num(chain) > 0) {
      info.certificate = certificate_info(sk_CRYPTO_BUFFER_value(chain, 0));
    }
  }
  return info;
}

std::string SslEngine::describe_failure(int ret) {
  const int err = SSL_get_error(ssl_.get(), ret);
  std::string text;
  if (!is_server_ && (SSL_get_verify_mode(ssl_.get()) & SSL_VERIFY_PEER) != 0) {
    // X509_V_ERR_INVALID_CALL: no certificate was verified yet (the server answered the
    // ClientHello with something else than TLS): a handshake failure, not a verdict.
    const long verify = SSL_get_verify_result(ssl_.get());
    if (verify != X509_V_OK && verify != X509_V_ERR_INVALID_CALL) {
      ERR_clear_error();
      failure_ = Failure::kVerify;
      return std::string("upstream certificate verify failed: ") +
             X509_verify_cert_error_string(verify);
    }
  }
  if (is_server_ && !handshake_done_) {
    const std::string leaf_error = ca::LeafSelector::last_error(ssl_.get());
    if (!leaf_error.empty()) {
      ERR_clear_error();
      failure_ = Failure::kLocal;
      return leaf_error;
    }
  }
  const uint32_t packed = ERR_peek_error();
  if (packed != 0) {
    const char* reason = ERR_reason_error_string(packed);
    text = reason != nullptr ? reason : "TLS error";
    const int reason_code = ERR_GET_REASON(packed);
    if (ERR_GET_LIB(packed) == ERR_LIB_SSL && reason_code >= SSL_AD_REASON_OFFSET) {
      failure_ = Failure::kPeerAlert;
      peer_alert_ = reason_code - SSL_AD_REASON_OFFSET;
    } else {
      failure_ = Failure::kProtocol;
    }
  } else if (err == SSL_ERROR_SYSCALL || err == SSL_ERROR_ZERO_RETURN) {
    text = "connection closed";
    failure_ = Failure::kClosed;
  } else {
    text = "TLS error " + std::to_string(err);
    failure_ = Failure::kProtocol;
  }
  ERR_clear_error();
  // BoringSSL names received alerts like "TLSV1_ALERT_UNKNOWN_CA": say it plainly.
  for (char& c : text) {
    c = c == '_' ? ' ' : static_cast<char>((c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c);
  }
  return text;
}

}  // namespace sightglass::core
