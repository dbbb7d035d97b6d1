#pragma once

// InterceptView: the inspector's intercept (mitmproxy's `i`): its menu and key (Ctrl+I), the
// Intercept window with the filter, the held flows and an editor for the chosen one (method,
// URL or status, headers, body), Resume, Kill and Resume all; and what the flow table needs
// to highlight held rows. It drives core::Interceptor, which holds the flows on the proxy's
// loops.

#include <cstdint>
#include <string>
#include <unordered_set>
#include <vector>

#include "core/rules/interceptor.h"
#include "gui/model/intercept_edit.h"

struct ImFont;

namespace sightglass::gui {

class InterceptView {
 public:
  // |interceptor| is null without a proxy (--no-server): the menu shows it unavailable.
  explicit InterceptView(core::Interceptor* interceptor);

  // draw_menu draws the Intercept menu (inside the menu bar).
  void draw_menu();
  // draw_window draws the Intercept window while it is open (intercept on, or flows held).
  void draw_window(ImFont* mono);
  // handle_keys: Ctrl+I opens the window with the filter field focused.
  void handle_keys();

  // is_held says whether flow |id| waits at a hold point now (as of this frame).
  bool is_held(core::FlowId id) const { return held_ids_.count(id) != 0; }
  // status_text is "INTERCEPT <filter>, N held" while intercepting or holding, else "".
  std::string status_text() const;
  // set_filter turns intercept on with |expression| ("" turns it off); false and *error when
  // it does not parse.
  bool set_filter(const std::string& expression, std::string* error);

  // refresh reads the held flows when they changed (call once a frame, before drawing).
  void refresh();

 private:
  void draw_editor(ImFont* mono);
  void choose(size_t index);
  void resume_chosen();

  core::Interceptor* interceptor_;
  uint64_t generation_ = UINT64_MAX;
  std::vector<core::Interceptor::HeldView> held_;
  std::unordered_set<core::FlowId> held_ids_;
  bool open_ = false;
  bool focus_filter_ = false;
  std::string filter_text_;
  std::string filter_error_;
  core::FlowId chosen_ = 0;
  InterceptEdit edit_;  // The chosen flow's fields, as typed.
  std::string edit_error_;
};

}  // namespace sightglass::gui
