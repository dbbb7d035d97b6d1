#include "core/export/json_text.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstring>

#include "core/export/text_util.h"

namespace sightglass::core {
namespace {

// kEscapes[byte] is what follows the backslash that stands for |byte| in a JSON string ('u' for
// \u00xx), or 0 when the byte stands for itself. nlohmann escapes exactly these.
constexpr std::array<char, 256> make_escapes() {
  std::array<char, 256> table{};
  for (size_t byte = 0; byte < 0x20; ++byte) {
    table[byte] = 'u';
  }
  table['\b'] = 'b';
  table['\t'] = 't';
  table['\n'] = 'n';
  table['\f'] = 'f';
  table['\r'] = 'r';
  table['"'] = '"';
  table['\\'] = '\\';
  return table;
}
constexpr std::array<char, 256> kEscapes = make_escapes();

constexpr uint64_t kOnes = 0x0101010101010101;
constexpr uint64_t kHighBits = 0x8080808080808080;

// has_zero_byte tells whether any byte of |word| is zero.
constexpr bool has_zero_byte(uint64_t word) { return ((word - kOnes) & ~word & kHighBits) != 0; }

// needs_escape tells whether any of the 8 bytes at |p| is to be escaped: below 0x20, '"' or
// '\\'.
bool needs_escape(const char* p) {
  uint64_t word = 0;
  std::memcpy(&word, p, sizeof(word));
  const bool control = ((word - kOnes * 0x20) & ~word & kHighBits) != 0;
  return control || has_zero_byte(word ^ (kOnes * '"')) || has_zero_byte(word ^ (kOnes * '\\'));
}

}  // namespace

JsonTextWriter::JsonTextWriter(std::string* out) : out_(out) {
  const size_t used = out->size();
  out->resize(std::max(out->capacity(), used + 64));
  pos_ = out->data() + used;
  end_ = out->data() + out->size();
}

void JsonTextWriter::finish() {
  if (pos_ != nullptr) {
    out_->resize(static_cast<size_t>(pos_ - out_->data()));
    pos_ = nullptr;
    end_ = nullptr;
  }
}

void JsonTextWriter::grow(size_t size) {
  const auto used = static_cast<size_t>(pos_ - out_->data());
  out_->resize(std::max(out_->size() * 2, used + size));
  pos_ = out_->data() + used;
  end_ = out_->data() + out_->size();
}

void JsonTextWriter::append(std::string_view bytes) {
  room(bytes.size());
  std::memcpy(pos_, bytes.data(), bytes.size());
  pos_ += bytes.size();
}

JsonTextWriter& JsonTextWriter::key(std::string_view name) {
  string(name);
  room(1);
  *pos_++ = ':';
  comma_ = false;
  return *this;
}

JsonTextWriter& JsonTextWriter::string(std::string_view utf8) {
  room(1);
  separate();
  escaped(utf8);
  comma_ = true;
  return *this;
}

JsonTextWriter& JsonTextWriter::text(std::string_view bytes) {
  return is_valid_utf8(bytes) ? string(bytes) : string(to_valid_utf8(bytes));
}

JsonTextWriter& JsonTextWriter::base64(std::string_view bytes) {
  room(base64_encoded_size(bytes.size()) + 3);
  separate();
  *pos_++ = '"';
  pos_ = base64_encode_into(bytes, pos_);  // The base64 alphabet needs no escaping.
  *pos_++ = '"';
  comma_ = true;
  return *this;
}

JsonTextWriter& JsonTextWriter::integer(int64_t value) { return whole_number(value); }

JsonTextWriter& JsonTextWriter::unsigned_integer(uint64_t value) { return whole_number(value); }

template <typename Int>
JsonTextWriter& JsonTextWriter::whole_number(Int value) {
  room(24);  // A comma and 20 digits or a sign and 19.
  separate();
  pos_ = std::to_chars(pos_, end_, value).ptr;
  comma_ = true;
  return *this;
}

JsonTextWriter& JsonTextWriter::number(double value) {
  // dump()'s buffer for a number is 64 bytes.
  room(65);
  separate();
  if (std::isfinite(value)) {
    // nlohmann's own Grisu2 formatter, the one dump() calls.
    pos_ = nlohmann::detail::to_chars(pos_, pos_ + 64, value);
  } else {
    std::memcpy(pos_, "null", 4);
    pos_ += 4;
  }
  comma_ = true;
  return *this;
}

JsonTextWriter& JsonTextWriter::boolean(bool value) {
  room(1);
  separate();
  append(value ? std::string_view("true") : std::string_view("false"));
  comma_ = true;
  return *this;
}

void JsonTextWriter::escaped(std::string_view utf8) {
  static constexpr char kHex[] = "0123456789abcdef";
  const char* p = utf8.data();
  const char* const end = p + utf8.size();
  // Room for the text unescaped and both quotes; each escape makes more room for itself.
  room(utf8.size() + 2);
  *pos_++ = '"';
  while (p != end) {
    if (end - p >= 8 && !needs_escape(p)) {
      std::memcpy(pos_, p, 8);
      pos_ += 8;
      p += 8;
      continue;
    }
    const auto byte = static_cast<uint8_t>(*p++);
    const char escape = kEscapes[byte];
    if (escape == 0) {
      *pos_++ = static_cast<char>(byte);
      continue;
    }
    room(static_cast<size_t>(end - p) + 7);  // This escape, the rest, the closing quote.
    *pos_++ = '\\';
    *pos_++ = escape;
    if (escape == 'u') {
      const char digits[] = {'0', '0', kHex[byte >> 4], kHex[byte & 0xF]};
      std::memcpy(pos_, digits, sizeof(digits));
      pos_ += sizeof(digits);
    }
  }
  *pos_++ = '"';
}

}  // namespace sightglass::core
