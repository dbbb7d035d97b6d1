#include "gui/app/detail_view.h"

#include <imgui.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <string_view>

#include "core/export/content_decoding.h"
#include "core/export/flow_json.h"
#include "core/export/terminal_printer.h"
#include "gui/model/format.h"

namespace sightglass::gui {

namespace {

constexpr size_t kMaxDecoded = size_t{64} << 20;
constexpr size_t kMaxPretty = size_t{4} << 20;
constexpr size_t kMaxLineBytes = 4096;
const ImVec4 kDim(0.62f, 0.64f, 0.68f, 1.0f);
const ImVec4 kRed(0.95f, 0.42f, 0.40f, 1.0f);

void text(std::string_view s) { ImGui::TextUnformatted(s.data(), s.data() + s.size()); }

// Two-column table of names and values.
bool begin_pairs(const char* id) {
  return ImGui::BeginTable(id, 2,
                           ImGuiTableFlags_RowBg | ImGuiTableFlags_BordersInnerV |
                               ImGuiTableFlags_SizingFixedFit | ImGuiTableFlags_Resizable);
}

void pair(std::string_view name, const std::string& value) {
  ImGui::TableNextRow();
  ImGui::TableSetColumnIndex(0);
  ImGui::PushStyleColor(ImGuiCol_Text, kDim);
  text(name);
  ImGui::PopStyleColor();
  ImGui::TableSetColumnIndex(1);
  text(sanitize(value, 8192));
}

void headers_table(const char* id, const core::Headers& headers) {
  if (headers.empty()) {
    ImGui::TextDisabled("(no headers)");
    return;
  }
  if (begin_pairs(id)) {
    ImGui::TableSetupColumn("Name", ImGuiTableColumnFlags_WidthFixed);
    ImGui::TableSetupColumn("Value", ImGuiTableColumnFlags_WidthStretch);
    for (const core::Header& header : headers) {
      pair(header.name, header.value);
    }
    ImGui::EndTable();
  }
}

std::string duration_or_dash(int64_t us) { return us < 0 ? "—" : core::format_duration(us); }

void body_view(const char* id, const BodyText& body, ImFont* mono) {
  if (!body.note.empty()) {
    ImGui::TextDisabled("%s", body.note.c_str());
  }
  if (body.data.empty()) {
    ImGui::TextDisabled("(empty body)");
    return;
  }
  ImGui::BeginChild(id, ImVec2(0, 0), true, ImGuiWindowFlags_HorizontalScrollbar);
  ImGui::PushFont(mono);
  ImGuiListClipper clipper;
  if (body.text) {
    clipper.Begin(static_cast<int>(body.line_starts.size()));
    while (clipper.Step()) {
      for (int i = clipper.DisplayStart; i < clipper.DisplayEnd; ++i) {
        const auto index = static_cast<size_t>(i);
        const size_t start = body.line_starts[index];
        size_t end =
            index + 1 < body.line_starts.size() ? body.line_starts[index + 1] : body.data.size();
        while (end > start && (body.data[end - 1] == '\n' || body.data[end - 1] == '\r')) {
          --end;
        }
        const std::string_view line(body.data.data() + start, end - start);
        if (line.size() > kMaxLineBytes) {
          text(sanitize(line, kMaxLineBytes));
        } else {
          text(line);
        }
      }
    }
  } else {
    clipper.Begin(static_cast<int>((body.data.size() + 15) / 16));
    while (clipper.Step()) {
      for (int i = clipper.DisplayStart; i < clipper.DisplayEnd; ++i) {
        text(hex_dump_line(body.data, static_cast<size_t>(i) * 16));
      }
    }
  }
  ImGui::PopFont();
  ImGui::EndChild();
}

void tls_side(const char* title, const std::optional<core::TlsInfo>& tls) {
  ImGui::TextUnformatted(title);
  ImGui::Separator();
  if (!tls) {
    ImGui::TextDisabled("(no TLS)");
    return;
  }
  if (begin_pairs(title)) {
    pair("SNI", tls->sni);
    pair("Version", tls->version);
    pair("Cipher", tls->cipher);
    pair("ALPN", tls->alpn.empty() ? "—" : tls->alpn);
    if (tls->certificate) {
      pair("Subject", tls->certificate->subject);
      pair("Issuer", tls->certificate->issuer);
      pair("Not after", tls->certificate->not_after);
      pair("SHA-256", tls->certificate->sha256);
    }
    ImGui::EndTable();
  }
}

}  // namespace

BodyText BodyText::prepare(const core::CapturedBody& body, const core::Headers& headers) {
  BodyText out;
  out.data = body.contiguous();
  const std::string* encoding = find_header(headers, "Content-Encoding");
  if (encoding != nullptr && !core::is_identity_encoding(*encoding)) {
    core::ContentDecodeInfo info;
    if (auto decoded =
            core::decode_content(*encoding, out.data, kMaxDecoded, &info, body.truncated)) {
      out.note = "decoded from " + *encoding;
      out.data = std::move(*decoded);
    } else {
      out.note = "could not undo Content-Encoding: " + *encoding;
    }
  }
  if (body.truncated) {
    out.note += (out.note.empty() ? "" : "; ") + std::string("truncated: ") +
                core::format_size(body.kept) + " of " + core::format_size(body.size) + " kept";
  }
  out.text = is_displayable_text(out.data);
  const std::string* type = find_header(headers, "Content-Type");
  if (out.text && type != nullptr && core::ascii_lower(*type).find("json") != std::string::npos &&
      out.data.size() <= kMaxPretty) {
    nlohmann::ordered_json parsed = nlohmann::ordered_json::parse(out.data, nullptr, false);
    if (!parsed.is_discarded()) {
      out.data = parsed.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
      out.pretty = true;
    }
  }
  if (out.text) {
    out.line_starts.push_back(0);
    for (size_t i = 0; i < out.data.size(); ++i) {
      if (out.data[i] == '\n' && i + 1 < out.data.size()) {
        out.line_starts.push_back(i + 1);
      }
    }
  }
  return out;
}

void DetailView::prepare(const core::FlowSnapshotConstSharedPtr& flow) {
  if (shown_ == flow) {
    return;
  }
  shown_ = flow;
  request_body_ =
      flow->request ? BodyText::prepare(flow->request->body, flow->request->headers) : BodyText{};
  response_body_ = flow->response ? BodyText::prepare(flow->response->body, flow->response->headers)
                                  : BodyText{};
}

void DetailView::draw(const core::FlowSnapshotConstSharedPtr& flow, ImFont* mono) {
  prepare(flow);
  const core::FlowSnapshot& f = *flow;
  if (!ImGui::BeginTabBar("detail")) {
    return;
  }
  if (ImGui::BeginTabItem("Overview", nullptr, tab_flags("Overview"))) {
    if (!f.error.empty()) {
      ImGui::PushStyleColor(ImGuiCol_Text, kRed);
      ImGui::TextWrapped("%s", sanitize(f.error).c_str());
      ImGui::PopStyleColor();
    }
    if (begin_pairs("overview")) {
      if (f.request) {
        pair("URL", f.request->url());
        pair("Method", f.request->method);
        pair("Version", f.request->http_version);
      } else {
        pair("Destination", f.tcp_host + ":" + std::to_string(f.tcp_port));
        if (!f.tcp_sni.empty()) {
          pair("SNI", f.tcp_sni);
        }
        pair("Bytes up / down", core::format_size(f.bytes_from_client) + " / " +
                                    core::format_size(f.bytes_from_server));
      }
      if (f.response) {
        pair("Status", std::to_string(f.response->status) + " " + f.response->reason);
        pair("Response size", core::format_size(f.response->body.size));
      }
      if (f.request) {
        pair("Request size", core::format_size(f.request->body.size));
      }
      pair("State", f.state == core::FlowState::kLive
                        ? "live (revision " + std::to_string(f.revision) + ")"
                        : "finished");
      pair("Started",
           f.timings.started_us > 0 ? core::format_iso8601_ms(f.timings.started_us) : "—");
      pair("Duration", duration_or_dash(f.timings.total_us()));
      pair("Client", f.client_address);
      pair("Server", f.server_address.empty() ? "—" : f.server_address);
      pair("Client TLS", f.client_tls ? f.client_tls->version + " " + f.client_tls->sni : "—");
      pair("Server TLS", f.server_tls ? f.server_tls->version + " " + f.server_tls->sni : "—");
      if (!f.passthrough.empty()) {
        pair("Passthrough", f.passthrough + (f.passthrough_learned ? " (learned)" : ""));
      }
      if (!f.websocket_messages.empty()) {
        pair("WebSocket messages", std::to_string(f.websocket_messages.size()));
      }
      ImGui::EndTable();
    }
    ImGui::EndTabItem();
  }
  if (ImGui::BeginTabItem("Request", nullptr, tab_flags("Request"))) {
    if (f.request) {
      ImGui::PushFont(mono);
      text(sanitize(f.request->method + " " + f.request->target + " " + f.request->http_version));
      ImGui::PopFont();
      headers_table("request-headers", f.request->headers);
      if (!f.request->trailers.empty()) {
        ImGui::TextDisabled("Trailers");
        headers_table("request-trailers", f.request->trailers);
      }
      body_view("request-body", request_body_, mono);
    } else {
      ImGui::TextDisabled("(not an HTTP flow)");
    }
    ImGui::EndTabItem();
  }
  if (ImGui::BeginTabItem("Response", nullptr, tab_flags("Response"))) {
    if (f.response) {
      ImGui::PushFont(mono);
      text(sanitize(f.response->http_version + " " + std::to_string(f.response->status) + " " +
                    f.response->reason));
      ImGui::PopFont();
      headers_table("response-headers", f.response->headers);
      if (!f.response->trailers.empty()) {
        ImGui::TextDisabled("Trailers");
        headers_table("response-trailers", f.response->trailers);
      }
      body_view("response-body", response_body_, mono);
    } else {
      ImGui::TextDisabled(f.state == core::FlowState::kLive ? "(waiting for the response)"
                                                            : "(no response)");
    }
    ImGui::EndTabItem();
  }
  if (ImGui::BeginTabItem("Timing", nullptr, tab_flags("Timing"))) {
    const core::FlowTimings& t = f.timings;
    const int64_t total = std::max<int64_t>(t.total_us(), 1);
    const std::pair<const char*, int64_t> phases[] = {
        {"Blocked", t.blocked_us}, {"DNS", t.dns_us},   {"Connect", t.connect_us},
        {"TLS", t.ssl_us},         {"Send", t.send_us}, {"Wait", t.wait_us},
        {"Receive", t.receive_us}};
    if (ImGui::BeginTable("timing", 3, ImGuiTableFlags_RowBg | ImGuiTableFlags_SizingFixedFit)) {
      ImGui::TableSetupColumn("Phase", ImGuiTableColumnFlags_WidthFixed);
      ImGui::TableSetupColumn("Time", ImGuiTableColumnFlags_WidthFixed);
      ImGui::TableSetupColumn("Bar", ImGuiTableColumnFlags_WidthStretch);
      int64_t offset = 0;
      for (const auto& [name, us] : phases) {
        ImGui::TableNextRow();
        ImGui::TableSetColumnIndex(0);
        text(name);
        ImGui::TableSetColumnIndex(1);
        text(duration_or_dash(us));
        ImGui::TableSetColumnIndex(2);
        if (us >= 0 && std::string_view(name) != "TLS") {  // TLS is within Connect.
          const ImVec2 at = ImGui::GetCursorScreenPos();
          const float width = ImGui::GetContentRegionAvail().x;
          const float h = ImGui::GetTextLineHeight();
          const auto x0 =
              static_cast<float>(static_cast<double>(offset) / static_cast<double>(total)) * width;
          const float w = std::max(
              2.0f,
              static_cast<float>(static_cast<double>(us) / static_cast<double>(total)) * width);
          ImGui::GetWindowDrawList()->AddRectFilled(ImVec2(at.x + x0, at.y + 2),
                                                    ImVec2(at.x + x0 + w, at.y + h - 2),
                                                    IM_COL32(90, 150, 220, 255));
          offset += us;
        }
        ImGui::Dummy(ImVec2(1, ImGui::GetTextLineHeight()));
      }
      ImGui::TableNextRow();
      ImGui::TableSetColumnIndex(0);
      text("Total");
      ImGui::TableSetColumnIndex(1);
      text(duration_or_dash(t.total_us()));
      ImGui::EndTable();
    }
    ImGui::EndTabItem();
  }
  if (ImGui::BeginTabItem("TLS", nullptr, tab_flags("TLS"))) {
    tls_side("Client side (client to Sightglass)", f.client_tls);
    ImGui::Spacing();
    tls_side("Server side (Sightglass to server)", f.server_tls);
    ImGui::EndTabItem();
  }
  if (!f.websocket_messages.empty() &&
      ImGui::BeginTabItem("WebSocket", nullptr, tab_flags("WebSocket"))) {
    if (ImGui::BeginTable("ws", 5,
                          ImGuiTableFlags_RowBg | ImGuiTableFlags_ScrollY |
                              ImGuiTableFlags_SizingFixedFit | ImGuiTableFlags_BordersInnerV)) {
      ImGui::TableSetupScrollFreeze(0, 1);
      ImGui::TableSetupColumn("Dir");
      ImGui::TableSetupColumn("Time");
      ImGui::TableSetupColumn("Op");
      ImGui::TableSetupColumn("Size");
      ImGui::TableSetupColumn("Data", ImGuiTableColumnFlags_WidthStretch);
      ImGui::TableHeadersRow();
      ImGuiListClipper clipper;
      clipper.Begin(static_cast<int>(f.websocket_messages.size()));
      while (clipper.Step()) {
        for (int i = clipper.DisplayStart; i < clipper.DisplayEnd; ++i) {
          const core::WebSocketMessage& m = f.websocket_messages[static_cast<size_t>(i)];
          ImGui::TableNextRow();
          ImGui::TableSetColumnIndex(0);
          text(m.from_client ? "\xe2\x86\x91 out" : "\xe2\x86\x93 in");
          ImGui::TableSetColumnIndex(1);
          text(format_clock(m.time_us));
          ImGui::TableSetColumnIndex(2);
          static constexpr const char* kOps[] = {"cont", "text", "binary", "3",    "4",   "5",
                                                 "6",    "7",    "close",  "ping", "pong"};
          text(m.opcode < 11 ? kOps[m.opcode] : "?");
          ImGui::TableSetColumnIndex(3);
          text(core::format_size(m.data.size()) + (m.truncated ? "+" : ""));
          ImGui::TableSetColumnIndex(4);
          ImGui::PushFont(mono);
          text(m.opcode == 2 ? hex_dump_line(m.data.substr(0, 16), 0) : sanitize(m.data, 512));
          ImGui::PopFont();
        }
      }
      ImGui::EndTable();
    }
    ImGui::EndTabItem();
  }
  ImGui::EndTabBar();
  pending_tab_.clear();
}

int DetailView::tab_flags(const char* name) const {
  return pending_tab_ == name ? ImGuiTabItemFlags_SetSelected : 0;
}

}  // namespace sightglass::gui
