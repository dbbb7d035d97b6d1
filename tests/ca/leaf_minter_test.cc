#include "ca/leaf_minter.h"

#include <gtest/gtest.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <array>
#include <set>
#include <string>
#include <vector>

#include "tests/ca/ca_test_util.h"
#include "tests/support/temp_dir.h"

namespace sightglass::ca {
namespace {

using test::parse_leaf;
using test::TempDir;
using test::verify_leaf;

class LeafMinterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string error;
    ca_ = CertificateAuthority::load_or_create(dir_.path(), &error);
    ASSERT_NE(ca_, nullptr) << error;
    other_ca_ = CertificateAuthority::load_or_create(other_dir_.path(), &error);
    ASSERT_NE(other_ca_, nullptr) << error;
    minter_ = LeafMinter::create(ca_, LeafMinterOptions{}, &error);
    ASSERT_NE(minter_, nullptr) << error;
  }

  LeafConstSharedPtr mint(std::vector<std::string> names, KeyType key_type = KeyType::kEcdsaP256) {
    std::string error;
    LeafConstSharedPtr leaf = minter_->mint(names, key_type, &error);
    EXPECT_NE(leaf, nullptr) << error;
    return leaf;
  }

  TempDir dir_, other_dir_;
  std::shared_ptr<CertificateAuthority> ca_, other_ca_;
  std::unique_ptr<LeafMinter> minter_;
};

struct San {
  int type;
  std::string value;  // DNS text, or raw IP bytes.
  bool operator==(const San& o) const = default;
};

void PrintTo(const San& san, std::ostream* os) { *os << san.type << ":" << san.value; }

std::vector<San> sans_of(X509* cert) {
  std::vector<San> out;
  bssl::UniquePtr<GENERAL_NAMES> names(
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr)));
  if (!names) {
    return out;
  }
  for (size_t i = 0; i < sk_GENERAL_NAME_num(names.get()); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names.get(), i);
    if (name->type == GEN_DNS) {
      const ASN1_IA5STRING* s = name->d.dNSName;
      out.push_back({GEN_DNS, std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                                          static_cast<size_t>(ASN1_STRING_length(s)))});
    } else if (name->type == GEN_IPADD) {
      const ASN1_OCTET_STRING* s = name->d.iPAddress;
      out.push_back({GEN_IPADD, std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                                            static_cast<size_t>(ASN1_STRING_length(s)))});
    } else {
      out.push_back({name->type, ""});
    }
  }
  return out;
}

std::string common_name(X509* cert) {
  std::array<char, 256> cn{};
  if (X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn.data(), cn.size()) <
      0) {
    return "";
  }
  return cn.data();
}

int64_t seconds_from_now(const ASN1_TIME* t) {
  int days = 0, seconds = 0;
  bssl::UniquePtr<ASN1_TIME> now(ASN1_TIME_set(nullptr, time(nullptr)));
  EXPECT_TRUE(ASN1_TIME_diff(&days, &seconds, now.get(), t));
  return int64_t{days} * 86400 + seconds;
}

// expect_leaf_fields checks everything a leaf must carry apart from its names.
void expect_leaf_fields(X509* cert, const CertificateAuthority& ca, KeyType key_type) {
  EXPECT_EQ(X509_get_version(cert), X509_VERSION_3);
  // EKU serverAuth only.
  EXPECT_EQ(X509_get_extended_key_usage(cert), static_cast<uint32_t>(XKU_SSL_SERVER));
  // keyUsage critical: digitalSignature, plus keyEncipherment for RSA.
  const int ku_index = X509_get_ext_by_NID(cert, NID_key_usage, -1);
  ASSERT_GE(ku_index, 0);
  EXPECT_EQ(X509_EXTENSION_get_critical(X509_get_ext(cert, ku_index)), 1);
  const uint32_t expected_ku = key_type == KeyType::kEcdsaP256
                                   ? KU_DIGITAL_SIGNATURE
                                   : (KU_DIGITAL_SIGNATURE | KU_KEY_ENCIPHERMENT);
  EXPECT_EQ(X509_get_key_usage(cert), expected_ku);
  // Not a CA.
  EXPECT_FALSE(X509_get_extension_flags(cert) & EXFLAG_CA);
  // The authority key identifier is the CA's subject key identifier.
  const ASN1_OCTET_STRING* akid = X509_get0_authority_key_id(cert);
  ASSERT_NE(akid, nullptr);
  const auto ca_key_id = ca.key_id();
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(akid)),
                        static_cast<size_t>(ASN1_STRING_length(akid))),
            std::string(reinterpret_cast<const char*>(ca_key_id.data()), ca_key_id.size()));
  // Issued by the CA; backdated two days; valid at most 397 days in all.
  EXPECT_EQ(X509_NAME_cmp(X509_get_issuer_name(cert), X509_get_subject_name(ca.cert())), 0);
  const int64_t not_before = seconds_from_now(X509_get0_notBefore(cert));
  const int64_t not_after = seconds_from_now(X509_get0_notAfter(cert));
  EXPECT_NEAR(static_cast<double>(not_before), -2 * 86400.0, 120);
  EXPECT_LE(not_after - not_before, int64_t{397} * 86400);
  EXPECT_GT(not_after - not_before, int64_t{390} * 86400);
  // The shared key of the requested type, never the CA's.
  bssl::UniquePtr<EVP_PKEY> key(X509_get_pubkey(cert));
  ASSERT_NE(key, nullptr);
  EXPECT_EQ(EVP_PKEY_id(key.get()), key_type == KeyType::kEcdsaP256 ? EVP_PKEY_EC : EVP_PKEY_RSA);
  if (key_type == KeyType::kRsa2048) {
    EXPECT_EQ(EVP_PKEY_bits(key.get()), 2048);
  }
  EXPECT_NE(EVP_PKEY_cmp(key.get(), ca.key()), 1);
}

TEST_F(LeafMinterTest, DnsNameLeafVerifiesAndCarriesTheRightFields) {
  auto leaf = mint({"Example.COM."});
  ASSERT_NE(leaf, nullptr);
  auto cert = parse_leaf(*leaf);
  ASSERT_NE(cert, nullptr);
  EXPECT_EQ(verify_leaf(cert.get(), ca_->cert(), "example.com", false), X509_V_OK);
  EXPECT_EQ(common_name(cert.get()), "example.com");
  EXPECT_EQ(sans_of(cert.get()), (std::vector<San>{{GEN_DNS, "example.com"}}));
  expect_leaf_fields(cert.get(), *ca_, KeyType::kEcdsaP256);
  // The key in the leaf is the one the minter serves.
  bssl::UniquePtr<EVP_PKEY> pub(X509_get_pubkey(cert.get()));
  EXPECT_EQ(EVP_PKEY_cmp(pub.get(), leaf->key.get()), 1);
  // A wrong host name fails.
  EXPECT_EQ(verify_leaf(cert.get(), ca_->cert(), "example.org", false),
            X509_V_ERR_HOSTNAME_MISMATCH);
}

TEST_F(LeafMinterTest, Ipv4LeafHasAnIpSanAndVerifies) {
  auto leaf = mint({"192.0.2.7"});
  ASSERT_NE(leaf, nullptr);
  auto cert = parse_leaf(*leaf);
  EXPECT_EQ(verify_leaf(cert.get(), ca_->cert(), "192.0.2.7", true), X509_V_OK);
  EXPECT_EQ(sans_of(cert.get()),
            (std::vector<San>{{GEN_IPADD, std::string("\xc0\x00\x02\x07", 4)}}));
  EXPECT_EQ(common_name(cert.get()), "192.0.2.7");
  expect_leaf_fields(cert.get(), *ca_, KeyType::kEcdsaP256);
  EXPECT_EQ(verify_leaf(cert.get(), ca_->cert(), "192.0.2.8", true),
            X509_V_ERR_IP_ADDRESS_MISMATCH);
}

TEST_F(LeafMinterTest, Ipv6LeafHasAnIpSanAndVerifies) {
  auto leaf = mint({"[2001:DB8::1]"});
  ASSERT_NE(leaf, nullptr);
  auto cert = parse_leaf(*leaf);
  EXPECT_EQ(verify_leaf(cert.get(), ca_->cert(), "2001:db8::1", true), X509_V_OK);
  const std::string raw("\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x01", 16);
  EXPECT_EQ(sans_of(cert.get()), (std::vector<San>{{GEN_IPADD, raw}}));
  EXPECT_EQ(common_name(cert.get()), "2001:db8::1");
  expect_leaf_fields(cert.get(), *ca_, KeyType::kEcdsaP256);
}

TEST_F(LeafMinterTest, LeafFailsAgainstAnotherInstallsCa) {
  for (const auto& [name, is_ip] : std::vector<std::pair<std::string, bool>>{
           {"example.com", false}, {"10.1.2.3", true}, {"::1", true}}) {
    auto leaf = mint({name});
    ASSERT_NE(leaf, nullptr);
    auto cert = parse_leaf(*leaf);
    EXPECT_EQ(verify_leaf(cert.get(), ca_->cert(), name, is_ip), X509_V_OK) << name;
    EXPECT_NE(verify_leaf(cert.get(), other_ca_->cert(), name, is_ip), X509_V_OK) << name;
  }
}

TEST_F(LeafMinterTest, ExtraNamesBecomeSansOfTheRightType) {
  auto leaf = mint({"api.example.com", "*.cdn.example.com", "10.0.0.1", "API.example.com", "::1"});
  ASSERT_NE(leaf, nullptr);
  auto cert = parse_leaf(*leaf);
  EXPECT_EQ(sans_of(cert.get()), (std::vector<San>{{GEN_DNS, "api.example.com"},
                                                   {GEN_DNS, "*.cdn.example.com"},
                                                   {GEN_IPADD, std::string("\x0a\x00\x00\x01", 4)},
                                                   {GEN_IPADD, std::string(15, '\0') + "\x01"}}));
  EXPECT_EQ(common_name(cert.get()), "api.example.com");
  EXPECT_EQ(verify_leaf(cert.get(), ca_->cert(), "img.cdn.example.com", false), X509_V_OK);
  EXPECT_EQ(verify_leaf(cert.get(), ca_->cert(), "10.0.0.1", true), X509_V_OK);
  EXPECT_EQ(leaf->names.size(), 4u);
}

TEST_F(LeafMinterTest, LongCommonNameIsTruncatedTo64Bytes) {
  const std::string label(60, 'a');
  const std::string host = label + "." + label + ".example";
  auto leaf = mint({host});
  ASSERT_NE(leaf, nullptr);
  auto cert = parse_leaf(*leaf);
  EXPECT_EQ(common_name(cert.get()), host.substr(0, 64));
  EXPECT_EQ(verify_leaf(cert.get(), ca_->cert(), host, false), X509_V_OK);
}

TEST_F(LeafMinterTest, SerialsAreRandomAndPositive) {
  std::set<std::string> serials;
  for (int i = 0; i < 20; ++i) {
    auto leaf = mint({"example.com"});
    auto cert = parse_leaf(*leaf);
    const ASN1_INTEGER* serial = X509_get0_serialNumber(cert.get());
    EXPECT_EQ(ASN1_STRING_type(serial), V_ASN1_INTEGER);  // Not negative.
    serials.insert(std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(serial)),
                               static_cast<size_t>(ASN1_STRING_length(serial))));
  }
  EXPECT_EQ(serials.size(), 20u);
}

TEST_F(LeafMinterTest, RsaLeafForClientsWithoutEcdsa) {
  auto leaf = mint({"legacy.example"}, KeyType::kRsa2048);
  ASSERT_NE(leaf, nullptr);
  auto cert = parse_leaf(*leaf);
  EXPECT_EQ(verify_leaf(cert.get(), ca_->cert(), "legacy.example", false), X509_V_OK);
  expect_leaf_fields(cert.get(), *ca_, KeyType::kRsa2048);
  // The RSA key is shared too.
  auto again = mint({"other.example"}, KeyType::kRsa2048);
  EXPECT_EQ(EVP_PKEY_cmp(leaf->key.get(), again->key.get()), 1);
}

TEST_F(LeafMinterTest, AllLeavesShareOneKeySeparateFromTheCa) {
  auto a = mint({"a.example"});
  auto b = mint({"b.example"});
  EXPECT_EQ(a->key.get(), b->key.get());
  EXPECT_NE(EVP_PKEY_cmp(a->key.get(), ca_->key()), 1);
}

TEST_F(LeafMinterTest, InvalidNamesAreRefused) {
  for (const std::string& name :
       std::vector<std::string>{"", "exa mple.com", "a..b", "bad/host", "*.", "a.*.example", "*",
                                "x\n", std::string(254, 'a'), std::string(64, 'a') + ".com", "[::1",
                                std::string("host\0null", 9)}) {
    std::string error;
    EXPECT_EQ(minter_->mint(std::array<std::string, 1>{name}, KeyType::kEcdsaP256, &error), nullptr)
        << name;
    EXPECT_FALSE(error.empty());
  }
  std::string error;
  EXPECT_EQ(minter_->mint(std::vector<std::string>{}, KeyType::kEcdsaP256, &error), nullptr);
}

TEST_F(LeafMinterTest, CacheServesTheSameLeafForTheSameNameSet) {
  std::string error;
  const std::array<std::string, 1> upper = {"WWW.Example.com"};
  const std::array<std::string, 1> lower = {"www.example.com"};
  auto first = minter_->leaf_for(upper, KeyType::kEcdsaP256, &error);
  auto second = minter_->leaf_for(lower, KeyType::kEcdsaP256, &error);
  ASSERT_NE(first, nullptr);
  EXPECT_EQ(first, second);
  auto rsa = minter_->leaf_for(lower, KeyType::kRsa2048, &error);
  ASSERT_NE(rsa, nullptr);
  EXPECT_NE(rsa, first);
  EXPECT_EQ(minter_->cache().size(), 2u);
  // mint() bypasses the cache.
  EXPECT_NE(minter_->mint(lower, KeyType::kEcdsaP256, &error), first);
}

TEST_F(LeafMinterTest, LeafNeverOutlivesTheCa) {
  LeafMinterOptions options;
  options.validity_seconds = time_t{20} * 365 * 86400;
  std::string error;
  auto minter = LeafMinter::create(ca_, options, &error);
  ASSERT_NE(minter, nullptr);
  auto leaf = minter->mint(std::array<std::string, 1>{"example.com"}, KeyType::kEcdsaP256, &error);
  ASSERT_NE(leaf, nullptr);
  EXPECT_LE(leaf->not_after, ca_->not_after());
}

}  // namespace
}  // namespace sightglass::ca
