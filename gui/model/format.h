#pragma once

// The text of the flow table's cells and the classes the UI colours them by. Pure functions of
// a SummaryView, so they are tested without a window.

#include <cstdint>
#include <string>
#include <string_view>

#include "core/filter/flow_summary.h"

namespace sightglass::gui {

// Column is a column of the flow table, in display order.
enum class Column : uint8_t {
  kIndex,   // "#": the row's arrival number (1-based).
  kTime,    // Local start time, HH:MM:SS.mmm.
  kMethod,  // GET, POST...; "TCP" for TCP flows.
  kHost,    // Request host (TCP: the destination).
  kPath,    // Request target; "" for TCP.
  kStatus,  // Response status, or a marker (below).
  kType,    // Response content type, shortened.
  kRequestSize,
  kResponseSize,
  kDuration,
  kProtocol,  // h1, h2, ws, tcp.
  kFlags,     // Markers: TLS, PT (passthrough), ERR, LIVE, REPLAY.
  kCount,
};

// column_name is the header text of |column|.
std::string_view column_name(Column column);

// StatusClass is what a status cell is coloured by.
enum class StatusClass : uint8_t {
  kNone,  // No response (yet), or a TCP flow.
  kInformational,
  kSuccess,
  kRedirect,
  kClientError,
  kServerError,
  kFailed,  // The flow failed (error set).
};

StatusClass status_class(const core::SummaryView& flow);

// status_text is the status number, "live" while a response is awaited, "ERR" for a failed
// flow without a status, "" for TCP flows without error.
std::string status_text(const core::SummaryView& flow);

// short_content_type turns "application/json; charset=utf-8" into "json", "text/html" into
// "html", "application/x-www-form-urlencoded" into "x-www-form-urlencoded".
std::string short_content_type(std::string_view content_type);

// format_clock formats microseconds since the epoch as local HH:MM:SS.mmm.
std::string format_clock(int64_t time_us);

// flags_text lists the markers of a flow, separated by spaces: "TLS", "PT", "ERR", "LIVE",
// "REPLAY".
std::string flags_text(const core::SummaryView& flow);

// cell_text is the text of |column| for the flow at store row |row|.
std::string cell_text(const core::SummaryView& flow, Column column, size_t row);

// sanitize replaces control characters and ill-formed UTF-8 for display (U+FFFD / \xNN) and
// cuts the result at |max_bytes| (with "…").
std::string sanitize(std::string_view text, size_t max_bytes = 4096);

// is_displayable_text says whether |body| is UTF-8 without control characters other than tab,
// CR, LF and FF (shown as text; otherwise as a hex dump).
bool is_displayable_text(std::string_view body);

// hex_dump_line formats 16 bytes of |data| at |offset| as "00000010  41 42 ...  |AB..|".
std::string hex_dump_line(std::string_view data, size_t offset);

}  // namespace sightglass::gui
