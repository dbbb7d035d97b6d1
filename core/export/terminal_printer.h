#pragma once

// TerminalPrinter: the one line per flow that `sightglass` prints on stderr.

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>

#include "core/export/flow_sink.h"

namespace sightglass::core {

// format_flow_line describes a finished flow in one line, for example
//   GET https://example.com/path 200 1.2 KiB 34 ms
//   GET https://x/ << 502 upstream certificate verify failed: certificate has expired
//   TCP example.com:443 10 B up 2.0 KiB down 3.0 s
// Control characters from the wire are escaped (\xNN), so a flow cannot drive the terminal.
std::string format_flow_line(const FlowSnapshot& flow);

// format_size formats a byte count: "10 B", "1.2 KiB", "3.4 MiB", "1.0 GiB".
std::string format_size(uint64_t bytes);

// format_duration formats microseconds: "0.4 ms", "34 ms", "1.2 s", "75 s".
std::string format_duration(int64_t micros);

// TerminalPrinter prints format_flow_line() of every finished flow to a FILE* (stderr in the
// CLI) from its own thread, flushing after each batch. Live snapshots are ignored.
class TerminalPrinter : public WriterSink {
 public:
  // create starts the printer on |out|, which it does not own and never closes. Returns
  // nullptr and sets *out_error when the thread cannot be started.
  static std::unique_ptr<TerminalPrinter> create(FILE* out, std::string* out_error);

  TerminalPrinter(PrivateTag /*unused*/, FILE* out);
  ~TerminalPrinter() override;

 private:
  FILE* out_;
};

}  // namespace sightglass::core
