#include "core/export/terminal_printer.h"

#include <algorithm>
#include <cinttypes>
#include <exception>
#include <string_view>

#include "core/export/text_util.h"
#include "core/proxy/host_port.h"

namespace sightglass::core {
namespace {

// printable escapes C0 and C1 control characters and DEL, and replaces ill-formed UTF-8, so
// nothing from the wire reaches the terminal as an escape sequence.
std::string printable(std::string_view data) {
  const std::string valid = to_valid_utf8(data);
  std::string out;
  out.reserve(valid.size());
  char escape[8];
  for (size_t i = 0; i < valid.size(); ++i) {
    const auto byte = static_cast<uint8_t>(valid[i]);
    if (byte < 0x20 || byte == 0x7F) {
      std::snprintf(escape, sizeof(escape), "\\x%02x", byte);
      out += escape;
    } else if (byte == 0xC2 && i + 1 < valid.size() && static_cast<uint8_t>(valid[i + 1]) >= 0x80 &&
               static_cast<uint8_t>(valid[i + 1]) <= 0x9F) {
      // U+0080..U+009F, the C1 controls (CSI among them).
      std::snprintf(escape, sizeof(escape), "\\u%04x", static_cast<uint8_t>(valid[i + 1]));
      out += escape;
      ++i;
    } else {
      out.push_back(valid[i]);
    }
  }
  return out;
}

}  // namespace

std::string format_size(uint64_t bytes) {
  if (bytes < 1024) {
    return std::to_string(bytes) + " B";
  }
  static constexpr const char* kUnits[] = {"KiB", "MiB", "GiB", "TiB"};
  double value = static_cast<double>(bytes) / 1024.0;
  size_t unit = 0;
  while (value >= 1024.0 && unit + 1 < std::size(kUnits)) {
    value /= 1024.0;
    ++unit;
  }
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), "%.1f %s", value, kUnits[unit]);
  return buffer;
}

std::string format_duration(int64_t micros) {
  micros = std::max<int64_t>(micros, 0);
  char buffer[32];
  const double ms = static_cast<double>(micros) / 1000.0;
  if (micros < 10'000) {
    std::snprintf(buffer, sizeof(buffer), "%.1f ms", ms);
  } else if (micros < 1'000'000) {
    std::snprintf(buffer, sizeof(buffer), "%" PRId64 " ms", (micros + 500) / 1000);
  } else if (micros < 10'000'000) {
    std::snprintf(buffer, sizeof(buffer), "%.1f s", ms / 1000.0);
  } else {
    std::snprintf(buffer, sizeof(buffer), "%" PRId64 " s", (micros + 500'000) / 1'000'000);
  }
  return buffer;
}

std::string format_flow_line(const FlowSnapshot& flow) {
  std::string line;
  const int64_t total_us = flow.timings.total_us();
  if (flow.kind == FlowKind::kTcp) {
    line = "TCP " + printable(format_host_port(flow.tcp_host, flow.tcp_port)) + " " +
           format_size(flow.bytes_from_client) + " up " + format_size(flow.bytes_from_server) +
           " down " + format_duration(total_us);
    if (!flow.passthrough.empty()) {
      line += " (passed through: " + printable(flow.passthrough) + ")";
    }
    if (!flow.error.empty()) {
      line += " << " + printable(flow.error);
    }
    return line;
  }
  if (flow.request) {
    line = printable(flow.request->method) + " " + printable(flow.request->url());
  } else {
    // The flow failed before a request: name what we know of the connection.
    std::string peer = flow.client_tls && !flow.client_tls->sni.empty() ? flow.client_tls->sni
                                                                        : flow.server_address;
    if (peer.empty()) {
      peer = flow.client_address;
    }
    line = (flow.client_tls ? "TLS " : "CONN ") + printable(peer);
  }
  if (!flow.error.empty()) {
    line += " << ";
    if (flow.response) {
      line += std::to_string(flow.response->status) + " ";
    }
    line += printable(flow.error);
    return line;
  }
  if (!flow.response) {
    return line + " << no response";
  }
  line += " " + std::to_string(flow.response->status) + " " +
          format_size(flow.response->body.size) + " " + format_duration(total_us);
  if (!flow.websocket_messages.empty()) {
    line += " (WebSocket, " + std::to_string(flow.websocket_messages.size()) + " messages)";
  }
  return line;
}

std::unique_ptr<TerminalPrinter> TerminalPrinter::create(FILE* out, std::string* out_error) {
  return started(std::make_unique<TerminalPrinter>(PrivateTag(), out),
                 "the terminal printer thread", out_error);
}

TerminalPrinter::TerminalPrinter(PrivateTag /*unused*/, FILE* out)
    : WriterSink(
          [this](const std::vector<FlowSnapshotConstSharedPtr>& batch) {
            for (const FlowSnapshotConstSharedPtr& snapshot : batch) {
              std::string line;
              try {
                line = format_flow_line(*snapshot);
              } catch (const std::exception&) {
                continue;
              }
              line.push_back('\n');
              std::fwrite(line.data(), 1, line.size(), out_);
            }
            std::fflush(out_);
          },
          {}),
      out_(out) {}

TerminalPrinter::~TerminalPrinter() { close(); }

}  // namespace sightglass::core
