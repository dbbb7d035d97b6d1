#include "core/export/text_util.h"

#include <array>
#include <charconv>
#include <cstdint>
#include <cstring>

namespace sightglass::core {
namespace {

constexpr char kBase64Alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

// kBase64Values[byte] is the 6-bit value of |byte| in the standard or the URL-safe alphabet, or
// -1 when it is in neither.
constexpr std::array<int8_t, 256> kBase64Values = [] {
  std::array<int8_t, 256> values{};
  values.fill(-1);
  for (int8_t i = 0; i < 64; ++i) {
    values[static_cast<uint8_t>(kBase64Alphabet[i])] = i;
  }
  values['-'] = 62;
  values['_'] = 63;
  return values;
}();

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
    low = first == 0xE0 ? 0xA0 : 0x80;   // No overlongs.
    high = first == 0xED ? 0x9F : 0xBF;  // No surrogates.
  } else if (first >= 0xF0 && first <= 0xF4) {
    length = 4;
    low = first == 0xF0 ? 0x90 : 0x80;   // No overlongs.
    high = first == 0xF4 ? 0x8F : 0xBF;  // Nothing above U+10FFFF.
  } else {
    return 0;
  }
  if (data.size() < length || byte(1) < low || byte(1) > high) {
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
  if (const size_t rest = data.size() - i; rest > 0) {
    const uint32_t group = (byte(i) << 16) | (rest == 2 ? byte(i + 1) << 8 : 0);
    *out++ = kBase64Alphabet[(group >> 18) & 0x3F];
    *out++ = kBase64Alphabet[(group >> 12) & 0x3F];
    *out++ = rest == 2 ? kBase64Alphabet[(group >> 6) & 0x3F] : '=';
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
    const int value = kBase64Values[static_cast<uint8_t>(c)];
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
  for (size_t i = 0; i < data.size();) {
    // An ill-formed byte becomes U+FFFD REPLACEMENT CHARACTER.
    const size_t length = utf8_sequence_length(data.substr(i));
    out.append(length == 0 ? std::string_view("\xEF\xBF\xBD") : data.substr(i, length));
    i += length == 0 ? 1 : length;
  }
  return out;
}

std::string percent_decode(std::string_view text, bool plus_as_space) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    // Exactly two hex digits (from_chars takes no sign for an unsigned type).
    const char* hex = text.data() + i + 1;
    if (uint8_t byte = 0;
        c == '%' && i + 2 < text.size() && std::from_chars(hex, hex + 2, byte, 16).ptr == hex + 2) {
      out.push_back(static_cast<char>(byte));
      i += 2;
      continue;
    }
    out.push_back(plus_as_space && c == '+' ? ' ' : c);
  }
  return out;
}

}  // namespace sightglass::core
