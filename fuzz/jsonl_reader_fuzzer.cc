// The JSON Lines flow-log reader (core/store/capture_files: import_capture, core/export/
// har_reader: from_har_entry) as `sightglass show FILE`, `sightglass har FILE` and the GUI's
// open-file read a -w log: the bytes are imported into a temporary session (format detected
// from the content), every flow is read back from it as `show` does and written again (JSON
// line, HAR entry, listing line; capture_checks.h checks the writers agree and that what they
// write reads back). Each line is also read on its own with from_har_entry and written back.
//
// Input: the bytes of a JSON Lines file, one HAR entry per line, as `sightglass -w out.jsonl`
// writes it (a real log is a seed).
#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <sstream>
#include <string>
#include <string_view>

#include "fuzz/capture_checks.h"
#include "fuzz/fuzz_input.h"

namespace {

constexpr size_t kMaxLines = 64;
constexpr size_t kMaxFlows = 64;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace sightglass;
  std::string_view rest = fuzz::as_view(data, size);
  // Each line alone, as the importer reads it.
  for (size_t lines = 0; !rest.empty() && lines < kMaxLines; ++lines) {
    const size_t end = rest.find('\n');
    const std::string_view line = rest.substr(0, end);
    rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 1);
    fuzz::read_entry(nlohmann::json::parse(line, nullptr, false));
  }
  // The whole file, as open_capture imports it.
  fuzz::import_and_read(data, size, kMaxFlows);
  return 0;
}
