#pragma once

// SessionSink: `--save FILE`. Every finished flow goes to the session file on a writer thread,
// in batched transactions (one per batch the thread takes, at least one every
// BackgroundWriter::kBatchDelay while flows arrive), so that a crash or SIGKILL loses at most
// the flows of the last moments. Live snapshots are ignored. Failed writes are counted and the
// first error kept for the exit report.

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "core/export/flow_sink.h"
#include "core/store/session_file.h"

namespace sightglass::core {

class SessionSink : public WriterSink {
 public:
  // create opens (or creates) the session file |path| and starts the writer thread; nullptr
  // with *error when the file cannot be opened or is not a session.
  static std::unique_ptr<SessionSink> create(const std::string& path, std::string* error);

  SessionSink(PrivateTag /*unused*/, std::unique_ptr<SessionFile> file);
  ~SessionSink() override;

  // close also closes the file, checkpointing the WAL into it.
  void close() override;

  uint64_t flows_written() const { return written_.load(std::memory_order_relaxed); }
  uint64_t flows_failed() const { return failed_.load(std::memory_order_relaxed); }
  // flows_lost counts flows never handed to the file (published after close()).
  uint64_t flows_lost() const { return writer_.lost(); }

 private:
  std::unique_ptr<SessionFile> file_;
  std::atomic<uint64_t> written_{0};
  std::atomic<uint64_t> failed_{0};
};

}  // namespace sightglass::core
