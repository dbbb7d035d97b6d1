#pragma once

// Internal DER helpers shared by the CA and leaf certificate builders. Certificates are encoded
// directly with CBB rather than through the X509 object API: minting a leaf then costs one
// signature and a few microseconds of encoding.

#include <openssl/bytestring.h>
#include <openssl/evp.h>

#include <cstdint>
#include <ctime>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sightglass::ca::der {

using Bytes = std::vector<uint8_t>;

// Object identifiers, as the content bytes of an OBJECT IDENTIFIER.
inline constexpr uint8_t kOidCommonName[] = {0x55, 0x04, 0x03};
inline constexpr uint8_t kOidOrganization[] = {0x55, 0x04, 0x0a};
inline constexpr uint8_t kOidSubjectKeyId[] = {0x55, 0x1d, 0x0e};
inline constexpr uint8_t kOidKeyUsage[] = {0x55, 0x1d, 0x0f};
inline constexpr uint8_t kOidSubjectAltName[] = {0x55, 0x1d, 0x11};
inline constexpr uint8_t kOidBasicConstraints[] = {0x55, 0x1d, 0x13};
inline constexpr uint8_t kOidAuthorityKeyId[] = {0x55, 0x1d, 0x23};
inline constexpr uint8_t kOidExtKeyUsage[] = {0x55, 0x1d, 0x25};
inline constexpr uint8_t kOidServerAuth[] = {0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x01};

// KeyUsage bits as they appear in the first byte of the BIT STRING.
inline constexpr uint8_t kKeyUsageDigitalSignature = 0x80;
inline constexpr uint8_t kKeyUsageKeyEncipherment = 0x20;
inline constexpr uint8_t kKeyUsageKeyCertSign = 0x04;
inline constexpr uint8_t kKeyUsageCrlSign = 0x02;

// Encoder wraps a CBB; every add_* returns false once any step failed, and keeps failing.
class Encoder {
 public:
  Encoder();
  ~Encoder();
  Encoder(const Encoder&) = delete;
  Encoder& operator=(const Encoder&) = delete;

  CBB* root() { return &cbb_; }
  // finish returns the encoded bytes, or an empty vector on failure.
  Bytes finish();

 private:
  CBB cbb_;
  bool ok_;
};

bool add_oid(CBB* cbb, std::span<const uint8_t> oid);
// add_name adds a Name of up to two attributes (CN, then O when non-empty), UTF8String.
bool add_name(CBB* cbb, std::string_view common_name, std::string_view organization);
// add_time adds a UTCTime (1950-2049) or GeneralizedTime, as RFC 5280 requires.
bool add_time(CBB* cbb, time_t t);
// add_random_serial adds a positive 128-bit INTEGER drawn from the CSPRNG.
bool add_random_serial(CBB* cbb);
// add_algorithm adds the AlgorithmIdentifier for signing with |key| and SHA-256.
bool add_algorithm(CBB* cbb, const EVP_PKEY* key);
// add_extension adds one Extension whose extnValue is |value| (already DER).
bool add_extension(CBB* extensions, std::span<const uint8_t> oid, bool critical,
                   std::span<const uint8_t> value);
// add_key_usage_value encodes a KeyUsage BIT STRING of the bits in one byte.
Bytes key_usage_value(uint8_t bits);

// public_key_der returns |key|'s SubjectPublicKeyInfo.
Bytes public_key_der(const EVP_PKEY* key);
// key_identifier returns the SHA-1 of the subjectPublicKey bits (RFC 5280 4.2.1.2, method 1).
Bytes key_identifier(std::span<const uint8_t> spki_der);
// sign_certificate signs |tbs| with |key| (SHA-256) and returns the whole Certificate.
Bytes sign_certificate(std::span<const uint8_t> tbs, EVP_PKEY* key);

}  // namespace sightglass::ca::der
