#include "core/export/text_util.h"

#include <cstdint>
#include <cstring>

namespace sightglass::core {
namespace {

constexpr char kBase64Alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

// base64_value returns the 6-bit value of |c|, or -1 when it is not in the alphabet.
int base64_value(char c) {
  if (c >= 'A' && c <= 'Z') {
    return c - 'A';
  }
  if (c >= 'a' && c <= 'z') {
    return c - 'a' + 26;
  }
  if (c >= '0' && c <= '9') {
    return c - '0' + 52;
  }
  if (c == '+' || c == '-') {
    return 62;
  }
  if (c == '/' || c == '_') {
    return 63;
  }
  return -1;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  if (c >= 'A' && c <= 'F') {
    return c - 'A' + 10;
  }
  return -1;
}

// utf8_sequence_length returns the length of the well-formed UTF-8 sequence at the start of
// |data|, or 0 when it is ill-formed (or cut short).
size_t utf8_sequence_length(std::string_view data) {
  const auto byte = [&](size_t i) { return static_cast<uint8_t>(data[i]); };
  const uint8_t first = byte(0);
  if (first < 0x80) {
    return 1;
  }
  size_t length = 0;
  uint8_t low = 0x80;
  uint8_t high = 0xBF;
  if (first >= 0xC2 && first <= 0xDF) {
    length = 2;
  } else if (first >= 0xE0 && first <= 0xEF) {
    length = 3;
    if (first == 0xE0) {
      low = 0xA0;  // No overlongs.
    } else if (first == 0xED) {
      high = 0x9F;  // No surrogates.
    }
  } else if (first >= 0xF0 && first <= 0xF4) {
    length = 4;
    if (first == 0xF0) {
      low = 0x90;  // No overlongs.
    } else if (first == 0xF4) {
      high = 0x8F;  // Nothing above U+10FFFF.
    }
  } else {
    return 0;
  }
  if (data.size() < length) {
    return 0;
  }
  if (byte(1) < low || byte(1) > high) {
    return 0;
  }
  for (size_t i = 2; i < length; ++i) {
    if (byte(i) < 0x80 || byte(i) > 0xBF) {
      return 0;
    }
  }
  return length;
}

}  // namespace

std::string base64_encode(std::string_view data) {
  std::string out(base64_encoded_size(data.size()), '\0');
  base64_encode_into(data, out.data());
  return out;
}

size_t base64_encoded_size(size_t size) { return (size + 2) / 3 * 4; }

char* base64_encode_into(std::string_view data, char* out) {
  size_t i = 0;
  const auto byte = [&](size_t at) {
    return static_cast<uint32_t>(static_cast<uint8_t>(data[at]));
  };
  for (; i + 3 <= data.size(); i += 3) {
    const uint32_t group = (byte(i) << 16) | (byte(i + 1) << 8) | byte(i + 2);
    *out++ = kBase64Alphabet[(group >> 18) & 0x3F];
    *out++ = kBase64Alphabet[(group >> 12) & 0x3F];
    *out++ = kBase64Alphabet[(group >> 6) & 0x3F];
    *out++ = kBase64Alphabet[group & 0x3F];
  }
  const size_t rest = data.size() - i;
  if (rest == 1) {
    const uint32_t group = byte(i) << 16;
    *out++ = kBase64Alphabet[(group >> 18) & 0x3F];
    *out++ = kBase64Alphabet[(group >> 12) & 0x3F];
    *out++ = '=';
    *out++ = '=';
  } else if (rest == 2) {
    const uint32_t group = (byte(i) << 16) | (byte(i + 1) << 8);
    *out++ = kBase64Alphabet[(group >> 18) & 0x3F];
    *out++ = kBase64Alphabet[(group >> 12) & 0x3F];
    *out++ = kBase64Alphabet[(group >> 6) & 0x3F];
    *out++ = '=';
  }
  return out;
}

std::optional<std::string> base64_decode(std::string_view text) {
  std::string out;
  out.reserve(text.size() / 4 * 3);
  uint32_t group = 0;
  int bits = 0;
  size_t padding = 0;
  for (char c : text) {
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
      continue;
    }
    if (c == '=') {
      ++padding;
      continue;
    }
    if (padding > 0) {
      return std::nullopt;  // Data after padding.
    }
    const int value = base64_value(c);
    if (value < 0) {
      return std::nullopt;
    }
    group = (group << 6) | static_cast<uint32_t>(value);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((group >> bits) & 0xFF));
    }
  }
  // A lone 6-bit group cannot encode a byte; more than two '=' is never valid.
  if (bits >= 6 || padding > 2) {
    return std::nullopt;
  }
  return out;
}

bool is_valid_utf8(std::string_view data) {
  size_t i = 0;
  while (i < data.size()) {
    // Eight ASCII bytes at a time.
    if (uint64_t word = 0; data.size() - i >= sizeof(word)) {
      std::memcpy(&word, data.data() + i, sizeof(word));
      if ((word & 0x8080808080808080) == 0) {
        i += sizeof(word);
        continue;
      }
    }
    if (static_cast<uint8_t>(data[i]) < 0x80) {
      ++i;
      continue;
    }
    const size_t length = utf8_sequence_length(data.substr(i));
    if (length == 0) {
      return false;
    }
    i += length;
  }
  return true;
}

std::string to_valid_utf8(std::string_view data) {
  if (is_valid_utf8(data)) {
    return std::string(data);
  }
  std::string out;
  out.reserve(data.size() + 16);
  size_t i = 0;
  while (i < data.size()) {
    const size_t length = utf8_sequence_length(data.substr(i));
    if (length == 0) {
      out.append("\xEF\xBF\xBD");  // U+FFFD REPLACEMENT CHARACTER.
      ++i;
    } else {
      out.append(data.substr(i, length));
      i += length;
    }
  }
  return out;
}

std::string percent_decode(std::string_view text, bool plus_as_space) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '%' && i + 2 < text.size()) {
      const int high = hex_value(text[i + 1]);
      const int low = hex_value(text[i + 2]);
      if (high >= 0 && low >= 0) {
        out.push_back(static_cast<char>(high * 16 + low));
        i += 2;
        continue;
      }
    }
    out.push_back(plus_as_space && c == '+' ? ' ' : c);
  }
  return out;
}

}  // namespace sightglass::core
