#pragma once

// Reading captures, whatever their format: session files, JSON Lines flow logs (-w) and HAR
// files, told apart by their content, not their name. JSON Lines and HAR are imported into a
// session (a temporary one for `show`/`har`, or the GUI's), so that every reader works on the
// same thing: a SessionFile with summaries in a SummaryTable.

#include <cstdint>
#include <istream>
#include <memory>
#include <string>

#include "core/store/session_file.h"
#include "core/store/summary_table.h"

namespace sightglass::core {

enum class CaptureFormat { kSession, kJsonLines, kHar };

// import_capture reads JSON Lines or a HAR document (detected from the content) from |in|
// into |into|, in batched transactions. false with *error naming the line (JSON Lines) or the
// entry (HAR) that could not be read, or "not a session, JSON Lines or HAR file".
bool import_capture(std::istream& in, SessionFile& into, std::string* error,
                    uint64_t* imported = nullptr, CaptureFormat* format = nullptr);

// open_capture opens |path| ("-" is stdin) for reading: a session file as it is (read-only),
// anything else imported into a temporary session. nullptr with a one-line *error.
std::unique_ptr<SessionFile> open_capture(const std::string& path, std::string* error,
                                          CaptureFormat* format = nullptr);

// load_summaries appends the summary of every flow in |file| to |table|, keyed by row number.
bool load_summaries(SessionFile& file, SummaryTable& table, std::string* error);

}  // namespace sightglass::core
