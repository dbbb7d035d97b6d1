// TlsSessionCache through BoringSSL's own entry points: sessions are filed by the context's
// new-session callback (as a handshake files them) and come back through offer(). TLS 1.3
// sessions are used once; a destination keeps kPerKey of them, the cache kMaxSessions in all.
#include "core/tls/session_cache.h"

#include <gtest/gtest.h>
#include <openssl/ssl.h>

#include <ctime>
#include <set>
#include <string>
#include <vector>

namespace sightglass::core {
namespace {

class SessionCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(ctx_);
    ASSERT_TRUE(TlsSessionCache::install(ctx_.get(), &cache_));
  }

  // session makes a resumable TLS 1.3 session with id |n|, as a ticket would give.
  bssl::UniquePtr<SSL_SESSION> session(uint32_t n) {
    bssl::UniquePtr<SSL_SESSION> s(SSL_SESSION_new(ctx_.get()));
    EXPECT_TRUE(s);
    uint8_t id[4] = {static_cast<uint8_t>(n >> 24), static_cast<uint8_t>(n >> 16),
                     static_cast<uint8_t>(n >> 8), static_cast<uint8_t>(n)};
    EXPECT_TRUE(SSL_SESSION_set1_id(s.get(), id, sizeof(id)));
    EXPECT_TRUE(SSL_SESSION_set_protocol_version(s.get(), TLS1_3_VERSION));
    SSL_SESSION_set_time(s.get(), static_cast<uint64_t>(std::time(nullptr)));
    SSL_SESSION_set_timeout(s.get(), 3600);
    return s;
  }

  // file opens |n| connections to |key| at once (a destination the cache has nothing for yet)
  // and files one new session from each, as their handshakes would.
  void file(const std::string& key, uint32_t n, uint32_t first_id = 0) {
    const auto new_session = SSL_CTX_sess_get_new_cb(ctx_.get());
    ASSERT_NE(new_session, nullptr);
    std::vector<bssl::UniquePtr<SSL>> connections;
    for (uint32_t i = 0; i < n; ++i) {
      connections.emplace_back(SSL_new(ctx_.get()));
      ASSERT_TRUE(TlsSessionCache::offer(connections.back().get(), key));
    }
    for (uint32_t i = 0; i < n; ++i) {
      bssl::UniquePtr<SSL_SESSION> s = session(first_id + i);
      if (new_session(connections[i].get(), s.get()) == 1) {
        static_cast<void>(s.release());  // The cache took the reference.
      }
    }
  }

  // connect offers what the cache has for |key| to a new connection; the session's id, or ""
  // when there was none.
  std::string connect(const std::string& key) {
    bssl::UniquePtr<SSL> ssl(SSL_new(ctx_.get()));
    EXPECT_TRUE(TlsSessionCache::offer(ssl.get(), key));
    const SSL_SESSION* s = SSL_get_session(ssl.get());
    if (s == nullptr) {
      return "";
    }
    unsigned len = 0;
    const uint8_t* id = SSL_SESSION_get_id(s, &len);
    return std::string(reinterpret_cast<const char*>(id), len);
  }

  bssl::UniquePtr<SSL_CTX> ctx_{SSL_CTX_new(TLS_method())};
  TlsSessionCache cache_;
};

TEST_F(SessionCacheTest, ABurstOfConnectionsEachGetsATicketOfItsOwn) {
  const std::string key = TlsSessionCache::session_key("a.test", "a.test:443", {"h2"}, true);
  file(key, 32);
  EXPECT_EQ(cache_.size(), 32u);
  std::set<std::string> ids;
  for (int i = 0; i < 32; ++i) {
    const std::string id = connect(key);
    EXPECT_FALSE(id.empty()) << "connection " << i << " found no ticket";
    ids.insert(id);
  }
  EXPECT_EQ(ids.size(), 32u) << "a single-use ticket was offered twice";
  EXPECT_EQ(connect(key), "");
  EXPECT_EQ(cache_.size(), 0u);
}

TEST_F(SessionCacheTest, ADestinationKeepsItsNewestSessionsUpToItsShare) {
  const std::string key = TlsSessionCache::session_key("a.test", "a.test:443", {}, true);
  file(key, TlsSessionCache::kPerKey + 10);
  EXPECT_EQ(cache_.size(), TlsSessionCache::kPerKey);
  // The ten oldest were forgotten.
  size_t offered = 0;
  while (!connect(key).empty()) {
    ++offered;
  }
  EXPECT_EQ(offered, TlsSessionCache::kPerKey);
}

TEST_F(SessionCacheTest, SessionsNeverCrossDestinationsAndTheTotalIsBounded) {
  const std::string a = TlsSessionCache::session_key("a.test", "10.0.0.1:443", {}, true);
  const std::string b = TlsSessionCache::session_key("b.test", "10.0.0.1:443", {}, true);
  file(a, 1, 100);
  EXPECT_EQ(connect(b), "");
  EXPECT_FALSE(connect(a).empty());
  // Many destinations: the cache stays within kMaxSessions, the least recently used
  // destinations losing their sessions first.
  const uint32_t destinations = TlsSessionCache::kMaxSessions / TlsSessionCache::kPerKey + 4;
  for (uint32_t d = 0; d < destinations; ++d) {
    file("dest" + std::to_string(d), TlsSessionCache::kPerKey, d * 1000);
  }
  EXPECT_EQ(cache_.size(), TlsSessionCache::kMaxSessions);
  EXPECT_EQ(connect("dest0"), "") << "the least recently used destination goes first";
  EXPECT_FALSE(connect("dest" + std::to_string(destinations - 1)).empty());
}

}  // namespace
}  // namespace sightglass::core
