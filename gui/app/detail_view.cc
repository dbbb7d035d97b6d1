#include "gui/app/detail_view.h"

#include <imgui.h>

#include <algorithm>
#include <string_view>

#include "core/export/http_date.h"
#include "core/export/terminal_printer.h"
#include "gui/model/format.h"

namespace sightglass::gui {

namespace {

const ImVec4 kDim(0.62f, 0.64f, 0.68f, 1.0f);
const ImVec4 kRed(0.95f, 0.42f, 0.40f, 1.0f);
const ImVec4 kGreen(0.45f, 0.80f, 0.50f, 1.0f);
const ImVec4 kSend(0.55f, 0.85f, 0.55f, 1.0f);
const ImVec4 kReceive(0.55f, 0.75f, 0.95f, 1.0f);
constexpr float kMinBodyLines = 14.0f;

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

// section is a collapsing header "Title (count)", open at first.
bool section(const char* title, size_t count) {
  const std::string label = std::string(title) + " (" + std::to_string(count) + ")###" + title;
  return ImGui::CollapsingHeader(label.c_str(), ImGuiTreeNodeFlags_DefaultOpen);
}

// rows_table shows query parameters, form fields or cookies (with Set-Cookie's attributes).
void rows_table(const char* id, const std::vector<NameValue>& rows, bool attributes) {
  if (!ImGui::BeginTable(id, attributes ? 3 : 2,
                         ImGuiTableFlags_RowBg | ImGuiTableFlags_BordersInnerV |
                             ImGuiTableFlags_SizingFixedFit | ImGuiTableFlags_Resizable)) {
    return;
  }
  ImGui::TableSetupColumn("Name", ImGuiTableColumnFlags_WidthFixed);
  ImGui::TableSetupColumn("Value", ImGuiTableColumnFlags_WidthStretch);
  if (attributes) {
    ImGui::TableSetupColumn("Attributes", ImGuiTableColumnFlags_WidthStretch);
  }
  ImGui::TableHeadersRow();
  for (const NameValue& row : rows) {
    ImGui::TableNextRow();
    ImGui::TableSetColumnIndex(0);
    text(sanitize(row.name, 1024));
    ImGui::TableSetColumnIndex(1);
    text(sanitize(row.value, 4096));
    if (attributes) {
      ImGui::TableSetColumnIndex(2);
      ImGui::PushStyleColor(ImGuiCol_Text, kDim);
      text(sanitize(row.attributes, 1024));
      ImGui::PopStyleColor();
    }
  }
  ImGui::EndTable();
}

// grpc_messages lists the sizes of a body's length-prefixed gRPC messages.
void grpc_messages(const char* id, const std::vector<uint64_t>& sizes, uint64_t count) {
  std::string line = std::to_string(count) + (count == 1 ? " message" : " messages");
  if (count > sizes.size()) {
    line += " (sizes of the first " + std::to_string(sizes.size()) + ")";
  }
  ImGui::TextDisabled("%s", line.c_str());
  if (sizes.empty()) {
    return;
  }
  const float row = ImGui::GetTextLineHeightWithSpacing();
  const float height = row * (static_cast<float>(std::min<size_t>(sizes.size(), 8)) + 1.5f);
  if (!ImGui::BeginTable(id, 2,
                         ImGuiTableFlags_RowBg | ImGuiTableFlags_ScrollY |
                             ImGuiTableFlags_SizingFixedFit | ImGuiTableFlags_BordersInnerV,
                         ImVec2(ImGui::GetFontSize() * 16, height))) {
    return;
  }
  ImGui::TableSetupScrollFreeze(0, 1);
  ImGui::TableSetupColumn("#");
  ImGui::TableSetupColumn("Size", ImGuiTableColumnFlags_WidthStretch);
  ImGui::TableHeadersRow();
  ImGuiListClipper clipper;
  clipper.Begin(static_cast<int>(sizes.size()));
  while (clipper.Step()) {
    for (int i = clipper.DisplayStart; i < clipper.DisplayEnd; ++i) {
      ImGui::TableNextRow();
      ImGui::TableSetColumnIndex(0);
      text(std::to_string(i + 1));
      ImGui::TableSetColumnIndex(1);
      text(core::format_size(sizes[static_cast<size_t>(i)]));
    }
  }
  ImGui::EndTable();
}

std::string duration_or_dash(int64_t us) { return us < 0 ? "—" : core::format_duration(us); }

float min_body_height() { return ImGui::GetTextLineHeightWithSpacing() * kMinBodyLines; }

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

void DetailView::prepare(const core::FlowSnapshotConstSharedPtr& flow) {
  if (shown_ == flow) {
    return;
  }
  const bool same_flow = shown_ != nullptr && shown_->id == flow->id;
  shown_ = flow;
  const core::FlowSnapshot& f = *flow;
  const std::string target = f.request ? f.request->target : std::string();
  if (f.request) {
    PreparedBody body = PreparedBody::prepare(f.request->body, f.request->headers);
    std::string name = default_save_name(target, body.content_type, body.data, "request", f.id);
    request_body_.set(std::move(body), std::move(name), same_flow);
    query_ = query_rows(f.request->target);
    cookies_ = cookie_rows(f.request->headers);
    const PreparedBody& prepared = request_body_.body();
    form_ = prepared.truncated ? std::vector<NameValue>()
                               : form_rows(prepared.content_type, prepared.data);
  } else {
    request_body_.set(PreparedBody{}, "", same_flow);
    query_.clear();
    cookies_.clear();
    form_.clear();
  }
  if (f.response) {
    PreparedBody body = PreparedBody::prepare(f.response->body, f.response->headers);
    std::string name = default_save_name(target, body.content_type, body.data, "response", f.id);
    response_body_.set(std::move(body), std::move(name), same_flow);
    set_cookies_ = set_cookie_rows(f.response->headers, f.timings.started_us);
  } else {
    response_body_.set(PreparedBody{}, "", same_flow);
    set_cookies_.clear();
  }
  grpc_ = grpc_info(f);
  if (!same_flow || message_ >= static_cast<int64_t>(f.websocket_messages.size())) {
    message_ = -1;
  }
  if (message_ >= 0) {
    select_message(f, static_cast<size_t>(message_));
  } else if (!f.websocket_messages.empty()) {
    select_message(f, 0);
  }
}

void DetailView::select_message(const core::FlowSnapshot& f, size_t index) {
  const bool same = message_ == static_cast<int64_t>(index);
  message_ = static_cast<int64_t>(index);
  const core::WebSocketMessage& m = f.websocket_messages[index];
  PreparedBody body = PreparedBody::from_bytes(m.data, "", m.truncated);
  std::string name = default_save_name("", "", body.data, "message", index + 1);
  message_body_.set(std::move(body), std::move(name), same);
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
    draw_request(f, mono);
    ImGui::EndTabItem();
  }
  if (ImGui::BeginTabItem("Response", nullptr, tab_flags("Response"))) {
    draw_response(f, mono);
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
    draw_websocket(f, mono);
    ImGui::EndTabItem();
  }
  ImGui::EndTabBar();
  pending_tab_.clear();
}

void DetailView::draw_request(const core::FlowSnapshot& f, ImFont* mono) {
  if (!f.request) {
    ImGui::TextDisabled("(not an HTTP flow)");
    return;
  }
  const core::HttpRequestData& request = *f.request;
  ImGui::PushFont(mono);
  text(sanitize(request.method + " " + request.target + " " + request.http_version));
  ImGui::PopFont();
  if (section("Headers", request.headers.size())) {
    headers_table("request-headers", request.headers);
  }
  if (!request.trailers.empty() && section("Trailers", request.trailers.size())) {
    headers_table("request-trailers", request.trailers);
  }
  if (!query_.empty() && section("Query parameters", query_.size())) {
    rows_table("query", query_, false);
  }
  if (!form_.empty() && section("Form", form_.size())) {
    rows_table("form", form_, false);
  }
  if (!cookies_.empty() && section("Cookies", cookies_.size())) {
    rows_table("cookies", cookies_, false);
  }
  if (grpc_ && ImGui::CollapsingHeader("gRPC###grpc-request", ImGuiTreeNodeFlags_DefaultOpen)) {
    grpc_messages("grpc-request-sizes", grpc_->request_sizes, grpc_->request_messages);
  }
  if (ImGui::CollapsingHeader("Body###request-body", ImGuiTreeNodeFlags_DefaultOpen)) {
    request_body_.draw("request-body", mono, min_body_height());
  }
}

void DetailView::draw_response(const core::FlowSnapshot& f, ImFont* mono) {
  if (!f.response) {
    ImGui::TextDisabled(f.state == core::FlowState::kLive ? "(waiting for the response)"
                                                          : "(no response)");
    return;
  }
  const core::HttpResponseData& response = *f.response;
  ImGui::PushFont(mono);
  text(sanitize(response.http_version + " " + std::to_string(response.status) + " " +
                response.reason));
  ImGui::PopFont();
  if (grpc_ && ImGui::CollapsingHeader("gRPC###grpc-response", ImGuiTreeNodeFlags_DefaultOpen)) {
    if (grpc_->status) {
      const std::string_view name = grpc_status_name(*grpc_->status);
      ImGui::PushStyleColor(ImGuiCol_Text, *grpc_->status == 0 ? kGreen : kRed);
      ImGui::Text("grpc-status %lld %.*s", static_cast<long long>(*grpc_->status),
                  static_cast<int>(name.size()), name.data());
      ImGui::PopStyleColor();
    } else {
      ImGui::TextDisabled(f.state == core::FlowState::kLive ? "grpc-status: (not yet)"
                                                            : "grpc-status: (none)");
    }
    if (!grpc_->message.empty()) {
      ImGui::SameLine();
      text(sanitize(grpc_->message, 2048));
    }
    grpc_messages("grpc-response-sizes", grpc_->response_sizes, grpc_->response_messages);
  }
  if (section("Headers", response.headers.size())) {
    headers_table("response-headers", response.headers);
  }
  if (!response.trailers.empty() && section("Trailers", response.trailers.size())) {
    headers_table("response-trailers", response.trailers);
  }
  if (!set_cookies_.empty() && section("Set-Cookie", set_cookies_.size())) {
    rows_table("set-cookies", set_cookies_, true);
  }
  if (ImGui::CollapsingHeader("Body###response-body", ImGuiTreeNodeFlags_DefaultOpen)) {
    response_body_.draw("response-body", mono, min_body_height());
  }
}

void DetailView::draw_websocket(const core::FlowSnapshot& f, ImFont* mono) {
  const core::WebSocketMessageLog& messages = f.websocket_messages;
  const float row = ImGui::GetTextLineHeightWithSpacing();
  const float list_height = std::clamp(ImGui::GetContentRegionAvail().y * 0.4f, row * 6, row * 20);
  const int64_t first_us = messages[0].time_us;
  if (ImGui::BeginTable("ws", 6,
                        ImGuiTableFlags_RowBg | ImGuiTableFlags_ScrollY |
                            ImGuiTableFlags_SizingFixedFit | ImGuiTableFlags_BordersInnerV |
                            ImGuiTableFlags_Resizable,
                        ImVec2(0, list_height))) {
    ImGui::TableSetupScrollFreeze(0, 1);
    ImGui::TableSetupColumn("#");
    ImGui::TableSetupColumn("Direction");
    ImGui::TableSetupColumn("Time (ms)");
    ImGui::TableSetupColumn("Opcode");
    ImGui::TableSetupColumn("Size");
    ImGui::TableSetupColumn("Data", ImGuiTableColumnFlags_WidthStretch);
    ImGui::TableHeadersRow();
    ImGuiListClipper clipper;
    clipper.Begin(static_cast<int>(messages.size()));
    while (clipper.Step()) {
      for (int i = clipper.DisplayStart; i < clipper.DisplayEnd; ++i) {
        const auto index = static_cast<size_t>(i);
        const core::WebSocketMessage& m = messages[index];
        ImGui::TableNextRow();
        ImGui::TableSetColumnIndex(0);
        const std::string number = std::to_string(i + 1);
        if (ImGui::Selectable(
                number.c_str(), message_ == i,
                ImGuiSelectableFlags_SpanAllColumns | ImGuiSelectableFlags_AllowItemOverlap)) {
          select_message(f, index);
        }
        ImGui::TableSetColumnIndex(1);
        ImGui::PushStyleColor(ImGuiCol_Text, m.from_client ? kSend : kReceive);
        text(websocket_direction(m.from_client));
        ImGui::PopStyleColor();
        ImGui::TableSetColumnIndex(2);
        text(format_relative_ms(m.time_us - first_us));
        ImGui::TableSetColumnIndex(3);
        text(websocket_opcode_name(m.opcode));
        ImGui::TableSetColumnIndex(4);
        text(core::format_size(m.data.size()) + (m.truncated ? "+" : ""));
        ImGui::TableSetColumnIndex(5);
        ImGui::PushFont(mono);
        text(websocket_preview(m));
        ImGui::PopFont();
      }
    }
    ImGui::EndTable();
  }
  if (message_ < 0 || message_ >= static_cast<int64_t>(messages.size())) {
    ImGui::TextDisabled("Select a message to see its payload.");
    return;
  }
  const core::WebSocketMessage& m = messages[static_cast<size_t>(message_)];
  ImGui::Separator();
  ImGui::Text("Message %lld  %.*s  %.*s  %s  at %s ms", static_cast<long long>(message_ + 1),
              static_cast<int>(websocket_direction(m.from_client).size()),
              websocket_direction(m.from_client).data(),
              static_cast<int>(websocket_opcode_name(m.opcode).size()),
              websocket_opcode_name(m.opcode).data(), core::format_size(m.data.size()).c_str(),
              format_relative_ms(m.time_us - first_us).c_str());
  message_body_.draw("message-body", mono, min_body_height());
}

int DetailView::tab_flags(const char* name) const {
  return pending_tab_ == name ? ImGuiTabItemFlags_SetSelected : 0;
}

}  // namespace sightglass::gui
