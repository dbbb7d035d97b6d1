#pragma once

// The inspector's flow actions, without any UI: copy the URL, copy as curl, export the
// selected flows (HAR, JSON Lines), save them as a session, and replay a request through the
// core. Pure functions of flows and the FlowStore, unit-tested without a window.

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "core/proxy/flow.h"
#include "gui/model/flow_store.h"

namespace sightglass::gui {

// flow_url is the flow's URL as the flow log writes it (request.url): scheme://host[:port]path,
// tcp://host:port for a TCP flow, https://SNI/ (or http://server/) for a flow that failed
// before its request.
std::string flow_url(const core::FlowSnapshot& flow);

// shell_quote quotes |text| for a POSIX shell: in single quotes, each ' written as '\''.
std::string shell_quote(std::string_view text);

// curl_command is the request as Chrome DevTools' "Copy as cURL (bash)" writes it, one option a
// line ("curl 'URL' \ -X 'METHOD' \ -H 'Name: value' \ ... --data-raw '...'"), every word
// single-quoted (so it runs the same in sh, dash, bash and zsh). -X only when the method is
// not the one curl infers (GET, POST with data); HEAD is --head. Pseudo-headers, Host when the
// URL implies it, Content-Length and Transfer-Encoding (curl frames the body) are left out;
// Accept-Encoding becomes --compressed. A text body up to 64 KiB is --data-raw; any other body
// (binary, NUL bytes, ill-formed UTF-8, or larger) is piped in, exactly, by the shell's printf
// builtin with octal escapes: printf '...' | curl ... --data-binary @- (no $'...' quoting,
// which dash lacks, and no argument-length limit). Of a truncated body only the kept bytes
// are there.
std::string curl_command(const core::FlowSnapshot& flow);

enum class ExportFormat { kHar, kJsonLines };

// export_flows writes the flows of |rows| (in that order; details by FlowStore::detail) to
// |path| in exactly the format of `sightglass --har` (one HAR 1.2 document) or `-w` (one HAR
// entry a line), with the core's serializer and streaming HAR document. A live flow is
// written as it is now. The file is written beside |path| and renamed over it once complete,
// so a failed export leaves |path| as it was. false with a one-line *error.
bool export_flows(const FlowStore& store, const std::vector<uint32_t>& rows, ExportFormat format,
                  const std::string& path, std::string* error);

// save_session stores the flows of |rows| in the session file |path| (created, or appended to
// when it is a session already; anything else is refused and left alone), as `--save` does.
// Live flows are stored as they are now. false with a one-line *error.
bool save_session(const FlowStore& store, const std::vector<uint32_t>& rows,
                  const std::string& path, std::string* error);

// ReplayFn replays a flow through the core (the app binds it to cli::ProxyRuntime::replay);
// false with *error when it cannot.
using ReplayFn = std::function<bool(const core::FlowSnapshot&, std::string*)>;

// replay_row loads |row|'s flow and hands it to |replay|; false with *error when the flow
// cannot be loaded or replayed, or there is no proxy to replay through (|replay| empty, as
// with -n).
bool replay_row(const FlowStore& store, uint32_t row, const ReplayFn& replay, std::string* error);

}  // namespace sightglass::gui
