#pragma once

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
// (a mutex guards it); it holds at most kMaxKeys destinations, the least recently used
// forgotten first, and kPerKey sessions each (servers usually send two tickets).
class TlsSessionCache {
 public:
  static constexpr size_t kMaxKeys = 4096;
  static constexpr size_t kPerKey = 4;

  TlsSessionCache() = default;
  TlsSessionCache(const TlsSessionCache&) = delete;
  TlsSessionCache& operator=(const TlsSessionCache&) = delete;

  // session_key is the key of a connection to |authority| ("host:port" connected to) with SNI
  // and verification name |name|, offering |alpn|, verifying the certificate or not.
  static std::string session_key(std::string_view name, std::string_view authority,
                                 const std::vector<std::string>& alpn, bool verify);

  // install makes the client context |ctx| file every new session in |cache| (not owned; it
  // must outlive |ctx| and every SSL made from it).
  static bool install(SSL_CTX* ctx, TlsSessionCache* cache);
  // offer files |ssl|'s future sessions under |key| and, when |ssl|'s context has a cache
  // holding a session for |key|, offers it (SSL_set_session). Before the handshake; a no-op
  // without a cache.
  static bool offer(SSL* ssl, std::string key);

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

  std::mutex mu_;
  std::unordered_map<std::string, Entry> entries_;
  std::list<std::string> lru_;  // Most recently used first.
};

}  // namespace sightglass::core
