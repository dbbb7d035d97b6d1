#pragma once

// TimelineView: the Timeline, a waterfall of the visible flows over wall-clock time as in
// Chrome DevTools, drawn with ImDrawList over a TimelineModel. From the top: a toolbar (Fit,
// zoom buttons, the window's span, clock or relative labels, the keys), an overview of the
// whole range (how many flows are active over time, with the view window marked: click or drag
// in it to move the window), a ruler with time ticks, and one lane per visible row in display
// order (virtualized with a clipper, with its own vertical scrollbar): the flow's name on the
// left, its bar coloured by status class (the part still in progress lighter).
//
// Mouse: hover a bar or a name for the flow's details, click to select it, double-click to
// zoom to it; in the lanes the wheel scrolls, Ctrl+wheel zooms around the cursor and
// Shift+wheel or a drag pans; over the overview and the ruler the wheel zooms (Shift: pans).
// A selection made elsewhere (the keys, the table) scrolls its lane into view.
//
// The model's aggregates are rebuilt when the visible rows (or the store) change, not every
// frame; a frame otherwise costs the lanes on screen and the width of the overview.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "gui/model/flow_list_model.h"
#include "gui/model/flow_store.h"
#include "gui/model/timeline_model.h"

namespace sightglass::gui {

class TimelineView {
 public:
  // draw_tabs draws the "Flows | Timeline" switch of the upper pane; returns its height.
  float draw_tabs();
  // shown says whether the upper pane shows the timeline (instead of the flow table).
  bool shown() const { return shown_; }
  void set_shown(bool shown);
  void toggle() { set_shown(!shown_); }

  // draw draws the timeline of |list|'s visible rows in |height| pixels; clicks select rows.
  void draw(float height, const FlowStore& store, FlowListModel* list);

  const TimelineModel& model() const { return model_; }

 private:
  // The visible rows as last seen, to tell when the aggregates must be rebuilt.
  struct Signature {
    const uint32_t* data = nullptr;
    size_t size = 0;
    uint64_t sample = 0;  // A hash of up to 64 rows spread over the list.
    size_t store_size = 0;
    size_t live = 0;
    Column sort_column = Column::kIndex;
    bool ascending = true;
    std::string filter;
    bool operator==(const Signature& other) const = default;
  };

  void refresh_model(const FlowStore& store, const FlowListModel& list, int64_t now_us);
  void draw_toolbar(const FlowListModel& list);
  void draw_overview(float x_left, float label_width, float width, float height,
                     const FlowListModel& list, int64_t now_us);
  void draw_ruler(float x_left, float label_width, float width, float height);
  void draw_lanes(float height, float label_width, const FlowStore& store, FlowListModel* list,
                  int64_t now_us);
  // tick_step and tick_origin: the ruler's ticks for |width| pixels of bars.
  int64_t tick_step(float width) const;
  int64_t tick_origin() const;
  std::string tick_label(int64_t time_us, int64_t step_us) const;

  TimelineModel model_;
  bool shown_ = false;
  bool tab_switch_ = false;  // shown_ changed outside the tabs: select the tab once.
  bool clock_labels_ = false;
  bool built_ = false;
  Signature signature_;
  std::chrono::steady_clock::time_point built_at_;
  // The selection as last seen: a new one made elsewhere scrolls into view.
  std::optional<uint32_t> seen_selection_;
  bool first_frame_ = true;
  // A press in the lanes: a click selects, a drag pans.
  bool pressed_ = false;
  bool press_in_bars_ = false;
  bool dragged_ = false;
  float press_x_ = 0.0f;
  float press_y_ = 0.0f;
};

}  // namespace sightglass::gui
