#pragma once

// DetailView: the tabs of the detail pane for one flow (Overview, Request, Response, Timing,
// TLS and, where there are messages, WebSocket). It keeps what it derived from the flow
// (decoded bodies, the query/form/cookie tables, the gRPC summary) until it is shown another
// flow or a newer revision; the bodies are drawn by BodyViewerPane (body_viewer.h).

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/proxy/flow.h"
#include "gui/app/body_viewer.h"
#include "gui/model/body_view.h"

struct ImFont;

namespace sightglass::gui {

class DetailView {
 public:
  // draw shows |flow| (not null) in the current window, using |mono| for bodies.
  void draw(const core::FlowSnapshotConstSharedPtr& flow, ImFont* mono);
  // select_tab makes the tab named |name| ("Response"...) the shown one at the next draw.
  void select_tab(std::string name) { pending_tab_ = std::move(name); }

 private:
  void prepare(const core::FlowSnapshotConstSharedPtr& flow);
  void draw_request(const core::FlowSnapshot& f, ImFont* mono);
  void draw_response(const core::FlowSnapshot& f, ImFont* mono);
  void draw_websocket(const core::FlowSnapshot& f, ImFont* mono);
  void select_message(const core::FlowSnapshot& f, size_t index);

  int tab_flags(const char* name) const;

  std::string pending_tab_;
  core::FlowSnapshotConstSharedPtr shown_;
  BodyViewerPane request_body_;
  BodyViewerPane response_body_;
  std::vector<NameValue> query_;
  std::vector<NameValue> form_;
  std::vector<NameValue> cookies_;
  std::vector<NameValue> set_cookies_;
  std::optional<GrpcInfo> grpc_;
  // The WebSocket message shown below the list (-1: none), and its body.
  int64_t message_ = -1;
  BodyViewerPane message_body_;
};

}  // namespace sightglass::gui
