#include "cli/commands.h"

#include <nlohmann/json.hpp>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <mutex>
#include <sstream>
#include <string_view>

#include "ca/ca_store.h"
#include "cli/options.h"
#include "cli/run.h"
#include "core/export/flow_json.h"
#include "core/export/har_writer.h"
#include "core/export/terminal_printer.h"
#include "core/filter/filter.h"
#include "core/store/capture_files.h"
#include "core/store/summary_table.h"

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

// OutputFile is "-" (stdout) or a file created for writing, removed again if the command
// fails.
class OutputFile {
 public:
  bool open(const std::string& path, std::string* error) {
    path_ = path;
    if (path == "-") {
      return true;
    }
    file_.open(path, std::ios::binary | std::ios::trunc);
    if (!file_) {
      *error = "cannot open " + path + ": " + std::strerror(errno);
      return false;
    }
    return true;
  }
  std::ostream& stream() { return path_ == "-" ? std::cout : file_; }
  // finish flushes and closes; on failure (or when |ok| is false) a created file is removed.
  bool finish(bool ok, std::string* error) {
    if (path_ == "-") {
      std::cout.flush();
      if (ok && !std::cout) {
        *error = "cannot write to stdout";
        return false;
      }
      return ok;
    }
    file_.close();
    if (ok && !file_) {
      *error = "cannot write " + path_;
      ok = false;
    }
    if (!ok) {
      std::error_code ec;
      std::filesystem::remove(path_, ec);
    }
    return ok;
  }

 private:
  std::string path_;
  std::ofstream file_;
};

bool same_file(const std::string& a, const std::string& b) {
  std::error_code ec;
  return a != "-" && b != "-" && std::filesystem::equivalent(a, b, ec);
}

// first_line_is_entry says whether a text file starts with a complete JSON object that is not
// a HAR document: a JSON Lines flow log.
bool first_line_is_entry(std::istream& in) {
  std::string line;
  while (std::getline(in, line)) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) {
      continue;
    }
    const auto json = nlohmann::json::parse(line, nullptr, false);
    return !json.is_discarded() && json.is_object() && !json.contains("log");
  }
  return false;
}

bool first_line_is_entry(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return first_line_is_entry(in);
}

// export_session writes every flow of |file| (or the rows of |rows| when given) as one HAR
// document or as JSON Lines.
bool export_session(core::SessionFile& file, const core::SummaryTable& table,
                    const std::vector<uint32_t>* rows, bool har, std::ostream& out,
                    std::string* error) {
  const size_t n = rows != nullptr ? rows->size() : table.size();
  if (har) {
    out << core::har_document_begin();
  }
  for (size_t i = 0; i < n; ++i) {
    uint64_t key = 0;
    {
      auto lock = table.read_lock();
      key = table.key(rows != nullptr ? (*rows)[i] : i);
    }
    const core::FlowSnapshotConstSharedPtr flow = file.load(static_cast<int64_t>(key), error);
    if (!flow) {
      return false;
    }
    if (har && i > 0) {
      out << core::kHarDocumentSeparator;
    }
    out << core::to_json_line(*flow);
    if (!har) {
      out << '\n';
    }
    if (!out) {
      return false;
    }
  }
  if (har) {
    out << core::kHarDocumentEnd;
  }
  return static_cast<bool>(out);
}

// har_command: `sightglass har IN [OUT.har]` converts a session, JSON Lines or HAR file into
// one HAR 1.2 document ("-" is stdin / stdout; OUT defaults to stdout).
int har_command(const std::vector<std::string>& args) {
  std::vector<std::string> files;
  for (const std::string& arg : args) {
    if (arg == "--help" || arg == "-h") {
      std::cout << "usage: sightglass har IN [OUT.har]\n"
                   "Convert a session (--save), JSON Lines (-w) or HAR file to one HAR 1.2 "
                   "file; OUT defaults to stdout, '-' is stdin or stdout.\n";
      return kExitOk;
    }
    if (arg != "-" && arg.starts_with("-")) {
      return usage_error("unknown option " + arg.substr(0, arg.find('=')) + " for har");
    }
    files.push_back(arg);
  }
  if (files.empty()) {
    return usage_error("har needs an input file: har IN [OUT.har]");
  }
  if (files.size() > 2) {
    return usage_error("unexpected argument '" + files[2] + "' (har IN [OUT.har])");
  }
  const std::string& in_path = files[0];
  const std::string out_path = files.size() > 1 ? files[1] : "-";
  if (same_file(in_path, out_path)) {
    return usage_error("har: the output " + out_path + " is the input file");
  }
  std::error_code ec;
  if (in_path != "-" && std::filesystem::is_directory(in_path, ec)) {
    return failure("cannot read " + in_path + ": Is a directory");
  }
  std::string error;
  // A JSON Lines log keeps its lines as they are (stdin is read whole to tell).
  std::string stdin_text;
  if (in_path == "-") {
    stdin_text.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  }
  std::istringstream stdin_stream(stdin_text);
  if (in_path == "-" ? first_line_is_entry(stdin_stream)
                     : !core::looks_like_sqlite(in_path) && first_line_is_entry(in_path)) {
    std::ifstream in_file;
    if (in_path != "-") {
      in_file.open(in_path, std::ios::binary);
      if (!in_file) {
        return failure("cannot open " + in_path + ": " + std::strerror(errno));
      }
    }
    stdin_stream.clear();
    stdin_stream.seekg(0);
    std::istream& in = in_path == "-" ? static_cast<std::istream&>(stdin_stream) : in_file;
    OutputFile out;
    if (!out.open(out_path, &error)) {
      return failure(error);
    }
    const bool ok = core::convert_jsonl_to_har(in, out.stream(), &error);
    std::string write_error;
    if (!out.finish(ok, &write_error)) {
      return failure(ok ? write_error : in_path + ": " + error);
    }
    return kExitOk;
  }
  std::unique_ptr<core::SessionFile> file;
  if (in_path == "-") {
    // A HAR document on stdin: imported like a file.
    file = core::SessionFile::open("", core::SessionFile::Mode::kTemporary, &error);
    stdin_stream.clear();
    stdin_stream.seekg(0);
    if (file && !core::import_capture(stdin_stream, *file, &error)) {
      return failure("stdin: " + error);
    }
  } else {
    file = core::open_capture(in_path, &error);
  }
  if (!file) {
    return failure(error);
  }
  core::SummaryTable table;
  if (!core::load_summaries(*file, table, &error)) {
    return failure(error);
  }
  OutputFile out;
  if (!out.open(out_path, &error)) {
    return failure(error);
  }
  const bool ok = export_session(*file, table, nullptr, true, out.stream(), &error);
  std::string write_error;
  if (!out.finish(ok, &write_error)) {
    return failure(!error.empty() ? error : write_error);
  }
  return kExitOk;
}

// show_command: `sightglass show IN [FILTER] [-w OUT|-]` lists the flows of a capture that
// match FILTER, one line each as the live printer prints them, or writes them as JSON Lines.
int show_command(const std::vector<std::string>& args) {
  std::string in_path;
  std::string expression;
  std::string write_path;
  bool have_in = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--help" || arg == "-h") {
      std::cout << "usage: sightglass show IN [FILTER] [-w OUT|-]\n"
                   "List the flows of a session, JSON Lines or HAR file that match FILTER, one "
                   "line each;\n-w writes them as JSON Lines instead ('-' is stdout).\n";
      return kExitOk;
    }
    if (arg == "-w" || arg == "--write") {
      if (i + 1 >= args.size()) {
        return usage_error("option " + arg + " needs a value (OUT or -)");
      }
      write_path = args[++i];
    } else if (arg.starts_with("--write=")) {
      write_path = arg.substr(8);
    } else if (!have_in && (arg == "-" || !arg.starts_with("-"))) {
      in_path = arg;
      have_in = true;
    } else if (have_in && (arg.empty() || arg[0] != '-' || arg.size() == 1)) {
      // The filter: the words after IN (quoted as one argument, or not).
      expression += (expression.empty() ? "" : " ") + arg;
    } else if (have_in && !arg.starts_with("--")) {
      // "-x" after IN is an option we do not know; a filter never starts with '-'.
      return usage_error("unknown option " + arg + " for show");
    } else {
      return usage_error("unknown option " + arg.substr(0, arg.find('=')) + " for show");
    }
  }
  if (!have_in) {
    return usage_error("show needs an input file: show IN [FILTER] [-w OUT|-]");
  }
  core::FlowFilterConstSharedPtr filter;
  if (!expression.empty()) {
    core::FilterError filter_error;
    filter = core::FlowFilter::parse(expression, &filter_error);
    if (!filter) {
      return usage_error("invalid filter: " + filter_error.describe());
    }
  }
  if (!write_path.empty() && same_file(in_path, write_path)) {
    return usage_error("show: the output " + write_path + " is the input file");
  }
  std::string error;
  auto file = core::open_capture(in_path, &error);
  if (!file) {
    return failure(error);
  }
  core::SummaryTable table;
  if (!core::load_summaries(*file, table, &error)) {
    return failure(error);
  }
  std::vector<uint32_t> rows;
  if (filter) {
    const core::SessionFile::ReadScope scope(file.get());
    // The scan may load flows on several threads: the first error wins.
    std::mutex error_mutex;
    std::string load_error;
    rows = table.filter(*filter, [&file, &error_mutex, &load_error](uint64_t key) {
      std::string why;
      auto flow = file->load(static_cast<int64_t>(key), &why);
      if (!flow) {
        std::lock_guard<std::mutex> lock(error_mutex);
        if (load_error.empty()) {
          load_error = why;
        }
      }
      return flow;
    });
    if (!load_error.empty()) {
      return failure(load_error);
    }
  } else {
    rows.resize(table.size());
    for (size_t i = 0; i < rows.size(); ++i) {
      rows[i] = static_cast<uint32_t>(i);
    }
  }
  if (!write_path.empty()) {
    OutputFile out;
    if (!out.open(write_path, &error)) {
      return failure(error);
    }
    const bool ok = export_session(*file, table, &rows, false, out.stream(), &error);
    std::string write_error;
    if (!out.finish(ok, &write_error)) {
      return failure(!error.empty() ? error : write_error);
    }
    return kExitOk;
  }
  for (uint32_t row : rows) {
    uint64_t key = 0;
    {
      auto lock = table.read_lock();
      key = table.key(row);
    }
    const core::FlowSnapshotConstSharedPtr flow = file->load(static_cast<int64_t>(key), &error);
    if (!flow) {
      return failure(error);
    }
    std::cout << core::format_flow_line(*flow) << '\n';
  }
  std::cout.flush();
  return std::cout ? kExitOk : failure("cannot write to stdout");
}

constexpr Command kCommands[] = {
    {"ca", ca_command},
    {"har", har_command},
    {"show", show_command},
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
