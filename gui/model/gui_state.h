#pragma once

// GuiState: what the inspector remembers between runs besides Dear ImGui's own settings (the
// window size, the last filter, the table's share of the height, whether the timeline is
// shown), as the lines of the [Sightglass][State] entry of sightglass-gui.ini.

#include <string>

namespace sightglass::gui {

struct GuiState {
  int width = 1280;
  int height = 800;
  std::string filter;
  float split = 0.52f;
  bool timeline = false;
};

// parse_state_line applies one "Key=value" line of the entry to |state| (unknown keys and bad
// values are ignored); format_state writes the entry's lines.
void parse_state_line(const std::string& line, GuiState* state);
std::string format_state(const GuiState& state);

}  // namespace sightglass::gui
