#include "gui/model/format.h"

#include <time.h>

#include <algorithm>
#include <array>
#include <cstdio>

#include "core/export/terminal_printer.h"
#include "core/export/text_util.h"

namespace sightglass::gui {

using core::SummaryView;

std::string_view column_name(Column column) {
  switch (column) {
    case Column::kIndex:
      return "#";
    case Column::kTime:
      return "Time";
    case Column::kMethod:
      return "Method";
    case Column::kHost:
      return "Host";
    case Column::kPath:
      return "Path";
    case Column::kStatus:
      return "Status";
    case Column::kType:
      return "Type";
    case Column::kRequestSize:
      return "Req";
    case Column::kResponseSize:
      return "Resp";
    case Column::kDuration:
      return "Duration";
    case Column::kProtocol:
      return "Proto";
    case Column::kFlags:
      return "Flags";
    case Column::kCount:
      break;
  }
  return "";
}

StatusClass status_class(const SummaryView& flow) {
  if (flow.status >= 500) {
    return StatusClass::kServerError;
  }
  if (flow.status >= 400) {
    return StatusClass::kClientError;
  }
  if (flow.status >= 300) {
    return StatusClass::kRedirect;
  }
  if (flow.status >= 200) {
    return StatusClass::kSuccess;
  }
  if (flow.status >= 100) {
    return StatusClass::kInformational;
  }
  return flow.has(core::kSummaryError) ? StatusClass::kFailed : StatusClass::kNone;
}

std::string status_text(const SummaryView& flow) {
  if (flow.status > 0) {
    return std::to_string(flow.status);
  }
  if (flow.has(core::kSummaryError)) {
    return "ERR";
  }
  if (flow.has(core::kSummaryLive) && flow.protocol != core::FlowProtocol::kTcp) {
    return "live";
  }
  return "";
}

std::string short_content_type(std::string_view content_type) {
  if (const size_t semi = content_type.find(';'); semi != std::string_view::npos) {
    content_type = content_type.substr(0, semi);
  }
  content_type = core::trim_whitespace(content_type);
  if (const size_t slash = content_type.find('/'); slash != std::string_view::npos) {
    content_type = content_type.substr(slash + 1);
  }
  return core::ascii_lower(content_type);
}

std::string format_clock(int64_t time_us) {
  if (time_us <= 0) {
    return "";
  }
  const time_t seconds = static_cast<time_t>(time_us / 1'000'000);
  struct tm local {};
  localtime_r(&seconds, &local);
  std::array<char, 32> text{};
  std::snprintf(text.data(), text.size(), "%02d:%02d:%02d.%03d", local.tm_hour, local.tm_min,
                local.tm_sec, static_cast<int>((time_us / 1000) % 1000));
  return text.data();
}

std::string flags_text(const SummaryView& flow) {
  std::string out;
  auto add = [&out](std::string_view marker) {
    if (!out.empty()) {
      out.push_back(' ');
    }
    out.append(marker);
  };
  if (flow.has(core::kSummaryTls)) {
    add("TLS");
  }
  if (flow.has(core::kSummaryPassthrough)) {
    add("PT");
  }
  if (flow.has(core::kSummaryError)) {
    add("ERR");
  }
  if (flow.has(core::kSummaryLive)) {
    add("LIVE");
  }
  if (flow.has(core::kSummaryReplay)) {
    add("REPLAY");
  }
  return out;
}

std::string cell_text(const SummaryView& flow, Column column, size_t row) {
  const bool tcp = flow.protocol == core::FlowProtocol::kTcp;
  switch (column) {
    case Column::kIndex:
      return std::to_string(row + 1);
    case Column::kTime:
      return format_clock(flow.started_us);
    case Column::kMethod:
      return tcp ? std::string("TCP") : sanitize(flow.method, 32);
    case Column::kHost:
      return flow.port != 0 && (tcp || (flow.scheme == "http" && flow.port != 80) ||
                                (flow.scheme == "https" && flow.port != 443))
                 ? sanitize(flow.host, 512) + ":" + std::to_string(flow.port)
                 : sanitize(flow.host, 512);
    case Column::kPath:
      return sanitize(flow.path, 1024);
    case Column::kStatus:
      return status_text(flow);
    case Column::kType:
      return sanitize(short_content_type(flow.response_content_type), 64);
    case Column::kRequestSize:
      return flow.request_size == 0 ? std::string() : core::format_size(flow.request_size);
    case Column::kResponseSize:
      return flow.response_size == 0 && !flow.has(core::kSummaryHasResponse)
                 ? std::string()
                 : core::format_size(flow.response_size);
    case Column::kDuration:
      return flow.duration_us < 0 ? std::string() : core::format_duration(flow.duration_us);
    case Column::kProtocol:
      return std::string(core::protocol_name(flow.protocol));
    case Column::kFlags:
      return flags_text(flow);
    case Column::kCount:
      break;
  }
  return "";
}

namespace {

// utf8_length returns the length of the well-formed UTF-8 sequence at |i|, or 0.
size_t utf8_length(std::string_view text, size_t i) {
  const auto c = static_cast<unsigned char>(text[i]);
  size_t n = 0;
  uint32_t min = 0;
  uint32_t cp = 0;
  if (c < 0x80) {
    return 1;
  } else if ((c & 0xe0) == 0xc0) {
    n = 2;
    min = 0x80;
    cp = c & 0x1fu;
  } else if ((c & 0xf0) == 0xe0) {
    n = 3;
    min = 0x800;
    cp = c & 0x0fu;
  } else if ((c & 0xf8) == 0xf0) {
    n = 4;
    min = 0x10000;
    cp = c & 0x07u;
  } else {
    return 0;
  }
  if (i + n > text.size()) {
    return 0;
  }
  for (size_t k = 1; k < n; ++k) {
    const auto cc = static_cast<unsigned char>(text[i + k]);
    if ((cc & 0xc0) != 0x80) {
      return 0;
    }
    cp = (cp << 6) | (cc & 0x3fu);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
    return 0;
  }
  return n;
}

}  // namespace

std::string sanitize(std::string_view text, size_t max_bytes) {
  std::string out;
  out.reserve(std::min(text.size(), max_bytes) + 4);
  size_t i = 0;
  while (i < text.size()) {
    if (out.size() >= max_bytes) {
      out.append("\xe2\x80\xa6");  // …
      break;
    }
    const auto c = static_cast<unsigned char>(text[i]);
    const size_t n = utf8_length(text, i);
    if (n == 0) {
      out.append("\xef\xbf\xbd");  // U+FFFD
      ++i;
    } else if (n == 1 && (c < 0x20 || c == 0x7f)) {
      std::array<char, 8> esc{};
      std::snprintf(esc.data(), esc.size(), "\\x%02x", c);
      out.append(esc.data());
      ++i;
    } else {
      out.append(text.substr(i, n));
      i += n;
    }
  }
  return out;
}

bool is_displayable_text(std::string_view body) {
  for (const char ch : body) {
    const auto c = static_cast<unsigned char>(ch);
    if ((c < 0x20 && c != '\t' && c != '\r' && c != '\n' && c != '\f') || c == 0x7f) {
      return false;
    }
  }
  return core::is_valid_utf8(body);
}

std::string hex_dump_line(std::string_view data, size_t offset) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::array<char, 16> head{};
  std::snprintf(head.data(), head.size(), "%08zx  ", offset);
  std::string out = head.data();
  std::string ascii;
  for (size_t i = 0; i < 16; ++i) {
    if (offset + i < data.size()) {
      const auto c = static_cast<unsigned char>(data[offset + i]);
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xf]);
      out.push_back(' ');
      ascii.push_back(c >= 0x20 && c < 0x7f ? static_cast<char>(c) : '.');
    } else {
      out.append("   ");
    }
    if (i == 7) {
      out.push_back(' ');
    }
  }
  out.append(" |");
  out.append(ascii);
  out.push_back('|');
  return out;
}

}  // namespace sightglass::gui
