#pragma once

// MenuBar: the inspector's commands (CONTRACT.md's actions of issue 12): the menu bar, the
// row context menu, their keys, the file dialogs (a path field, since Dear ImGui has no native
// dialog), the CA panel, and the one-line outcome of the last command for the status bar. The
// work itself is done by the model (gui/model/actions.h, FlowStore, FlowListModel).

#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/rules/interceptor.h"
#include "gui/model/actions.h"
#include "gui/model/flow_list_model.h"
#include "gui/model/flow_store.h"

namespace sightglass::gui {

// AppHooks are what the commands need from the running application.
struct AppHooks {
  ReplayFn replay;             // Empty with --no-server.
  bool capturing = false;      // A proxy runs (not --no-server): capture can be paused.
  std::string ca_cert_path;    // The CA certificate (PEM).
  std::string listen_address;  // "" with --no-server: the CA panel's proxy address.
  core::Interceptor* interceptor = nullptr;  // Null with --no-server.
};

class InterceptView;

class MenuBar {
 public:
  MenuBar(FlowStore* store, FlowListModel* list, AppHooks hooks);

  // draw_menu_bar draws the menu bar of the current window (it has ImGuiWindowFlags_MenuBar);
  // |timeline| is the View menu's check mark and is flipped when chosen.
  void draw_menu_bar(bool* timeline, InterceptView* intercept);
  // draw_row_menu fills the context menu of a table row (inside BeginPopupContextItem).
  void draw_row_menu();
  // draw_windows draws the open dialogs and the CA panel (after the main window).
  void draw_windows();
  // handle_keys runs the commands bound to keys; |typing| says a text field has the keys.
  void handle_keys(bool typing);

  bool paused() const { return paused_; }
  // take_cleared says whether Clear ran since the last call (the detail pane forgets its flow).
  bool take_cleared() { return std::exchange(cleared_, false); }
  bool quit_requested() const { return quit_; }

  // message is the outcome of the last command ("" after a few seconds), error() whether it
  // failed.
  std::string message() const;
  bool message_is_error() const { return message_error_; }

  // The commands (also reachable from tests through the keys and menus).
  void copy_url();
  void copy_curl();
  void replay_selected();
  void clear();
  void set_paused(bool paused);

 private:
  enum class Dialog : uint8_t { kNone, kOpen, kSaveSession, kExport, kExportCa };
  enum class Scope : uint8_t { kSelected, kFiltered, kAll };

  void open_dialog(Dialog dialog, Scope scope = Scope::kAll,
                   ExportFormat format = ExportFormat::kHar);
  void draw_dialog();
  void draw_ca_panel();
  void run_dialog();
  std::vector<uint32_t> rows_of(Scope scope) const;
  core::FlowSnapshotConstSharedPtr current_flow(std::string* error) const;
  void say(std::string text, bool error = false);

  FlowStore* store_;
  FlowListModel* list_;
  AppHooks hooks_;
  bool paused_ = false;
  bool cleared_ = false;
  bool quit_ = false;
  bool ca_panel_ = false;

  Dialog dialog_ = Dialog::kNone;
  bool dialog_opening_ = false;
  Scope scope_ = Scope::kAll;
  ExportFormat format_ = ExportFormat::kHar;
  std::vector<char> path_;
  std::string dialog_error_;

  std::string message_;
  bool message_error_ = false;
  std::chrono::steady_clock::time_point message_at_;
};

}  // namespace sightglass::gui
