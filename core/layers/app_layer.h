#pragma once

#include <string>

#include "core/proxy/context.h"
#include "core/proxy/events.h"

namespace sightglass::core {

// AppLayer is the innermost layer of a session: it sees plaintext (the session has already
// terminated TLS on every connection) and speaks an application protocol, or relays bytes.
class AppLayer {
 public:
  virtual ~AppLayer() = default;
  // handle processes one plaintext event. OpenConnection commands with tls = true are
  // completed by the session only after the TLS handshake.
  virtual void handle(Event& event, Commands& out) = 0;
  // busy says whether an exchange is in progress (a graceful shutdown waits for it).
  virtual bool busy() const = 0;
  // abandon ends the session now (the proxy drops it): every flow still open is published with
  // |why| as its error unless it has one already. Only PublishFlow and Log commands matter.
  virtual void abandon(const std::string& why, Commands& out) = 0;
};

}  // namespace sightglass::core
