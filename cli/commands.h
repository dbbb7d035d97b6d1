#pragma once

#include <string>
#include <vector>

namespace sightglass::cli {

// Exit codes of CONTRACT.md.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;

// run_main is the whole command line: |args| excludes the program name. Returns the exit code.
int run_main(const std::vector<std::string>& args);

}  // namespace sightglass::cli
