#pragma once

// Inspector: one frame of the inspector's UI (filter bar, flow table, detail pane, status
// bar) over a FlowStore and its FlowListModel, and the keys. It draws into a window that
// covers the whole viewport.

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/proxy/flow.h"
#include "gui/app/detail_view.h"
#include "gui/model/flow_list_model.h"
#include "gui/model/flow_store.h"

struct ImFont;

namespace sightglass::gui {

struct InspectorInfo {
  std::string listen_address;  // "" with --no-server.
  std::string mode;            // "regular proxy", "files only"...
  std::vector<std::string> files;
};

class Inspector {
 public:
  Inspector(FlowStore* store, FlowListModel* list, InspectorInfo info, ImFont* mono);

  // draw builds this frame's UI; call between Window::begin_frame and end_frame.
  void draw();
  // quit_requested says whether Ctrl+Q was pressed.
  bool quit_requested() const { return quit_; }
  // set_filter_text puts |text| in the filter bar (as if typed).
  void set_filter_text(const std::string& text);
  // select_tab shows the detail tab named |name| first.
  void select_tab(std::string name) { detail_view_.select_tab(std::move(name)); }

 private:
  void handle_keys();
  void draw_filter_bar();
  void draw_table(float height);
  void draw_detail(float height);
  void draw_status_bar();

  FlowStore* store_;
  FlowListModel* list_;
  InspectorInfo info_;
  ImFont* mono_;
  DetailView detail_view_;
  std::vector<char> filter_buffer_;
  bool focus_filter_ = false;
  bool quit_ = false;
  size_t page_rows_ = 20;
  float split_ = 0.52f;  // The table's share of the height (the splitter moves it).
  // The selected flow's detail, reloaded when the selection or its revision changes.
  int64_t detail_row_ = -1;
  uint64_t detail_revision_ = 0;
  core::FlowSnapshotConstSharedPtr detail_;
  std::string detail_error_;
};

}  // namespace sightglass::gui
