// The session-file opener (core/store/session_file, SQLite, and flow_codec's binary form) as
// `sightglass show FILE` opens a saved session: the bytes are written to a temporary file
// (one per process, removed after each input with its -wal / -shm files), opened with
// open_capture (a SQLite file is opened read-only as a session), the summaries are loaded and
// every flow is read by its row number and written back (JSON line, HAR entry, listing line;
// capture_checks.h checks the writers agree).
//
// Input: the bytes of a session file as `sightglass --save out.sightglass` writes it (a real
// one is a seed; keep it to a few flows: every page costs).
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "fuzz/capture_checks.h"
#include "fuzz/fuzz_input.h"

namespace {

constexpr size_t kMaxFlows = 64;

const std::string& temp_path() {
  static const std::string path = (std::filesystem::temp_directory_path() /
                                   ("sightglass-fuzz-session-" + std::to_string(getpid())))
                                      .string();
  return path;
}

void remove_files(const std::string& path) {
  std::error_code ec;
  for (const char* suffix : {"", "-wal", "-shm", "-journal"}) {
    std::filesystem::remove(path + suffix, ec);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace sightglass;
  const std::string& path = temp_path();
  remove_files(path);
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
    if (!out) {
      remove_files(path);
      return 0;
    }
  }
  {
    std::string error;
    core::CaptureFormat format = core::CaptureFormat::kSession;
    const std::unique_ptr<core::SessionFile> file = core::open_capture(path, &error, &format);
    if (file) {
      std::string ignored;
      (void)file->count(&ignored);
      fuzz::read_all(*file, kMaxFlows, /*must_read=*/false);
    }
  }
  remove_files(path);
  return 0;
}
