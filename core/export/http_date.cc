#include "core/export/http_date.h"

#include <cstdio>

#include "core/export/har_common.h"
#include "core/proxy/flow.h"

namespace sightglass::core {
namespace {

using detail::floor_div;
using detail::kMicrosPerSecond;

constexpr int64_t kSecondsPerDay = 86'400;

// Calendar arithmetic (Howard Hinnant's civil algorithms), so dates never depend on the
// process's time zone.
int64_t days_from_civil(int64_t year, int64_t month, int64_t day) {
  year -= month <= 2 ? 1 : 0;
  const int64_t era = (year >= 0 ? year : year - 399) / 400;
  const int64_t year_of_era = year - era * 400;
  const int64_t day_of_year = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1;
  const int64_t day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
  return era * 146097 + day_of_era - 719468;
}

void civil_from_days(int64_t days, int64_t* out_year, int64_t* out_month, int64_t* out_day) {
  days += 719468;
  const int64_t era = (days >= 0 ? days : days - 146096) / 146097;
  const int64_t day_of_era = days - era * 146097;
  const int64_t year_of_era =
      (day_of_era - day_of_era / 1460 + day_of_era / 36524 - day_of_era / 146096) / 365;
  const int64_t day_of_year =
      day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
  const int64_t mp = (5 * day_of_year + 2) / 153;
  *out_day = day_of_year - (153 * mp + 2) / 5 + 1;
  *out_month = mp < 10 ? mp + 3 : mp - 9;
  *out_year = year_of_era + era * 400 + (*out_month <= 2 ? 1 : 0);
}

int64_t days_in_month(int64_t year, int64_t month) {
  static constexpr int64_t kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  return month == 2 && leap ? 29 : kDays[month - 1];
}

}  // namespace

std::string format_iso8601_ms(int64_t time_us) {
  const int64_t ms = floor_div(time_us, 1000);
  const int64_t seconds = floor_div(ms, 1000);
  const int64_t days = floor_div(seconds, kSecondsPerDay);
  const int64_t second_of_day = seconds - days * kSecondsPerDay;
  int64_t year = 0;
  int64_t month = 0;
  int64_t day = 0;
  civil_from_days(days, &year, &month, &day);
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
    put(5, 2, month);
    put(8, 2, day);
    put(11, 2, second_of_day / 3600);
    put(14, 2, second_of_day / 60 % 60);
    put(17, 2, second_of_day % 60);
    put(20, 3, millisecond);
    return out;
  }
  char buffer[160];
  std::snprintf(buffer, sizeof(buffer), "%04lld-%02lld-%02lldT%02lld:%02lld:%02lld.%03lldZ",
                static_cast<long long>(year), static_cast<long long>(month),
                static_cast<long long>(day), static_cast<long long>(second_of_day / 3600),
                static_cast<long long>(second_of_day / 60 % 60),
                static_cast<long long>(second_of_day % 60), static_cast<long long>(millisecond));
  return buffer;
}

std::optional<int64_t> parse_iso8601(std::string_view text_in) {
  size_t pos = 0;
  const auto digits = [&](size_t count, int64_t* out_value) {
    if (pos + count > text_in.size()) {
      return false;
    }
    int64_t value = 0;
    for (size_t i = 0; i < count; ++i) {
      const char c = text_in[pos + i];
      if (c < '0' || c > '9') {
        return false;
      }
      value = value * 10 + (c - '0');
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
  if (month < 1 || month > 12 || day < 1 || day > days_in_month(year, month) || hour > 23 ||
      minute > 59 || second > 60) {
    return std::nullopt;
  }
  int64_t micros = 0;
  if (expect('.') || expect(',')) {
    int64_t scale = 100'000;
    size_t count = 0;
    while (pos < text_in.size() && text_in[pos] >= '0' && text_in[pos] <= '9') {
      micros += (text_in[pos] - '0') * scale;
      scale /= 10;
      ++pos;
      ++count;
    }
    if (count == 0) {
      return std::nullopt;
    }
  }
  int64_t offset_seconds = 0;
  if (expect('Z') || expect('z')) {
    // UTC.
  } else if (pos < text_in.size() && (text_in[pos] == '+' || text_in[pos] == '-')) {
    const int64_t sign = text_in[pos] == '-' ? -1 : 1;
    ++pos;
    int64_t offset_hours = 0;
    int64_t offset_minutes = 0;
    if (!digits(2, &offset_hours)) {
      return std::nullopt;
    }
    expect(':');
    if (!digits(2, &offset_minutes) || offset_hours > 23 || offset_minutes > 59) {
      return std::nullopt;
    }
    offset_seconds = sign * (offset_hours * 3600 + offset_minutes * 60);
  } else {
    return std::nullopt;
  }
  if (pos != text_in.size()) {
    return std::nullopt;
  }
  const int64_t seconds = days_from_civil(year, month, day) * kSecondsPerDay + hour * 3600 +
                          minute * 60 + second - offset_seconds;
  return seconds * kMicrosPerSecond + micros;
}

std::optional<int64_t> parse_cookie_date(std::string_view date) {
  // RFC 6265 section 5.1.1: tokens split at delimiters, each tried as time, day, month, year.
  const auto is_delimiter = [](char c) {
    const auto b = static_cast<uint8_t>(c);
    return b == 0x09 || (b >= 0x20 && b <= 0x2F) || (b >= 0x3B && b <= 0x40) ||
           (b >= 0x5B && b <= 0x60) || (b >= 0x7B && b <= 0x7E);
  };
  const auto is_digit = [](char c) { return c >= '0' && c <= '9'; };
  // leading_digits parses |min|..|max| digits at the start of |token| followed by a non-digit
  // or the end.
  const auto leading_digits = [&](std::string_view token, size_t min, size_t max,
                                  int64_t* out_value) {
    size_t count = 0;
    int64_t value = 0;
    while (count < token.size() && is_digit(token[count])) {
      value = value * 10 + (token[count] - '0');
      ++count;
      if (count > max) {
        return false;
      }
    }
    if (count < min) {
      return false;
    }
    *out_value = value;
    return true;
  };
  static constexpr const char* kMonths[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                            "jul", "aug", "sep", "oct", "nov", "dec"};
  bool found_time = false;
  bool found_day = false;
  bool found_month = false;
  bool found_year = false;
  int64_t hour = 0;
  int64_t minute = 0;
  int64_t second = 0;
  int64_t day = 0;
  int64_t month = 0;
  int64_t year = 0;
  size_t pos = 0;
  while (pos < date.size()) {
    while (pos < date.size() && is_delimiter(date[pos])) {
      ++pos;
    }
    const size_t start = pos;
    while (pos < date.size() && !is_delimiter(date[pos])) {
      ++pos;
    }
    const std::string_view token = date.substr(start, pos - start);
    if (token.empty()) {
      continue;
    }
    if (!found_time) {
      // time = 1*2DIGIT ":" 1*2DIGIT ":" 1*2DIGIT ( non-digit *OCTET )
      int64_t h = 0;
      int64_t m = 0;
      int64_t s = 0;
      const size_t colon1 = token.find(':');
      const size_t colon2 = colon1 == std::string_view::npos ? colon1 : token.find(':', colon1 + 1);
      if (colon2 != std::string_view::npos && colon1 >= 1 && colon1 <= 2 &&
          leading_digits(token.substr(0, colon1), 1, 2, &h) && colon2 - colon1 - 1 >= 1 &&
          colon2 - colon1 - 1 <= 2 &&
          leading_digits(token.substr(colon1 + 1, colon2 - colon1 - 1), 1, 2, &m) &&
          leading_digits(token.substr(colon2 + 1), 1, 2, &s)) {
        found_time = true;
        hour = h;
        minute = m;
        second = s;
        continue;
      }
    }
    int64_t value = 0;
    if (!found_day && leading_digits(token, 1, 2, &value)) {
      found_day = true;
      day = value;
      continue;
    }
    if (!found_month && token.size() >= 3) {
      const std::string prefix = ascii_lower(token.substr(0, 3));
      bool matched = false;
      for (int64_t i = 0; i < 12; ++i) {
        if (prefix == kMonths[i]) {
          found_month = true;
          month = i + 1;
          matched = true;
          break;
        }
      }
      if (matched) {
        continue;
      }
    }
    if (!found_year && leading_digits(token, 2, 4, &value)) {
      found_year = true;
      year = value;
      continue;
    }
  }
  if (year >= 70 && year <= 99) {
    year += 1900;
  } else if (year >= 0 && year <= 69) {
    year += 2000;
  }
  if (!found_time || !found_day || !found_month || !found_year || year < 1601 || day < 1 ||
      day > days_in_month(year, month) || hour > 23 || minute > 59 || second > 59) {
    return std::nullopt;
  }
  return days_from_civil(year, month, day) * kSecondsPerDay + hour * 3600 + minute * 60 + second;
}

}  // namespace sightglass::core
