#include "core/server/key_log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace sightglass::core {
namespace {

int ctx_index() {
  static const int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

void on_key_line(const SSL* ssl, const char* line) {
  auto* log = static_cast<KeyLog*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), ctx_index()));
  if (log != nullptr && line != nullptr) {
    log->add(line);
  }
}

}  // namespace

std::unique_ptr<KeyLog> KeyLog::open(const std::string& path, std::string* out_error) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) {
    *out_error = "cannot open the key log " + path + ": " + std::strerror(errno);
    return nullptr;
  }
  return std::make_unique<KeyLog>(PrivateTag{}, fd);
}

KeyLog::KeyLog(PrivateTag /*unused*/, int fd) : fd_(fd), thread_([this] { run(); }) {}

KeyLog::~KeyLog() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  thread_.join();  // After writing what is pending.
  ::close(fd_);
}

bool KeyLog::attach(SSL_CTX* ctx) {
  if (ctx_index() < 0 || !SSL_CTX_set_ex_data(ctx, ctx_index(), this)) {
    return false;
  }
  SSL_CTX_set_keylog_callback(ctx, on_key_line);
  return true;
}

void KeyLog::add(const char* line) {
  std::lock_guard lock(mutex_);
  if (stopping_) {
    return;
  }
  const bool wake = pending_.empty();
  pending_ += line;
  pending_ += '\n';
  if (wake) {
    wake_.notify_one();
  }
}

void KeyLog::run() {
  std::string text;
  for (;;) {
    bool last = false;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [this] { return stopping_ || !pending_.empty(); });
      text.swap(pending_);
      last = stopping_;
    }
    size_t written = 0;
    while (written < text.size()) {
      const ssize_t n = ::write(fd_, text.data() + written, text.size() - written);
      if (n < 0 && errno == EINTR) {
        continue;
      }
      if (n <= 0) {
        break;  // A full disk loses key lines, never the proxy.
      }
      written += static_cast<size_t>(n);
    }
    text.clear();
    if (last) {
      return;
    }
  }
}

}  // namespace sightglass::core
