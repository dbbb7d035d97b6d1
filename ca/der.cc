#include "ca/der.h"

#include <openssl/digest.h>
#include <openssl/mem.h>
#include <openssl/nid.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <array>
#include <cstdio>

namespace sightglass::ca::der {
namespace {

constexpr uint8_t kOidEcdsaWithSha256[] = {0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02};
constexpr uint8_t kOidSha256WithRsa[] = {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b};

bool add_attribute(CBB* rdn_sequence, std::span<const uint8_t> oid, std::string_view value) {
  CBB rdn, attribute, string;
  return CBB_add_asn1(rdn_sequence, &rdn, CBS_ASN1_SET) &&
         CBB_add_asn1(&rdn, &attribute, CBS_ASN1_SEQUENCE) && add_oid(&attribute, oid) &&
         CBB_add_asn1(&attribute, &string, CBS_ASN1_UTF8STRING) &&
         CBB_add_bytes(&string, reinterpret_cast<const uint8_t*>(value.data()), value.size()) &&
         CBB_flush(rdn_sequence);
}

}  // namespace

Encoder::Encoder() : ok_(CBB_init(&cbb_, 512) == 1) {}

Encoder::~Encoder() { CBB_cleanup(&cbb_); }

Bytes Encoder::finish() {
  uint8_t* data = nullptr;
  size_t len = 0;
  if (!ok_ || !CBB_finish(&cbb_, &data, &len)) {
    return {};
  }
  Bytes out(data, data + len);
  OPENSSL_free(data);
  return out;
}

bool add_oid(CBB* cbb, std::span<const uint8_t> oid) {
  CBB child;
  return CBB_add_asn1(cbb, &child, CBS_ASN1_OBJECT) &&
         CBB_add_bytes(&child, oid.data(), oid.size()) && CBB_flush(cbb);
}

bool add_name(CBB* cbb, std::string_view common_name, std::string_view organization) {
  CBB name;
  if (!CBB_add_asn1(cbb, &name, CBS_ASN1_SEQUENCE)) {
    return false;
  }
  if (!organization.empty() && !add_attribute(&name, kOidOrganization, organization)) {
    return false;
  }
  return add_attribute(&name, kOidCommonName, common_name) && CBB_flush(cbb);
}

bool add_time(CBB* cbb, time_t t) {
  struct tm tm {};
  if (gmtime_r(&t, &tm) == nullptr) {
    return false;
  }
  const int year = tm.tm_year + 1900;
  std::array<char, 32> text{};
  unsigned tag = CBS_ASN1_UTCTIME;
  int n = 0;
  if (year >= 1950 && year < 2050) {
    n = snprintf(text.data(), text.size(), "%02d%02d%02d%02d%02d%02dZ", year % 100, tm.tm_mon + 1,
                 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
  } else {
    tag = CBS_ASN1_GENERALIZEDTIME;
    n = snprintf(text.data(), text.size(), "%04d%02d%02d%02d%02d%02dZ", year, tm.tm_mon + 1,
                 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
  }
  if (n <= 0 || static_cast<size_t>(n) >= text.size()) {
    return false;
  }
  CBB child;
  return CBB_add_asn1(cbb, &child, tag) &&
         CBB_add_bytes(&child, reinterpret_cast<const uint8_t*>(text.data()),
                       static_cast<size_t>(n)) &&
         CBB_flush(cbb);
}

bool add_random_serial(CBB* cbb) {
  std::array<uint8_t, 16> serial{};
  RAND_bytes(serial.data(), serial.size());
  // Positive, and minimally encoded: the top bit clear and the first byte never zero.
  serial[0] = static_cast<uint8_t>((serial[0] & 0x7f) | 0x01);
  CBB child;
  return CBB_add_asn1(cbb, &child, CBS_ASN1_INTEGER) &&
         CBB_add_bytes(&child, serial.data(), serial.size()) && CBB_flush(cbb);
}

bool add_algorithm(CBB* cbb, const EVP_PKEY* key) {
  CBB algorithm;
  if (!CBB_add_asn1(cbb, &algorithm, CBS_ASN1_SEQUENCE)) {
    return false;
  }
  switch (EVP_PKEY_id(key)) {
    case EVP_PKEY_EC:
      if (!add_oid(&algorithm, kOidEcdsaWithSha256)) {
        return false;
      }
      break;
    case EVP_PKEY_RSA: {
      CBB null;
      if (!add_oid(&algorithm, kOidSha256WithRsa) ||
          !CBB_add_asn1(&algorithm, &null, CBS_ASN1_NULL)) {
        return false;
      }
      break;
    }
    default:
      return false;
  }
  return CBB_flush(cbb);
}

bool add_extension(CBB* extensions, std::span<const uint8_t> oid, bool critical,
                   std::span<const uint8_t> value) {
  CBB extension, octets;
  if (!CBB_add_asn1(extensions, &extension, CBS_ASN1_SEQUENCE) || !add_oid(&extension, oid)) {
    return false;
  }
  if (critical) {
    CBB boolean;
    if (!CBB_add_asn1(&extension, &boolean, CBS_ASN1_BOOLEAN) || !CBB_add_u8(&boolean, 0xff)) {
      return false;
    }
  }
  return CBB_add_asn1(&extension, &octets, CBS_ASN1_OCTETSTRING) &&
         CBB_add_bytes(&octets, value.data(), value.size()) && CBB_flush(extensions);
}

Bytes key_usage_value(uint8_t bits) {
  // DER drops trailing zero bits: count them as unused.
  uint8_t unused = 0;
  while (unused < 7 && (bits & (1u << unused)) == 0) {
    ++unused;
  }
  return {CBS_ASN1_BITSTRING, 0x02, unused, bits};
}

Bytes public_key_der(const EVP_PKEY* key) {
  Encoder enc;
  if (!EVP_marshal_public_key(enc.root(), key)) {
    return {};
  }
  return enc.finish();
}

Bytes key_identifier(std::span<const uint8_t> spki_der) {
  CBS spki, inner, algorithm, bits;
  CBS_init(&spki, spki_der.data(), spki_der.size());
  if (!CBS_get_asn1(&spki, &inner, CBS_ASN1_SEQUENCE) ||
      !CBS_get_asn1(&inner, &algorithm, CBS_ASN1_SEQUENCE) ||
      !CBS_get_asn1(&inner, &bits, CBS_ASN1_BITSTRING) || CBS_len(&bits) < 1) {
    return {};
  }
  // Skip the unused-bits byte; hash the key bits.
  Bytes digest(SHA_DIGEST_LENGTH);
  SHA1(CBS_data(&bits) + 1, CBS_len(&bits) - 1, digest.data());
  return digest;
}

Bytes sign_certificate(std::span<const uint8_t> tbs, EVP_PKEY* key) {
  bssl::ScopedEVP_MD_CTX ctx;
  size_t sig_len = static_cast<size_t>(EVP_PKEY_size(key));
  Bytes sig(sig_len);
  if (!EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key) ||
      !EVP_DigestSign(ctx.get(), sig.data(), &sig_len, tbs.data(), tbs.size())) {
    return {};
  }
  Encoder enc;
  CBB certificate, signature;
  if (!CBB_add_asn1(enc.root(), &certificate, CBS_ASN1_SEQUENCE) ||
      !CBB_add_bytes(&certificate, tbs.data(), tbs.size()) || !add_algorithm(&certificate, key) ||
      !CBB_add_asn1(&certificate, &signature, CBS_ASN1_BITSTRING) || !CBB_add_u8(&signature, 0) ||
      !CBB_add_bytes(&signature, sig.data(), sig_len) || !CBB_flush(enc.root())) {
    return {};
  }
  return enc.finish();
}

}  // namespace sightglass::ca::der
