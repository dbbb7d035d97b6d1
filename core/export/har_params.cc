#include "core/export/har_params.h"

#include <charconv>
#include <optional>
#include <string>
#include <tuple>
#include <utility>

#include "core/export/har_common.h"
#include "core/export/har_params_internal.h"
#include "core/export/http_date.h"
#include "core/export/json_tree_writer.h"

namespace sightglass::core {
namespace {

using detail::kMicrosPerSecond;
using nlohmann::json;

std::string cookie_date(int64_t seconds) { return format_iso8601_ms(seconds * kMicrosPerSecond); }

}  // namespace

namespace detail {

std::pair<std::string_view, std::string_view> split_cookie_pair(std::string_view pair) {
  const size_t equals = pair.find('=');
  if (equals == std::string_view::npos) {
    return {std::string_view(), pair};
  }
  return {trim_whitespace(pair.substr(0, equals)), trim_whitespace(pair.substr(equals + 1))};
}

SetCookie parse_set_cookie(std::string_view header, int64_t now_us) {
  const size_t first_semicolon = header.find(';');
  const std::string_view pair = trim_whitespace(header.substr(0, first_semicolon));
  SetCookie cookie;
  std::tie(cookie.name, cookie.value) = split_cookie_pair(pair);
  std::string_view rest = first_semicolon == std::string_view::npos
                              ? std::string_view()
                              : header.substr(first_semicolon + 1);
  std::optional<std::string> max_age_expires;
  split_list(rest, ';', [&](std::string_view attribute) {
    const size_t attr_equals = attribute.find('=');
    const std::string key = ascii_lower(trim_whitespace(attribute.substr(0, attr_equals)));
    const std::string_view value = attr_equals == std::string_view::npos
                                       ? std::string_view()
                                       : trim_whitespace(attribute.substr(attr_equals + 1));
    if (key == "path") {
      cookie.path = value;
    } else if (key == "domain") {
      cookie.domain = value;
    } else if (key == "expires") {
      const auto seconds = parse_cookie_date(value);
      cookie.expires = seconds ? cookie_date(*seconds) : std::string(value);
    } else if (key == "max-age") {
      // Max-Age wins over Expires (RFC 6265 section 5.3); zero or less means "now".
      // Digits with an optional '-', fewer than 12 characters.
      int64_t seconds = 0;
      const char* end = value.data() + value.size();
      if (const auto [ptr, error] = std::from_chars(value.data(), end, seconds);
          value.size() < 12 && error == std::errc() && ptr == end) {
        const int64_t now_s = floor_div(now_us, kMicrosPerSecond);
        max_age_expires = cookie_date(seconds <= 0 ? now_s : now_s + seconds);
      }
    } else if (key == "httponly") {
      cookie.http_only = true;
    } else if (key == "secure") {
      cookie.secure = true;
    } else if (key == "samesite") {
      cookie.same_site = value;
    }
  });
  if (max_age_expires) {
    cookie.expires = std::move(max_age_expires);
  }
  return cookie;
}

std::string_view target_query(std::string_view target) {
  const size_t question = target.find('?');
  if (question == std::string_view::npos) {
    return {};
  }
  const std::string_view query = target.substr(question + 1);
  return query.substr(0, query.find('#'));
}

}  // namespace detail

json request_cookies_json(const Headers& headers) {
  JsonTreeWriter w;
  detail::write_request_cookies(w, headers);
  return w.take();
}

json response_cookies_json(const Headers& headers, int64_t now_us) {
  JsonTreeWriter w;
  detail::write_response_cookies(w, headers, now_us);
  return w.take();
}

json urlencoded_params_json(std::string_view params) {
  JsonTreeWriter w;
  detail::write_urlencoded_params(w, params);
  return w.take();
}

json query_string_json(std::string_view target) {
  return urlencoded_params_json(detail::target_query(target));
}

}  // namespace sightglass::core
