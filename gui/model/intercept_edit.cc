#include "gui/model/intercept_edit.h"

#include "core/export/content_decoding.h"
#include "core/export/text_util.h"
#include "core/layers/http1.h"
#include "core/rules/traffic_rules.h"

namespace sightglass::gui {

std::string headers_text(const core::Headers& headers) {
  std::string out;
  for (const core::Header& h : headers) {
    out += h.name + ": " + h.value + "\n";
  }
  return out;
}

bool parse_headers(const std::string& text, core::Headers* out, std::string* error) {
  core::Headers headers;
  size_t start = 0;
  int line_number = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) {
      end = text.size();
    }
    std::string_view line = std::string_view(text).substr(start, end - start);
    start = end + 1;
    ++line_number;
    if (!line.empty() && line.back() == '\r') {
      line.remove_suffix(1);
    }
    if (core::trim_whitespace(line).empty()) {
      continue;
    }
    const size_t colon = line.find(':');
    const std::string_view name = colon == std::string_view::npos
                                      ? std::string_view()
                                      : core::trim_whitespace(line.substr(0, colon));
    if (name.empty() || name.find_first_of(" \t") != std::string_view::npos) {
      *error = "header line " + std::to_string(line_number) + " is not \"Name: value\"";
      return false;
    }
    headers.push_back(
        {std::string(name), std::string(core::trim_whitespace(line.substr(colon + 1)))});
  }
  *out = std::move(headers);
  return true;
}

InterceptEdit make_edit(core::FlowId id, const core::HeldFlow& held) {
  InterceptEdit edit;
  edit.id = id;
  edit.point = held.point;
  const bool request = held.point == core::HookPoint::kRequest;
  const core::Headers* headers = nullptr;
  if (held.flow.request) {
    edit.method = held.flow.request->method;
    edit.url = held.flow.request->url();
    if (request) {
      headers = &held.flow.request->headers;
    }
  }
  if (!request && held.flow.response) {
    edit.status = held.flow.response->status;
    edit.reason = held.flow.response->reason;
    headers = &held.flow.response->headers;
  }
  if (headers != nullptr) {
    edit.headers = headers_text(*headers);
  }
  const std::string* encoding =
      headers != nullptr ? core::find_header(*headers, "Content-Encoding") : nullptr;
  if (!held.body_complete) {
    edit.body_note = "the body is longer than the hold limit: it goes on unchanged";
  } else if (encoding != nullptr && !core::is_identity_encoding(*encoding)) {
    edit.body_note = "the body is " + *encoding + "-encoded: it goes on unchanged";
  } else if (!core::is_valid_utf8(held.body)) {
    edit.body_note = "the body is binary: it goes on unchanged";
  } else {
    edit.body = held.body;
    edit.body_editable = true;
  }
  return edit;
}

bool apply_edit(const InterceptEdit& edit, core::HeldFlow* held, std::string* error) {
  core::Headers headers;
  if (!parse_headers(edit.headers, &headers, error)) {
    return false;
  }
  if (edit.point == core::HookPoint::kRequest) {
    if (!held->flow.request) {
      *error = "the flow has no request";
      return false;
    }
    core::HttpRequestData request = *held->flow.request;
    if (edit.method.empty() || edit.method.find_first_of(" \t\r\n") != std::string::npos) {
      *error = "the method must be one word";
      return false;
    }
    const std::string* host_before = core::find_header(request.headers, "Host");
    const std::string* host_after = core::find_header(headers, "Host");
    const bool host_edited = (host_before == nullptr) != (host_after == nullptr) ||
                             (host_before != nullptr && *host_before != *host_after);
    request.method = edit.method;
    request.headers = std::move(headers);
    if (edit.url != request.url()) {
      const core::Headers kept = request.headers;
      if (!core::set_request_url(request, edit.url)) {
        *error = "'" + edit.url + "' is not an http:// or https:// URL";
        return false;
      }
      if (host_edited) {
        request.headers = kept;  // The Host line typed wins over the URL's authority.
      }
    }
    *held->flow.request = std::move(request);
  } else {
    if (!held->flow.response) {
      *error = "the flow has no response";
      return false;
    }
    if (edit.status < 100 || edit.status > 999) {
      *error = "the status must be 100-999";
      return false;
    }
    const bool new_status = edit.status != held->flow.response->status;
    const bool same_reason = edit.reason == held->flow.response->reason;
    held->flow.response->status = edit.status;
    // A new status with the old reason gets the new status's usual reason.
    held->flow.response->reason =
        new_status && same_reason ? std::string(core::reason_phrase(edit.status)) : edit.reason;
    held->flow.response->headers = std::move(headers);
  }
  if (edit.body_editable) {
    held->body = edit.body;
  }
  return true;
}

}  // namespace sightglass::gui
