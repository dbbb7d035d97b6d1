#pragma once

// Replays through the core, sans-I/O: the proxy sends a recorded request again as a client of
// its own listener, with a header carrying a secret of the run. The HTTP layer recognizes it
// only when it carries that secret, removes it before the request goes upstream or is
// logged, and marks the flow as a replay.

#include <string_view>

#include "core/proxy/flow.h"

namespace sightglass::core {

// kReplayHeader names the header that carries the run's replay token.
inline constexpr std::string_view kReplayHeader = "X-Sightglass-Replay";

// take_replay_mark removes from |headers| every kReplayHeader whose value is |token| and says
// whether there was one. Any other value (a client's own header, a wrong token) stays as it
// is; an empty |token| matches nothing. Values are compared in constant time.
bool take_replay_mark(Headers& headers, std::string_view token);

}  // namespace sightglass::core
