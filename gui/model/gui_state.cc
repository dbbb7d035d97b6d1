#include "gui/model/gui_state.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>

namespace sightglass::gui {

namespace {

constexpr int kMinSize = 200;
constexpr int kMaxSize = 16384;

}  // namespace

void parse_state_line(const std::string& line, GuiState* state) {
  const size_t eq = line.find('=');
  if (eq == std::string::npos) {
    return;
  }
  const std::string key = line.substr(0, eq);
  const std::string value = line.substr(eq + 1);
  if (key == "Size") {
    int w = 0;
    int h = 0;
    if (std::sscanf(value.c_str(), "%d,%d", &w, &h) == 2 && w >= kMinSize && h >= kMinSize &&
        w <= kMaxSize && h <= kMaxSize) {
      state->width = w;
      state->height = h;
    }
  } else if (key == "Filter") {
    state->filter = value;
  } else if (key == "Split") {
    char* end = nullptr;
    const float split = std::strtof(value.c_str(), &end);
    if (end != value.c_str() && split >= 0.1f && split <= 0.9f) {
      state->split = split;
    }
  } else if (key == "Timeline") {
    state->timeline = value == "1";
  }
}

std::string format_state(const GuiState& state) {
  // The filter is one line: a newline in it (pasted) would end the entry.
  std::string filter = state.filter;
  std::replace(filter.begin(), filter.end(), '\n', ' ');
  std::replace(filter.begin(), filter.end(), '\r', ' ');
  char split[32];
  std::snprintf(split, sizeof(split), "%.3f", static_cast<double>(state.split));
  return "Size=" + std::to_string(state.width) + "," + std::to_string(state.height) +
         "\nFilter=" + filter + "\nSplit=" + split + "\nTimeline=" + (state.timeline ? "1" : "0");
}

}  // namespace sightglass::gui
