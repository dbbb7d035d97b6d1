#include "core/export/http_date.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <ctime>

#include "core/export/har_common.h"
#include "core/proxy/flow.h"

namespace sightglass::core {
namespace {

using detail::floor_div;
using detail::kMicrosPerSecond;

// utc_seconds returns the seconds since the Unix epoch of a UTC date and time, or std::nullopt
// when the date does not exist (std::chrono's calendar never depends on the time zone).
std::optional<int64_t> utc_seconds(int64_t year, int64_t month, int64_t day, int64_t hour,
                                   int64_t minute, int64_t second) {
  const std::chrono::year_month_day date{std::chrono::year(static_cast<int>(year)),
                                         std::chrono::month(static_cast<unsigned>(month)),
                                         std::chrono::day(static_cast<unsigned>(day))};
  if (!date.ok()) {
    return std::nullopt;
  }
  const int64_t days = std::chrono::sys_days(date).time_since_epoch().count();
  return days * 86'400 + hour * 3600 + minute * 60 + second;
}

}  // namespace

std::string format_iso8601_ms(int64_t time_us) {
  const int64_t ms = floor_div(time_us, 1000);
  const time_t seconds = floor_div(ms, 1000);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  const int64_t year = tm.tm_year + int64_t{1900};
  const int64_t millisecond = ms - seconds * 1000;
  if (year >= 0 && year <= 9999) {
    // The common case, without snprintf: the same digits as below.
    std::string out = "0000-00-00T00:00:00.000Z";
    const auto put = [&](size_t at, size_t width, int64_t value) {
      for (size_t i = width; i-- > 0; value /= 10) {
        out[at + i] = static_cast<char>('0' + value % 10);
      }
    };
    put(0, 4, year);
    put(5, 2, tm.tm_mon + 1);
    put(8, 2, tm.tm_mday);
    put(11, 2, tm.tm_hour);
    put(14, 2, tm.tm_min);
    put(17, 2, tm.tm_sec);
    put(20, 3, millisecond);
    return out;
  }
  char buffer[160];
  std::snprintf(buffer, sizeof(buffer), "%04lld-%02d-%02dT%02d:%02d:%02d.%03lldZ",
                static_cast<long long>(year), tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                tm.tm_sec, static_cast<long long>(millisecond));
  return buffer;
}

std::optional<int64_t> parse_iso8601(std::string_view text_in) {
  size_t pos = 0;
  const auto digits = [&](size_t count, int64_t* out_value) {
    const char* begin = text_in.data() + pos;
    uint32_t value = 0;
    if (pos + count > text_in.size() ||
        std::from_chars(begin, begin + count, value).ptr != begin + count) {
      return false;
    }
    pos += count;
    *out_value = value;
    return true;
  };
  const auto expect = [&](char c) {
    if (pos < text_in.size() && text_in[pos] == c) {
      ++pos;
      return true;
    }
    return false;
  };
  int64_t year = 0;
  int64_t month = 0;
  int64_t day = 0;
  int64_t hour = 0;
  int64_t minute = 0;
  int64_t second = 0;
  if (!digits(4, &year) || !expect('-') || !digits(2, &month) || !expect('-') || !digits(2, &day) ||
      !(expect('T') || expect('t') || expect(' ')) || !digits(2, &hour) || !expect(':') ||
      !digits(2, &minute) || !expect(':') || !digits(2, &second)) {
    return std::nullopt;
  }
  const auto seconds = utc_seconds(year, month, day, hour, minute, second);
  if (!seconds || hour > 23 || minute > 59 || second > 60) {
    return std::nullopt;
  }
  int64_t micros = 0;
  if (expect('.') || expect(',')) {
    const size_t start = pos;
    for (int64_t scale = 100'000;
         pos < text_in.size() && text_in[pos] >= '0' && text_in[pos] <= '9'; ++pos, scale /= 10) {
      micros += (text_in[pos] - '0') * scale;
    }
    if (pos == start) {
      return std::nullopt;
    }
  }
  int64_t offset_seconds = 0;  // Zero for Z (UTC).
  if (!expect('Z') && !expect('z')) {
    const bool negative = expect('-');
    int64_t offset_hours = 0;
    int64_t offset_minutes = 0;
    if (!(negative || expect('+')) || !digits(2, &offset_hours)) {
      return std::nullopt;
    }
    expect(':');
    if (!digits(2, &offset_minutes) || offset_hours > 23 || offset_minutes > 59) {
      return std::nullopt;
    }
    offset_seconds = (negative ? -1 : 1) * (offset_hours * 3600 + offset_minutes * 60);
  }
  if (pos != text_in.size()) {
    return std::nullopt;
  }
  return (*seconds - offset_seconds) * kMicrosPerSecond + micros;
}

std::optional<int64_t> parse_cookie_date(std::string_view date) {
  // RFC 6265 section 5.1.1: tokens split at delimiters, each tried as time, day, month, year.
  const auto is_delimiter = [](char c) {
    const auto b = static_cast<uint8_t>(c);
    return b == 0x09 || (b >= 0x20 && b <= 0x2F) || (b >= 0x3B && b <= 0x40) ||
           (b >= 0x5B && b <= 0x60) || (b >= 0x7B && b <= 0x7E);
  };
  // leading_digits parses |min|..|max| digits at the start of |token| followed by a non-digit
  // or the end.
  const auto leading_digits = [](std::string_view token, size_t min, size_t max,
                                 int64_t* out_value) {
    uint64_t value = 0;
    const auto count = static_cast<size_t>(
        std::from_chars(token.data(), token.data() + token.size(), value).ptr - token.data());
    if (count < min || count > max) {
      return false;
    }
    *out_value = static_cast<int64_t>(value);
    return true;
  };
  static constexpr std::string_view kMonths[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                                 "jul", "aug", "sep", "oct", "nov", "dec"};
  bool found_time = false;
  int64_t hour = 0;
  int64_t minute = 0;
  int64_t second = 0;
  std::optional<int64_t> day;
  std::optional<int64_t> month;
  std::optional<int64_t> year;
  for (auto end = date.begin(); end != date.end();) {
    const auto start = std::find_if_not(end, date.end(), is_delimiter);
    end = std::find_if(start, date.end(), is_delimiter);
    const std::string_view token(start, end);
    if (token.empty()) {
      continue;
    }
    if (!found_time) {
      // time = 1*2DIGIT ":" 1*2DIGIT ":" 1*2DIGIT ( non-digit *OCTET )
      const size_t colon1 = token.find(':');
      const size_t colon2 = colon1 == std::string_view::npos ? colon1 : token.find(':', colon1 + 1);
      if (colon2 != std::string_view::npos && colon1 >= 1 && colon1 <= 2 &&
          leading_digits(token.substr(0, colon1), 1, 2, &hour) && colon2 - colon1 - 1 >= 1 &&
          colon2 - colon1 - 1 <= 2 &&
          leading_digits(token.substr(colon1 + 1, colon2 - colon1 - 1), 1, 2, &minute) &&
          leading_digits(token.substr(colon2 + 1), 1, 2, &second)) {
        found_time = true;
        continue;
      }
    }
    int64_t value = 0;
    if (!day && leading_digits(token, 1, 2, &value)) {
      day = value;
      continue;
    }
    if (!month && token.size() >= 3) {
      const auto it = std::ranges::find(kMonths, ascii_lower(token.substr(0, 3)));
      if (it != std::end(kMonths)) {
        month = it - std::begin(kMonths) + 1;
        continue;
      }
    }
    if (!year && leading_digits(token, 2, 4, &value)) {
      year = value;
      continue;
    }
  }
  if (!found_time || !day || !month || !year) {
    return std::nullopt;
  }
  if (*year >= 70 && *year <= 99) {
    *year += 1900;
  } else if (*year <= 69) {
    *year += 2000;
  }
  if (*year < 1601 || hour > 23 || minute > 59 || second > 59) {
    return std::nullopt;
  }
  return utc_seconds(*year, *month, *day, hour, minute, second);
}

}  // namespace sightglass::core
