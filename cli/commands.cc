#include "cli/commands.h"

#include <cstdio>
#include <filesystem>
#include <iostream>
#include <string_view>

#include "ca/ca_store.h"
#include "cli/options.h"

namespace sightglass::cli {
namespace {

using CommandFn = int (*)(const std::vector<std::string>& args);

// Command is one subcommand, declared as data.
struct Command {
  const char* name;
  CommandFn run;
};

int usage_error(const std::string& message) {
  std::cerr << "sightglass: " << message << "\n"
            << "Try 'sightglass --help'.\n";
  return kExitUsage;
}

int failure(const std::string& message) {
  std::cerr << "sightglass: " << message << "\n";
  return kExitFailure;
}

std::filesystem::path confdir_or_default(const std::string& confdir) {
  return confdir.empty() ? ca::default_confdir() : std::filesystem::path(confdir);
}

// parse_ca_args parses the options of `ca export` / `ca path`: --confdir, and --der if
// |allow_der|.
bool parse_ca_args(const std::vector<std::string>& args, bool allow_der, std::string* out_confdir,
                   bool* out_der, std::string* out_error) {
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (allow_der && arg == "--der") {
      *out_der = true;
    } else if (arg == "--confdir") {
      if (i + 1 >= args.size()) {
        *out_error = "option --confdir needs a value (DIR)";
        return false;
      }
      *out_confdir = args[++i];
    } else if (arg.starts_with("--confdir=")) {
      *out_confdir = arg.substr(std::string_view("--confdir=").size());
    } else if (arg.starts_with("-")) {
      *out_error = "unknown option " + arg.substr(0, arg.find('='));
      return false;
    } else {
      *out_error = "unexpected argument '" + arg + "'";
      return false;
    }
  }
  return true;
}

int ca_command(const std::vector<std::string>& args) {
  if (args.empty()) {
    return usage_error("ca needs a subcommand: export [--der] | path");
  }
  const std::string& sub = args[0];
  if (sub != "export" && sub != "path") {
    return usage_error("unknown ca subcommand '" + sub + "' (export, path)");
  }
  std::string confdir;
  bool der = false;
  std::string error;
  if (!parse_ca_args({args.begin() + 1, args.end()}, sub == "export", &confdir, &der, &error)) {
    return usage_error(error);
  }
  auto ca = ca::CertificateAuthority::load_or_create(confdir_or_default(confdir), &error);
  if (!ca) {
    return failure(error);
  }
  if (sub == "path") {
    std::cout << ca->cert_path().string() << "\n";
    return kExitOk;
  }
  if (der) {
    const auto& bytes = ca->cert_der();
    if (fwrite(bytes.data(), 1, bytes.size(), stdout) != bytes.size() || fflush(stdout) != 0) {
      return failure("cannot write to stdout");
    }
    return kExitOk;
  }
  std::cout << ca->cert_pem() << std::flush;
  return std::cout ? kExitOk : failure("cannot write to stdout");
}

int run_command(const std::vector<std::string>& args) {
  Options options;
  std::string error;
  if (!parse_options(args, &options, nullptr, &error)) {
    return usage_error(error);
  }
  if (options.help) {
    std::cout << usage_text();
    return kExitOk;
  }
  if (options.version) {
    std::cout << "sightglass " << SIGHTGLASS_VERSION << "\n";
    return kExitOk;
  }
  auto ca = ca::CertificateAuthority::load_or_create(confdir_or_default(options.confdir), &error);
  if (!ca) {
    return failure(error);
  }
  std::cerr << "sightglass: CA certificate: " << ca->cert_path().string() << "\n";
  return failure("capture is not available yet: this build has the CA, not the proxy core");
}

constexpr Command kCommands[] = {
    {"ca", ca_command},
};

}  // namespace

int run_main(const std::vector<std::string>& args) {
  if (!args.empty()) {
    for (const Command& command : kCommands) {
      if (args[0] == command.name) {
        return command.run({args.begin() + 1, args.end()});
      }
    }
  }
  return run_command(args);
}

}  // namespace sightglass::cli
