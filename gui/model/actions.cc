#include "gui/model/actions.h"

#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <utility>

#include "core/export/file_output.h"
#include "core/export/flow_json.h"
#include "core/export/har_writer.h"
#include "core/export/text_util.h"
#include "core/proxy/host_port.h"
#include "core/store/session_file.h"

namespace sightglass::gui {
namespace {

// Bodies up to this size that are text go inline (--data-raw); the rest through printf.
constexpr size_t kMaxInlineBody = 64 * 1024;
// Export writes in pieces of about this size.
constexpr size_t kWriteChunk = 1 << 20;
// Flows stored in one transaction by save_session.
constexpr size_t kSessionBatch = 256;

// is_inline_text says whether a body can be an argument as it is: UTF-8 text without control
// characters other than tab, CR and LF.
bool is_inline_text(std::string_view body) {
  if (body.size() > kMaxInlineBody || !core::is_valid_utf8(body)) {
    return false;
  }
  for (const char c : body) {
    const auto byte = static_cast<unsigned char>(c);
    if ((byte < 0x20 && c != '\t' && c != '\n' && c != '\r') || byte == 0x7f) {
      return false;
    }
  }
  return true;
}

// printf_format writes |data| as a printf format that prints exactly |data|: printable ASCII
// as it is ('%' doubled, '\' escaped), every other byte as a three-digit octal escape.
std::string printf_format(std::string_view data) {
  std::string out;
  out.reserve(data.size() * 2);
  for (const char c : data) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '%') {
      out += "%%";
    } else if (c == '\\') {
      out += "\\\\";
    } else if (byte >= 0x20 && byte < 0x7f) {
      out.push_back(c);
    } else {
      out.push_back('\\');
      out.push_back(static_cast<char>('0' + ((byte >> 6) & 7)));
      out.push_back(static_cast<char>('0' + ((byte >> 3) & 7)));
      out.push_back(static_cast<char>('0' + (byte & 7)));
    }
  }
  return out;
}

// temp_path is a name beside |path| for a file being written.
std::string temp_path(const std::string& path) {
  static std::atomic<uint64_t> counter{0};
  return path + ".partial-" + std::to_string(getpid()) + "-" + std::to_string(++counter);
}

}  // namespace

std::string flow_url(const core::FlowSnapshot& flow) {
  if (flow.kind == core::FlowKind::kTcp) {
    return "tcp://" + core::format_host_port(flow.tcp_host, flow.tcp_port);
  }
  if (flow.request) {
    return flow.request->url();
  }
  std::string host;
  if (flow.client_tls && !flow.client_tls->sni.empty()) {
    host = flow.client_tls->sni;
  } else if (!flow.server_address.empty()) {
    host = flow.server_address;
  }
  return host.empty() ? "" : (flow.client_tls ? "https://" : "http://") + host + "/";
}

std::string shell_quote(std::string_view text) {
  std::string out = "'";
  for (const char c : text) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out.push_back(c);
    }
  }
  out += "'";
  return out;
}

std::string curl_command(const core::FlowSnapshot& flow) {
  std::vector<std::string> parts;
  parts.push_back("curl " + shell_quote(flow_url(flow)));
  if (!flow.request || flow.kind != core::FlowKind::kHttp) {
    return parts.front();
  }
  const core::HttpRequestData& request = *flow.request;
  const std::string body = request.body.contiguous();
  const bool has_data = !body.empty() || core::find_header(request.headers, "Content-Length") ||
                        core::find_header(request.headers, "Transfer-Encoding");
  if (request.method == "HEAD") {
    parts.emplace_back("--head");
  } else if (request.method != (has_data ? "POST" : "GET")) {
    parts.push_back("-X " + shell_quote(request.method));
  }
  bool compressed = false;
  for (const core::Header& h : request.headers) {
    if (h.name.starts_with(':') || core::iequals(h.name, "Content-Length") ||
        core::iequals(h.name, "Transfer-Encoding")) {
      continue;
    }
    if (core::iequals(h.name, "Host") &&
        core::iequals(h.value,
                      core::format_authority(request.host, request.port, request.scheme))) {
      continue;
    }
    if (core::iequals(h.name, "Accept-Encoding")) {
      compressed = true;
      continue;
    }
    parts.push_back("-H " + shell_quote(h.name + ": " + h.value));
  }
  bool piped = false;
  if (has_data) {
    if (is_inline_text(body)) {
      parts.push_back("--data-raw " + shell_quote(body));
    } else {
      piped = true;
      parts.emplace_back("--data-binary @-");
    }
  }
  if (compressed) {
    parts.emplace_back("--compressed");
  }
  std::string out;
  if (piped) {
    out = "printf " + shell_quote(printf_format(body)) + " | ";
  }
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i > 0) {
      out += " \\\n  ";
    }
    out += parts[i];
  }
  return out;
}

bool export_flows(const FlowStore& store, const std::vector<uint32_t>& rows, ExportFormat format,
                  const std::string& path, std::string* error) {
  const bool har = format == ExportFormat::kHar;
  const std::string temp = temp_path(path);
  unlink(temp.c_str());
  core::FileOutput out;
  if (!out.open(temp, core::FileOutput::Mode::kAppend, error)) {
    return false;
  }
  bool ok = true;
  std::string buffer = har ? core::har_document_begin() : std::string();
  for (size_t i = 0; ok && i < rows.size(); ++i) {
    std::string why;
    const core::FlowSnapshotConstSharedPtr flow = store.detail(rows[i], &why);
    if (!flow) {
      *error = "cannot read flow #" + std::to_string(rows[i] + 1) + ": " + why;
      ok = false;
      break;
    }
    if (har && i > 0) {
      buffer += core::kHarDocumentSeparator;
    }
    buffer += core::to_json_line(*flow);
    if (!har) {
      buffer += '\n';
    }
    if (buffer.size() >= kWriteChunk) {
      ok = out.write(buffer, error);
      buffer.clear();
    }
  }
  if (ok && har) {
    buffer += core::kHarDocumentEnd;
  }
  if (ok && !buffer.empty()) {
    ok = out.write(buffer, error);
  }
  std::string close_error;
  if (!out.close(&close_error) && ok) {
    *error = close_error;
    ok = false;
  }
  if (ok && std::rename(temp.c_str(), path.c_str()) != 0) {
    *error = "cannot write " + path + ": " + std::strerror(errno);
    ok = false;
  }
  if (!ok) {
    unlink(temp.c_str());
  }
  return ok;
}

bool save_session(const FlowStore& store, const std::vector<uint32_t>& rows,
                  const std::string& path, std::string* error) {
  std::unique_ptr<core::SessionFile> file =
      core::SessionFile::open(path, core::SessionFile::Mode::kWrite, error);
  if (!file) {
    return false;
  }
  std::vector<core::FlowSnapshotConstSharedPtr> batch;
  batch.reserve(kSessionBatch);
  for (size_t i = 0; i <= rows.size(); ++i) {
    if (batch.size() == kSessionBatch || (i == rows.size() && !batch.empty())) {
      if (!file->append(batch, error)) {
        return false;
      }
      batch.clear();
    }
    if (i == rows.size()) {
      break;
    }
    std::string why;
    core::FlowSnapshotConstSharedPtr flow = store.detail(rows[i], &why);
    if (!flow) {
      *error = "cannot read flow #" + std::to_string(rows[i] + 1) + ": " + why;
      return false;
    }
    batch.push_back(std::move(flow));
  }
  return true;
}

bool replay_row(const FlowStore& store, uint32_t row, const ReplayFn& replay, std::string* error) {
  if (!replay) {
    *error = "there is no proxy to replay through (-n)";
    return false;
  }
  std::string why;
  const core::FlowSnapshotConstSharedPtr flow = store.detail(row, &why);
  if (!flow) {
    *error = "cannot read flow #" + std::to_string(row + 1) + ": " + why;
    return false;
  }
  return replay(*flow, error);
}

}  // namespace sightglass::gui
