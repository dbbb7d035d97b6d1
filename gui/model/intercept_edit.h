#pragma once

// InterceptEdit: a flow held at the intercept as the editor's text fields (method, URL, status,
// headers as "Name: value" lines, body), and back into the held flow. No ImGui: unit-tested.

#include <string>

#include "core/proxy/events.h"

namespace sightglass::gui {

struct InterceptEdit {
  core::FlowId id = 0;
  core::HookPoint point = core::HookPoint::kRequest;
  std::string method;   // kRequest.
  std::string url;      // kRequest: scheme://host[:port]/target.
  int status = 0;       // kResponse.
  std::string reason;   // kResponse.
  std::string headers;  // One "Name: value" a line, in order.
  std::string body;     // The body as text when |body_editable|.
  bool body_editable = false;
  std::string body_note;  // Why the body cannot be edited here ("" when it can).
};

// make_edit fills the fields from held flow |id|.
InterceptEdit make_edit(core::FlowId id, const core::HeldFlow& held);

// apply_edit writes the fields into |held|: method, URL (a new authority moves Host too, unless
// the Host line was edited), status, headers and (when editable) body. false with *error when
// a field does not parse: a header line without "Name:", a URL that is not http(s), a status
// outside 100-999. |held| is unchanged then.
bool apply_edit(const InterceptEdit& edit, core::HeldFlow* held, std::string* error);

// headers_text and parse_headers are the header lines' two directions.
std::string headers_text(const core::Headers& headers);
bool parse_headers(const std::string& text, core::Headers* out, std::string* error);

}  // namespace sightglass::gui
