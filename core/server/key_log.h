#pragma once

#include <openssl/ssl.h>

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

namespace sightglass::core {

// KeyLog appends the TLS secrets of every connection it is attached to, in NSS key log format
// (what Wireshark's "(Pre)-Master-Secret log filename" reads), to a file created 0600. BoringSSL
// hands over the lines on the loop threads; a thread of its own writes them, so that the loops
// never touch the disk.
class KeyLog {
  struct PrivateTag {
    explicit PrivateTag() = default;
  };

 public:
  // open opens |path| for appending; nullptr and *out_error on failure.
  static std::unique_ptr<KeyLog> open(const std::string& path, std::string* out_error);

  KeyLog(PrivateTag /*unused*/, int fd);
  ~KeyLog();
  KeyLog(const KeyLog&) = delete;
  KeyLog& operator=(const KeyLog&) = delete;

  // attach makes |ctx| log its connections' secrets here. The KeyLog must outlive |ctx|.
  bool attach(SSL_CTX* ctx);
  // add queues one line (without its newline).
  void add(const char* line);

 private:
  void run();

  int fd_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::string pending_;  // Lines not handed to the thread yet, each with its newline.
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace sightglass::core
