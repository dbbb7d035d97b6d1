#pragma once

// DetailView: the tabs of the detail pane for one flow (Overview, Request, Response, Timing,
// TLS and, where there are messages, WebSocket). It keeps what it derived from the flow
// (decoded bodies split in lines) until it is shown another flow or a newer revision.

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "core/proxy/flow.h"

struct ImFont;

namespace sightglass::gui {

// BodyText is a body prepared for display: decoded from its Content-Encoding, and either text
// split into lines or bytes for a hex dump.
struct BodyText {
  std::string data;
  std::vector<size_t> line_starts;  // Text: where each line starts in |data|.
  bool text = true;
  bool pretty = false;  // JSON reformatted for reading.
  std::string note;     // "decoded from gzip", "truncated: 1.0 MiB of 3.0 MiB kept", ...

  // prepare builds it from a captured body and its headers.
  static BodyText prepare(const core::CapturedBody& body, const core::Headers& headers);
};

class DetailView {
 public:
  // draw shows |flow| (not null) in the current window, using |mono| for bodies.
  void draw(const core::FlowSnapshotConstSharedPtr& flow, ImFont* mono);
  // select_tab makes the tab named |name| ("Response"...) the shown one at the next draw.
  void select_tab(std::string name) { pending_tab_ = std::move(name); }

 private:
  void prepare(const core::FlowSnapshotConstSharedPtr& flow);

  int tab_flags(const char* name) const;

  std::string pending_tab_;
  core::FlowSnapshotConstSharedPtr shown_;
  BodyText request_body_;
  BodyText response_body_;
};

}  // namespace sightglass::gui
