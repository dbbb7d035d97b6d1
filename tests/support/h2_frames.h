#pragma once

// HTTP/2 frames by name, for transcripts: describe_frames("PRI * ...<SETTINGS><HEADERS>...")
// is "PREFACE SETTINGS HEADERS[1]+EH". A frame is its type, its stream in brackets (none for
// stream 0) and its flags: +ES (END_STREAM), +EH (END_HEADERS), +ACK; RST_STREAM and GOAWAY
// add their error code in parentheses.

#include <cstdint>
#include <string>
#include <string_view>

namespace sightglass::test {

inline std::string describe_frames(std::string_view bytes) {
  static constexpr std::string_view kPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
  static constexpr const char* kTypes[] = {"DATA",          "HEADERS",     "PRIORITY", "RST_STREAM",
                                           "SETTINGS",      "PUSH",        "PING",     "GOAWAY",
                                           "WINDOW_UPDATE", "CONTINUATION"};
  std::string out;
  const auto add = [&out](const std::string& what) { out += (out.empty() ? "" : " ") + what; };
  if (bytes.starts_with(kPreface)) {
    add("PREFACE");
    bytes.remove_prefix(kPreface.size());
  }
  const auto u32 = [](const uint8_t* p) {
    return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | p[3];
  };
  while (bytes.size() >= 9) {
    const auto* p = reinterpret_cast<const uint8_t*>(bytes.data());
    const size_t length = size_t{p[0]} << 16 | size_t{p[1]} << 8 | p[2];
    const uint8_t type = p[3];
    const uint8_t flags = p[4];
    const uint32_t stream = u32(p + 5) & 0x7fffffff;
    std::string frame = type < std::size(kTypes) ? kTypes[type] : "TYPE" + std::to_string(type);
    if (stream != 0) {
      frame += "[" + std::to_string(stream) + "]";
    }
    if ((type == 0 || type == 1) && (flags & 0x1) != 0) {
      frame += "+ES";
    }
    if ((type == 1 || type == 5 || type == 9) && (flags & 0x4) != 0) {
      frame += "+EH";
    }
    if ((type == 4 || type == 6) && (flags & 0x1) != 0) {
      frame += "+ACK";
    }
    if (bytes.size() < 9 + length) {
      add(frame + "(cut)");
      return out;
    }
    if (type == 3 && length == 4) {
      frame += "(" + std::to_string(u32(p + 9)) + ")";
    } else if (type == 7 && length >= 8) {
      frame += "(" + std::to_string(u32(p + 13)) + ")";
    }
    add(frame);
    bytes.remove_prefix(9 + length);
  }
  if (!bytes.empty()) {
    add("+" + std::to_string(bytes.size()) + " bytes");
  }
  return out;
}

}  // namespace sightglass::test
