#include "gui/app/gui_options.h"

#include <charconv>
#include <string_view>

#include "core/filter/filter.h"

namespace sightglass::gui {

namespace {

// parse_count parses a decimal count in [min, max].
bool parse_count(std::string_view text, long long min, long long max, long long* out) {
  long long value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value < min || value > max) {
    return false;
  }
  *out = value;
  return true;
}

}  // namespace

bool parse_gui_options(const std::vector<std::string>& args, GuiOptions* out, std::string* error) {
  std::vector<std::string> rest;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--") {
      rest.insert(rest.end(), args.begin() + static_cast<std::ptrdiff_t>(i), args.end());
      break;
    }
    // Options of ours that take a value: "--name VALUE", "--name=VALUE", "-rVALUE".
    std::string name = arg;
    std::optional<std::string> inline_value;
    if (arg.starts_with("--")) {
      if (const size_t eq = arg.find('='); eq != std::string::npos) {
        name = arg.substr(0, eq);
        inline_value = arg.substr(eq + 1);
      }
    } else if (arg.starts_with("-r") && arg.size() > 2) {
      name = "-r";
      inline_value = arg.substr(2);
    }
    const bool takes_value = name == "-r" || name == "--rfile" || name == "--screenshot" ||
                             name == "--frames" || name == "--select" || name == "--view-filter" ||
                             name == "--tab" || name == "--intercept";
    if (takes_value) {
      std::string value;
      if (inline_value) {
        value = *inline_value;
      } else if (i + 1 < args.size()) {
        value = args[++i];
      } else {
        *error = "option " + name + " needs a value";
        return false;
      }
      long long number = 0;
      if (name == "-r" || name == "--rfile") {
        out->read_files.push_back(value);
      } else if (name == "--screenshot") {
        out->screenshot = value;
      } else if (name == "--frames") {
        if (!parse_count(value, 1, 100'000, &number)) {
          *error = "option --frames needs a number of frames from 1 to 100000, not '" + value + "'";
          return false;
        }
        out->frames = static_cast<int>(number);
      } else if (name == "--select") {
        if (!parse_count(value, 1, 1LL << 40, &number)) {
          *error = "option --select needs a flow number from 1, not '" + value + "'";
          return false;
        }
        out->select = static_cast<size_t>(number);
      } else if (name == "--tab") {
        out->detail_tab = value;
      } else if (name == "--intercept") {
        core::FilterError filter_error;
        if (core::FlowFilter::parse(value, &filter_error) == nullptr) {
          *error = "option --intercept: invalid filter: " + filter_error.describe();
          return false;
        }
        out->proxy.intercept = value;
      } else {
        out->initial_filter = value;
      }
      continue;
    }
    if (arg == "-n" || arg == "--no-server") {
      out->no_server = true;
    } else if (arg == "--stats") {
      out->stats = true;
    } else {
      rest.push_back(arg);
    }
  }
  const std::string intercept = out->proxy.intercept;
  if (!cli::parse_options(rest, &out->proxy, nullptr, error)) {
    return false;
  }
  out->proxy.intercept = intercept;
  out->proxy.intercept_ui = !out->no_server;  // The Intercept window can start it any time.
  return true;
}

std::string gui_usage_text() {
  return "usage: sightglass-gui [PROXY OPTIONS] [-r FILE] [-n]\n"
         "\n"
         "The Sightglass desktop inspector: the proxy of `sightglass` with a live flow table.\n"
         "\n"
         "  -r, --rfile FILE      load a session, JSON Lines or HAR file first (repeatable)\n"
         "  -n, --no-server       show files only, do not listen\n"
         "  --view-filter EXPR    start with EXPR in the filter bar\n"
         "  --intercept FILTER    hold matching requests and responses for editing (Ctrl+I)\n"
         "  --screenshot FILE     render --frames frames, write the window as PNG and exit\n"
         "  --frames N            frames before the screenshot (default 5)\n"
         "  --select N            select the N-th visible flow first\n"
         "  --tab NAME            show the detail tab NAME first (Overview, Request, ...);\n"
         "                        Timeline: the timeline instead of the flow table\n"
         "  --stats               print open time, frame times, flow latency and RSS at exit\n"
         "\n"
         "Keys: Ctrl+F or / filter, Enter keep, Esc leave; arrows, PgUp/PgDn, Home/End move\n"
         "(Shift extends, Ctrl+click toggles, Ctrl+A all); Ctrl+T flow table or timeline;\n"
         "Ctrl+O open, Ctrl+S save session, Ctrl+E export HAR; R replay; Ctrl+P pause;\n"
         "Ctrl+K clear; Ctrl+I intercept; Ctrl+Q quit. The window's state is kept in "
         "CONFDIR/sightglass-gui.ini.\n"
         "\n"
         "Proxy options (as `sightglass`):\n\n" +
         cli::usage_text();
}

}  // namespace sightglass::gui
