#pragma once

#include <openssl/pool.h>
#include <openssl/ssl.h>

#include <cstddef>
#include <deque>
#include <list>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace sightglass::core {

// TlsSessionCache keeps the sessions servers hand out (TLS 1.3 tickets, TLS 1.2 session IDs
// and tickets) so that the next connection to the same destination resumes instead of doing a
// full handshake. Each session is filed under a key naming everything it must never cross:
// the name sent as SNI and verified, the address and port connected to, the ALPN offer and
// whether the certificate is verified (session_key builds it). One cache serves every loop
// (a mutex guards it). TLS 1.3 tickets are single-use, so every concurrent connection to one
// destination needs a ticket of its own: a destination keeps up to kPerKey sessions (a burst
// of 32 new connections, as a browser or a load test opens, all resume). It holds at most
// kMaxSessions in all and kMaxKeys destinations; past either bound the least recently used
// destination loses its oldest session first.
class TlsSessionCache {
 public:
  static constexpr size_t kMaxKeys = 4096;
  static constexpr size_t kPerKey = 64;
  static constexpr size_t kMaxSessions = 8192;

  TlsSessionCache() = default;
  TlsSessionCache(const TlsSessionCache&) = delete;
  TlsSessionCache& operator=(const TlsSessionCache&) = delete;

  // session_key is the key of a connection to |authority| ("host:port" connected to) with SNI
  // and verification name |name|, offering |alpn|, verifying the certificate or not.
  static std::string session_key(std::string_view name, std::string_view authority,
                                 const std::vector<std::string>& alpn, bool verify);

  // install makes the client context |ctx| file every new session in |cache| (not owned; it
  // must outlive |ctx| and every SSL made from it) and share peer certificates through the
  // cache's buffer pool.
  static bool install(SSL_CTX* ctx, TlsSessionCache* cache);
  // offer files |ssl|'s future sessions under |key| and, when |ssl|'s context has a cache
  // holding a session for |key|, offers it (SSL_set_session). Before the handshake; a no-op
  // without a cache.
  static bool offer(SSL* ssl, std::string key);

  // size is the number of sessions held (for tests).
  size_t size() {
    const std::lock_guard<std::mutex> lock(mu_);
    return total_;
  }

 private:
  // put files |session| under |key|; take returns the newest usable session filed under |key|
  // (removing it when it is single-use, as TLS 1.3 tickets are) or null.
  void put(const std::string& key, bssl::UniquePtr<SSL_SESSION> session);
  bssl::UniquePtr<SSL_SESSION> take(const std::string& key);
  struct Entry {
    std::deque<bssl::UniquePtr<SSL_SESSION>> sessions;  // Oldest first.
    std::list<std::string>::iterator lru;
  };
  static int on_new_session(SSL* ssl, SSL_SESSION* session);

  // Certificates are shared by every session (and SSL) of the context that holds the same
  // bytes; declared first, so that it is freed after the sessions.
  bssl::UniquePtr<CRYPTO_BUFFER_POOL> pool_{CRYPTO_BUFFER_POOL_new()};
  std::mutex mu_;
  std::unordered_map<std::string, Entry> entries_;
  std::list<std::string> lru_;  // Most recently used first.
  size_t total_ = 0;            // Sessions in all entries.
  void drop_oldest_of_lru();    // Called with mu_ held.
};

}  // namespace sightglass::core
