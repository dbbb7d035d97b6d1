#pragma once

#include <cstdint>
#include <span>

namespace sightglass::core {

// FirstBytes is what the first bytes of a client stream say the next layer is.
enum class FirstBytes : uint8_t {
  kNeedMore,  // Not enough bytes to tell yet.
  kTls,       // A TLS handshake record (ClientHello).
  kHttp,      // An HTTP/1.x request line (or the HTTP/2 connection preface).
  kOther,     // Anything else: relay it raw.
};

// sniff_first_bytes classifies the start of a client stream. It is a pure function of |data|:
// a TLS record header 0x16 0x03 with a handshake ClientHello, an HTTP method token followed by
// a space, or something else. It never reads past |data|.
FirstBytes sniff_first_bytes(std::span<const uint8_t> data);

}  // namespace sightglass::core
