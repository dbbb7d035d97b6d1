#include "core/store/capture_files.h"

#include <nlohmann/json.hpp>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <vector>

#include "core/export/har_reader.h"

namespace sightglass::core {
namespace {

constexpr size_t kImportBatch = 512;
constexpr const char* kNotACapture = "not a session, JSON Lines or HAR file";

bool is_blank(const std::string& line) {
  return line.find_first_not_of(" \t\r\n") == std::string::npos;
}

// Importer collects flows and stores them in batches.
struct Importer {
  SessionFile& into;
  std::vector<FlowSnapshotConstSharedPtr> batch;
  uint64_t count = 0;
  FlowId next_id = 1;

  bool add(const nlohmann::json& entry, const std::string& where, std::string* error) {
    auto flow = std::make_shared<FlowSnapshot>();
    std::string why = "not a JSON object";
    if (!entry.is_object() || !from_har_entry(entry, flow.get(), &why)) {
      *error = where + ": " + why;
      return false;
    }
    if (flow->id == 0) {
      flow->id = next_id;  // Another tool's HAR has no _id.
    }
    next_id = std::max(next_id, flow->id + 1);
    batch.push_back(std::move(flow));
    ++count;
    return batch.size() < kImportBatch || flush(error);
  }

  bool flush(std::string* error) {
    if (batch.empty()) {
      return true;
    }
    const bool ok = into.append(batch, error);
    batch.clear();
    return ok;
  }
};

}  // namespace

bool import_capture(std::istream& in, SessionFile& into, std::string* error, uint64_t* imported,
                    CaptureFormat* format) {
  Importer importer{into, {}};
  CaptureFormat ignored;
  CaptureFormat& detected = format != nullptr ? *format : ignored;
  std::string line;
  size_t line_number = 0;
  // The first non-blank line tells JSON Lines (a complete entry) from HAR (a document, often
  // spread over many lines).
  while (std::getline(in, line)) {
    ++line_number;
    if (!is_blank(line)) {
      break;
    }
  }
  bool ok = true;
  if (is_blank(line)) {
    // An empty file: an empty flow log.
    detected = CaptureFormat::kJsonLines;
  } else if (line[line.find_first_not_of(" \t")] != '{') {
    *error = kNotACapture;
    return false;
  } else {
    nlohmann::json first = nlohmann::json::parse(line, nullptr, false);
    if (!first.is_discarded() && first.is_object() && !first.contains("log")) {
      // JSON Lines: one entry a line.
      detected = CaptureFormat::kJsonLines;
      ok = importer.add(first, "line " + std::to_string(line_number), error);
      while (ok && std::getline(in, line)) {
        ++line_number;
        if (!is_blank(line)) {
          ok = importer.add(nlohmann::json::parse(line, nullptr, false),
                            "line " + std::to_string(line_number), error);
        }
      }
    } else {
      // A HAR document: the first line and everything after it.
      detected = CaptureFormat::kHar;
      std::string text = first.is_discarded() ? line + "\n" : std::string();
      if (first.is_discarded()) {
        text.append(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
        first = nlohmann::json::parse(text, nullptr, false);
      }
      if (!first.is_object() || !first.contains("log") || !first["log"].is_object() ||
          !first["log"].contains("entries") || !first["log"]["entries"].is_array()) {
        *error = kNotACapture;
        return false;
      }
      const nlohmann::json& entries = first["log"]["entries"];
      for (size_t i = 0; ok && i < entries.size(); ++i) {
        ok = importer.add(entries[i], "entry " + std::to_string(i + 1), error);
      }
    }
  }
  if (ok && in.bad()) {
    *error = "read error after line " + std::to_string(line_number);
    ok = false;
  }
  ok = ok && importer.flush(error);
  if (imported != nullptr) {
    *imported = importer.count;
  }
  return ok;
}

std::unique_ptr<SessionFile> open_capture(const std::string& path, std::string* error,
                                          CaptureFormat* format) {
  if (path != "-" && looks_like_sqlite(path)) {
    if (format != nullptr) {
      *format = CaptureFormat::kSession;
    }
    return SessionFile::open(path, SessionFile::Mode::kRead, error);
  }
  std::ifstream file;
  if (path != "-") {
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec)) {
      *error = path + ": is a directory";
      return nullptr;
    }
    file.open(path, std::ios::binary);
    if (!file) {
      *error = path + ": cannot open (" + std::strerror(errno) + ")";
      return nullptr;
    }
  }
  auto session = SessionFile::open("", SessionFile::Mode::kTemporary, error);
  if (!session) {
    return nullptr;
  }
  std::string why;
  if (!import_capture(path == "-" ? std::cin : file, *session, &why, nullptr, format)) {
    *error = (path == "-" ? std::string("stdin") : path) + ": " + why;
    return nullptr;
  }
  return session;
}

bool load_summaries(SessionFile& file, SummaryTable& table, std::string* error) {
  return file.for_each_summary(
      [&table](int64_t seq, const FlowSummary& summary) {
        table.upsert(static_cast<uint64_t>(seq), summary.view());
        return true;
      },
      error);
}

}  // namespace sightglass::core
