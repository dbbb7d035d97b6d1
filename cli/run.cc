#include "cli/run.h"

#include <iostream>

#include "cli/runtime.h"

namespace sightglass::cli {

int run_proxy(const Options& options) {
  std::string error;
  std::unique_ptr<ProxyRuntime> runtime = ProxyRuntime::start(options, &error);
  if (!runtime) {
    std::cerr << "sightglass: " << error << "\n";
    return 1;
  }
  std::cerr << "sightglass: listening on " << runtime->local_address() << " ("
            << runtime->mode_description() << ")\n"
            << "sightglass: CA certificate: " << runtime->ca_cert_path() << std::endl;
  if (!runtime->exposure_warning().empty()) {
    std::cerr << "sightglass: " << runtime->exposure_warning() << std::endl;
  }
  error = runtime->wait();
  if (const auto learned = runtime->learned_passthrough(); !learned.empty()) {
    std::cerr << "sightglass: auto-passthrough learned " << learned.size()
              << (learned.size() == 1 ? " host" : " hosts") << " this run:\n";
    for (const auto& [host, why] : learned) {
      std::cerr << "  " << host << "  (" << why << ")\n";
    }
  }
  if (!error.empty()) {
    std::cerr << "sightglass: " << error << "\n";
    return 1;
  }
  return 0;
}

}  // namespace sightglass::cli
