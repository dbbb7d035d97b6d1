#include "gui/app/settings.h"

#include <imgui.h>
#include <imgui_internal.h>
#include <system_error>

#include <string_view>

namespace sightglass::gui {

namespace {

GuiSettings* settings_of(ImGuiSettingsHandler* handler) {
  return static_cast<GuiSettings*>(handler->UserData);
}

void* read_open(ImGuiContext* /*ctx*/, ImGuiSettingsHandler* handler, const char* name) {
  return std::string_view(name) == "State" ? settings_of(handler) : nullptr;
}

void read_line(ImGuiContext* /*ctx*/, ImGuiSettingsHandler* /*handler*/, void* entry,
               const char* line) {
  if (entry != nullptr) {
    auto* settings = static_cast<GuiSettings*>(entry);
    parse_state_line(line, &settings->state());
  }
}

void write_all(ImGuiContext* /*ctx*/, ImGuiSettingsHandler* handler, ImGuiTextBuffer* out) {
  const std::string text =
      "[Sightglass][State]\n" + format_state(settings_of(handler)->state()) + "\n";
  out->append(text.data(), text.data() + text.size());
}

}  // namespace

void GuiSettings::install(const std::filesystem::path& confdir) {
  std::error_code ec;
  std::filesystem::create_directories(confdir, ec);
  if (ec) {
    return;
  }
  ImGuiSettingsHandler handler;
  handler.TypeName = "Sightglass";
  handler.TypeHash = ImHashStr("Sightglass");
  handler.ReadOpenFn = read_open;
  handler.ReadLineFn = read_line;
  handler.WriteAllFn = write_all;
  handler.UserData = this;
  ImGui::GetCurrentContext()->SettingsHandlers.push_back(handler);
  ini_path_ = (confdir / "sightglass-gui.ini").string();
  ImGui::GetIO().IniFilename = ini_path_.c_str();
  loaded_ = std::filesystem::exists(ini_path_, ec);
  if (loaded_) {
    ImGui::LoadIniSettingsFromDisk(ini_path_.c_str());
  }
}

GuiSettings::~GuiSettings() {
  if (ImGui::GetCurrentContext() == nullptr || ini_path_.empty()) {
    return;
  }
  // ImGui writes the file once more when its context goes: after this object is gone, so the
  // file is written now and ImGui forgets both the file and this handler.
  save();
  ImGui::GetIO().IniFilename = nullptr;
  auto& handlers = ImGui::GetCurrentContext()->SettingsHandlers;
  for (int i = 0; i < handlers.Size; ++i) {
    if (handlers[i].UserData == this) {
      handlers.erase(handlers.Data + i);
      break;
    }
  }
}

void GuiSettings::save() {
  if (!ini_path_.empty()) {
    ImGui::SaveIniSettingsToDisk(ini_path_.c_str());
  }
}

}  // namespace sightglass::gui
