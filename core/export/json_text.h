#pragma once

// JsonTextWriter writes compact JSON text straight into a string, formatted byte for byte as
// nlohmann::json::dump(-1, ' ', false, error_handler_t::replace) formats the same values:
// no white space, integers in plain decimal, doubles in nlohmann's shortest round-trip form
// ("1.0", "0.065", "1e+16") or null when not finite, and strings with '"', '\\' and control
// characters escaped (\b \f \n \r \t, else \u00xx) and everything else, non-ASCII included, as
// it is. The caller writes the members of an object in the order of their keys (dump sorts
// them); the writer places the commas.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace sightglass::core {

class JsonTextWriter {
 public:
  // The writer appends one JSON value to |*out|, which must outlive it. Until finish(), |*out|
  // also holds spare room after the text.
  explicit JsonTextWriter(std::string* out);
  ~JsonTextWriter() { finish(); }
  JsonTextWriter(const JsonTextWriter&) = delete;
  JsonTextWriter& operator=(const JsonTextWriter&) = delete;

  // finish cuts |*out| to the text written; nothing may be written after it.
  void finish();

  JsonTextWriter& begin_object() { return open('{'); }
  JsonTextWriter& end_object() { return close('}'); }
  JsonTextWriter& begin_array() { return open('['); }
  JsonTextWriter& end_array() { return close(']'); }
  // key starts a member of the current object; its value follows.
  JsonTextWriter& key(std::string_view name);

  // string writes |utf8|, which must be valid UTF-8, as a JSON string.
  JsonTextWriter& string(std::string_view utf8);
  // text writes any bytes as a JSON string, ill-formed UTF-8 replaced as to_valid_utf8 does.
  JsonTextWriter& text(std::string_view bytes);
  // base64 writes base64_encode(bytes) as a JSON string.
  JsonTextWriter& base64(std::string_view bytes);
  JsonTextWriter& integer(int64_t value);
  JsonTextWriter& unsigned_integer(uint64_t value);
  JsonTextWriter& number(double value);
  JsonTextWriter& boolean(bool value);

 private:
  JsonTextWriter& open(char bracket) {
    room(2);
    separate();
    *pos_++ = bracket;
    comma_ = false;
    return *this;
  }
  JsonTextWriter& close(char bracket) {
    room(1);
    *pos_++ = bracket;
    comma_ = true;
    return *this;
  }
  // separate writes the comma before a member or element that is not the first; room(1) first.
  void separate() {
    if (comma_) {
      *pos_++ = ',';
    }
  }
  // room makes sure that |size| more bytes fit at |pos_|.
  void room(size_t size) {
    if (static_cast<size_t>(end_ - pos_) < size) {
      grow(size);
    }
  }
  void grow(size_t size);
  template <typename Int>
  JsonTextWriter& whole_number(Int value);
  void append(std::string_view bytes);
  // escaped writes |utf8| in quotes, escaped.
  void escaped(std::string_view utf8);

  std::string* out_;
  char* pos_ = nullptr;  // Where the next byte goes, inside |*out_|.
  char* end_ = nullptr;  // The end of |*out_|.
  bool comma_ = false;   // A comma goes before the next member or element.
};

}  // namespace sightglass::core
