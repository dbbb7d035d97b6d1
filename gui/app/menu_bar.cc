#include "gui/app/menu_bar.h"

#include <GLFW/glfw3.h>
#include <imgui.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <filesystem>
#include <numeric>
#include <utility>

#include "gui/app/intercept_view.h"

namespace sightglass::gui {

namespace {

constexpr size_t kPathCapacity = 4096;
constexpr auto kMessageLifetime = std::chrono::seconds(8);
constexpr size_t kMaxReplays = 100;  // At once, from one command.
const ImVec4 kDim(0.62f, 0.64f, 0.68f, 1.0f);
const ImVec4 kRed(0.95f, 0.42f, 0.40f, 1.0f);

const char* scope_name(uint8_t scope) {
  static constexpr std::array<const char*, 3> kNames = {"selected", "filtered", "all"};
  return kNames[std::min<size_t>(scope, kNames.size() - 1)];
}

std::string plural(size_t n, const char* what) {
  return std::to_string(n) + " " + what + (n == 1 ? "" : "s");
}

// The trust steps of the CA panel, per system: a title and the lines to show.
struct TrustSteps {
  const char* system;
  const char* steps;
};

constexpr std::array<TrustSteps, 7> kTrustSteps = {{
    {"Debian / Ubuntu",
     "sudo cp CA /usr/local/share/ca-certificates/sightglass.crt\n"
     "sudo update-ca-certificates"},
    {"Fedora / RHEL", "sudo trust anchor --store CA"},
    {"macOS",
     "sudo security add-trusted-cert -d -r trustRoot \\\n"
     "  -k /Library/Keychains/System.keychain CA"},
    {"Windows", "certutil -addstore -f ROOT CA   (as administrator; the file as .crt)"},
    {"Firefox",
     "Settings > Privacy & Security > Certificates > View Certificates >\n"
     "Authorities > Import... > CA, then tick \"Trust this CA to identify websites\""},
    {"Tools",
     "curl --cacert CA ...\n"
     "export SSL_CERT_FILE=CA REQUESTS_CA_BUNDLE=CA   # OpenSSL, Python requests\n"
     "export NODE_EXTRA_CA_CERTS=CA                   # Node.js"},
    {"Android / iOS",
     "Copy the file to the device, then Android: Settings > Security > Encryption &\n"
     "credentials > Install a certificate > CA certificate (apps must opt in to user CAs);\n"
     "iOS: open it, install the profile, then Settings > General > About > Certificate\n"
     "Trust Settings > enable full trust."},
}};

std::string with_ca(const char* steps, const std::string& ca) {
  std::string out;
  for (const char* p = steps; *p != '\0'; ++p) {
    if (std::strncmp(p, "CA", 2) == 0 &&
        (p[2] == '\0' || p[2] == ' ' || p[2] == '\n' || p[2] == ',' || p[2] == ')')) {
      out += ca;
      ++p;
    } else {
      out += *p;
    }
  }
  return out;
}

}  // namespace

MenuBar::MenuBar(FlowStore* store, FlowListModel* list, AppHooks hooks)
    : store_(store), list_(list), hooks_(std::move(hooks)), path_(kPathCapacity, '\0') {}

void MenuBar::say(std::string text, bool error) {
  message_ = std::move(text);
  message_error_ = error;
  message_at_ = std::chrono::steady_clock::now();
}

std::string MenuBar::message() const {
  if (message_.empty() || std::chrono::steady_clock::now() - message_at_ > kMessageLifetime) {
    return {};
  }
  return message_;
}

std::vector<uint32_t> MenuBar::rows_of(Scope scope) const {
  switch (scope) {
    case Scope::kSelected:
      return list_->marked_rows();
    case Scope::kFiltered:
      return list_->visible();
    case Scope::kAll:
      break;
  }
  std::vector<uint32_t> rows(store_->size());
  std::iota(rows.begin(), rows.end(), uint32_t{0});
  return rows;
}

core::FlowSnapshotConstSharedPtr MenuBar::current_flow(std::string* error) const {
  const std::optional<uint32_t> row = list_->selected_row();
  if (!row || !list_->selected_index()) {
    *error = "no flow is selected";
    return nullptr;
  }
  return store_->detail(*row, error);
}

void MenuBar::copy_url() {
  std::string error;
  const core::FlowSnapshotConstSharedPtr flow = current_flow(&error);
  if (!flow) {
    say("Copy URL: " + error, true);
    return;
  }
  const std::string url = flow_url(*flow);
  ImGui::SetClipboardText(url.c_str());
  say("Copied " + url);
}

void MenuBar::copy_curl() {
  std::string error;
  const core::FlowSnapshotConstSharedPtr flow = current_flow(&error);
  if (!flow) {
    say("Copy as curl: " + error, true);
    return;
  }
  ImGui::SetClipboardText(curl_command(*flow).c_str());
  say("Copied the request as a curl command");
}

void MenuBar::replay_selected() {
  std::vector<uint32_t> rows = list_->marked_rows();
  if (rows.empty()) {
    say("Replay: no flow is selected", true);
    return;
  }
  if (rows.size() > kMaxReplays) {
    say("Replay: " + plural(rows.size(), "flow") + " selected; at most " +
            std::to_string(kMaxReplays) + " at once",
        true);
    return;
  }
  size_t sent = 0;
  std::string error;
  for (uint32_t row : rows) {
    if (replay_row(*store_, row, hooks_.replay, &error)) {
      ++sent;
    }
  }
  if (sent == rows.size()) {
    say("Replaying " + plural(sent, "request") + " (marked REPLAY in the table)");
  } else {
    say("Replayed " + std::to_string(sent) + " of " + plural(rows.size(), "request") + ": " + error,
        true);
  }
}

void MenuBar::clear() {
  list_->wait_idle();
  store_->clear();
  list_->clear_rows();
  cleared_ = true;
  say("Cleared");
}

void MenuBar::set_paused(bool paused) {
  paused_ = paused;
  say(paused ? "Capture paused: new flows are not shown (the proxy keeps forwarding)"
             : "Capture resumed");
}

void MenuBar::open_dialog(Dialog dialog, Scope scope, ExportFormat format) {
  dialog_ = dialog;
  dialog_opening_ = true;
  scope_ = scope;
  format_ = format;
  dialog_error_.clear();
  std::string name;
  switch (dialog) {
    case Dialog::kOpen:
      name = "";
      break;
    case Dialog::kSaveSession:
      name = "flows.sightglass";
      break;
    case Dialog::kExport:
      name = format == ExportFormat::kHar ? "flows.har" : "flows.jsonl";
      break;
    case Dialog::kExportCa:
      name = "sightglass-ca.pem";
      break;
    case Dialog::kNone:
      return;
  }
  std::error_code ec;
  std::string path = std::filesystem::current_path(ec).string();
  if (ec) {
    path.clear();
  }
  if (!path.empty() && path.back() != '/') {
    path += '/';
  }
  path += name;
  path = path.substr(0, kPathCapacity - 1);
  std::fill(path_.begin(), path_.end(), '\0');
  std::memcpy(path_.data(), path.data(), path.size());
}

void MenuBar::run_dialog() {
  const std::string path(path_.data());
  if (path.empty()) {
    dialog_error_ = "type a file name";
    return;
  }
  std::string error;
  switch (dialog_) {
    case Dialog::kOpen: {
      list_->wait_idle();  // The store takes no rows while a worker scans the table.
      const size_t before = store_->size();
      if (!store_->load_file(path, &error)) {
        dialog_error_ = error;
        return;
      }
      say("Opened " + path + ": " + plural(store_->size() - before, "flow"));
      break;
    }
    case Dialog::kSaveSession:
    case Dialog::kExport: {
      const std::vector<uint32_t> rows = rows_of(scope_);
      if (rows.empty()) {
        dialog_error_ = std::string("no ") + scope_name(static_cast<uint8_t>(scope_)) + " flows";
        return;
      }
      const bool ok = dialog_ == Dialog::kSaveSession
                          ? save_session(*store_, rows, path, &error)
                          : export_flows(*store_, rows, format_, path, &error);
      if (!ok) {
        dialog_error_ = error;
        return;
      }
      say((dialog_ == Dialog::kSaveSession ? "Saved " : "Exported ") + plural(rows.size(), "flow") +
          " to " + path);
      break;
    }
    case Dialog::kExportCa: {
      std::error_code ec;
      std::filesystem::copy_file(hooks_.ca_cert_path, path,
                                 std::filesystem::copy_options::overwrite_existing, ec);
      if (ec) {
        dialog_error_ = "cannot write " + path + ": " + ec.message();
        return;
      }
      say("Wrote the CA certificate to " + path);
      break;
    }
    case Dialog::kNone:
      return;
  }
  dialog_ = Dialog::kNone;
  ImGui::CloseCurrentPopup();
}

void MenuBar::draw_dialog() {
  if (dialog_ == Dialog::kNone) {
    return;
  }
  const char* title = "##dialog";
  if (dialog_opening_) {
    ImGui::OpenPopup(title);
    dialog_opening_ = false;
  }
  const ImGuiViewport* viewport = ImGui::GetMainViewport();
  ImGui::SetNextWindowPos(viewport->GetCenter(), ImGuiCond_Appearing, ImVec2(0.5f, 0.5f));
  ImGui::SetNextWindowSize(
      ImVec2(std::min(viewport->WorkSize.x * 0.8f, 60 * ImGui::GetFontSize()), 0));
  if (!ImGui::BeginPopupModal(title, nullptr, ImGuiWindowFlags_NoTitleBar)) {
    return;
  }
  std::string heading;
  const char* button = "Save";
  switch (dialog_) {
    case Dialog::kOpen:
      heading = "Open a session, HAR or JSON Lines file";
      button = "Open";
      break;
    case Dialog::kSaveSession:
      heading = std::string("Save the ") + scope_name(static_cast<uint8_t>(scope_)) +
                " flows as a session file";
      break;
    case Dialog::kExport:
      heading = std::string("Export the ") + scope_name(static_cast<uint8_t>(scope_)) +
                " flows as " + (format_ == ExportFormat::kHar ? "HAR" : "JSON Lines");
      button = "Export";
      break;
    case Dialog::kExportCa:
      heading = "Save the CA certificate (PEM)";
      break;
    case Dialog::kNone:
      break;
  }
  ImGui::TextUnformatted(heading.c_str());
  if (dialog_ == Dialog::kSaveSession || dialog_ == Dialog::kExport) {
    for (uint8_t s = 0; s < 3; ++s) {
      const size_t n = rows_of(static_cast<Scope>(s)).size();
      const std::string label = std::string(scope_name(s)) + " (" + std::to_string(n) + ")";
      if (s > 0) {
        ImGui::SameLine();
      }
      if (ImGui::RadioButton(label.c_str(), static_cast<uint8_t>(scope_) == s)) {
        scope_ = static_cast<Scope>(s);
      }
    }
  }
  if (ImGui::IsWindowAppearing()) {
    ImGui::SetKeyboardFocusHere();
  }
  ImGui::SetNextItemWidth(-1);
  const bool entered =
      ImGui::InputText("##path", path_.data(), path_.size(), ImGuiInputTextFlags_EnterReturnsTrue);
  if (!dialog_error_.empty()) {
    ImGui::PushStyleColor(ImGuiCol_Text, kRed);
    ImGui::TextWrapped("%s", dialog_error_.c_str());
    ImGui::PopStyleColor();
  }
  if (ImGui::Button(button) || entered) {
    run_dialog();
  }
  ImGui::SameLine();
  if (ImGui::Button("Cancel") || ImGui::IsKeyPressed(ImGui::GetKeyIndex(ImGuiKey_Escape))) {
    dialog_ = Dialog::kNone;
    ImGui::CloseCurrentPopup();
  }
  ImGui::EndPopup();
}

void MenuBar::draw_ca_panel() {
  if (!ca_panel_) {
    return;
  }
  ImGui::SetNextWindowSize(ImVec2(50 * ImGui::GetFontSize(), 24 * ImGui::GetFontSize()),
                           ImGuiCond_FirstUseEver);
  if (!ImGui::Begin("CA certificate", &ca_panel_, ImGuiWindowFlags_NoSavedSettings)) {
    ImGui::End();
    return;
  }
  ImGui::TextWrapped(
      "Clients trust Sightglass's certificates once they trust this CA. It was made for this "
      "install alone; its key never leaves the confdir.");
  ImGui::TextUnformatted("Certificate:");
  ImGui::SameLine();
  ImGui::TextUnformatted(hooks_.ca_cert_path.c_str());
  if (ImGui::Button("Copy path")) {
    ImGui::SetClipboardText(hooks_.ca_cert_path.c_str());
    say("Copied " + hooks_.ca_cert_path);
  }
  ImGui::SameLine();
  if (ImGui::Button("Save a copy\xe2\x80\xa6")) {
    open_dialog(Dialog::kExportCa);
  }
  if (!hooks_.listen_address.empty()) {
    ImGui::PushStyleColor(ImGuiCol_Text, kDim);
    ImGui::Text("Proxy: %s  (curl -x http://%s --cacert <path> https://...)",
                hooks_.listen_address.c_str(), hooks_.listen_address.c_str());
    ImGui::PopStyleColor();
  }
  ImGui::Separator();
  if (ImGui::BeginTabBar("trust")) {
    for (const TrustSteps& steps : kTrustSteps) {
      if (ImGui::BeginTabItem(steps.system)) {
        const std::string text = with_ca(steps.steps, hooks_.ca_cert_path);
        ImGui::TextUnformatted(text.c_str());
        if (ImGui::SmallButton("Copy")) {
          ImGui::SetClipboardText(text.c_str());
          say("Copied the steps for " + std::string(steps.system));
        }
        ImGui::EndTabItem();
      }
    }
    ImGui::EndTabBar();
  }
  ImGui::End();
}

void MenuBar::draw_windows() {
  draw_dialog();
  draw_ca_panel();
}

void MenuBar::draw_row_menu() {
  const bool flow = list_->selected_row().has_value();
  if (ImGui::MenuItem("Copy URL", nullptr, false, flow)) {
    copy_url();
  }
  if (ImGui::MenuItem("Copy as curl", nullptr, false, flow)) {
    copy_curl();
  }
  if (ImGui::MenuItem("Replay", "R", false, flow && hooks_.replay)) {
    replay_selected();
  }
  ImGui::Separator();
  if (ImGui::MenuItem("Export selected as HAR\xe2\x80\xa6", nullptr, false, flow)) {
    open_dialog(Dialog::kExport, Scope::kSelected, ExportFormat::kHar);
  }
  if (ImGui::MenuItem("Export selected as JSON Lines\xe2\x80\xa6", nullptr, false, flow)) {
    open_dialog(Dialog::kExport, Scope::kSelected, ExportFormat::kJsonLines);
  }
}

void MenuBar::draw_menu_bar(bool* timeline, InterceptView* intercept) {
  if (!ImGui::BeginMenuBar()) {
    return;
  }
  if (ImGui::BeginMenu("File")) {
    if (ImGui::MenuItem("Open\xe2\x80\xa6", "Ctrl+O")) {
      open_dialog(Dialog::kOpen);
    }
    if (ImGui::MenuItem("Save session\xe2\x80\xa6", "Ctrl+S")) {
      open_dialog(Dialog::kSaveSession, Scope::kAll);
    }
    if (ImGui::BeginMenu("Export")) {
      for (uint8_t s = 0; s < 3; ++s) {
        const auto scope = static_cast<Scope>(s);
        const std::string har = std::string("HAR: ") + scope_name(s) + " flows\xe2\x80\xa6";
        const std::string jsonl =
            std::string("JSON Lines: ") + scope_name(s) + " flows\xe2\x80\xa6";
        if (ImGui::MenuItem(har.c_str(), s == 2 ? "Ctrl+E" : nullptr)) {
          open_dialog(Dialog::kExport, scope, ExportFormat::kHar);
        }
        if (ImGui::MenuItem(jsonl.c_str())) {
          open_dialog(Dialog::kExport, scope, ExportFormat::kJsonLines);
        }
      }
      ImGui::EndMenu();
    }
    ImGui::Separator();
    if (ImGui::MenuItem("Quit", "Ctrl+Q")) {
      quit_ = true;
    }
    ImGui::EndMenu();
  }
  if (ImGui::BeginMenu("Flow")) {
    draw_row_menu();
    ImGui::Separator();
    if (ImGui::MenuItem("Select all", "Ctrl+A")) {
      list_->select_all();
    }
    ImGui::EndMenu();
  }
  if (ImGui::BeginMenu("Capture")) {
    if (ImGui::MenuItem(paused_ ? "Resume" : "Pause", "Ctrl+P", paused_, hooks_.capturing)) {
      set_paused(!paused_);
    }
    if (ImGui::MenuItem("Clear", "Ctrl+K")) {
      clear();
    }
    ImGui::EndMenu();
  }
  if (ImGui::BeginMenu("View")) {
    if (ImGui::MenuItem("Timeline", "Ctrl+T", *timeline)) {
      *timeline = !*timeline;
    }
    ImGui::EndMenu();
  }
  intercept->draw_menu();
  if (ImGui::BeginMenu("Help")) {
    if (ImGui::MenuItem("CA certificate\xe2\x80\xa6")) {
      ca_panel_ = true;
    }
    ImGui::EndMenu();
  }
  ImGui::EndMenuBar();
}

void MenuBar::handle_keys(bool typing) {
  const ImGuiIO& io = ImGui::GetIO();
  if (dialog_ != Dialog::kNone) {
    return;
  }
  if (io.KeyCtrl && !io.KeyShift) {
    if (ImGui::IsKeyPressed(GLFW_KEY_O, false)) {
      open_dialog(Dialog::kOpen);
    } else if (ImGui::IsKeyPressed(GLFW_KEY_S, false)) {
      open_dialog(Dialog::kSaveSession, Scope::kAll);
    } else if (ImGui::IsKeyPressed(GLFW_KEY_E, false)) {
      open_dialog(Dialog::kExport, Scope::kAll, ExportFormat::kHar);
    } else if (ImGui::IsKeyPressed(GLFW_KEY_K, false)) {
      clear();
    } else if (ImGui::IsKeyPressed(GLFW_KEY_P, false) && hooks_.capturing) {
      set_paused(!paused_);
    }
  }
  if (!typing && !io.KeyCtrl && !io.KeyAlt && ImGui::IsKeyPressed(GLFW_KEY_R, false) &&
      hooks_.replay) {
    replay_selected();
  }
}

}  // namespace sightglass::gui
