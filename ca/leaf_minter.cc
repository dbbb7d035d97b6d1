#include "ca/leaf_minter.h"

#include <arpa/inet.h>
#include <openssl/bytestring.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pool.h>

#include <algorithm>
#include <array>

#include "ca/der.h"

namespace sightglass::ca {
namespace {

constexpr size_t kMaxCommonNameBytes = 64;
constexpr size_t kMaxDnsNameBytes = 253;
constexpr size_t kMaxLabelBytes = 63;

// IpAddress is a parsed IP literal: 4 or 16 bytes.
struct IpAddress {
  std::array<uint8_t, 16> bytes{};
  size_t len = 0;
};

bool parse_ip(std::string_view text, IpAddress* out) {
  if (text.size() >= 2 && text.front() == '[' && text.back() == ']') {
    text = text.substr(1, text.size() - 2);
  }
  if (text.empty() || text.size() >= INET6_ADDRSTRLEN) {
    return false;
  }
  const std::string s(text);
  if (inet_pton(AF_INET, s.c_str(), out->bytes.data()) == 1) {
    out->len = 4;
    return true;
  }
  if (inet_pton(AF_INET6, s.c_str(), out->bytes.data()) == 1) {
    out->len = 16;
    return true;
  }
  return false;
}

bool valid_dns_name(std::string_view name) {
  if (name.empty() || name.size() > kMaxDnsNameBytes) {
    return false;
  }
  size_t label_start = 0;
  bool first_label = true;
  for (size_t i = 0; i <= name.size(); ++i) {
    if (i == name.size() || name[i] == '.') {
      const std::string_view label = name.substr(label_start, i - label_start);
      if (label.empty() || label.size() > kMaxLabelBytes) {
        return false;
      }
      // A wildcard is only allowed as the whole leftmost label of a longer name.
      if (label.find('*') != std::string_view::npos &&
          (!first_label || label != "*" || i == name.size())) {
        return false;
      }
      first_label = false;
      label_start = i + 1;
      continue;
    }
    const char c = name[i];
    const bool ok =
        (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '*';
    if (!ok) {
      return false;
    }
  }
  return true;
}

bool add_san(CBB* extensions, const std::vector<std::string>& names) {
  der::Encoder enc;
  CBB general_names;
  if (!CBB_add_asn1(enc.root(), &general_names, CBS_ASN1_SEQUENCE)) {
    return false;
  }
  for (const std::string& name : names) {
    IpAddress ip;
    CBB entry;
    if (parse_ip(name, &ip)) {
      if (!CBB_add_asn1(&general_names, &entry, CBS_ASN1_CONTEXT_SPECIFIC | 7) ||
          !CBB_add_bytes(&entry, ip.bytes.data(), ip.len)) {
        return false;
      }
    } else if (!CBB_add_asn1(&general_names, &entry, CBS_ASN1_CONTEXT_SPECIFIC | 2) ||
               !CBB_add_bytes(&entry, reinterpret_cast<const uint8_t*>(name.data()), name.size())) {
      return false;
    }
    if (!CBB_flush(&general_names)) {
      return false;
    }
  }
  if (!CBB_flush(enc.root())) {
    return false;
  }
  return der::add_extension(extensions, der::kOidSubjectAltName, false, enc.finish());
}

// Extension values that are the same for every leaf.
const der::Bytes& basic_constraints_leaf() {
  static const der::Bytes value = {0x30, 0x00};  // An empty SEQUENCE: cA FALSE.
  return value;
}

const der::Bytes& ext_key_usage_server_auth() {
  static const der::Bytes value = [] {
    der::Encoder enc;
    CBB seq;
    if (!CBB_add_asn1(enc.root(), &seq, CBS_ASN1_SEQUENCE) ||
        !der::add_oid(&seq, der::kOidServerAuth) || !CBB_flush(enc.root())) {
      return der::Bytes();
    }
    return enc.finish();
  }();
  return value;
}

der::Bytes octet_string(std::span<const uint8_t> bytes) {
  der::Encoder enc;
  if (!CBB_add_asn1_octet_string(enc.root(), bytes.data(), bytes.size())) {
    return {};
  }
  return enc.finish();
}

der::Bytes authority_key_id(std::span<const uint8_t> key_id) {
  der::Encoder enc;
  CBB seq, id;
  if (!CBB_add_asn1(enc.root(), &seq, CBS_ASN1_SEQUENCE) ||
      !CBB_add_asn1(&seq, &id, CBS_ASN1_CONTEXT_SPECIFIC | 0) ||
      !CBB_add_bytes(&id, key_id.data(), key_id.size()) || !CBB_flush(enc.root())) {
    return {};
  }
  return enc.finish();
}

std::string cache_key(const std::vector<std::string>& names, KeyType key_type) {
  std::string key(1, key_type == KeyType::kRsa2048 ? 'r' : 'e');
  for (const std::string& name : names) {
    key.push_back('\n');
    key.append(name);
  }
  return key;
}

}  // namespace

bool normalize_name(std::string_view host, std::string* out) {
  IpAddress ip;
  if (parse_ip(host, &ip)) {
    std::array<char, INET6_ADDRSTRLEN> text{};
    if (inet_ntop(ip.len == 4 ? AF_INET : AF_INET6, ip.bytes.data(), text.data(),
                  static_cast<socklen_t>(text.size())) == nullptr) {
      return false;
    }
    *out = text.data();
    return true;
  }
  std::string name(host);
  if (!name.empty() && name.back() == '.') {
    name.pop_back();
  }
  std::transform(name.begin(), name.end(), name.begin(), [](char c) {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  });
  if (!valid_dns_name(name)) {
    return false;
  }
  *out = std::move(name);
  return true;
}

std::unique_ptr<LeafMinter> LeafMinter::create(std::shared_ptr<const CertificateAuthority> ca,
                                               const LeafMinterOptions& options,
                                               std::string* out_error) {
  if (!ca) {
    *out_error = "no CA to mint leaves with";
    return nullptr;
  }
  auto minter = std::make_unique<LeafMinter>(PrivateTag{}, std::move(ca), options);
  if (!minter->ec_.key || minter->ec_.spki.empty() || minter->ec_.key_id.empty()) {
    *out_error = "cannot generate the leaf key";
    return nullptr;
  }
  return minter;
}

LeafMinter::LeafMinter(PrivateTag /*unused*/, std::shared_ptr<const CertificateAuthority> ca,
                       const LeafMinterOptions& options)
    : ca_(std::move(ca)), options_(options), cache_(options.cache_capacity) {
  ec_.key = generate_ec_key();
  if (ec_.key) {
    ec_.spki = der::public_key_der(ec_.key.get());
    ec_.key_id = der::key_identifier(ec_.spki);
  }
}

const LeafMinter::KeyMaterial* LeafMinter::key_material(KeyType key_type) {
  if (key_type == KeyType::kEcdsaP256) {
    return &ec_;
  }
  std::call_once(rsa_once_, [this] {
    rsa_.key = generate_rsa_key(2048);
    if (rsa_.key) {
      rsa_.spki = der::public_key_der(rsa_.key.get());
      rsa_.key_id = der::key_identifier(rsa_.spki);
    }
  });
  return rsa_.key && !rsa_.spki.empty() ? &rsa_ : nullptr;
}

EVP_PKEY* LeafMinter::leaf_key(KeyType key_type) {
  const KeyMaterial* material = key_material(key_type);
  return material != nullptr ? material->key.get() : nullptr;
}

bool LeafMinter::normalize_names(std::span<const std::string> names, std::vector<std::string>* out,
                                 std::string* out_error) const {
  out->clear();
  out->reserve(names.size());
  for (const std::string& name : names) {
    std::string normalized;
    if (!normalize_name(name, &normalized)) {
      *out_error = "cannot mint a certificate for the name '" + name + "'";
      return false;
    }
    if (std::find(out->begin(), out->end(), normalized) == out->end()) {
      out->push_back(std::move(normalized));
    }
  }
  if (out->empty()) {
    *out_error = "cannot mint a certificate without a name";
    return false;
  }
  return true;
}

LeafConstSharedPtr LeafMinter::leaf_for(std::span<const std::string> names, KeyType key_type,
                                        std::string* out_error) {
  std::vector<std::string> normalized;
  if (!normalize_names(names, &normalized, out_error)) {
    return nullptr;
  }
  const std::string key = cache_key(normalized, key_type);
  if (LeafConstSharedPtr hit = cache_.get(key)) {
    return hit;
  }
  LeafConstSharedPtr leaf = mint_normalized(std::move(normalized), key_type, out_error);
  if (leaf) {
    cache_.put(key, leaf);
  }
  return leaf;
}

LeafConstSharedPtr LeafMinter::mint(std::span<const std::string> names, KeyType key_type,
                                    std::string* out_error) {
  std::vector<std::string> normalized;
  if (!normalize_names(names, &normalized, out_error)) {
    return nullptr;
  }
  return mint_normalized(std::move(normalized), key_type, out_error);
}

LeafConstSharedPtr LeafMinter::mint_normalized(std::vector<std::string> names, KeyType key_type,
                                               std::string* out_error) {
  const KeyMaterial* material = key_material(key_type);
  if (material == nullptr) {
    *out_error = "cannot generate the leaf key";
    return nullptr;
  }
  const time_t now = time(nullptr);
  const time_t not_before = now - options_.backdate_seconds;
  const time_t not_after = std::min(not_before + options_.validity_seconds, ca_->not_after());

  std::string_view common_name = names.front();
  if (common_name.size() > kMaxCommonNameBytes) {
    common_name = common_name.substr(0, kMaxCommonNameBytes);
  }
  uint8_t key_usage = der::kKeyUsageDigitalSignature;
  if (key_type == KeyType::kRsa2048) {
    key_usage |= der::kKeyUsageKeyEncipherment;  // TLS 1.2 RSA key exchange.
  }
  const der::Bytes key_usage_value = der::key_usage_value(key_usage);
  const der::Bytes ski = octet_string(material->key_id);
  const der::Bytes aki = authority_key_id(ca_->key_id());
  const std::span<const uint8_t> issuer = ca_->subject_der();

  der::Encoder enc;
  CBB tbs, version, validity, extensions_wrapper, extensions;
  const bool ok =
      CBB_add_asn1(enc.root(), &tbs, CBS_ASN1_SEQUENCE) &&
      CBB_add_asn1(&tbs, &version, CBS_ASN1_CONTEXT_SPECIFIC | CBS_ASN1_CONSTRUCTED | 0) &&
      CBB_add_asn1_uint64(&version, 2) && der::add_random_serial(&tbs) &&
      der::add_algorithm(&tbs, ca_->key()) && CBB_add_bytes(&tbs, issuer.data(), issuer.size()) &&
      CBB_add_asn1(&tbs, &validity, CBS_ASN1_SEQUENCE) && der::add_time(&validity, not_before) &&
      der::add_time(&validity, not_after) && der::add_name(&tbs, common_name, "") &&
      CBB_add_bytes(&tbs, material->spki.data(), material->spki.size()) &&
      CBB_add_asn1(&tbs, &extensions_wrapper,
                   CBS_ASN1_CONTEXT_SPECIFIC | CBS_ASN1_CONSTRUCTED | 3) &&
      CBB_add_asn1(&extensions_wrapper, &extensions, CBS_ASN1_SEQUENCE) &&
      der::add_extension(&extensions, der::kOidBasicConstraints, true, basic_constraints_leaf()) &&
      der::add_extension(&extensions, der::kOidKeyUsage, true, key_usage_value) &&
      der::add_extension(&extensions, der::kOidExtKeyUsage, false, ext_key_usage_server_auth()) &&
      add_san(&extensions, names) &&
      der::add_extension(&extensions, der::kOidSubjectKeyId, false, ski) &&
      der::add_extension(&extensions, der::kOidAuthorityKeyId, false, aki) && CBB_flush(enc.root());
  const der::Bytes cert = ok ? der::sign_certificate(enc.finish(), ca_->key()) : der::Bytes();
  if (cert.empty()) {
    ERR_clear_error();
    *out_error = "cannot sign a certificate for '" + names.front() + "'";
    return nullptr;
  }
  auto leaf = std::make_shared<Leaf>();
  leaf->cert.reset(CRYPTO_BUFFER_new(cert.data(), cert.size(), nullptr));
  leaf->key = bssl::UpRef(material->key);
  leaf->key_type = key_type;
  leaf->names = std::move(names);
  leaf->not_before = not_before;
  leaf->not_after = not_after;
  if (!leaf->cert) {
    *out_error = "out of memory";
    return nullptr;
  }
  return leaf;
}

}  // namespace sightglass::ca
