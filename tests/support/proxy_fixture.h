#pragma once

// ProxyFixture: the real `sightglass` binary (SIGHTGLASS_BINARY) between real curl and the
// Python origin (tests/support/origin.py), with an origin CA made at run time, and helpers
// shared by the end-to-end tests.

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <nlohmann/json.hpp>
#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "ca/ca_store.h"
#include "ca/leaf_minter.h"
#include "tests/support/process.h"
#include "tests/support/temp_dir.h"

namespace sightglass::test {

namespace fs = std::filesystem;
using nlohmann::json;

inline std::string hex(const uint8_t* data, size_t len) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < len; ++i) {
    out.push_back(kHex[data[i] >> 4]);
    out.push_back(kHex[data[i] & 0xf]);
  }
  return out;
}

// pattern_sha256 is the SHA-256 of the origin's /bytes?n=N pattern (0..255 repeating).
inline std::string pattern_sha256(uint64_t n) {
  std::array<uint8_t, 65536> block{};
  for (size_t i = 0; i < block.size(); ++i) {
    block[i] = static_cast<uint8_t>(i);
  }
  SHA256_CTX ctx;
  SHA256_Init(&ctx);
  while (n > 0) {
    const size_t take = static_cast<size_t>(std::min<uint64_t>(n, block.size()));
    SHA256_Update(&ctx, block.data(), take);
    n -= take;
  }
  std::array<uint8_t, SHA256_DIGEST_LENGTH> digest{};
  SHA256_Final(digest.data(), &ctx);
  return hex(digest.data(), digest.size());
}

// pattern is the origin's byte pattern (0..255 repeating), as pattern_sha256 hashes it.
inline std::string pattern(size_t n) {
  std::string out(n, '\0');
  for (size_t i = 0; i < n; ++i) {
    out[i] = static_cast<char>(static_cast<uint8_t>(i));
  }
  return out;
}

inline std::string sha256_of(const std::string& data) {
  std::array<uint8_t, SHA256_DIGEST_LENGTH> digest{};
  SHA256(reinterpret_cast<const uint8_t*>(data.data()), data.size(), digest.data());
  return hex(digest.data(), digest.size());
}

inline bool write_pem_pair(const ca::Leaf& leaf, const fs::path& cert, const fs::path& key) {
  bssl::UniquePtr<X509> x509(X509_parse_from_buffer(leaf.cert.get()));
  bssl::UniquePtr<BIO> c(BIO_new_file(cert.c_str(), "w"));
  bssl::UniquePtr<BIO> k(BIO_new_file(key.c_str(), "w"));
  return x509 && c && k && PEM_write_bio_X509(c.get(), x509.get()) &&
         PEM_write_bio_PrivateKey(k.get(), leaf.key.get(), nullptr, nullptr, 0, nullptr, nullptr);
}

inline std::vector<json> read_jsonl(const fs::path& path) {
  std::vector<json> out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty()) {
      out.push_back(json::parse(line));
    }
  }
  return out;
}

// read_jsonl_so_far reads the log of a running proxy: a last line still being written (no
// newline yet) is left for the next read.
inline std::vector<json> read_jsonl_so_far(const fs::path& path) {
  std::vector<json> out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && !in.eof()) {
      out.push_back(json::parse(line));
    }
  }
  return out;
}

// expect_messages_as_in_transcript compares a flow's _webSocketMessages with what a test
// client (ws_client.py, ws_h2.py) wrote to its transcript: |count| messages, in order, whole.
inline void expect_messages_as_in_transcript(const json& flow, const fs::path& transcript,
                                             size_t count) {
  std::ifstream in(transcript);
  ASSERT_TRUE(in) << "no transcript";
  const json sent = json::parse(in);
  ASSERT_TRUE(flow.contains("_webSocketMessages")) << flow.dump().substr(0, 2000);
  const json& logged = flow["_webSocketMessages"];
  ASSERT_EQ(sent.size(), count);
  ASSERT_EQ(logged.size(), sent.size());
  for (size_t i = 0; i < sent.size(); ++i) {
    EXPECT_EQ(logged[i]["type"], sent[i]["type"]) << i;
    EXPECT_EQ(logged[i]["opcode"], sent[i]["opcode"]) << i;
    EXPECT_TRUE(logged[i]["data"] == sent[i]["data"])
        << i << ": " << logged[i]["data"].dump().substr(0, 200) << " vs "
        << sent[i]["data"].dump().substr(0, 200);
    EXPECT_FALSE(logged[i].contains("_truncated")) << i;
    EXPECT_TRUE(logged[i]["time"].is_number()) << i;
  }
}

inline std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// free_port asks the kernel for a port that is free now (for servers, like nghttpd, that do
// not say which port they bound when given 0).
inline uint16_t free_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  uint16_t port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  close(fd);
  return port;
}

inline bool accepts_connections(uint16_t port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  const bool ok = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  close(fd);
  return ok;
}

// wait_for_port waits (up to 5 s) for a server on |port|; whether it accepts connections.
inline bool wait_for_port(uint16_t port) {
  for (int i = 0; i < 100 && !accepts_connections(port); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return accepts_connections(port);
}

// has_deflate says whether the flow's response accepted permessage-deflate.
inline bool has_deflate(const json& flow) {
  for (const json& header : flow["response"]["headers"]) {
    if (header["value"].get<std::string>().find("permessage-deflate") != std::string::npos) {
      return true;
    }
  }
  return false;
}

// peak_rss_kib reads VmHWM of a process.
inline int64_t peak_rss_kib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmHWM:", 0) == 0) {
      return std::stoll(line.substr(6));
    }
  }
  return -1;
}

class ProxyFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string error;
    origin_ca_ = ca::CertificateAuthority::load_or_create(dir_.path() / "origin-ca", &error);
    ASSERT_NE(origin_ca_, nullptr) << error;
    origin_minter_ = ca::LeafMinter::create(origin_ca_, {}, &error);
    ASSERT_NE(origin_minter_, nullptr) << error;
    good_cert_ = make_cert("good", {"localhost", "127.0.0.1"}, {});
  }

  // make_cert writes a certificate and key for |names| issued by the origin CA.
  std::pair<fs::path, fs::path> make_cert(const std::string& tag, std::vector<std::string> names,
                                          ca::LeafMinterOptions options) {
    std::string error;
    auto minter = ca::LeafMinter::create(origin_ca_, options, &error);
    auto leaf = minter->mint(names, ca::KeyType::kEcdsaP256, &error);
    EXPECT_NE(leaf, nullptr) << error;
    const fs::path cert = dir_.path() / (tag + ".pem");
    const fs::path key = dir_.path() / (tag + "-key.pem");
    EXPECT_TRUE(write_pem_pair(*leaf, cert, key));
    return {cert, key};
  }

  // start_origin starts tests/support/origin.py (TLS when |cert| is set); returns its port.
  uint16_t start_origin(const std::pair<fs::path, fs::path>& cert = {}) {
    std::vector<std::string> argv = {
        "/usr/bin/python3", std::string(SIGHTGLASS_SOURCE_DIR) + "/tests/support/origin.py"};
    if (!cert.first.empty()) {
      argv.insert(argv.end(), {"--cert", cert.first.string(), "--key", cert.second.string()});
    }
    origins_.push_back(std::make_unique<ChildProcess>(argv));
    const std::string line = origins_.back()->wait_for_line(false, "PORT ");
    EXPECT_FALSE(line.empty()) << "origin did not start";
    return line.empty() ? 0 : static_cast<uint16_t>(std::stoi(line.substr(5)));
  }

  // start_proxy starts sightglass with a log, a HAR file and the origin CA trusted.
  void start_proxy(std::vector<std::string> extra = {}) {
    // SIGHTGLASS_TEST_BINARY runs the end-to-end tests against another build (e.g. an older
    // commit, to see a regression test fail there).
    const char* other = std::getenv("SIGHTGLASS_TEST_BINARY");
    std::vector<std::string> argv = {other != nullptr ? other : SIGHTGLASS_BINARY,
                                     "--confdir",
                                     confdir().string(),
                                     "-p",
                                     "0",
                                     "--upstream-trust",
                                     origin_ca_->cert_path().string(),
                                     "-w",
                                     jsonl().string(),
                                     "--har",
                                     har().string()};
    argv.insert(argv.end(), extra.begin(), extra.end());
    proxy_ = std::make_unique<ChildProcess>(argv);
    const std::string line = proxy_->wait_for_line(true, "listening on");
    ASSERT_FALSE(line.empty()) << "sightglass did not start";
    const size_t colon = line.find(':', line.find("listening on"));
    proxy_port_ = static_cast<uint16_t>(std::stoi(line.substr(colon + 1)));
  }

  // start_nghttpd starts Debian's nghttpd, an HTTP/2-only origin serving dir_/htdocs with
  // |options|, over TLS with the good certificate or (|tls| false) as h2c; returns its port.
  uint16_t start_nghttpd(std::vector<std::string> options = {}, bool tls = true) {
    const uint16_t port = free_port();
    std::vector<std::string> argv = {"nghttpd", "-a", "127.0.0.1", "-d",
                                     (dir_.path() / "htdocs").string()};
    argv.insert(argv.end(), options.begin(), options.end());
    argv.push_back(std::to_string(port));
    if (tls) {
      argv.insert(argv.end(), {good_cert_.second.string(), good_cert_.first.string()});
    }
    origins_.push_back(std::make_unique<ChildProcess>(argv));
    EXPECT_TRUE(wait_for_port(port)) << "nghttpd did not start";
    return port;
  }

  // stop_proxy sends SIGTERM and returns how it ended.
  ProcessResult stop_proxy() {
    proxy_->signal(SIGTERM);
    return proxy_->wait(std::chrono::seconds(10));
  }

  ProcessResult curl(std::vector<std::string> args, bool through_proxy = true) {
    std::vector<std::string> argv = {"curl", "-sS", "--max-time", "120"};
    if (through_proxy) {
      argv.insert(argv.end(), {"-x", "http://127.0.0.1:" + std::to_string(proxy_port_), "--cacert",
                               (confdir() / "sightglass-ca.pem").string()});
    }
    argv.insert(argv.end(), args.begin(), args.end());
    return run_process(argv, "", std::chrono::seconds(180));
  }

  // stop_when_logged waits (a little) until the flows logged so far are |enough|, stops the
  // proxy and returns every logged flow. Live snapshots never reach the log: one line a flow.
  std::vector<json> stop_when_logged(const std::function<bool(const std::vector<json>&)>& enough) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
    while (std::chrono::steady_clock::now() < deadline && !enough(read_jsonl_so_far(jsonl()))) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    const ProcessResult stopped = stop_proxy();
    EXPECT_EQ(stopped.exit_code, 0) << stopped.err;
    const std::vector<json> all = read_jsonl(jsonl());
    std::set<int64_t> ids;
    for (const json& flow : all) {
      EXPECT_TRUE(ids.insert(flow["_id"].get<int64_t>()).second) << "flow logged twice";
    }
    return all;
  }

  fs::path confdir() const { return dir_.path() / "conf"; }
  fs::path jsonl() const { return dir_.path() / "flows.jsonl"; }
  fs::path har() const { return dir_.path() / "flows.har"; }

  TempDir dir_;
  std::shared_ptr<ca::CertificateAuthority> origin_ca_;
  std::unique_ptr<ca::LeafMinter> origin_minter_;
  std::pair<fs::path, fs::path> good_cert_;
  std::vector<std::unique_ptr<ChildProcess>> origins_;
  std::unique_ptr<ChildProcess> proxy_;
  uint16_t proxy_port_ = 0;
};

}  // namespace sightglass::test
