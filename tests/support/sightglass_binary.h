#pragma once

// run_sightglass runs the `sightglass` binary under test (SIGHTGLASS_BINARY, a compile
// definition of every test target) with |args|.

#include <chrono>
#include <string>
#include <vector>

#include "tests/support/process.h"

namespace sightglass::test {

inline ProcessResult run_sightglass(std::vector<std::string> args, const std::string& input = "",
                                    std::chrono::milliseconds timeout = std::chrono::seconds(60)) {
  args.insert(args.begin(), SIGHTGLASS_BINARY);
  return run_process(args, input, timeout);
}

}  // namespace sightglass::test
