#pragma once

#include <openssl/evp.h>
#include <openssl/pool.h>

#include <cstdint>
#include <ctime>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ca/ca_store.h"
#include "ca/cert_cache.h"

namespace sightglass::ca {

// KeyType is the algorithm of a leaf's key. ECDSA P-256 is the default; RSA-2048 serves
// clients that cannot verify ECDSA.
enum class KeyType : uint8_t { kEcdsaP256, kRsa2048 };

// Leaf is one minted certificate with its (shared) private key. Immutable.
struct Leaf {
  bssl::UniquePtr<CRYPTO_BUFFER> cert;  // DER.
  bssl::UniquePtr<EVP_PKEY> key;        // The minter's shared key of |key_type|.
  KeyType key_type = KeyType::kEcdsaP256;
  std::vector<std::string> names;  // Normalized; names[0] is the CN.
  time_t not_before = 0;
  time_t not_after = 0;
};

// LeafMinterOptions tunes a LeafMinter.
struct LeafMinterOptions {
  size_t cache_capacity = 10000;
  // Leaves are backdated this much, so that clients with slow clocks accept them.
  time_t backdate_seconds = 2 * 24 * 60 * 60;
  // The whole validity period, at most 397 days (the CA/Browser Forum's and Apple's limit).
  time_t validity_seconds = 397 * 24 * 60 * 60;
};

// normalize_name turns a host (DNS name, IPv4 literal, IPv6 literal with or without brackets)
// into its canonical form: DNS names lower case without a trailing dot, IP addresses in their
// inet_ntop text. Returns false for anything that cannot appear in a certificate.
bool normalize_name(std::string_view host, std::string* out);

// LeafMinter mints leaf certificates signed by a CA, all sharing one process-wide key per key
// type (separate from the CA key), so that a new host costs one signature. It caches leaves in
// a CertCache. Thread-safe.
class LeafMinter {
  struct PrivateTag {
    explicit PrivateTag() = default;
  };

 public:
  // create returns a minter for |ca|, generating the shared ECDSA leaf key (the RSA key is
  // generated on first use). nullptr and *out_error on failure.
  static std::unique_ptr<LeafMinter> create(std::shared_ptr<const CertificateAuthority> ca,
                                            const LeafMinterOptions& options,
                                            std::string* out_error);

  LeafMinter(PrivateTag /*unused*/, std::shared_ptr<const CertificateAuthority> ca,
             const LeafMinterOptions& options);
  LeafMinter(const LeafMinter&) = delete;
  LeafMinter& operator=(const LeafMinter&) = delete;

  // leaf_for returns a leaf for |names| (the first is the CN; duplicates are dropped), from
  // the cache or freshly minted. nullptr and *out_error when a name is invalid.
  LeafConstSharedPtr leaf_for(std::span<const std::string> names, KeyType key_type,
                              std::string* out_error);
  // mint always mints a new leaf, bypassing the cache.
  LeafConstSharedPtr mint(std::span<const std::string> names, KeyType key_type,
                          std::string* out_error);

  const CertificateAuthority& ca() const { return *ca_; }
  CertCache& cache() { return cache_; }
  // leaf_key returns the shared key of |key_type| (owned by the minter), or nullptr if it
  // could not be generated.
  EVP_PKEY* leaf_key(KeyType key_type);

 private:
  struct KeyMaterial {
    bssl::UniquePtr<EVP_PKEY> key;
    std::vector<uint8_t> spki;
    std::vector<uint8_t> key_id;
  };
  const KeyMaterial* key_material(KeyType key_type);
  bool normalize_names(std::span<const std::string> names, std::vector<std::string>* out,
                       std::string* out_error) const;
  LeafConstSharedPtr mint_normalized(std::vector<std::string> names, KeyType key_type,
                                     std::string* out_error);

  std::shared_ptr<const CertificateAuthority> ca_;
  LeafMinterOptions options_;
  CertCache cache_;
  KeyMaterial ec_;
  std::once_flag rsa_once_;
  KeyMaterial rsa_;
};

}  // namespace sightglass::ca
