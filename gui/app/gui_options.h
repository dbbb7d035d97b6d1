#pragma once

// The command line of `sightglass-gui` (CONTRACT.md, "sightglass-gui"): every option of
// `sightglass` plus the inspector's own, which are taken out before cli::parse_options sees the
// rest.

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "cli/options.h"

namespace sightglass::gui {

struct GuiOptions {
  cli::Options proxy;
  std::vector<std::string> read_files;  // -r, --rfile FILE (repeatable).
  bool no_server = false;               // -n, --no-server.
  std::string screenshot;               // --screenshot FILE.png.
  int frames = 5;                       // --frames N.
  std::optional<size_t> select;         // --select N: the N-th visible flow (1-based).
  bool stats = false;                   // --stats: frame times on stderr at exit.
  std::string initial_filter;           // --view-filter EXPR: the filter bar's first text.
  std::string detail_tab;               // --tab NAME: the detail tab shown first.
};

// parse_gui_options parses |args| (without the program name). false with *error naming the
// bad option (exit code 2).
bool parse_gui_options(const std::vector<std::string>& args, GuiOptions* out, std::string* error);

// gui_usage_text is the --help text.
std::string gui_usage_text();

}  // namespace sightglass::gui
