#pragma once

#include "cli/options.h"

namespace sightglass::cli {

// run_proxy runs the proxy with |options| until SIGINT or SIGTERM, then shuts down gracefully:
// it stops accepting, lets exchanges in flight finish for up to 5 s, flushes the log and writes
// the HAR. Returns the exit code.
int run_proxy(const Options& options);

}  // namespace sightglass::cli
