#include "gui/app/timeline.h"

#include <imgui.h>

#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

#include "core/export/terminal_printer.h"
#include "gui/model/format.h"

namespace sightglass::gui {

namespace {

const ImVec4 kDimText(0.62f, 0.64f, 0.68f, 1.0f);
constexpr float kWheelZoom = 0.8f;  // The span's factor per notch of the wheel.
constexpr float kWheelPan = 0.1f;   // The span's share panned per notch.
constexpr float kDragThreshold = 3.0f;

ImU32 colour(float r, float g, float b, float a = 1.0f) {
  return ImGui::ColorConvertFloat4ToU32(ImVec4(r, g, b, a));
}

ImVec4 status_rgb(StatusClass status) {
  switch (status) {
    case StatusClass::kInformational:
      return ImVec4(0.43f, 0.63f, 0.90f, 1.0f);
    case StatusClass::kSuccess:
      return ImVec4(0.31f, 0.72f, 0.45f, 1.0f);
    case StatusClass::kRedirect:
      return ImVec4(0.90f, 0.74f, 0.27f, 1.0f);
    case StatusClass::kClientError:
      return ImVec4(0.94f, 0.55f, 0.24f, 1.0f);
    case StatusClass::kServerError:
    case StatusClass::kFailed:
      return ImVec4(0.90f, 0.34f, 0.32f, 1.0f);
    case StatusClass::kNone:
      break;
  }
  return ImVec4(0.55f, 0.60f, 0.68f, 1.0f);
}

ImU32 status_colour(StatusClass status, float alpha = 1.0f) {
  ImVec4 c = status_rgb(status);
  c.w = alpha;
  return ImGui::ColorConvertFloat4ToU32(c);
}

int64_t wall_now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void text(const std::string& s) { ImGui::TextUnformatted(s.data(), s.data() + s.size()); }

void add_text(ImDrawList* list, ImVec2 pos, ImU32 col, const std::string& s) {
  list->AddText(pos, col, s.data(), s.data() + s.size());
}

// A row of the tooltip: a dim caption in a fixed column, then the value.
void tooltip_row(const char* caption, const std::string& value,
                 const ImVec4* value_colour = nullptr) {
  ImGui::PushStyleColor(ImGuiCol_Text, kDimText);
  ImGui::TextUnformatted(caption);
  ImGui::PopStyleColor();
  ImGui::SameLine(ImGui::GetFontSize() * 5.5f);
  if (value_colour != nullptr) {
    ImGui::PushStyleColor(ImGuiCol_Text, *value_colour);
  }
  text(value);
  if (value_colour != nullptr) {
    ImGui::PopStyleColor();
  }
}

}  // namespace

float TimelineView::draw_tabs() {
  const float top = ImGui::GetCursorPosY();
  if (ImGui::BeginTabBar("##upper-pane")) {
    const ImGuiTabItemFlags select_flows =
        tab_switch_ && !shown_ ? ImGuiTabItemFlags_SetSelected : ImGuiTabItemFlags_None;
    const ImGuiTabItemFlags select_timeline =
        tab_switch_ && shown_ ? ImGuiTabItemFlags_SetSelected : ImGuiTabItemFlags_None;
    // A switch asked for by the keys shows on the next frame; until then the tabs follow it.
    if (ImGui::BeginTabItem("Flows", nullptr, select_flows)) {
      shown_ = tab_switch_ ? shown_ : false;
      ImGui::EndTabItem();
    }
    if (ImGui::IsItemHovered()) {
      ImGui::SetTooltip("The flow table (Ctrl+T switches)");
    }
    if (ImGui::BeginTabItem("Timeline", nullptr, select_timeline)) {
      shown_ = tab_switch_ ? shown_ : true;
      ImGui::EndTabItem();
    }
    if (ImGui::IsItemHovered()) {
      ImGui::SetTooltip("The flows over time, as a waterfall (Ctrl+T switches)");
    }
    ImGui::EndTabBar();
  }
  tab_switch_ = false;
  return ImGui::GetCursorPosY() - top;
}

void TimelineView::set_shown(bool shown) {
  shown_ = shown;
  tab_switch_ = true;
}

void TimelineView::refresh_model(const FlowStore& store, const FlowListModel& list,
                                 int64_t now_us) {
  const std::vector<uint32_t>& rows = list.visible();
  Signature signature;
  signature.data = rows.data();
  signature.size = rows.size();
  uint64_t hash = 1469598103934665603ULL;
  const size_t stride = std::max<size_t>(1, rows.size() / 64);
  for (size_t i = 0; i < rows.size(); i += stride) {
    hash = (hash ^ rows[i]) * 1099511628211ULL;
  }
  if (!rows.empty()) {
    hash = (hash ^ rows.back()) * 1099511628211ULL;
  }
  signature.sample = hash;
  signature.store_size = store.size();
  signature.live = store.live_count();
  signature.sort_column = list.sort_column();
  signature.ascending = list.sort_ascending();
  signature.filter = list.filter_text();
  // Flows in progress move the end of the range: refresh it a few times a second.
  const auto now = std::chrono::steady_clock::now();
  const bool live_stale =
      model_.live_count() > 0 && now - built_at_ > std::chrono::milliseconds(250);
  if (!built_ || !(signature == signature_) || live_stale) {
    model_.rebuild(store.table(), rows, now_us);
    signature_ = std::move(signature);
    built_ = true;
    built_at_ = now;
  }
}

int64_t TimelineView::tick_step(float width) const {
  const char* widest = clock_labels_ ? "00:00:00.000" : "+00.000 s";
  const float min_px = ImGui::CalcTextSize(widest).x + ImGui::GetFontSize() * 2.0f;
  return nice_tick_step_us(model_.view_span_us() * static_cast<double>(min_px) /
                           static_cast<double>(std::max(width, 1.0f)));
}

int64_t TimelineView::tick_origin() const { return clock_labels_ ? 0 : model_.first_start_us(); }

std::string TimelineView::tick_label(int64_t time_us, int64_t step_us) const {
  if (!clock_labels_) {
    return format_offset(time_us - model_.first_start_us(), step_us);
  }
  std::string label = format_clock(time_us);
  if (step_us >= 1'000'000 && label.size() > 8) {
    label.resize(8);  // HH:MM:SS
  } else if (step_us < 1000) {
    const int64_t micros = time_us % 1000;
    label += std::to_string(micros / 100) + std::to_string(micros / 10 % 10) +
             std::to_string(micros % 10);
  }
  return label;
}

void TimelineView::draw(float height, const FlowStore& store, FlowListModel* list) {
  const int64_t now_us = wall_now_us();
  refresh_model(store, *list, now_us);
  ImGui::BeginChild("timeline", ImVec2(0, height), false,
                    ImGuiWindowFlags_NoScrollbar | ImGuiWindowFlags_NoScrollWithMouse);
  draw_toolbar(*list);
  if (model_.empty()) {
    ImGui::Spacing();
    ImGui::TextDisabled(list->visible_count() == 0 ? "No flows to show."
                                                   : "The visible flows have no start time.");
    ImGui::EndChild();
    return;
  }
  const ImGuiStyle& style = ImGui::GetStyle();
  const float em = ImGui::GetFontSize();
  const float avail = ImGui::GetContentRegionAvail().x;
  const float label_width = std::clamp(avail * 0.24f, 10.0f * em, 24.0f * em);
  const float bars_width = std::max(avail - label_width - style.ScrollbarSize, 1.0f);
  const float x_left = ImGui::GetCursorScreenPos().x;
  const float overview_height = std::round(em * 3.4f);
  const float ruler_height = std::round(em * 1.6f);
  draw_overview(x_left, label_width, bars_width, overview_height, *list, now_us);
  draw_ruler(x_left, label_width, bars_width, ruler_height);
  draw_lanes(std::max(ImGui::GetContentRegionAvail().y, 1.0f), label_width, store, list, now_us);
  ImGui::EndChild();
}

void TimelineView::draw_toolbar(const FlowListModel& list) {
  const double centre = (model_.view_begin_us() + model_.view_end_us()) / 2;
  if (ImGui::Button("Fit")) {
    model_.fit();
  }
  if (ImGui::IsItemHovered()) {
    ImGui::SetTooltip("Show every visible flow");
  }
  ImGui::SameLine();
  if (ImGui::Button(" - ")) {
    model_.zoom(1.0 / static_cast<double>(kWheelZoom), centre);
  }
  ImGui::SameLine(0.0f, 2.0f);
  if (ImGui::Button(" + ")) {
    model_.zoom(static_cast<double>(kWheelZoom), centre);
  }
  ImGui::SameLine();
  ImGui::Checkbox("Clock time", &clock_labels_);
  if (ImGui::IsItemHovered()) {
    ImGui::SetTooltip(
        "Label the ruler with the local time instead of the time since the first flow");
  }
  ImGui::SameLine();
  ImGui::AlignTextToFramePadding();
  std::string info;
  if (!model_.empty()) {
    info = "Window " + format_span(model_.view_span_us()) + "  \xc2\xb7  " +
           std::to_string(model_.flow_count()) + " flows over " +
           format_span(static_cast<double>(model_.last_end_us() - model_.first_start_us()));
    if (model_.live_count() > 0) {
      info += " (" + std::to_string(model_.live_count()) + " in progress)";
    }
  } else {
    info = std::to_string(list.visible_count()) + " flows";
  }
  text(info);
  const char* help =
      "Wheel: scroll  \xc2\xb7  Ctrl+wheel: zoom  \xc2\xb7  Shift+wheel or drag: pan  "
      "\xc2\xb7  Double-click: zoom to flow";
  const float help_width = ImGui::CalcTextSize(help).x;
  ImGui::SameLine();
  const float room = ImGui::GetContentRegionAvail().x;
  if (room > help_width + ImGui::GetFontSize()) {
    ImGui::SetCursorPosX(ImGui::GetCursorPosX() + room - help_width);
    ImGui::PushStyleColor(ImGuiCol_Text, kDimText);
    ImGui::TextUnformatted(help);
    ImGui::PopStyleColor();
  } else {
    ImGui::NewLine();
  }
}

void TimelineView::draw_overview(float x_left, float label_width, float width, float height,
                                 const FlowListModel& list, int64_t now_us) {
  ImDrawList* draw = ImGui::GetWindowDrawList();
  const float em = ImGui::GetFontSize();
  const float top = ImGui::GetCursorScreenPos().y;
  const float bottom = top + height;
  const float x0 = x_left + label_width;
  const float x1 = x0 + width;
  const ImU32 dim = ImGui::GetColorU32(kDimText);
  add_text(draw, ImVec2(x_left + em * 0.4f, top + em * 0.3f), ImGui::GetColorU32(ImGuiCol_Text),
           "Overview");
  add_text(draw, ImVec2(x_left + em * 0.4f, top + em * 1.6f), dim,
           "peak " + std::to_string(model_.density_max()) + " at once");

  ImGui::SetCursorScreenPos(ImVec2(x0, top));
  ImGui::InvisibleButton("##overview", ImVec2(width, height));
  const bool hovered = ImGui::IsItemHovered();
  const bool active = ImGui::IsItemActive();
  const double limit_begin = model_.limit_begin_us();
  const double limit_span = model_.limit_end_us() - limit_begin;
  auto to_x = [&](double time_us) {
    return x0 +
           static_cast<float>((time_us - limit_begin) / limit_span * static_cast<double>(width));
  };
  auto to_time = [&](float x) {
    return limit_begin + static_cast<double>((x - x0) / width) * limit_span;
  };
  const ImGuiIO& io = ImGui::GetIO();
  if (active) {
    model_.center_on(to_time(io.MousePos.x));
  }
  if (hovered && io.MouseWheel != 0.0f) {
    if (io.KeyShift) {
      model_.pan(-static_cast<double>(io.MouseWheel * kWheelPan) * model_.view_span_us());
    } else {
      const double anchor =
          std::clamp(to_time(io.MousePos.x), model_.view_begin_us(), model_.view_end_us());
      model_.zoom(std::pow(static_cast<double>(kWheelZoom), static_cast<double>(io.MouseWheel)),
                  anchor);
    }
  }
  if (hovered) {
    ImGui::SetMouseCursor(ImGuiMouseCursor_Hand);
  }

  draw->AddRectFilled(ImVec2(x0, top), ImVec2(x1, bottom), colour(0.09f, 0.10f, 0.12f));
  // Ticks of the whole range, labelled along the top.
  const float label_height = em * 1.15f;
  const char* widest = clock_labels_ ? "00:00:00.000" : "+00.000 s";
  const float min_px = ImGui::CalcTextSize(widest).x + em * 2.0f;
  const int64_t step = nice_tick_step_us(limit_span * static_cast<double>(min_px / width));
  const int64_t origin = tick_origin();
  draw->PushClipRect(ImVec2(x0, top), ImVec2(x1, bottom), true);
  for (auto k = static_cast<int64_t>(
           std::floor((limit_begin - static_cast<double>(origin)) / static_cast<double>(step)));
       ; ++k) {
    const int64_t t = origin + k * step;
    const float x = to_x(static_cast<double>(t));
    if (x > x1) {
      break;
    }
    if (x < x0 - 0.5f) {
      continue;
    }
    draw->AddLine(ImVec2(x, top), ImVec2(x, bottom), colour(1.0f, 1.0f, 1.0f, 0.07f));
    add_text(draw, ImVec2(x + 3.0f, top + 1.0f), dim, tick_label(t, step));
  }
  // The density: one column a pixel, as high as the flows active at once.
  const auto columns = static_cast<size_t>(std::max(width, 1.0f));
  const std::vector<uint32_t> density = model_.density_columns(columns);
  const float graph_top = top + label_height + 2.0f;
  const float graph_height = bottom - 2.0f - graph_top;
  const double peak = std::max<double>(model_.density_max(), 1.0);
  const ImU32 fill = colour(0.36f, 0.55f, 0.82f, 0.85f);
  for (size_t c = 0; c < columns; ++c) {
    if (density[c] == 0) {
      continue;
    }
    const float h =
        std::max(1.0f, graph_height * static_cast<float>(static_cast<double>(density[c]) / peak));
    const float x = x0 + static_cast<float>(c);
    draw->AddRectFilled(ImVec2(x, bottom - 2.0f - h), ImVec2(x + 1.0f, bottom - 2.0f), fill);
  }
  // The view window: the rest shaded, the window outlined.
  const float w0 = to_x(model_.view_begin_us());
  const float w1 = std::max(to_x(model_.view_end_us()), w0 + 2.0f);
  const ImU32 shade = colour(0.0f, 0.0f, 0.0f, 0.45f);
  draw->AddRectFilled(ImVec2(x0, top), ImVec2(w0, bottom), shade);
  draw->AddRectFilled(ImVec2(w1, top), ImVec2(x1, bottom), shade);
  draw->AddRectFilled(ImVec2(w0, top), ImVec2(w1, bottom), colour(0.45f, 0.65f, 1.0f, 0.08f));
  draw->AddRect(ImVec2(w0, top), ImVec2(w1, bottom), colour(0.45f, 0.65f, 1.0f, 0.9f), 0.0f, 0,
                1.5f);
  // The selected flow.
  if (const std::optional<uint32_t> row = list.selected_row()) {
    if (const std::optional<FlowExtent> bar = model_.extent(*row, now_us)) {
      const float x = to_x(static_cast<double>(bar->start_us));
      draw->AddLine(ImVec2(x, graph_top), ImVec2(x, bottom), colour(1.0f, 1.0f, 1.0f, 0.8f));
    }
  }
  draw->PopClipRect();
  if (hovered && !active) {
    ImGui::SetTooltip("Click or drag to move the window; wheel to zoom, Shift+wheel to pan");
  }
  ImGui::SetCursorScreenPos(ImVec2(x_left, bottom + 2.0f));
}

void TimelineView::draw_ruler(float x_left, float label_width, float width, float height) {
  ImDrawList* draw = ImGui::GetWindowDrawList();
  const float em = ImGui::GetFontSize();
  const float top = ImGui::GetCursorScreenPos().y;
  const float bottom = top + height;
  const float x0 = x_left + label_width;
  const float x1 = x0 + width;
  ImGui::InvisibleButton("##ruler", ImVec2(label_width + width, height));
  const bool hovered = ImGui::IsItemHovered();
  const ImGuiIO& io = ImGui::GetIO();
  if (ImGui::IsItemActive() && io.MouseDelta.x != 0.0f) {
    model_.pan(-static_cast<double>(io.MouseDelta.x / width) * model_.view_span_us());
  }
  if (hovered && io.MouseWheel != 0.0f) {
    if (io.KeyShift) {
      model_.pan(-static_cast<double>(io.MouseWheel * kWheelPan) * model_.view_span_us());
    } else {
      const double anchor = io.MousePos.x >= x0
                                ? model_.x_to_time(static_cast<double>(io.MousePos.x - x0),
                                                   static_cast<double>(width))
                                : (model_.view_begin_us() + model_.view_end_us()) / 2;
      model_.zoom(std::pow(static_cast<double>(kWheelZoom), static_cast<double>(io.MouseWheel)),
                  anchor);
    }
  }
  draw->AddRectFilled(ImVec2(x_left, top), ImVec2(x1, bottom),
                      ImGui::GetColorU32(ImGuiCol_TableHeaderBg));
  draw->AddLine(ImVec2(x_left, bottom - 1.0f), ImVec2(x1, bottom - 1.0f),
                ImGui::GetColorU32(ImGuiCol_TableBorderStrong));
  draw->AddLine(ImVec2(x0 - 1.0f, top), ImVec2(x0 - 1.0f, bottom),
                ImGui::GetColorU32(ImGuiCol_TableBorderStrong));
  const float text_y = top + (height - ImGui::GetTextLineHeight()) / 2;
  add_text(draw, ImVec2(x_left + em * 0.4f, text_y), ImGui::GetColorU32(ImGuiCol_Text), "Name");
  const int64_t step = tick_step(width);
  const int64_t origin = tick_origin();
  draw->PushClipRect(ImVec2(x0, top), ImVec2(x1, bottom), true);
  for (auto k = static_cast<int64_t>(std::floor(
           (model_.view_begin_us() - static_cast<double>(origin)) / static_cast<double>(step)));
       ; ++k) {
    const int64_t t = origin + k * step;
    const float x = x0 + static_cast<float>(
                             model_.time_to_x(static_cast<double>(t), static_cast<double>(width)));
    if (x > x1) {
      break;
    }
    if (x < x0 - 0.5f) {
      continue;  // Its label would be cut.
    }
    draw->AddLine(ImVec2(x, bottom - em * 0.45f), ImVec2(x, bottom),
                  ImGui::GetColorU32(ImGuiCol_Text, 0.6f));
    add_text(draw, ImVec2(x + 4.0f, text_y), ImGui::GetColorU32(ImGuiCol_Text),
             tick_label(t, step));
  }
  draw->PopClipRect();
  if (hovered) {
    ImGui::SetMouseCursor(ImGuiMouseCursor_ResizeEW);
  }
}

void TimelineView::draw_lanes(float height, float label_width, const FlowStore& store,
                              FlowListModel* list, int64_t now_us) {
  const std::vector<uint32_t>& rows = list->visible();
  const float em = ImGui::GetFontSize();
  const float lane_height = std::round(ImGui::GetTextLineHeight() + em * 0.45f);
  ImGui::PushStyleVar(ImGuiStyleVar_ItemSpacing, ImVec2(0.0f, 0.0f));
  ImGui::BeginChild("##lanes", ImVec2(0, height), false,
                    ImGuiWindowFlags_NoScrollWithMouse | ImGuiWindowFlags_AlwaysVerticalScrollbar);
  const ImGuiIO& io = ImGui::GetIO();
  const ImVec2 origin = ImGui::GetCursorScreenPos();  // Lane 0's top, scrolled.
  const float total_width = ImGui::GetContentRegionAvail().x;
  const float bars_x0 = origin.x + label_width;
  const float bars_width = std::max(total_width - label_width, 1.0f);
  const float view_height = ImGui::GetWindowHeight();
  const auto bars_w = static_cast<double>(bars_width);

  // A selection made elsewhere scrolls into view (and its bar too); else follow the tail.
  const std::optional<uint32_t> selected_row = list->selected_row();
  const std::optional<size_t> selected = list->selected_index();
  if (selected_row != seen_selection_) {
    seen_selection_ = selected_row;
    if (selected) {
      const float lane_top = static_cast<float>(*selected) * lane_height;
      const float scroll = ImGui::GetScrollY();
      if (lane_top < scroll || lane_top + lane_height > scroll + view_height) {
        ImGui::SetScrollY(std::max(lane_top - (view_height - lane_height) / 2, 0.0f));
      }
      if (const std::optional<FlowExtent> bar = model_.extent(*selected_row, now_us)) {
        if (static_cast<double>(bar->end_us) < model_.view_begin_us() ||
            static_cast<double>(bar->start_us) > model_.view_end_us()) {
          model_.center_on(static_cast<double>(bar->start_us));
        }
      }
    }
  } else if (list->follow_tail() && !pressed_) {
    ImGui::SetScrollY(static_cast<float>(rows.size()) * lane_height);
  }

  // The mouse.
  const bool hovered = ImGui::IsWindowHovered();
  const bool in_content =
      hovered && io.MousePos.x >= origin.x && io.MousePos.x < origin.x + total_width;
  const bool in_bars = in_content && io.MousePos.x >= bars_x0;
  auto lane_at = [&](float y) -> std::optional<size_t> {
    if (y < origin.y) {
      return std::nullopt;
    }
    const auto lane = static_cast<size_t>((y - origin.y) / lane_height);
    return lane < rows.size() ? std::optional<size_t>(lane) : std::nullopt;
  };
  if (hovered && io.MouseWheel != 0.0f) {
    if (io.KeyCtrl) {
      const double anchor =
          in_bars ? model_.x_to_time(static_cast<double>(io.MousePos.x - bars_x0), bars_w)
                  : (model_.view_begin_us() + model_.view_end_us()) / 2;
      model_.zoom(std::pow(static_cast<double>(kWheelZoom), static_cast<double>(io.MouseWheel)),
                  anchor);
    } else if (io.KeyShift) {
      model_.pan(-static_cast<double>(io.MouseWheel * kWheelPan) * model_.view_span_us());
    } else {
      const float scroll = std::clamp(ImGui::GetScrollY() - io.MouseWheel * lane_height * 3.0f,
                                      0.0f, ImGui::GetScrollMaxY());
      ImGui::SetScrollY(scroll);
      list->set_follow_tail(io.MouseWheel < 0.0f && scroll >= ImGui::GetScrollMaxY() - lane_height);
    }
  }
  if (hovered && io.MouseWheelH != 0.0f) {
    model_.pan(-static_cast<double>(io.MouseWheelH * kWheelPan) * model_.view_span_us());
  }
  if (in_content && ImGui::IsMouseClicked(ImGuiMouseButton_Left)) {
    pressed_ = true;
    press_in_bars_ = in_bars;
    dragged_ = false;
    press_x_ = io.MousePos.x;
    press_y_ = io.MousePos.y;
  }
  if (pressed_ && ImGui::IsMouseDown(ImGuiMouseButton_Left)) {
    if (press_in_bars_ && std::abs(io.MousePos.x - press_x_) > kDragThreshold) {
      dragged_ = true;
    }
    if (dragged_) {
      model_.pan(-static_cast<double>(io.MouseDelta.x) / bars_w * model_.view_span_us());
      ImGui::SetMouseCursor(ImGuiMouseCursor_ResizeEW);
    }
  } else if (pressed_) {
    pressed_ = false;
    if (!dragged_) {
      if (const std::optional<size_t> lane = lane_at(press_y_)) {
        list->select(*lane);
        seen_selection_ = list->selected_row();  // Clicked: in view already.
      }
    }
  }
  if (in_content && ImGui::IsMouseDoubleClicked(ImGuiMouseButton_Left)) {
    if (const std::optional<size_t> lane = lane_at(io.MousePos.y)) {
      if (const std::optional<FlowExtent> bar = model_.extent(rows[*lane], now_us)) {
        model_.zoom_to(bar->start_us, bar->end_us);
      }
    }
  }
  const std::optional<size_t> hover_lane =
      in_content && !dragged_ ? lane_at(io.MousePos.y) : std::nullopt;

  ImDrawList* draw = ImGui::GetWindowDrawList();
  const ImVec2 clip_min = draw->GetClipRectMin();
  const ImVec2 clip_max = draw->GetClipRectMax();
  draw->ChannelsSplit(3);  // 0: lane backgrounds, 1: the grid, 2: names and bars.
  // The grid, at the ruler's ticks, and "now" while flows are in progress.
  draw->ChannelsSetCurrent(1);
  {
    const int64_t step = tick_step(bars_width);
    const int64_t tick0 = tick_origin();
    for (auto k = static_cast<int64_t>(std::floor(
             (model_.view_begin_us() - static_cast<double>(tick0)) / static_cast<double>(step)));
         ; ++k) {
      const int64_t t = tick0 + k * step;
      const float x =
          bars_x0 + static_cast<float>(model_.time_to_x(static_cast<double>(t), bars_w));
      if (x > bars_x0 + bars_width) {
        break;
      }
      if (x >= bars_x0) {
        draw->AddLine(ImVec2(x, clip_min.y), ImVec2(x, clip_max.y), colour(1, 1, 1, 0.06f));
      }
    }
    draw->AddLine(ImVec2(bars_x0 - 1.0f, clip_min.y), ImVec2(bars_x0 - 1.0f, clip_max.y),
                  ImGui::GetColorU32(ImGuiCol_TableBorderLight));
    if (model_.live_count() > 0) {
      const float x =
          bars_x0 + static_cast<float>(model_.time_to_x(static_cast<double>(now_us), bars_w));
      if (x >= bars_x0 && x <= bars_x0 + bars_width) {
        draw->AddLine(ImVec2(x, clip_min.y), ImVec2(x, clip_max.y),
                      colour(0.9f, 0.35f, 0.3f, 0.6f));
      }
    }
  }

  const core::SummaryTable& table = store.table();
  auto lock = table.read_lock();
  const ImU32 text_colour = ImGui::GetColorU32(ImGuiCol_Text);
  const ImU32 dim = ImGui::GetColorU32(kDimText);
  const float text_dy = (lane_height - ImGui::GetTextLineHeight()) / 2;
  std::optional<uint32_t> tooltip_row_of;
  ImGuiListClipper clipper;
  clipper.Begin(static_cast<int>(rows.size()), lane_height);
  while (clipper.Step()) {
    for (int i = clipper.DisplayStart; i < clipper.DisplayEnd; ++i) {
      const auto lane = static_cast<size_t>(i);
      const float y = ImGui::GetCursorScreenPos().y;
      const uint32_t row = rows[lane];
      ImGui::Dummy(ImVec2(total_width, lane_height));
      draw->ChannelsSetCurrent(0);
      const ImVec2 lane_min(origin.x, y);
      const ImVec2 lane_max(origin.x + total_width, y + lane_height);
      if (selected && *selected == lane) {
        draw->AddRectFilled(lane_min, lane_max, ImGui::GetColorU32(ImGuiCol_Header));
      } else if (hover_lane && *hover_lane == lane) {
        draw->AddRectFilled(lane_min, lane_max, ImGui::GetColorU32(ImGuiCol_HeaderHovered, 0.5f));
      } else if (lane % 2 == 1) {
        draw->AddRectFilled(lane_min, lane_max, ImGui::GetColorU32(ImGuiCol_TableRowBgAlt));
      }
      if (row >= table.size()) {
        continue;
      }
      const core::SummaryView view = table.view(row);
      draw->ChannelsSetCurrent(2);
      // The name: method, host and path, cut at the column.
      const bool tcp = view.protocol == core::FlowProtocol::kTcp;
      const std::string method = tcp ? std::string("TCP") : sanitize(view.method, 16);
      const std::string name = sanitize(view.host, 256) + (tcp ? "" : sanitize(view.path, 512));
      draw->PushClipRect(ImVec2(origin.x, y), ImVec2(bars_x0 - em * 0.4f, y + lane_height), true);
      const float method_x = origin.x + em * 0.4f;
      add_text(draw, ImVec2(method_x, y + text_dy), dim, method);
      add_text(draw, ImVec2(method_x + em * 3.6f, y + text_dy), text_colour, name);
      draw->PopClipRect();
      if (hover_lane && *hover_lane == lane && !in_bars) {
        tooltip_row_of = row;
      }
      // The bar: the time known, then (in progress) a lighter part up to now.
      const std::optional<FlowExtent> bar = model_.extent(row, now_us);
      if (!bar) {
        continue;
      }
      const int64_t known_end = bar->start_us + std::max<int64_t>(view.duration_us, 0);
      const auto at = [&](int64_t t) {
        const double x = model_.time_to_x(static_cast<double>(t), bars_w);
        return bars_x0 + static_cast<float>(std::clamp(x, -8.0, bars_w + 8.0));
      };
      const float x0 = at(bar->start_us);
      float x1 = std::max(at(bar->end_us), x0 + 2.0f);
      const float xk = std::clamp(at(known_end), x0, x1);
      if (x1 < bars_x0 || x0 > bars_x0 + bars_width) {
        continue;
      }
      draw->PushClipRect(ImVec2(bars_x0, y), ImVec2(bars_x0 + bars_width, y + lane_height), true);
      const float top = y + std::round(lane_height * 0.24f);
      const float bottom = y + lane_height - std::round(lane_height * 0.24f);
      const StatusClass status = status_class(view);
      if (bar->live) {
        draw->AddRectFilled(ImVec2(x0, top), ImVec2(x1, bottom), status_colour(status, 0.35f),
                            2.0f);
        if (xk > x0) {
          draw->AddRectFilled(ImVec2(x0, top), ImVec2(xk, bottom), status_colour(status), 2.0f);
        }
      } else {
        draw->AddRectFilled(ImVec2(x0, top), ImVec2(x1, bottom), status_colour(status), 2.0f);
      }
      if (selected && *selected == lane) {
        draw->AddRect(ImVec2(x0 - 1.0f, top - 1.0f), ImVec2(x1 + 1.0f, bottom + 1.0f),
                      colour(1, 1, 1, 0.9f), 2.0f);
      }
      // The duration after the bar, when there is room.
      if (view.duration_us >= 0 && !bar->live) {
        const std::string duration = core::format_duration(view.duration_us);
        const float w = ImGui::CalcTextSize(duration.c_str()).x;
        if (x1 + em * 0.4f + w < bars_x0 + bars_width) {
          add_text(draw, ImVec2(x1 + em * 0.4f, y + text_dy), dim, duration);
        }
      }
      draw->PopClipRect();
      if (hover_lane && *hover_lane == lane && in_bars &&
          model_.hit_test(rows, lane, static_cast<double>(io.MousePos.x - bars_x0), bars_w,
                          now_us)) {
        tooltip_row_of = row;
      }
    }
  }
  draw->ChannelsMerge();
  ImGui::EndChild();
  ImGui::PopStyleVar();

  // The hovered flow's details.
  if (tooltip_row_of && !pressed_ && *tooltip_row_of < table.size()) {
    const core::SummaryView view = table.view(*tooltip_row_of);
    ImGui::BeginTooltip();
    ImGui::PushTextWrapPos(em * 40.0f);
    const bool tcp = view.protocol == core::FlowProtocol::kTcp;
    ImGui::PushStyleColor(ImGuiCol_Text, kDimText);
    text(tcp ? std::string("TCP") : sanitize(view.method, 16));
    ImGui::PopStyleColor();
    ImGui::SameLine();
    ImGui::TextWrapped("%s", sanitize(view.url, 1024).c_str());
    ImGui::PopTextWrapPos();
    ImGui::Separator();
    const std::string status = status_text(view);
    const ImVec4 status_vec = status_rgb(status_class(view));
    tooltip_row("Status", status.empty() ? std::string("\xe2\x80\x94") : status, &status_vec);
    tooltip_row("Started", format_clock(view.started_us) + "   " +
                               format_offset(view.started_us - model_.first_start_us(), 1000) +
                               " from the first");
    if (view.has(core::kSummaryLive)) {
      tooltip_row("Duration",
                  "in progress, " +
                      core::format_duration(std::max<int64_t>(now_us - view.started_us, 0)) +
                      " so far");
    } else {
      tooltip_row("Duration", view.duration_us < 0 ? std::string("\xe2\x80\x94")
                                                   : core::format_duration(view.duration_us));
    }
    tooltip_row("Size", core::format_size(view.response_size) + " received, " +
                            core::format_size(view.request_size) + " sent");
    if (!view.response_content_type.empty()) {
      tooltip_row("Type", sanitize(view.response_content_type, 128));
    }
    ImGui::EndTooltip();
  }
}

}  // namespace sightglass::gui
