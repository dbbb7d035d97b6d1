#pragma once

// GuiSettings: what the inspector remembers between runs, in `sightglass-gui.ini` in the
// confdir (README): Dear ImGui's own entries (the flow table's column widths, order, visibility
// and sort) and a [Sightglass][State] entry with the window size, the last filter, the table's
// share of the height and whether the timeline is shown.

#include <filesystem>
#include <string>

#include "gui/model/gui_state.h"

namespace sightglass::gui {

class GuiSettings {
 public:
  GuiSettings() = default;
  // ~GuiSettings writes the file and detaches from ImGui (which may outlive it).
  ~GuiSettings();
  GuiSettings(const GuiSettings&) = delete;
  GuiSettings& operator=(const GuiSettings&) = delete;

  // install makes ImGui read and write |confdir|/sightglass-gui.ini (the directory is created if
  // missing) and reads it now; call after the ImGui context exists, before the first frame.
  // Without a usable confdir nothing is remembered.
  void install(const std::filesystem::path& confdir);
  // save writes the file now (ImGui also writes it when settings change and at exit).
  void save();

  GuiState& state() { return state_; }
  bool loaded() const { return loaded_; }  // The file existed.

 private:
  GuiState state_;
  std::string ini_path_;
  bool loaded_ = false;
};

}  // namespace sightglass::gui
