#include "gui/app/inspector.h"

#include <GLFW/glfw3.h>
#include <imgui.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstring>
#include <utility>

#include "core/export/terminal_printer.h"
#include "gui/app/run_stats.h"
#include "gui/model/format.h"

namespace sightglass::gui {

namespace {

constexpr size_t kFilterCapacity = 4096;
const ImVec4 kDim(0.62f, 0.64f, 0.68f, 1.0f);
const ImVec4 kRed(0.95f, 0.42f, 0.40f, 1.0f);
const ImVec4 kAmber(0.98f, 0.72f, 0.30f, 1.0f);
const ImVec4 kHeldBg(0.45f, 0.30f, 0.05f, 0.55f);  // The row of a flow held at the intercept.

ImVec4 status_colour(StatusClass status) {
  switch (status) {
    case StatusClass::kInformational:
      return ImVec4(0.60f, 0.75f, 0.95f, 1.0f);
    case StatusClass::kSuccess:
      return ImVec4(0.45f, 0.85f, 0.45f, 1.0f);
    case StatusClass::kRedirect:
      return ImVec4(0.95f, 0.80f, 0.35f, 1.0f);
    case StatusClass::kClientError:
      return ImVec4(0.98f, 0.60f, 0.30f, 1.0f);
    case StatusClass::kServerError:
    case StatusClass::kFailed:
      return kRed;
    case StatusClass::kNone:
      break;
  }
  return kDim;
}

struct ColumnSpec {
  Column column;
  float width;  // In units of the font size; 0 stretches.
  bool right;   // Right-aligned.
};

constexpr std::array<ColumnSpec, static_cast<size_t>(Column::kCount)> kColumns = {{
    {Column::kIndex, 3.2f, true},
    {Column::kTime, 6.4f, false},
    {Column::kMethod, 4.2f, false},
    {Column::kHost, 12.0f, false},
    {Column::kPath, 0.0f, false},
    {Column::kStatus, 4.0f, false},
    {Column::kType, 6.8f, false},
    {Column::kRequestSize, 4.6f, true},
    {Column::kResponseSize, 4.6f, true},
    {Column::kDuration, 4.6f, true},
    {Column::kProtocol, 3.6f, false},
    {Column::kFlags, 5.0f, false},
}};

void text(const std::string& s) { ImGui::TextUnformatted(s.data(), s.data() + s.size()); }

void right_aligned(const std::string& s) {
  const float width = ImGui::CalcTextSize(s.data(), s.data() + s.size()).x;
  const float avail = ImGui::GetContentRegionAvail().x;
  if (avail > width) {
    ImGui::SetCursorPosX(ImGui::GetCursorPosX() + avail - width);
  }
  text(s);
}

bool key_pressed(ImGuiKey key) { return ImGui::IsKeyPressed(ImGui::GetKeyIndex(key)); }

}  // namespace

Inspector::Inspector(FlowStore* store, FlowListModel* list, InspectorInfo info, ImFont* mono,
                     AppHooks hooks)
    : store_(store),
      list_(list),
      info_(std::move(info)),
      mono_(mono),
      intercept_(hooks.interceptor),
      menu_(store, list, std::move(hooks)),
      filter_buffer_(kFilterCapacity, '\0') {}

void Inspector::restore(const GuiState& state) {
  split_ = state.split;
  timeline_.set_shown(state.timeline);
  if (!state.filter.empty()) {
    set_filter_text(state.filter);
  }
}

void Inspector::remember(GuiState* state) const {
  state->split = split_;
  state->timeline = timeline_.shown();
  state->filter = filter_buffer_.data();
}

void Inspector::set_filter_text(const std::string& text) {
  const size_t n = std::min(text.size(), kFilterCapacity - 1);
  std::memcpy(filter_buffer_.data(), text.data(), n);
  filter_buffer_[n] = '\0';
  list_->set_filter_text(std::string(filter_buffer_.data()));
}

void Inspector::handle_keys() {
  const ImGuiIO& io = ImGui::GetIO();
  if (io.KeyCtrl && ImGui::IsKeyPressed(GLFW_KEY_Q, false)) {
    quit_ = true;
  }
  if (io.KeyCtrl && ImGui::IsKeyPressed(GLFW_KEY_F, false)) {
    focus_filter_ = true;
  }
  intercept_.handle_keys();
  if (io.KeyCtrl && ImGui::IsKeyPressed(GLFW_KEY_T, false)) {
    timeline_.toggle();
  }
  menu_.handle_keys(io.WantTextInput);
  if (io.WantTextInput) {
    return;  // The filter bar has the keys.
  }
  if (!io.KeyCtrl && (ImGui::IsKeyPressed(GLFW_KEY_SLASH, false) ||
                      ImGui::IsKeyPressed(GLFW_KEY_KP_DIVIDE, false))) {
    focus_filter_ = true;
  }
  const bool extend = io.KeyShift;
  if (io.KeyCtrl && ImGui::IsKeyPressed(GLFW_KEY_A, false)) {
    list_->select_all();
  } else if (key_pressed(ImGuiKey_UpArrow)) {
    list_->move_selection(SelectionMove::kUp, page_rows_, extend);
  } else if (key_pressed(ImGuiKey_DownArrow)) {
    list_->move_selection(SelectionMove::kDown, page_rows_, extend);
  } else if (key_pressed(ImGuiKey_PageUp)) {
    list_->move_selection(SelectionMove::kPageUp, page_rows_, extend);
  } else if (key_pressed(ImGuiKey_PageDown)) {
    list_->move_selection(SelectionMove::kPageDown, page_rows_, extend);
  } else if (key_pressed(ImGuiKey_Home)) {
    list_->move_selection(SelectionMove::kHome, page_rows_, extend);
  } else if (key_pressed(ImGuiKey_End)) {
    list_->move_selection(SelectionMove::kEnd, page_rows_, extend);
  } else if (key_pressed(ImGuiKey_Escape)) {
    list_->clear_selection();
  }
}

void Inspector::draw() {
  const ImGuiViewport* viewport = ImGui::GetMainViewport();
  ImGui::SetNextWindowPos(viewport->WorkPos);
  ImGui::SetNextWindowSize(viewport->WorkSize);
  ImGui::Begin("Sightglass", nullptr,
               ImGuiWindowFlags_NoDecoration | ImGuiWindowFlags_NoMove |
                   ImGuiWindowFlags_NoBringToFrontOnFocus | ImGuiWindowFlags_MenuBar |
                   ImGuiWindowFlags_NoBackground);  // Window::end_frame clears to its colour.
  intercept_.refresh();
  bool timeline = timeline_.shown();
  menu_.draw_menu_bar(&timeline, &intercept_);
  timeline_.set_shown(timeline);
  handle_keys();
  if (menu_.take_cleared()) {
    detail_row_ = -1;
    detail_.reset();
    detail_error_.clear();
  }
  draw_filter_bar();
  const ImGuiStyle& style = ImGui::GetStyle();
  const float status_height = ImGui::GetFrameHeight() + style.ItemSpacing.y;
  const float avail = ImGui::GetContentRegionAvail().y - status_height;
  const float splitter = 6.0f * ImGui::GetIO().FontGlobalScale;
  const float min_height = ImGui::GetFrameHeight() * 4;
  const float table_height =
      std::clamp(avail * split_, min_height, std::max(avail - min_height, min_height));
  // The upper pane: the flow table or the timeline, under tabs (Ctrl+T switches).
  const float pane_height = std::max(table_height - timeline_.draw_tabs(), 1.0f);
  if (timeline_.shown()) {
    timeline_.draw(pane_height, *store_, list_);
  } else {
    draw_table(pane_height);
  }
  // A splitter between the table and the detail pane: drag it to share the height.
  ImGui::InvisibleButton("##splitter", ImVec2(-1.0f, splitter));
  if (ImGui::IsItemHovered() || ImGui::IsItemActive()) {
    ImGui::SetMouseCursor(ImGuiMouseCursor_ResizeNS);
  }
  if (ImGui::IsItemActive() && avail > 0.0f) {
    split_ = std::clamp(split_ + ImGui::GetIO().MouseDelta.y / avail, 0.1f, 0.9f);
  }
  draw_detail(std::max(avail - table_height - splitter - 2 * style.ItemSpacing.y, 1.0f));
  draw_status_bar();
  ImGui::End();
  menu_.draw_windows();
  intercept_.draw_window(mono_);
}

void Inspector::draw_filter_bar() {
  ImGui::AlignTextToFramePadding();
  ImGui::TextUnformatted("Filter");
  ImGui::SameLine();
  if (focus_filter_) {
    ImGui::SetKeyboardFocusHere();
    focus_filter_ = false;
  }
  const std::optional<core::FilterError> error =
      list_->filter_error();  // A copy: typing changes it.
  const bool busy = list_->filtering();
  std::string right;
  if (error) {
    right = error->describe();
  } else if (busy) {
    right = "filtering\xe2\x80\xa6 " +
            std::to_string(static_cast<int>(list_->progress() * 100.0f)) + "%";
  } else {
    right =
        std::to_string(list_->visible_count()) + " of " + std::to_string(store_->size()) + " flows";
  }
  const float right_width = ImGui::CalcTextSize(right.c_str()).x + ImGui::GetStyle().ItemSpacing.x;
  ImGui::SetNextItemWidth(std::max(ImGui::GetContentRegionAvail().x - right_width, 100.0f));
  if (error) {
    ImGui::PushStyleColor(ImGuiCol_FrameBg, ImVec4(0.35f, 0.12f, 0.12f, 1.0f));
  }
  if (ImGui::InputTextWithHint("##filter", "~c 500 & ~d example.com    (Ctrl+F or /)",
                               filter_buffer_.data(), filter_buffer_.size())) {
    list_->set_filter_text(std::string(filter_buffer_.data()));  // The table follows as typed.
  }
  const ImVec2 input_min = ImGui::GetItemRectMin();
  if (error) {
    ImGui::PopStyleColor();
    // A caret under the position of the error.
    const std::string before(filter_buffer_.data(),
                             std::min(error->position, std::strlen(filter_buffer_.data())));
    const float x =
        input_min.x + ImGui::GetStyle().FramePadding.x + ImGui::CalcTextSize(before.c_str()).x;
    const float y = ImGui::GetItemRectMax().y;
    ImGui::GetWindowDrawList()->AddTriangleFilled(ImVec2(x, y - 5), ImVec2(x - 5, y + 1),
                                                  ImVec2(x + 5, y + 1), ImGui::GetColorU32(kRed));
  }
  ImGui::SameLine();
  ImGui::AlignTextToFramePadding();
  ImGui::PushStyleColor(ImGuiCol_Text, error ? kRed : kDim);
  text(right);
  ImGui::PopStyleColor();
}

void Inspector::draw_table(float height) {
  const ImGuiTableFlags flags =
      ImGuiTableFlags_ScrollY | ImGuiTableFlags_RowBg | ImGuiTableFlags_BordersV |
      ImGuiTableFlags_BordersOuterH | ImGuiTableFlags_Resizable | ImGuiTableFlags_Sortable |
      ImGuiTableFlags_Hideable | ImGuiTableFlags_Reorderable | ImGuiTableFlags_SizingFixedFit;
  if (!ImGui::BeginTable("flows", static_cast<int>(kColumns.size()), flags, ImVec2(0, height))) {
    return;
  }
  const float em = ImGui::GetFontSize();
  ImGui::TableSetupScrollFreeze(0, 1);
  for (const ColumnSpec& spec : kColumns) {
    ImGuiTableColumnFlags column_flags =
        spec.width == 0.0f ? ImGuiTableColumnFlags_WidthStretch : ImGuiTableColumnFlags_WidthFixed;
    if (spec.column == Column::kIndex) {
      column_flags |= ImGuiTableColumnFlags_DefaultSort | ImGuiTableColumnFlags_NoHide;
    }
    if (spec.column == Column::kTime || spec.column == Column::kFlags) {
      column_flags |= ImGuiTableColumnFlags_NoSort;
    }
    ImGui::TableSetupColumn(std::string(column_name(spec.column)).c_str(), column_flags,
                            spec.width * em, static_cast<ImGuiID>(spec.column));
  }
  ImGui::TableHeadersRow();
  if (ImGuiTableSortSpecs* sort = ImGui::TableGetSortSpecs(); sort != nullptr && sort->SpecsDirty) {
    if (sort->SpecsCount > 0) {
      list_->set_sort(static_cast<Column>(sort->Specs[0].ColumnUserID),
                      sort->Specs[0].SortDirection != ImGuiSortDirection_Descending);
    } else {
      list_->set_sort(Column::kIndex, true);
    }
    sort->SpecsDirty = false;
  }

  const ImGuiStyle& style = ImGui::GetStyle();
  const float row_height = ImGui::GetTextLineHeight() + style.CellPadding.y * 2;
  const float view_height = ImGui::GetWindowHeight() - row_height;
  page_rows_ = std::max<size_t>(1, static_cast<size_t>(view_height / row_height) - 1);
  // Keep the selection in view when it moved, and the end in view when following the tail.
  const std::optional<size_t> selected = list_->selected_index();
  if (list_->take_selection_moved() && selected) {
    const float top = static_cast<float>(*selected) * row_height;
    const float scroll = ImGui::GetScrollY();
    if (top < scroll) {
      ImGui::SetScrollY(top);
    } else if (top + row_height > scroll + view_height) {
      ImGui::SetScrollY(top + row_height - view_height);
    }
  } else if (list_->follow_tail()) {
    ImGui::SetScrollY(static_cast<float>(list_->visible_count()) * row_height);
  }
  if (ImGui::IsWindowHovered() && ImGui::GetIO().MouseWheel != 0.0f) {
    list_->set_follow_tail(ImGui::GetIO().MouseWheel < 0.0f &&
                           ImGui::GetScrollY() >= ImGui::GetScrollMaxY() - row_height);
  }

  const core::SummaryTable& table = store_->table();
  auto lock = table.read_lock();
  const std::vector<uint32_t>& rows = list_->visible();
  ImGuiListClipper clipper;
  clipper.Begin(static_cast<int>(rows.size()), row_height);
  while (clipper.Step()) {
    for (int i = clipper.DisplayStart; i < clipper.DisplayEnd; ++i) {
      const uint32_t row = rows[static_cast<size_t>(i)];
      if (row >= table.size()) {
        continue;
      }
      const core::SummaryView view = table.view(row);
      ImGui::TableNextRow(ImGuiTableRowFlags_None, row_height);
      // A flow waiting at the intercept stands out: amber, marked HELD.
      const bool held = intercept_.is_held(view.id);
      if (held) {
        ImGui::TableSetBgColor(ImGuiTableBgTarget_RowBg0, ImGui::GetColorU32(kHeldBg));
      }
      for (const ColumnSpec& spec : kColumns) {
        if (!ImGui::TableSetColumnIndex(static_cast<int>(spec.column))) {
          continue;
        }
        const std::string cell = held && spec.column == Column::kFlags
                                     ? "HELD " + cell_text(view, spec.column, row)
                                     : cell_text(view, spec.column, row);
        if (spec.column == Column::kIndex) {
          ImGui::PushID(static_cast<int>(row));
          const bool is_selected =
              list_->is_marked(row) || (selected && *selected == static_cast<size_t>(i));
          if (ImGui::Selectable(
                  "##row", is_selected,
                  ImGuiSelectableFlags_SpanAllColumns | ImGuiSelectableFlags_AllowItemOverlap,
                  ImVec2(0, 0))) {
            const ImGuiIO& io = ImGui::GetIO();
            if (io.KeyShift) {
              list_->extend_to(static_cast<size_t>(i));
            } else if (io.KeyCtrl) {
              list_->toggle(static_cast<size_t>(i));
            } else {
              list_->select(static_cast<size_t>(i));
            }
            list_->take_selection_moved();  // Clicked: it is in view already.
          }
          if (ImGui::BeginPopupContextItem("row")) {
            if (!list_->is_marked(row)) {
              list_->select(static_cast<size_t>(i));
              list_->take_selection_moved();
            }
            menu_.draw_row_menu();
            ImGui::EndPopup();
          }
          ImGui::PopID();
          ImGui::SameLine(0, 0);
          ImGui::PushStyleColor(ImGuiCol_Text, kDim);
          right_aligned(cell);
          ImGui::PopStyleColor();
        } else if (spec.column == Column::kStatus) {
          ImGui::PushStyleColor(ImGuiCol_Text, status_colour(status_class(view)));
          text(cell);
          ImGui::PopStyleColor();
        } else if (spec.column == Column::kFlags && view.has(core::kSummaryError)) {
          ImGui::PushStyleColor(ImGuiCol_Text, kRed);
          text(cell);
          ImGui::PopStyleColor();
        } else if (spec.right) {
          right_aligned(cell);
        } else {
          text(cell);
        }
      }
    }
  }
  ImGui::EndTable();
}

void Inspector::draw_detail(float height) {
  ImGui::BeginChild("detail", ImVec2(0, height), false);
  const std::optional<uint32_t> row = list_->selected_row();
  if (!row || !list_->selected_index()) {
    ImGui::TextDisabled("Select a flow to see its details.");
    ImGui::EndChild();
    return;
  }
  const uint64_t revision = store_->revision(*row);
  if (static_cast<int64_t>(*row) != detail_row_ || revision != detail_revision_ ||
      (!detail_ && detail_error_.empty())) {
    detail_row_ = *row;
    detail_revision_ = revision;
    detail_error_.clear();
    detail_ = store_->detail(*row, &detail_error_);
  }
  if (detail_) {
    detail_view_.draw(detail_, mono_);
  } else {
    ImGui::PushStyleColor(ImGuiCol_Text, kRed);
    ImGui::TextWrapped("cannot read the flow: %s", detail_error_.c_str());
    ImGui::PopStyleColor();
  }
  ImGui::EndChild();
}

void Inspector::draw_status_bar() {
  ImGui::Separator();
  // Flows per second, sampled once a second.
  const double now = ImGui::GetTime();
  if (rate_time_ == 0 || now - rate_time_ >= 1.0) {
    const size_t size = store_->size();
    rate_ = rate_time_ > 0 && size >= rate_size_
                ? static_cast<double>(size - rate_size_) / (now - rate_time_)
                : 0;
    rate_size_ = size;
    rate_time_ = now;
    rss_ = resident_bytes();
  }
  const std::string dot = "  \xc2\xb7  ";
  std::string status;
  if (menu_.paused()) {
    ImGui::PushStyleColor(ImGuiCol_Text, kRed);
    text("PAUSED");
    ImGui::PopStyleColor();
    ImGui::SameLine();
  }
  if (const std::string intercept = intercept_.status_text(); !intercept.empty()) {
    ImGui::PushStyleColor(ImGuiCol_Text, kAmber);
    text(intercept);
    ImGui::PopStyleColor();
    ImGui::SameLine();
  }
  if (!info_.listen_address.empty()) {
    status = "Listening on " + info_.listen_address + dot + info_.mode;
  } else {
    status = info_.mode;
  }
  for (const std::string& file : info_.files) {
    status += dot + file;
  }
  status += dot + std::to_string(store_->size()) + " flows";
  if (const size_t live = store_->live_count(); live > 0) {
    status += " (" + std::to_string(live) + " live)";
  }
  if (!info_.listen_address.empty()) {
    char rate[32];
    std::snprintf(rate, sizeof(rate), "%.0f flows/s", rate_);
    status += dot + rate;
  }
  status +=
      dot + core::format_size(store_->total_bytes()) + dot + core::format_size(rss_) + " memory";
  ImGui::PushStyleColor(ImGuiCol_Text, kDim);
  text(status);
  ImGui::PopStyleColor();
  if (const std::string message = menu_.message(); !message.empty()) {
    ImGui::SameLine();
    ImGui::PushStyleColor(ImGuiCol_Text, menu_.message_is_error() ? kRed : kDim);
    text(dot + message);
    ImGui::PopStyleColor();
  }
}

}  // namespace sightglass::gui
