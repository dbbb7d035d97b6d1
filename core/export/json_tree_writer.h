#pragma once

// JsonTreeWriter has JsonTextWriter's writing interface (json_text.h) but builds a
// nlohmann::json value instead of text, so that one function templated over its writer makes
// both: the tree's dump(-1, ' ', false, error_handler_t::replace) is the text JsonTextWriter
// writes for the same calls. Strings go in as JsonTextWriter writes them (text() replaces
// ill-formed UTF-8 as to_valid_utf8 does, base64() stores base64_encode), and a number() that is
// not finite is stored as it is, which dump() writes as null.

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/export/text_util.h"

namespace sightglass::core {

class JsonTreeWriter {
 public:
  JsonTreeWriter() = default;
  JsonTreeWriter(const JsonTreeWriter&) = delete;
  JsonTreeWriter& operator=(const JsonTreeWriter&) = delete;

  // take returns the value written (null when nothing was) and empties the writer.
  nlohmann::json take() {
    open_.clear();
    return std::move(root_);
  }

  JsonTreeWriter& begin_object() { return open(nlohmann::json::object()); }
  JsonTreeWriter& end_object() { return close(); }
  JsonTreeWriter& begin_array() { return open(nlohmann::json::array()); }
  JsonTreeWriter& end_array() { return close(); }
  // key starts a member of the current object; its value follows.
  JsonTreeWriter& key(std::string_view name) {
    key_ = name;
    return *this;
  }

  JsonTreeWriter& string(std::string_view utf8) { return value(std::string(utf8)); }
  JsonTreeWriter& text(std::string_view bytes) { return value(to_valid_utf8(bytes)); }
  JsonTreeWriter& base64(std::string_view bytes) { return value(base64_encode(bytes)); }
  JsonTreeWriter& integer(int64_t v) { return value(v); }
  JsonTreeWriter& unsigned_integer(uint64_t v) { return value(v); }
  JsonTreeWriter& number(double v) { return value(v); }
  JsonTreeWriter& boolean(bool v) { return value(v); }

 private:
  // add places |v| where the next value goes (the root, the member named by the last key(), or
  // the end of the open array) and returns where it went.
  nlohmann::json& add(nlohmann::json v) {
    if (open_.empty()) {
      return root_ = std::move(v);
    }
    nlohmann::json& parent = *open_.back();
    if (parent.is_object()) {
      return parent.get_ref<nlohmann::json::object_t&>()[std::move(key_)] = std::move(v);
    }
    parent.get_ref<nlohmann::json::array_t&>().push_back(std::move(v));
    return parent.back();
  }
  JsonTreeWriter& value(nlohmann::json v) {
    add(std::move(v));
    return *this;
  }
  JsonTreeWriter& open(nlohmann::json container) {
    open_.push_back(&add(std::move(container)));
    return *this;
  }
  JsonTreeWriter& close() {
    open_.pop_back();
    return *this;
  }

  nlohmann::json root_;
  // The open objects and arrays, innermost last. Only the innermost grows, so the pointers to
  // the others stay valid.
  std::vector<nlohmann::json*> open_;
  std::string key_;
};

}  // namespace sightglass::core
