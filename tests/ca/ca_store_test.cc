#include "ca/ca_store.h"

#include <gtest/gtest.h>
#include <openssl/bn.h>
#include <openssl/ec_key.h>
#include <openssl/nid.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <cstdlib>
#include <thread>
#include <vector>

#include "tests/support/temp_dir.h"

namespace sightglass::ca {
namespace {

namespace fs = std::filesystem;
using test::read_file_bytes;
using test::TempDir;
using test::write_file_bytes;

mode_t mode_of(const fs::path& path) {
  struct stat st {};
  EXPECT_EQ(stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

// seconds_from_now returns |t| - now, in seconds.
int64_t seconds_from_now(const ASN1_TIME* t) {
  int days = 0, seconds = 0;
  bssl::UniquePtr<ASN1_TIME> now(ASN1_TIME_set(nullptr, time(nullptr)));
  EXPECT_TRUE(ASN1_TIME_diff(&days, &seconds, now.get(), t));
  return int64_t{days} * 86400 + seconds;
}

std::unique_ptr<CertificateAuthority> must_load(const fs::path& dir) {
  std::string error;
  auto ca = CertificateAuthority::load_or_create(dir, &error);
  EXPECT_NE(ca, nullptr) << error;
  return ca;
}

TEST(CaStore, FirstStartCreatesCaWithContractFieldsAndModes) {
  TempDir tmp;
  const fs::path dir = tmp.path() / "nested" / "conf";
  auto ca = must_load(dir);
  ASSERT_NE(ca, nullptr);

  EXPECT_EQ(ca->cert_path(), dir / "sightglass-ca.pem");
  EXPECT_EQ(mode_of(dir / "sightglass-ca-key.pem"), 0600u);
  EXPECT_EQ(mode_of(dir), 0700u);

  X509* cert = ca->cert();
  EXPECT_EQ(X509_get_version(cert), X509_VERSION_3);
  // ECDSA P-256.
  EVP_PKEY* key = ca->key();
  ASSERT_EQ(EVP_PKEY_id(key), EVP_PKEY_EC);
  EXPECT_EQ(EC_GROUP_get_curve_name(EC_KEY_get0_group(EVP_PKEY_get0_EC_KEY(key))),
            NID_X9_62_prime256v1);
  // A positive serial of about 128 bits.
  bssl::UniquePtr<BIGNUM> serial(ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr));
  ASSERT_NE(serial, nullptr);
  EXPECT_FALSE(BN_is_negative(serial.get()));
  EXPECT_GE(BN_num_bits(serial.get()), 113u);
  EXPECT_LE(BN_num_bits(serial.get()), 127u);
  // Subject CN names Sightglass and something unique; self-issued and self-signed.
  std::array<char, 256> cn{};
  ASSERT_GT(
      X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn.data(), cn.size()),
      0);
  EXPECT_EQ(std::string(cn.data()).rfind("Sightglass CA ", 0), 0u) << cn.data();
  EXPECT_GT(std::string(cn.data()).size(), std::string("Sightglass CA ").size() + 8);
  EXPECT_EQ(X509_NAME_cmp(X509_get_subject_name(cert), X509_get_issuer_name(cert)), 0);
  EXPECT_EQ(X509_verify(cert, key), 1);
  // Valid ten years, backdated two days.
  EXPECT_NEAR(static_cast<double>(seconds_from_now(X509_get0_notBefore(cert))), -2 * 86400.0, 120);
  EXPECT_NEAR(static_cast<double>(seconds_from_now(X509_get0_notAfter(cert))), 3650 * 86400.0, 120);
  // basicConstraints critical CA:TRUE pathlen 0.
  const int bc_index = X509_get_ext_by_NID(cert, NID_basic_constraints, -1);
  ASSERT_GE(bc_index, 0);
  EXPECT_EQ(X509_EXTENSION_get_critical(X509_get_ext(cert, bc_index)), 1);
  EXPECT_TRUE(X509_get_extension_flags(cert) & EXFLAG_CA);
  EXPECT_EQ(X509_get_pathlen(cert), 0);
  // keyUsage critical keyCertSign + cRLSign, nothing else.
  const int ku_index = X509_get_ext_by_NID(cert, NID_key_usage, -1);
  ASSERT_GE(ku_index, 0);
  EXPECT_EQ(X509_EXTENSION_get_critical(X509_get_ext(cert, ku_index)), 1);
  EXPECT_EQ(X509_get_key_usage(cert), static_cast<uint32_t>(KU_KEY_CERT_SIGN | KU_CRL_SIGN));
  // Subject key identifier.
  const ASN1_OCTET_STRING* ski = X509_get0_subject_key_id(cert);
  ASSERT_NE(ski, nullptr);
  EXPECT_EQ(ASN1_STRING_length(ski), 20);
  // No temporary or stray files are left.
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    EXPECT_TRUE(name == "sightglass-ca.pem" || name == "sightglass-ca-key.pem" ||
                name == ".sightglass-ca.lock")
        << name;
  }
}

TEST(CaStore, RestartReusesTheSameCa) {
  TempDir tmp;
  auto first = must_load(tmp.path());
  const std::string key_before = read_file_bytes(tmp.path() / "sightglass-ca-key.pem");
  auto second = must_load(tmp.path());
  ASSERT_NE(first, nullptr);
  ASSERT_NE(second, nullptr);
  EXPECT_EQ(first->cert_der(), second->cert_der());
  EXPECT_EQ(EVP_PKEY_cmp(first->key(), second->key()), 1);
  EXPECT_EQ(read_file_bytes(tmp.path() / "sightglass-ca-key.pem"), key_before);
  std::string error;
  auto loaded = CertificateAuthority::load(tmp.path(), &error);
  ASSERT_NE(loaded, nullptr) << error;
  EXPECT_EQ(loaded->cert_der(), first->cert_der());
}

TEST(CaStore, TwoConfdirsGetTwoDifferentCas) {
  TempDir a, b;
  auto ca_a = must_load(a.path());
  auto ca_b = must_load(b.path());
  ASSERT_NE(ca_a, nullptr);
  ASSERT_NE(ca_b, nullptr);
  EXPECT_NE(EVP_PKEY_cmp(ca_a->key(), ca_b->key()), 1);
  EXPECT_NE(X509_NAME_cmp(X509_get_subject_name(ca_a->cert()), X509_get_subject_name(ca_b->cert())),
            0);
  EXPECT_NE(read_file_bytes(a.path() / "sightglass-ca-key.pem"),
            read_file_bytes(b.path() / "sightglass-ca-key.pem"));
}

TEST(CaStore, CorruptCertificateIsAClearErrorAndLeftUntouched) {
  TempDir tmp;
  ASSERT_NE(must_load(tmp.path()), nullptr);
  const fs::path cert = tmp.path() / "sightglass-ca.pem";
  const std::string garbage = "-----BEGIN CERTIFICATE-----\nnot base64 at all\n";
  ASSERT_TRUE(write_file_bytes(cert, garbage));
  const std::string key_before = read_file_bytes(tmp.path() / "sightglass-ca-key.pem");
  std::string error;
  EXPECT_EQ(CertificateAuthority::load_or_create(tmp.path(), &error), nullptr);
  EXPECT_NE(error.find(cert.string()), std::string::npos) << error;
  EXPECT_NE(error.find("not a valid"), std::string::npos) << error;
  EXPECT_EQ(read_file_bytes(cert), garbage);
  EXPECT_EQ(read_file_bytes(tmp.path() / "sightglass-ca-key.pem"), key_before);
}

TEST(CaStore, CorruptKeyIsAClearErrorAndLeftUntouched) {
  TempDir tmp;
  ASSERT_NE(must_load(tmp.path()), nullptr);
  const fs::path key = tmp.path() / "sightglass-ca-key.pem";
  const std::string garbage = "garbage\x01\x02";
  ASSERT_TRUE(write_file_bytes(key, garbage));
  const std::string cert_before = read_file_bytes(tmp.path() / "sightglass-ca.pem");
  std::string error;
  EXPECT_EQ(CertificateAuthority::load_or_create(tmp.path(), &error), nullptr);
  EXPECT_NE(error.find(key.string()), std::string::npos) << error;
  EXPECT_EQ(read_file_bytes(key), garbage);
  EXPECT_EQ(read_file_bytes(tmp.path() / "sightglass-ca.pem"), cert_before);
}

TEST(CaStore, MismatchedKeyIsAnError) {
  TempDir a, b;
  ASSERT_NE(must_load(a.path()), nullptr);
  ASSERT_NE(must_load(b.path()), nullptr);
  const std::string other_key = read_file_bytes(b.path() / "sightglass-ca-key.pem");
  ASSERT_TRUE(write_file_bytes(a.path() / "sightglass-ca-key.pem", other_key));
  std::string error;
  EXPECT_EQ(CertificateAuthority::load_or_create(a.path(), &error), nullptr);
  EXPECT_NE(error.find("does not match"), std::string::npos) << error;
  EXPECT_EQ(read_file_bytes(a.path() / "sightglass-ca-key.pem"), other_key);
}

TEST(CaStore, CertificateWithoutKeyIsAnErrorAndNothingIsWritten) {
  TempDir tmp;
  ASSERT_NE(must_load(tmp.path()), nullptr);
  ASSERT_TRUE(fs::remove(tmp.path() / "sightglass-ca-key.pem"));
  const std::string cert_before = read_file_bytes(tmp.path() / "sightglass-ca.pem");
  std::string error;
  EXPECT_EQ(CertificateAuthority::load_or_create(tmp.path(), &error), nullptr);
  EXPECT_NE(error.find("sightglass-ca-key.pem"), std::string::npos) << error;
  EXPECT_FALSE(fs::exists(tmp.path() / "sightglass-ca-key.pem"));
  EXPECT_EQ(read_file_bytes(tmp.path() / "sightglass-ca.pem"), cert_before);
}

TEST(CaStore, InterruptedCreationIsCompletedWithTheExistingKey) {
  // A crash after the key was linked but before the certificate leaves only the key.
  TempDir tmp;
  auto first = must_load(tmp.path());
  ASSERT_NE(first, nullptr);
  ASSERT_TRUE(fs::remove(tmp.path() / "sightglass-ca.pem"));
  const std::string key_before = read_file_bytes(tmp.path() / "sightglass-ca-key.pem");
  auto second = must_load(tmp.path());
  ASSERT_NE(second, nullptr);
  EXPECT_EQ(EVP_PKEY_cmp(first->key(), second->key()), 1);
  EXPECT_EQ(read_file_bytes(tmp.path() / "sightglass-ca-key.pem"), key_before);
}

TEST(CaStore, ConcurrentFirstStartLeavesOneCa) {
  TempDir tmp;
  const fs::path dir = tmp.path() / "conf";
  constexpr int kThreads = 8;
  std::vector<std::vector<uint8_t>> ders(kThreads);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      std::string error;
      auto ca = CertificateAuthority::load_or_create(dir, &error);
      if (ca) {
        ders[static_cast<size_t>(i)] = ca->cert_der();
      }
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  for (const auto& der : ders) {
    ASSERT_FALSE(der.empty());
    EXPECT_EQ(der, ders[0]);
  }
  std::string error;
  auto ca = CertificateAuthority::load(dir, &error);
  ASSERT_NE(ca, nullptr) << error;
  EXPECT_EQ(ca->cert_der(), ders[0]);
}

TEST(CaStore, DefaultConfdirFollowsTheContract) {
  const char* saved_sg = std::getenv("SIGHTGLASS_CONFDIR");
  const char* saved_xdg = std::getenv("XDG_CONFIG_HOME");
  const char* saved_home = std::getenv("HOME");
  const std::string sg = saved_sg ? saved_sg : "", xdg = saved_xdg ? saved_xdg : "",
                    home = saved_home ? saved_home : "";
  setenv("SIGHTGLASS_CONFDIR", "/x/sg", 1);
  setenv("XDG_CONFIG_HOME", "/x/xdg", 1);
  setenv("HOME", "/x/home", 1);
  EXPECT_EQ(default_confdir(), fs::path("/x/sg"));
  unsetenv("SIGHTGLASS_CONFDIR");
  EXPECT_EQ(default_confdir(), fs::path("/x/xdg/sightglass"));
  unsetenv("XDG_CONFIG_HOME");
  EXPECT_EQ(default_confdir(), fs::path("/x/home/.config/sightglass"));
  auto restore = [](const char* name, const char* saved, const std::string& value) {
    if (saved != nullptr) {
      setenv(name, value.c_str(), 1);
    } else {
      unsetenv(name);
    }
  };
  restore("SIGHTGLASS_CONFDIR", saved_sg, sg);
  restore("XDG_CONFIG_HOME", saved_xdg, xdg);
  restore("HOME", saved_home, home);
}

}  // namespace
}  // namespace sightglass::ca
