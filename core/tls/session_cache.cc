#include "core/tls/session_cache.h"

#include <ctime>
#include <memory>
#include <utility>

namespace sightglass::core {
namespace {

int ctx_cache_index() {
  static const int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

// The key of an SSL's sessions, owned by the SSL (freed with it).
void free_key(void* /*parent*/, void* ptr, CRYPTO_EX_DATA* /*ad*/, int /*index*/, long /*argl*/,
              void* /*argp*/) {
  std::unique_ptr<std::string> owned(static_cast<std::string*>(ptr));
}

int ssl_key_index() {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, free_key);
  return index;
}

bool usable(const SSL_SESSION* session, uint64_t now) {
  return SSL_SESSION_is_resumable(session) != 0 &&
         SSL_SESSION_get_time(session) + SSL_SESSION_get_timeout(session) > now;
}

}  // namespace

std::string TlsSessionCache::session_key(std::string_view name, std::string_view authority,
                                         const std::vector<std::string>& alpn, bool verify) {
  // Fields are length-prefixed, so no name can make two keys equal.
  std::string key;
  auto field = [&key](std::string_view text) {
    key += std::to_string(text.size());
    key += ':';
    key += text;
  };
  field(name);
  field(authority);
  for (const std::string& protocol : alpn) {
    field(protocol);
  }
  key += verify ? "|verify" : "|insecure";
  return key;
}

bool TlsSessionCache::install(SSL_CTX* ctx, TlsSessionCache* cache) {
  if (ctx_cache_index() < 0 || ssl_key_index() < 0 || !cache->pool_ ||
      !SSL_CTX_set_ex_data(ctx, ctx_cache_index(), cache)) {
    return false;
  }
  SSL_CTX_set0_buffer_pool(ctx, cache->pool_.get());
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL);
  SSL_CTX_sess_set_new_cb(ctx, on_new_session);
  return true;
}

bool TlsSessionCache::offer(SSL* ssl, std::string key) {
  auto* cache =
      static_cast<TlsSessionCache*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), ctx_cache_index()));
  if (cache == nullptr) {
    return true;
  }
  bssl::UniquePtr<SSL_SESSION> session = cache->take(key);
  auto owned = std::make_unique<std::string>(std::move(key));
  if (!SSL_set_ex_data(ssl, ssl_key_index(), owned.get())) {
    return false;
  }
  owned.release();  // Freed with the SSL (free_key).
  return !session || SSL_set_session(ssl, session.get()) == 1;
}

int TlsSessionCache::on_new_session(SSL* ssl, SSL_SESSION* session) {
  auto* cache =
      static_cast<TlsSessionCache*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), ctx_cache_index()));
  const auto* key = static_cast<const std::string*>(SSL_get_ex_data(ssl, ssl_key_index()));
  if (cache == nullptr || key == nullptr) {
    return 0;  // Not ours to keep: BoringSSL drops its reference.
  }
  cache->put(*key, bssl::UniquePtr<SSL_SESSION>(session));
  return 1;  // The cache owns the reference now.
}

void TlsSessionCache::put(const std::string& key, bssl::UniquePtr<SSL_SESSION> session) {
  const std::lock_guard<std::mutex> lock(mu_);
  auto it = entries_.find(key);
  if (it == entries_.end()) {
    if (entries_.size() >= kMaxKeys) {
      const auto forgotten = entries_.find(lru_.back());
      total_ -= forgotten->second.sessions.size();
      entries_.erase(forgotten);
      lru_.pop_back();
    }
    lru_.push_front(key);
    it = entries_.emplace(key, Entry{{}, lru_.begin()}).first;
  } else {
    lru_.splice(lru_.begin(), lru_, it->second.lru);
  }
  std::deque<bssl::UniquePtr<SSL_SESSION>>& sessions = it->second.sessions;
  sessions.push_back(std::move(session));
  ++total_;
  if (sessions.size() > kPerKey) {
    sessions.pop_front();
    --total_;
  }
  while (total_ > kMaxSessions) {
    drop_oldest_of_lru();
  }
}

void TlsSessionCache::drop_oldest_of_lru() {
  auto it = entries_.find(lru_.back());
  it->second.sessions.pop_front();
  --total_;
  if (it->second.sessions.empty()) {
    entries_.erase(it);
    lru_.pop_back();
  }
}

bssl::UniquePtr<SSL_SESSION> TlsSessionCache::take(const std::string& key) {
  const uint64_t now = static_cast<uint64_t>(std::time(nullptr));
  const std::lock_guard<std::mutex> lock(mu_);
  auto it = entries_.find(key);
  if (it == entries_.end()) {
    return nullptr;
  }
  std::deque<bssl::UniquePtr<SSL_SESSION>>& sessions = it->second.sessions;
  while (!sessions.empty() && !usable(sessions.back().get(), now)) {
    sessions.pop_back();
    --total_;
  }
  bssl::UniquePtr<SSL_SESSION> out;
  if (!sessions.empty()) {
    if (SSL_SESSION_should_be_single_use(sessions.back().get())) {
      out = std::move(sessions.back());
      sessions.pop_back();
      --total_;
    } else {
      out = bssl::UpRef(sessions.back());
    }
  }
  if (sessions.empty()) {
    lru_.erase(it->second.lru);
    entries_.erase(it);
  } else {
    lru_.splice(lru_.begin(), lru_, it->second.lru);
  }
  return out;
}

}  // namespace sightglass::core
