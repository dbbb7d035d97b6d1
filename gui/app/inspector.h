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
#include "gui/app/intercept_view.h"
#include "gui/app/menu_bar.h"
#include "gui/app/timeline.h"
#include "gui/model/flow_list_model.h"
#include "gui/model/flow_store.h"
#include "gui/model/gui_state.h"

struct ImFont;

namespace sightglass::gui {

struct InspectorInfo {
  std::string listen_address;  // "" with --no-server.
  std::string mode;            // "regular proxy", "files only"...
  std::vector<std::string> files;
};

class Inspector {
 public:
  Inspector(FlowStore* store, FlowListModel* list, InspectorInfo info, ImFont* mono,
            AppHooks hooks);

  // draw builds this frame's UI; call between Window::begin_frame and end_frame.
  void draw();
  // quit_requested says whether Ctrl+Q (or File > Quit) was chosen.
  bool quit_requested() const { return quit_ || menu_.quit_requested(); }
  // paused says whether the capture is paused (new flows are not added).
  bool paused() const { return menu_.paused(); }
  // The state remembered between runs (gui/app/settings.h).
  void restore(const GuiState& state);
  void remember(GuiState* state) const;
  // set_filter_text puts |text| in the filter bar (as if typed).
  void set_filter_text(const std::string& text);
  // select_tab shows the detail tab named |name| first; "Timeline" shows the timeline instead
  // of the flow table.
  void select_tab(std::string name) {
    if (name == "Timeline") {
      timeline_.set_shown(true);
      return;
    }
    detail_view_.select_tab(std::move(name));
  }

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
  InterceptView intercept_;  // Before menu_, which takes the hooks it is made from.
  MenuBar menu_;
  TimelineView timeline_;  // Instead of the table when shown (Ctrl+T, the tabs above it).
  std::vector<char> filter_buffer_;
  bool focus_filter_ = false;
  bool quit_ = false;
  size_t page_rows_ = 20;
  // Flows per second in the status bar: the store's size at the last sample.
  double rate_ = 0;
  size_t rate_size_ = 0;
  double rate_time_ = 0;
  size_t rss_ = 0;
  float split_ = 0.52f;  // The table's share of the height (the splitter moves it).
  // The selected flow's detail, reloaded when the selection or its revision changes.
  int64_t detail_row_ = -1;
  uint64_t detail_revision_ = 0;
  core::FlowSnapshotConstSharedPtr detail_;
  std::string detail_error_;
};

}  // namespace sightglass::gui
