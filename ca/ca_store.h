#pragma once

#include <openssl/evp.h>
#include <openssl/x509.h>

#include <cstdint>
#include <ctime>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace sightglass::ca {

// The confdir files of CONTRACT.md.
inline constexpr char kCaCertFileName[] = "sightglass-ca.pem";
inline constexpr char kCaKeyFileName[] = "sightglass-ca-key.pem";

// default_confdir returns $SIGHTGLASS_CONFDIR, else $XDG_CONFIG_HOME/sightglass, else
// $HOME/.config/sightglass.
std::filesystem::path default_confdir();

// CertificateAuthority is the local root that signs every leaf: its certificate and private
// key, loaded from (or first created in) a confdir. It is immutable once loaded and safe to
// share between threads.
class CertificateAuthority {
  // PrivateTag keeps construction to the factories below.
  struct PrivateTag {
    explicit PrivateTag() = default;
  };

 public:
  // load_or_create loads the CA from |confdir|. When neither file exists it first creates a
  // new CA there (ECDSA P-256, unique to this install): the directory 0700, the key 0600,
  // each file written under a temporary name and linked into place, under a lock so that two
  // processes starting together end with one CA. An existing but unreadable or corrupt CA is
  // an error naming the file, and is never overwritten. Returns nullptr and sets *out_error on
  // failure.
  static std::unique_ptr<CertificateAuthority> load_or_create(const std::filesystem::path& confdir,
                                                              std::string* out_error);

  // load loads an existing CA; it never creates one.
  static std::unique_ptr<CertificateAuthority> load(const std::filesystem::path& confdir,
                                                    std::string* out_error);

  explicit CertificateAuthority(PrivateTag /*unused*/) {}
  ~CertificateAuthority();
  CertificateAuthority(const CertificateAuthority&) = delete;
  CertificateAuthority& operator=(const CertificateAuthority&) = delete;

  // cert returns the CA certificate; it is owned by this object.
  X509* cert() const { return cert_.get(); }
  // key returns the CA private key; it is owned by this object.
  EVP_PKEY* key() const { return key_.get(); }
  const std::vector<uint8_t>& cert_der() const { return cert_der_; }
  std::string cert_pem() const;
  // subject_der is the encoded subject Name, used as the issuer of every leaf.
  std::span<const uint8_t> subject_der() const { return subject_der_; }
  // key_id is the subject key identifier, used as every leaf's authority key identifier.
  std::span<const uint8_t> key_id() const { return key_id_; }
  time_t not_after() const { return not_after_; }
  const std::filesystem::path& cert_path() const { return cert_path_; }

 private:
  static std::unique_ptr<CertificateAuthority> from_files(const std::filesystem::path& cert_path,
                                                          const std::filesystem::path& key_path,
                                                          std::string* out_error);

  bssl::UniquePtr<X509> cert_;
  bssl::UniquePtr<EVP_PKEY> key_;
  std::vector<uint8_t> cert_der_;
  std::vector<uint8_t> subject_der_;
  std::vector<uint8_t> key_id_;
  time_t not_after_ = 0;
  std::filesystem::path cert_path_;
};

// generate_ec_key returns a new ECDSA P-256 key, or nullptr.
bssl::UniquePtr<EVP_PKEY> generate_ec_key();
// generate_rsa_key returns a new RSA key of |bits| with e = 65537, or nullptr.
bssl::UniquePtr<EVP_PKEY> generate_rsa_key(unsigned bits);

// build_ca_certificate returns a new self-signed CA certificate (DER) for |key|: X.509 v3, a
// random 128-bit serial, CN |common_name|, valid |days| and backdated two days,
// basicConstraints critical CA:TRUE pathlen 0, keyUsage critical keyCertSign + cRLSign and a
// subject key identifier. Returns an empty vector on failure.
std::vector<uint8_t> build_ca_certificate(EVP_PKEY* key, const std::string& common_name, int days);

}  // namespace sightglass::ca
