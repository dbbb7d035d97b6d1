#include "core/layers/replay_mark.h"

#include "core/layers/proxy_auth.h"

namespace sightglass::core {

bool take_replay_mark(Headers& headers, std::string_view token) {
  return !token.empty() && std::erase_if(headers, [&](const Header& h) {
                             return iequals(h.name, kReplayHeader) &&
                                    equal_secret(trim_whitespace(h.value), token);
                           }) > 0;
}

}  // namespace sightglass::core
