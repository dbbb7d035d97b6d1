#include "gui/app/intercept_view.h"

#include <GLFW/glfw3.h>
#include <imgui.h>
#include <imgui_stdlib.h>

#include <algorithm>

namespace sightglass::gui {
namespace {

const ImVec4 kDim(0.62f, 0.64f, 0.68f, 1.0f);
const ImVec4 kRed(0.95f, 0.42f, 0.40f, 1.0f);
const ImVec4 kAmber(0.98f, 0.72f, 0.30f, 1.0f);

std::string describe_held(const core::Interceptor::HeldView& view) {
  const core::HeldFlow& held = view.held;
  std::string text = "#" + std::to_string(view.id) + "  ";
  text += held.point == core::HookPoint::kRequest ? "request   " : "response  ";
  if (held.flow.request) {
    text += held.flow.request->method + " " + held.flow.request->url();
  }
  if (held.point == core::HookPoint::kResponse && held.flow.response) {
    text += "  \xe2\x86\x92 " + std::to_string(held.flow.response->status);
  }
  return text;
}

}  // namespace

InterceptView::InterceptView(core::Interceptor* interceptor) : interceptor_(interceptor) {
  if (interceptor_ != nullptr) {
    if (core::FlowFilterConstSharedPtr filter = interceptor_->filter()) {
      filter_text_ = filter->text();
      open_ = true;
    }
  }
}

bool InterceptView::set_filter(const std::string& expression, std::string* error) {
  if (interceptor_ == nullptr) {
    *error = "no proxy runs (--no-server)";
    return false;
  }
  if (expression.find_first_not_of(" \t") == std::string::npos) {
    interceptor_->set_filter(nullptr);
    return true;
  }
  core::FilterError filter_error;
  core::FlowFilterConstSharedPtr filter = core::FlowFilter::parse(expression, &filter_error);
  if (filter == nullptr) {
    *error = filter_error.describe();
    return false;
  }
  interceptor_->set_filter(std::move(filter));
  return true;
}

void InterceptView::refresh() {
  if (interceptor_ == nullptr) {
    return;
  }
  const uint64_t generation = interceptor_->generation();
  if (generation == generation_) {
    return;
  }
  generation_ = generation;
  held_ = interceptor_->held();
  held_ids_.clear();
  for (const auto& view : held_) {
    held_ids_.insert(view.id);
  }
  if (!held_.empty()) {
    open_ = true;
  }
  const auto chosen = std::find_if(held_.begin(), held_.end(),
                                   [this](const auto& view) { return view.id == chosen_; });
  if (chosen == held_.end()) {
    // The chosen flow went on (or none was chosen): the first one waiting is next.
    if (held_.empty()) {
      chosen_ = 0;
      edit_ = InterceptEdit();
    } else {
      choose(0);
    }
  } else if (chosen->held.point != edit_.point) {
    choose(static_cast<size_t>(chosen - held_.begin()));  // Held again, at its response.
  }
}

void InterceptView::choose(size_t index) {
  chosen_ = held_[index].id;
  edit_ = make_edit(held_[index].id, held_[index].held);
  edit_error_.clear();
}

void InterceptView::resume_chosen() {
  std::string error;
  bool applied = false;
  const bool held = interceptor_->edit(
      chosen_, [&](core::HeldFlow& flow) { applied = apply_edit(edit_, &flow, &error); });
  if (held && !applied) {
    edit_error_ = error;
    return;
  }
  interceptor_->resume(chosen_);
}

std::string InterceptView::status_text() const {
  const bool on = interceptor_ != nullptr && interceptor_->filter() != nullptr;
  if (!on && held_.empty()) {
    return {};
  }
  std::string text = "INTERCEPT";
  if (on) {
    text += " " + filter_text_;
  }
  if (!held_.empty()) {
    text += ", " + std::to_string(held_.size()) + " held";
  }
  return text;
}

void InterceptView::handle_keys() {
  const ImGuiIO& io = ImGui::GetIO();
  if (io.KeyCtrl && !io.KeyShift && ImGui::IsKeyPressed(GLFW_KEY_I, false)) {
    open_ = true;
    focus_filter_ = true;
  }
}

void InterceptView::draw_menu() {
  if (!ImGui::BeginMenu("Intercept")) {
    return;
  }
  const bool available = interceptor_ != nullptr;
  const bool on = available && interceptor_->filter() != nullptr;
  if (ImGui::MenuItem("Intercept\xe2\x80\xa6", "Ctrl+I", on, available)) {
    open_ = true;
    focus_filter_ = true;
  }
  if (ImGui::MenuItem("Stop intercepting", nullptr, false, on)) {
    interceptor_->set_filter(nullptr);
  }
  if (ImGui::MenuItem("Resume all", nullptr, false, available && !held_.empty())) {
    interceptor_->resume_all();
  }
  ImGui::EndMenu();
}

void InterceptView::draw_window(ImFont* mono) {
  if (!open_ || interceptor_ == nullptr) {
    return;
  }
  const ImGuiViewport* viewport = ImGui::GetMainViewport();
  const float scale = ImGui::GetIO().FontGlobalScale;
  // First shown in the lower right, over the detail pane: the flow list, with its HELD rows,
  // stays in sight.
  const ImVec2 size(std::min(640 * scale, viewport->WorkSize.x * 0.6f),
                    std::min(560 * scale, viewport->WorkSize.y * 0.62f));
  ImGui::SetNextWindowSize(size, ImGuiCond_FirstUseEver);
  ImGui::SetNextWindowPos(ImVec2(viewport->WorkPos.x + viewport->WorkSize.x - size.x - 12 * scale,
                                 viewport->WorkPos.y + viewport->WorkSize.y - size.y - 32 * scale),
                          ImGuiCond_FirstUseEver);
  if (!ImGui::Begin("Intercept", &open_)) {
    ImGui::End();
    return;
  }
  // The filter: Enter applies it; an empty one stops intercepting.
  ImGui::AlignTextToFramePadding();
  ImGui::TextUnformatted("Filter");
  ImGui::SameLine();
  if (focus_filter_) {
    ImGui::SetKeyboardFocusHere();
    focus_filter_ = false;
  }
  ImGui::SetNextItemWidth(-120 * scale);
  if (ImGui::InputTextWithHint("##intercept-filter", "e.g. ~q ~d example.com", &filter_text_,
                               ImGuiInputTextFlags_EnterReturnsTrue)) {
    filter_error_.clear();
    set_filter(filter_text_, &filter_error_);
  }
  ImGui::SameLine();
  const bool on = interceptor_->filter() != nullptr;
  if (ImGui::Button(on ? "Stop" : "Start", ImVec2(-1, 0))) {
    filter_error_.clear();
    set_filter(on ? std::string() : filter_text_, &filter_error_);
  }
  if (!filter_error_.empty()) {
    ImGui::PushStyleColor(ImGuiCol_Text, kRed);
    ImGui::TextWrapped("invalid filter: %s", filter_error_.c_str());
    ImGui::PopStyleColor();
  } else {
    ImGui::PushStyleColor(ImGuiCol_Text, on ? kAmber : kDim);
    ImGui::TextUnformatted(on ? "Intercepting: matching requests and responses stop here."
                              : "Not intercepting. Type a filter and press Enter.");
    ImGui::PopStyleColor();
  }
  ImGui::Separator();
  if (held_.empty()) {
    ImGui::TextDisabled("No flow is held.");
    ImGui::End();
    return;
  }
  // The held flows.
  const float list_height =
      std::min(static_cast<float>(held_.size()), 5.0f) * ImGui::GetTextLineHeightWithSpacing() +
      ImGui::GetStyle().WindowPadding.y * 2;
  ImGui::BeginChild("held", ImVec2(0, list_height), true);
  for (size_t i = 0; i < held_.size(); ++i) {
    ImGui::PushID(static_cast<int>(held_[i].id));
    if (ImGui::Selectable(describe_held(held_[i]).c_str(), held_[i].id == chosen_)) {
      choose(i);
    }
    ImGui::PopID();
  }
  ImGui::EndChild();
  draw_editor(mono);
  ImGui::End();
}

void InterceptView::draw_editor(ImFont* mono) {
  if (chosen_ == 0) {
    return;
  }
  const float scale = ImGui::GetIO().FontGlobalScale;
  const float label = 70 * scale;
  if (edit_.point == core::HookPoint::kRequest) {
    ImGui::AlignTextToFramePadding();
    ImGui::TextUnformatted("Method");
    ImGui::SameLine(label);
    ImGui::SetNextItemWidth(120 * scale);
    ImGui::InputText("##method", &edit_.method);
    ImGui::AlignTextToFramePadding();
    ImGui::TextUnformatted("URL");
    ImGui::SameLine(label);
    ImGui::SetNextItemWidth(-1);
    ImGui::InputText("##url", &edit_.url);
  } else {
    ImGui::AlignTextToFramePadding();
    ImGui::TextUnformatted("Status");
    ImGui::SameLine(label);
    ImGui::SetNextItemWidth(120 * scale);
    ImGui::InputInt("##status", &edit_.status, 0);
    ImGui::SameLine();
    ImGui::SetNextItemWidth(-1);
    ImGui::InputText("##reason", &edit_.reason);
  }
  const float buttons = ImGui::GetFrameHeightWithSpacing() * 2;
  const float room = std::max(ImGui::GetContentRegionAvail().y - buttons, 80.0f * scale);
  ImGui::TextUnformatted("Headers");
  if (mono != nullptr) {
    ImGui::PushFont(mono);
  }
  ImGui::InputTextMultiline("##headers", &edit_.headers, ImVec2(-1, room * 0.45f));
  if (mono != nullptr) {
    ImGui::PopFont();
  }
  ImGui::TextUnformatted("Body");
  if (edit_.body_editable) {
    if (mono != nullptr) {
      ImGui::PushFont(mono);
    }
    ImGui::InputTextMultiline("##body", &edit_.body, ImVec2(-1, room * 0.45f));
    if (mono != nullptr) {
      ImGui::PopFont();
    }
  } else {
    ImGui::TextDisabled("%s", edit_.body_note.c_str());
  }
  if (!edit_error_.empty()) {
    ImGui::PushStyleColor(ImGuiCol_Text, kRed);
    ImGui::TextWrapped("%s", edit_error_.c_str());
    ImGui::PopStyleColor();
  }
  // Ctrl+Enter resumes from anywhere in the window (in a text field it ends the editing,
  // which keeps what was typed).
  const bool ctrl_enter =
      ImGui::IsWindowFocused(ImGuiFocusedFlags_RootAndChildWindows) && ImGui::GetIO().KeyCtrl &&
      (ImGui::IsKeyPressed(GLFW_KEY_ENTER, false) || ImGui::IsKeyPressed(GLFW_KEY_KP_ENTER, false));
  if (ImGui::Button("Resume (Ctrl+Enter)") || ctrl_enter) {
    resume_chosen();
  }
  ImGui::SameLine();
  if (ImGui::Button("Kill")) {
    interceptor_->kill(chosen_);
  }
  ImGui::SameLine();
  if (ImGui::Button("Resume all")) {
    interceptor_->resume_all();
  }
}

}  // namespace sightglass::gui
