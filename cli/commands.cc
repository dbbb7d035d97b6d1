#include "cli/commands.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string_view>

#include "ca/ca_store.h"
#include "cli/options.h"
#include "cli/run.h"
#include "core/export/har_writer.h"

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
  return run_proxy(options);
}

// har_command: `sightglass har IN.jsonl [OUT.har]` wraps a JSON Lines flow log into one HAR
// 1.2 document ("-" is stdin / stdout; OUT defaults to stdout).
int har_command(const std::vector<std::string>& args) {
  std::vector<std::string> files;
  for (const std::string& arg : args) {
    if (arg == "--help" || arg == "-h") {
      std::cout << "usage: sightglass har IN.jsonl [OUT.har]\n"
                   "Convert a JSON Lines flow log (-w FILE) to one HAR 1.2 file; OUT defaults "
                   "to stdout, '-' is stdin or stdout.\n";
      return kExitOk;
    }
    if (arg != "-" && arg.starts_with("-")) {
      return usage_error("unknown option " + arg.substr(0, arg.find('=')) + " for har");
    }
    files.push_back(arg);
  }
  if (files.empty()) {
    return usage_error("har needs an input file: har IN.jsonl [OUT.har]");
  }
  if (files.size() > 2) {
    return usage_error("unexpected argument '" + files[2] + "' (har IN.jsonl [OUT.har])");
  }
  const std::string& in_path = files[0];
  const std::string out_path = files.size() > 1 ? files[1] : "-";
  std::error_code ec;
  if (in_path != "-" && out_path != "-" && std::filesystem::equivalent(in_path, out_path, ec)) {
    return usage_error("har: the output " + out_path + " is the input file");
  }

  std::ifstream in_file;
  if (in_path != "-") {
    if (std::filesystem::is_directory(in_path, ec)) {
      return failure("cannot read " + in_path + ": Is a directory");
    }
    in_file.open(in_path, std::ios::binary);
    if (!in_file) {
      return failure("cannot open " + in_path + ": " + std::strerror(errno));
    }
  }
  std::ofstream out_file;
  if (out_path != "-") {
    out_file.open(out_path, std::ios::binary | std::ios::trunc);
    if (!out_file) {
      return failure("cannot open " + out_path + ": " + std::strerror(errno));
    }
  }
  std::istream& in = in_path == "-" ? std::cin : in_file;
  std::ostream& out = out_path == "-" ? std::cout : out_file;
  std::string error;
  bool ok = core::convert_jsonl_to_har(in, out, &error);
  if (ok && out_path != "-") {
    out_file.close();
    if (!out_file) {
      ok = false;
      error = "cannot write " + out_path;
    }
  }
  if (!ok) {
    if (out_path != "-") {
      out_file.close();
      std::filesystem::remove(out_path, ec);
    }
    return failure((in_path == "-" ? std::string("stdin") : in_path) + ": " + error);
  }
  return kExitOk;
}

constexpr Command kCommands[] = {
    {"ca", ca_command},
    {"har", har_command},
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
