#pragma once

// The parsers behind har_params.h and the writers of HAR's lists made from them, shared with
// the entry writer in flow_json.cc. Not for use outside core/export.
//
// The writers write to a JsonTextWriter (json_text.h) or a JsonTreeWriter (json_tree_writer.h):
// |W| is either. They write the members of each object in the order of their keys, as
// JsonTextWriter needs.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "core/export/text_util.h"
#include "core/proxy/flow.h"

namespace sightglass::core::detail {

// Cookies.

// split_cookie_pair splits a trimmed "name=value" into its trimmed name and value; RFC 6265bis:
// a pair without '=' is a cookie with an empty name.
std::pair<std::string_view, std::string_view> split_cookie_pair(std::string_view pair);

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

// Query strings and form bodies.

// target_query returns the query of a request target ("/p?a=1#f" -> "a=1"), or "".
std::string_view target_query(std::string_view target);

// Writers.

// write_name_value writes HAR's {name, value} (a header, cookie or parameter).
template <class W>
void write_name_value(W& w, std::string_view name, std::string_view value) {
  w.begin_object().key("name").text(name).key("value").text(value).end_object();
}

// write_if writes the member |name| when |value| holds something: a string, or true.
template <class W, typename Optional>
void write_if(W& w, std::string_view name, const Optional& value) {
  if constexpr (std::is_same_v<Optional, bool>) {
    if (value) {
      w.key(name).boolean(true);
    }
  } else if (value) {
    w.key(name).text(*value);
  }
}

// write_request_cookies writes every Cookie header's cookies as HAR cookies [{name, value}].
template <class W>
void write_request_cookies(W& w, const Headers& headers) {
  w.begin_array();
  for (const Header& header : headers) {
    if (iequals(header.name, "Cookie")) {
      split_list(header.value, ';', [&w](std::string_view pair) {
        const auto [name, value] = split_cookie_pair(pair);
        write_name_value(w, name, value);
      });
    }
  }
  w.end_array();
}

// write_response_cookies writes every Set-Cookie header as a HAR cookie: name, value, and
// domain, expires, httpOnly, path, sameSite and secure when present.
template <class W>
void write_response_cookies(W& w, const Headers& headers, int64_t now_us) {
  w.begin_array();
  for (const Header& header : headers) {
    if (!iequals(header.name, "Set-Cookie")) {
      continue;
    }
    const SetCookie cookie = parse_set_cookie(header.value, now_us);
    w.begin_object();
    write_if(w, "domain", cookie.domain);
    write_if(w, "expires", cookie.expires);
    write_if(w, "httpOnly", cookie.http_only);
    w.key("name").text(cookie.name);
    write_if(w, "path", cookie.path);
    write_if(w, "sameSite", cookie.same_site);
    write_if(w, "secure", cookie.secure);
    w.key("value").text(cookie.value);
    w.end_object();
  }
  w.end_array();
}

// write_urlencoded_params writes the pairs of "a=1&b=x+y%21" as [{name, value}], percent-decoded
// with '+' as a space.
template <class W>
void write_urlencoded_params(W& w, std::string_view params) {
  w.begin_array();
  while (true) {
    const size_t amp = params.find('&');
    if (const std::string_view pair = params.substr(0, amp); !pair.empty()) {
      const size_t equals = pair.find('=');
      write_name_value(w, percent_decode(pair.substr(0, equals), true),
                       equals == std::string_view::npos
                           ? std::string()
                           : percent_decode(pair.substr(equals + 1), true));
    }
    if (amp == std::string_view::npos) {
      break;
    }
    params.remove_prefix(amp + 1);
  }
  w.end_array();
}

}  // namespace sightglass::core::detail
