#pragma once

// WebSocket frames for the tests: encoded by hand, masked or not, and permessage-deflate
// compression as a sender does it.

#include <gtest/gtest.h>
#include <zlib.h>

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace sightglass::test {

constexpr uint8_t kFin = 0x80;
constexpr uint8_t kRsv1 = 0x40;
constexpr std::array<uint8_t, 4> kMaskKey = {0x37, 0xfa, 0x21, 0x3d};

// ws_frame encodes one frame: |b0| is FIN, RSV and the opcode; masked with |key| when |mask|.
// |wide| forces the 64-bit length form.
inline std::string ws_frame(uint8_t b0, std::string_view payload, bool mask = false,
                            std::array<uint8_t, 4> key = kMaskKey, bool wide = false) {
  std::string out;
  out.push_back(static_cast<char>(b0));
  const uint8_t mask_bit = mask ? 0x80 : 0;
  const uint64_t n = payload.size();
  if (n <= 125 && !wide) {
    out.push_back(static_cast<char>(mask_bit | n));
  } else if (n <= 0xFFFF && !wide) {
    out.push_back(static_cast<char>(mask_bit | 126));
    out.push_back(static_cast<char>(n >> 8));
    out.push_back(static_cast<char>(n & 0xFF));
  } else {
    out.push_back(static_cast<char>(mask_bit | 127));
    for (int shift = 56; shift >= 0; shift -= 8) {
      out.push_back(static_cast<char>((n >> shift) & 0xFF));
    }
  }
  if (mask) {
    out.append(reinterpret_cast<const char*>(key.data()), key.size());
    for (size_t i = 0; i < payload.size(); ++i) {
      out.push_back(static_cast<char>(payload[i] ^ key[i & 3]));
    }
  } else {
    out.append(payload);
  }
  return out;
}

// ws_close_payload is the payload of a close frame: the code, then the reason.
inline std::string ws_close_payload(uint16_t code, std::string_view reason) {
  std::string out;
  out.push_back(static_cast<char>(code >> 8));
  out.push_back(static_cast<char>(code & 0xFF));
  out.append(reason);
  return out;
}

// Deflater compresses messages as a permessage-deflate sender does: raw deflate, a sync flush
// per message, the trailing 00 00 ff ff removed. A fresh Deflater per message is a sender
// without context takeover.
class Deflater {
 public:
  explicit Deflater(int window_bits = 15) {
    EXPECT_EQ(
        deflateInit2(&z_, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -window_bits, 8, Z_DEFAULT_STRATEGY),
        Z_OK);
  }
  ~Deflater() { deflateEnd(&z_); }
  Deflater(const Deflater&) = delete;
  Deflater& operator=(const Deflater&) = delete;

  std::string compress(std::string_view message) {
    std::string out;
    z_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(message.data()));
    z_.avail_in = static_cast<uInt>(message.size());
    std::array<char, 4096> buffer{};
    do {
      z_.next_out = reinterpret_cast<Bytef*>(buffer.data());
      z_.avail_out = static_cast<uInt>(buffer.size());
      EXPECT_NE(deflate(&z_, Z_SYNC_FLUSH), Z_STREAM_ERROR);
      out.append(buffer.data(), buffer.size() - z_.avail_out);
    } while (z_.avail_out == 0);
    EXPECT_TRUE(out.ends_with(std::string_view("\x00\x00\xff\xff", 4)));
    out.resize(out.size() - 4);
    return out;
  }

 private:
  z_stream z_{};
};

}  // namespace sightglass::test
