#include "ca/ca_store.h"

#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/bytestring.h>
#include <openssl/ec_key.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/nid.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "ca/der.h"

namespace sightglass::ca {
namespace {

namespace fs = std::filesystem;

constexpr int kCaValidityDays = 3650;
constexpr time_t kBackdateSeconds = 2 * 24 * 60 * 60;
constexpr char kLockFileName[] = ".sightglass-ca.lock";

// UniqueFd owns a file descriptor.
class UniqueFd {
 public:
  explicit UniqueFd(int fd = -1) : fd_(fd) {}
  ~UniqueFd() {
    if (fd_ >= 0) {
      close(fd_);
    }
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }

 private:
  int fd_;
};

std::string errno_text(int err) { return std::strerror(err); }

std::string ssl_error_text() {
  const uint32_t err = ERR_get_error();
  ERR_clear_error();
  if (err == 0) {
    return "unknown error";
  }
  std::array<char, 256> buf{};
  ERR_error_string_n(err, buf.data(), buf.size());
  return buf.data();
}

bool path_exists(const fs::path& path) {
  struct stat st {};
  return lstat(path.c_str(), &st) == 0;
}

// kMaxPemFileBytes bounds what is read of a CA file: a real one is a few kilobytes.
constexpr size_t kMaxPemFileBytes = 1024 * 1024;

// read_file reads a CA file: a regular file (a symlink to one is followed), at most
// kMaxPemFileBytes. A private key (|secret|) must not be readable by group or others.
bool read_file(const fs::path& path, std::string* out, std::string* out_error,
               bool secret = false) {
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY));
  if (!fd.valid()) {
    *out_error = "cannot read " + path.string() + ": " + errno_text(errno);
    return false;
  }
  struct stat st {};
  if (fstat(fd.get(), &st) != 0) {
    *out_error = "cannot read " + path.string() + ": " + errno_text(errno);
    return false;
  }
  if (!S_ISREG(st.st_mode)) {
    *out_error = path.string() + " is not a regular file: refusing to read it";
    return false;
  }
  if (static_cast<uint64_t>(st.st_size) > kMaxPemFileBytes) {
    *out_error = path.string() + " is too large for a PEM file (" + std::to_string(st.st_size) +
                 " bytes, at most " + std::to_string(kMaxPemFileBytes) + ")";
    return false;
  }
  if (secret && (st.st_mode & 077) != 0) {
    char mode[8];
    snprintf(mode, sizeof(mode), "%04o", static_cast<unsigned>(st.st_mode & 07777));
    *out_error = "the CA key " + path.string() + " is readable by others (mode " + mode +
                 "): refusing to use it; fix it with: chmod 600 " + path.string();
    return false;
  }
  out->clear();
  std::array<char, 8192> buf{};
  for (;;) {
    const ssize_t n = read(fd.get(), buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      *out_error = "cannot read " + path.string() + ": " + errno_text(errno);
      return false;
    }
    if (n == 0) {
      return true;
    }
    out->append(buf.data(), static_cast<size_t>(n));
    if (out->size() > kMaxPemFileBytes) {
      *out_error = path.string() + " is too large for a PEM file";
      return false;
    }
  }
}

// write_new_file writes |data| to |path|, which must not exist yet: to a temporary file
// (O_EXCL, |mode|), synced, then linked to |path|, which fails rather than replace a file.
bool write_new_file(const fs::path& path, std::string_view data, mode_t mode,
                    std::string* out_error) {
  std::array<uint8_t, 8> random{};
  RAND_bytes(random.data(), random.size());
  std::ostringstream tmp_name;
  tmp_name << "." << path.filename().string() << ".tmp-" << getpid() << "-";
  for (uint8_t b : random) {
    tmp_name << std::hex << static_cast<int>(b);
  }
  const fs::path tmp = path.parent_path() / tmp_name.str();
  {
    UniqueFd fd(open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode));
    if (!fd.valid()) {
      *out_error = "cannot create " + tmp.string() + ": " + errno_text(errno);
      return false;
    }
    // The umask may have narrowed the mode; it must not have widened it, but make it exact.
    if (fchmod(fd.get(), mode) != 0) {
      *out_error = "cannot chmod " + tmp.string() + ": " + errno_text(errno);
      unlink(tmp.c_str());
      return false;
    }
    size_t written = 0;
    while (written < data.size()) {
      const ssize_t n = write(fd.get(), data.data() + written, data.size() - written);
      if (n < 0) {
        if (errno == EINTR) {
          continue;
        }
        *out_error = "cannot write " + tmp.string() + ": " + errno_text(errno);
        unlink(tmp.c_str());
        return false;
      }
      written += static_cast<size_t>(n);
    }
    if (fsync(fd.get()) != 0) {
      *out_error = "cannot sync " + tmp.string() + ": " + errno_text(errno);
      unlink(tmp.c_str());
      return false;
    }
  }
  const int link_result = link(tmp.c_str(), path.c_str());
  const int link_errno = errno;
  unlink(tmp.c_str());
  if (link_result != 0) {
    *out_error = "cannot create " + path.string() + ": " + errno_text(link_errno);
    return false;
  }
  return true;
}

void sync_directory(const fs::path& dir) {
  UniqueFd fd(open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.valid()) {
    fsync(fd.get());
  }
}

// ensure_confdir creates |dir| (mode 0700) and its parents when missing.
bool ensure_confdir(const fs::path& dir, std::string* out_error) {
  struct stat st {};
  if (stat(dir.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode)) {
      *out_error = "confdir " + dir.string() + " is not a directory";
      return false;
    }
    return true;
  }
  std::error_code ec;
  if (dir.has_parent_path()) {
    fs::create_directories(dir.parent_path(), ec);
    if (ec) {
      *out_error = "cannot create " + dir.parent_path().string() + ": " + ec.message();
      return false;
    }
  }
  if (mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    *out_error = "cannot create confdir " + dir.string() + ": " + errno_text(errno);
    return false;
  }
  chmod(dir.c_str(), 0700);
  return true;
}

// mem_bio returns a read-only BIO over |data|, which must outlive it.
bssl::UniquePtr<BIO> mem_bio(const std::string& data) {
  if (data.size() > static_cast<size_t>(INT32_MAX)) {
    return nullptr;
  }
  return bssl::UniquePtr<BIO>(BIO_new_mem_buf(data.data(), static_cast<int>(data.size())));
}

std::string key_to_pem(EVP_PKEY* key) {
  bssl::UniquePtr<BIO> bio(BIO_new(BIO_s_mem()));
  if (!bio || !PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr)) {
    return {};
  }
  const uint8_t* contents = nullptr;
  size_t len = 0;
  BIO_mem_contents(bio.get(), &contents, &len);
  return std::string(reinterpret_cast<const char*>(contents), len);
}

std::string cert_to_pem(X509* cert) {
  bssl::UniquePtr<BIO> bio(BIO_new(BIO_s_mem()));
  if (!bio || !PEM_write_bio_X509(bio.get(), cert)) {
    return {};
  }
  const uint8_t* contents = nullptr;
  size_t len = 0;
  BIO_mem_contents(bio.get(), &contents, &len);
  return std::string(reinterpret_cast<const char*>(contents), len);
}

// unique_install_name returns something unique to this install for the CA's common name.
std::string unique_install_name() {
  std::array<uint8_t, 5> random{};
  RAND_bytes(random.data(), random.size());
  std::string out;
  constexpr char kHex[] = "0123456789ABCDEF";
  for (uint8_t b : random) {
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 0xf]);
  }
  std::array<char, 256> host{};
  if (gethostname(host.data(), host.size() - 1) == 0 && host[0] != '\0') {
    std::string h(host.data());
    if (h.size() > 24) {
      h.resize(24);
    }
    return h + " " + out;
  }
  return out;
}

// create_ca writes a new CA into |confdir|, or completes one whose creation was interrupted
// after the key was written. Called with the lock held.
bool create_ca(const fs::path& cert_path, const fs::path& key_path, std::string* out_error) {
  bssl::UniquePtr<EVP_PKEY> key;
  if (path_exists(key_path)) {
    // A crash between the two links leaves only the key: finish with that key.
    std::string pem;
    if (!read_file(key_path, &pem, out_error, /*secret=*/true)) {
      return false;
    }
    bssl::UniquePtr<BIO> bio(mem_bio(pem));
    key.reset(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
    if (!key) {
      *out_error = "CA key " + key_path.string() + " is not a valid PEM private key (" +
                   ssl_error_text() + "), and its certificate " + cert_path.string() +
                   " is missing";
      return false;
    }
  } else {
    key = generate_ec_key();
    const std::string pem = key ? key_to_pem(key.get()) : std::string();
    if (pem.empty()) {
      *out_error = "cannot generate the CA key: " + ssl_error_text();
      return false;
    }
    if (!write_new_file(key_path, pem, 0600, out_error)) {
      return false;
    }
  }
  const std::vector<uint8_t> der =
      build_ca_certificate(key.get(), "Sightglass CA " + unique_install_name(), kCaValidityDays);
  const uint8_t* p = der.data();
  bssl::UniquePtr<X509> cert(der.empty() ? nullptr
                                         : d2i_X509(nullptr, &p, static_cast<long>(der.size())));
  const std::string pem = cert ? cert_to_pem(cert.get()) : std::string();
  if (pem.empty()) {
    *out_error = "cannot build the CA certificate: " + ssl_error_text();
    return false;
  }
  if (!write_new_file(cert_path, pem, 0644, out_error)) {
    return false;
  }
  sync_directory(cert_path.parent_path());
  return true;
}

bool extract_subject(const std::vector<uint8_t>& cert_der, std::vector<uint8_t>* out) {
  CBS cert, certificate, tbs, skip, subject;
  CBS_init(&cert, cert_der.data(), cert_der.size());
  if (!CBS_get_asn1(&cert, &certificate, CBS_ASN1_SEQUENCE) ||
      !CBS_get_asn1(&certificate, &tbs, CBS_ASN1_SEQUENCE) ||
      !CBS_get_optional_asn1(&tbs, nullptr, nullptr,
                             CBS_ASN1_CONSTRUCTED | CBS_ASN1_CONTEXT_SPECIFIC | 0) ||
      !CBS_get_asn1(&tbs, &skip, CBS_ASN1_INTEGER) ||   // serial
      !CBS_get_asn1(&tbs, &skip, CBS_ASN1_SEQUENCE) ||  // signature
      !CBS_get_asn1(&tbs, &skip, CBS_ASN1_SEQUENCE) ||  // issuer
      !CBS_get_asn1(&tbs, &skip, CBS_ASN1_SEQUENCE) ||  // validity
      !CBS_get_asn1_element(&tbs, &subject, CBS_ASN1_SEQUENCE)) {
    return false;
  }
  out->assign(CBS_data(&subject), CBS_data(&subject) + CBS_len(&subject));
  return true;
}

}  // namespace

fs::path default_confdir() {
  if (const char* dir = std::getenv("SIGHTGLASS_CONFDIR"); dir != nullptr && *dir != '\0') {
    return dir;
  }
  if (const char* xdg = std::getenv("XDG_CONFIG_HOME"); xdg != nullptr && *xdg != '\0') {
    return fs::path(xdg) / "sightglass";
  }
  const char* home = std::getenv("HOME");
  return fs::path(home != nullptr && *home != '\0' ? home : ".") / ".config" / "sightglass";
}

bssl::UniquePtr<EVP_PKEY> generate_ec_key() {
  bssl::UniquePtr<EC_KEY> ec(EC_KEY_new_by_curve_name(NID_X9_62_prime256v1));
  bssl::UniquePtr<EVP_PKEY> key(EVP_PKEY_new());
  if (!ec || !key || !EC_KEY_generate_key(ec.get()) ||
      !EVP_PKEY_assign_EC_KEY(key.get(), ec.release())) {
    return nullptr;
  }
  return key;
}

bssl::UniquePtr<EVP_PKEY> generate_rsa_key(unsigned bits) {
  bssl::UniquePtr<RSA> rsa(RSA_new());
  bssl::UniquePtr<BIGNUM> e(BN_new());
  bssl::UniquePtr<EVP_PKEY> key(EVP_PKEY_new());
  if (!rsa || !e || !key || !BN_set_word(e.get(), RSA_F4) ||
      !RSA_generate_key_ex(rsa.get(), static_cast<int>(bits), e.get(), nullptr) ||
      !EVP_PKEY_assign_RSA(key.get(), rsa.release())) {
    return nullptr;
  }
  return key;
}

std::vector<uint8_t> build_ca_certificate(EVP_PKEY* key, const std::string& common_name, int days) {
  const der::Bytes spki = der::public_key_der(key);
  const der::Bytes key_id = der::key_identifier(spki);
  if (spki.empty() || key_id.empty()) {
    return {};
  }
  der::Encoder subject_enc;
  if (!der::add_name(subject_enc.root(), common_name, "Sightglass")) {
    return {};
  }
  const der::Bytes subject = subject_enc.finish();
  const time_t now = time(nullptr);

  // Extension values.
  der::Bytes basic_constraints;
  {
    der::Encoder enc;
    CBB seq, flag;
    if (!CBB_add_asn1(enc.root(), &seq, CBS_ASN1_SEQUENCE) ||
        !CBB_add_asn1(&seq, &flag, CBS_ASN1_BOOLEAN) || !CBB_add_u8(&flag, 0xff) ||
        !CBB_add_asn1_uint64(&seq, 0) || !CBB_flush(enc.root())) {
      return {};
    }
    basic_constraints = enc.finish();
  }
  der::Bytes ski;
  {
    der::Encoder enc;
    if (!CBB_add_asn1_octet_string(enc.root(), key_id.data(), key_id.size())) {
      return {};
    }
    ski = enc.finish();
  }
  const der::Bytes key_usage =
      der::key_usage_value(der::kKeyUsageKeyCertSign | der::kKeyUsageCrlSign);

  der::Encoder enc;
  CBB tbs, version, validity, extensions_wrapper, extensions;
  if (!CBB_add_asn1(enc.root(), &tbs, CBS_ASN1_SEQUENCE) ||
      !CBB_add_asn1(&tbs, &version, CBS_ASN1_CONTEXT_SPECIFIC | CBS_ASN1_CONSTRUCTED | 0) ||
      !CBB_add_asn1_uint64(&version, X509_VERSION_3) || !der::add_random_serial(&tbs) ||
      !der::add_algorithm(&tbs, key) || !CBB_add_bytes(&tbs, subject.data(), subject.size()) ||
      !CBB_add_asn1(&tbs, &validity, CBS_ASN1_SEQUENCE) ||
      !der::add_time(&validity, now - kBackdateSeconds) ||
      !der::add_time(&validity, now + static_cast<time_t>(days) * 86400) ||
      !CBB_add_bytes(&tbs, subject.data(), subject.size()) ||
      !CBB_add_bytes(&tbs, spki.data(), spki.size()) ||
      !CBB_add_asn1(&tbs, &extensions_wrapper,
                    CBS_ASN1_CONTEXT_SPECIFIC | CBS_ASN1_CONSTRUCTED | 3) ||
      !CBB_add_asn1(&extensions_wrapper, &extensions, CBS_ASN1_SEQUENCE) ||
      !der::add_extension(&extensions, der::kOidBasicConstraints, true, basic_constraints) ||
      !der::add_extension(&extensions, der::kOidKeyUsage, true, key_usage) ||
      !der::add_extension(&extensions, der::kOidSubjectKeyId, false, ski) ||
      !CBB_flush(enc.root())) {
    return {};
  }
  return der::sign_certificate(enc.finish(), key);
}

std::unique_ptr<CertificateAuthority> CertificateAuthority::load_or_create(const fs::path& confdir,
                                                                           std::string* out_error) {
  const fs::path cert_path = confdir / kCaCertFileName;
  const fs::path key_path = confdir / kCaKeyFileName;
  // The common case needs no lock and works on a read-only confdir.
  if (path_exists(cert_path)) {
    return from_files(cert_path, key_path, out_error);
  }
  if (!ensure_confdir(confdir, out_error)) {
    return nullptr;
  }
  const fs::path lock_path = confdir / kLockFileName;
  UniqueFd lock(open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!lock.valid()) {
    *out_error = "cannot open " + lock_path.string() + ": " + errno_text(errno);
    return nullptr;
  }
  while (flock(lock.get(), LOCK_EX) != 0) {
    if (errno != EINTR) {
      *out_error = "cannot lock " + lock_path.string() + ": " + errno_text(errno);
      return nullptr;
    }
  }
  // Another process may have created the CA while this one waited for the lock.
  if (!path_exists(cert_path) && !create_ca(cert_path, key_path, out_error)) {
    return nullptr;
  }
  return from_files(cert_path, key_path, out_error);
}

std::unique_ptr<CertificateAuthority> CertificateAuthority::load(const fs::path& confdir,
                                                                 std::string* out_error) {
  return from_files(confdir / kCaCertFileName, confdir / kCaKeyFileName, out_error);
}

std::unique_ptr<CertificateAuthority> CertificateAuthority::from_files(const fs::path& cert_path,
                                                                       const fs::path& key_path,
                                                                       std::string* out_error) {
  std::string cert_pem, key_pem;
  if (!read_file(cert_path, &cert_pem, out_error)) {
    return nullptr;
  }
  if (!path_exists(key_path)) {
    *out_error = "CA certificate " + cert_path.string() + " exists but its key " +
                 key_path.string() + " is missing";
    return nullptr;
  }
  if (!read_file(key_path, &key_pem, out_error, /*secret=*/true)) {
    return nullptr;
  }
  auto ca = std::make_unique<CertificateAuthority>(PrivateTag{});
  {
    bssl::UniquePtr<BIO> bio(mem_bio(cert_pem));
    ca->cert_.reset(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  }
  if (!ca->cert_) {
    *out_error = "CA certificate " + cert_path.string() + " is not a valid PEM certificate (" +
                 ssl_error_text() + ")";
    return nullptr;
  }
  {
    bssl::UniquePtr<BIO> bio(mem_bio(key_pem));
    ca->key_.reset(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  }
  if (!ca->key_) {
    *out_error = "CA key " + key_path.string() + " is not a valid PEM private key (" +
                 ssl_error_text() + ")";
    return nullptr;
  }
  const int key_type = EVP_PKEY_id(ca->key_.get());
  if (key_type != EVP_PKEY_EC && key_type != EVP_PKEY_RSA) {
    *out_error = "CA key " + key_path.string() + " is neither an ECDSA nor an RSA key";
    return nullptr;
  }
  if (!X509_check_private_key(ca->cert_.get(), ca->key_.get())) {
    ERR_clear_error();
    *out_error =
        "CA key " + key_path.string() + " does not match the certificate " + cert_path.string();
    return nullptr;
  }
  if (X509_check_ca(ca->cert_.get()) == 0) {
    *out_error = "CA certificate " + cert_path.string() + " is not a CA certificate";
    return nullptr;
  }
  uint8_t* der = nullptr;
  const int der_len = i2d_X509(ca->cert_.get(), &der);
  if (der_len <= 0) {
    *out_error = "cannot encode " + cert_path.string() + ": " + ssl_error_text();
    return nullptr;
  }
  ca->cert_der_.assign(der, der + der_len);
  OPENSSL_free(der);
  if (!extract_subject(ca->cert_der_, &ca->subject_der_)) {
    *out_error = "cannot parse the subject of " + cert_path.string();
    return nullptr;
  }
  if (const ASN1_OCTET_STRING* ski = X509_get0_subject_key_id(ca->cert_.get()); ski != nullptr) {
    const uint8_t* data = ASN1_STRING_get0_data(ski);
    ca->key_id_.assign(data, data + ASN1_STRING_length(ski));
  } else {
    ca->key_id_ = der::key_identifier(der::public_key_der(ca->key_.get()));
  }
  int days = 0;
  int seconds = 0;
  bssl::UniquePtr<ASN1_TIME> now(ASN1_TIME_set(nullptr, time(nullptr)));
  if (!now || !ASN1_TIME_diff(&days, &seconds, now.get(), X509_get0_notAfter(ca->cert_.get()))) {
    *out_error = "cannot read the validity of " + cert_path.string();
    return nullptr;
  }
  ca->not_after_ = time(nullptr) + static_cast<time_t>(days) * 86400 + seconds;
  ca->cert_path_ = cert_path;
  return ca;
}

CertificateAuthority::~CertificateAuthority() = default;

std::string CertificateAuthority::cert_pem() const { return cert_to_pem(cert_.get()); }

}  // namespace sightglass::ca
