#pragma once

// The parsers behind har_params.h, shared with the JSON Lines writer in flow_json.cc, which
// writes the same lists without building json. Not for use outside core/export.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/export/text_util.h"
#include "core/proxy/flow.h"

namespace sightglass::core::detail {

// Cookies.

// for_each_cookie calls |fn(name, value)| for each cookie of a Cookie header.
template <typename Fn>
void for_each_cookie(std::string_view header, Fn&& fn) {
  while (!header.empty()) {
    const size_t semicolon = header.find(';');
    const std::string_view pair = trim_whitespace(header.substr(0, semicolon));
    header =
        semicolon == std::string_view::npos ? std::string_view() : header.substr(semicolon + 1);
    if (pair.empty()) {
      continue;
    }
    const size_t equals = pair.find('=');
    // RFC 6265bis: a pair without '=' is a cookie with an empty name.
    const std::string_view name = equals == std::string_view::npos
                                      ? std::string_view()
                                      : trim_whitespace(pair.substr(0, equals));
    const std::string_view value =
        equals == std::string_view::npos ? pair : trim_whitespace(pair.substr(equals + 1));
    fn(name, value);
  }
}

// for_each_request_cookie calls |fn(name, value)| for each cookie of every Cookie header.
template <typename Fn>
void for_each_request_cookie(const Headers& headers, Fn&& fn) {
  for (const Header& header : headers) {
    if (iequals(header.name, "Cookie")) {
      for_each_cookie(header.value, fn);
    }
  }
}

// SetCookie is one Set-Cookie header as HAR has it; every string is still to go through text().
struct SetCookie {
  std::string_view name;
  std::string_view value;
  std::optional<std::string_view> path;
  std::optional<std::string_view> domain;
  std::optional<std::string> expires;  // ISO 8601, or as written when it is not a date.
  bool http_only = false;
  bool secure = false;
  std::optional<std::string_view> same_site;
};

// parse_set_cookie parses one Set-Cookie header; Max-Age counts from |now_us|.
SetCookie parse_set_cookie(std::string_view header, int64_t now_us);

// for_each_set_cookie calls |fn(const SetCookie&)| for every Set-Cookie header.
template <typename Fn>
void for_each_set_cookie(const Headers& headers, int64_t now_us, Fn&& fn) {
  for (const Header& header : headers) {
    if (iequals(header.name, "Set-Cookie")) {
      fn(parse_set_cookie(header.value, now_us));
    }
  }
}

// Query strings and form bodies.

// for_each_urlencoded_param calls |fn(name, value)| for each pair of "a=1&b=x+y%21",
// percent-decoded with '+' as a space (not yet valid UTF-8).
template <typename Fn>
void for_each_urlencoded_param(std::string_view params, Fn&& fn) {
  while (true) {
    const size_t amp = params.find('&');
    const std::string_view pair = params.substr(0, amp);
    if (!pair.empty()) {
      const size_t equals = pair.find('=');
      fn(percent_decode(pair.substr(0, equals), true),
         equals == std::string_view::npos ? std::string()
                                          : percent_decode(pair.substr(equals + 1), true));
    }
    if (amp == std::string_view::npos) {
      break;
    }
    params.remove_prefix(amp + 1);
  }
}

// target_query returns the query of a request target ("/p?a=1#f" -> "a=1"), or "".
std::string_view target_query(std::string_view target);

}  // namespace sightglass::core::detail
