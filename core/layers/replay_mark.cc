#include "core/layers/replay_mark.h"

#include <openssl/mem.h>

namespace sightglass::core {
namespace {

// same_secret compares two strings in constant time (only the lengths may leak).
bool same_secret(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace

bool take_replay_mark(Headers& headers, std::string_view token) {
  if (token.empty()) {
    return false;
  }
  bool marked = false;
  std::erase_if(headers, [&](const Header& h) {
    if (iequals(h.name, kReplayHeader) && same_secret(trim_whitespace(h.value), token)) {
      marked = true;
      return true;
    }
    return false;
  });
  return marked;
}

}  // namespace sightglass::core
