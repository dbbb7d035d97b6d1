#pragma once

// A session file (CONTRACT.md, "Session files"): a SQLite database in WAL mode with one row per
// flow in two tables: `flows`, its summary in columns (what `show` and the GUI's table read
// without touching the rest), and `details`, the whole flow (headers, bodies, WebSocket
// messages, TLS details, timings) as one zstd-compressed blob in the lossless form of
// flow_codec.h, under the same row number. Keeping the blobs apart keeps the summaries on pages
// of their own: loading a million summaries reads a few hundred MB, never the bodies. The schema is
// versioned (PRAGMA user_version); the file is marked as ours (PRAGMA application_id).
//
// A SessionFile is one SQLite connection; its calls are serialized by an internal mutex, so
// the writer thread and a reader may share it.

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "core/filter/flow_summary.h"
#include "core/proxy/flow.h"

struct sqlite3;
struct sqlite3_stmt;

namespace sightglass::core {

inline constexpr int kSessionSchemaVersion = 1;
inline constexpr int32_t kSessionApplicationId = 0x53474c53;  // "SGLS".

// looks_like_sqlite says whether |path| starts with SQLite's file header.
bool looks_like_sqlite(const std::string& path);

class SessionFile {
 public:
  enum class Mode {
    kRead,       // An existing session, read-only.
    kWrite,      // Create the file, or append to an existing session.
    kTemporary,  // A private temporary database (deleted on close), for imports.
  };

  // open opens |path| (ignored for kTemporary). A file that is not a session, a damaged one or
  // one with a newer schema is refused with a one-line *error; nothing is written to it.
  static std::unique_ptr<SessionFile> open(const std::string& path, Mode mode, std::string* error);
  ~SessionFile();
  SessionFile(const SessionFile&) = delete;
  SessionFile& operator=(const SessionFile&) = delete;

  // append stores |flows| in one transaction, in order; false with *error if it failed (then
  // none of them is stored). |first_seq| receives the row number of the first one.
  bool append(const std::vector<FlowSnapshotConstSharedPtr>& flows, std::string* error,
              int64_t* first_seq = nullptr);

  // SummaryFn receives each stored flow's row number and summary, in row order; returning
  // false stops the scan.
  using SummaryFn = std::function<bool(int64_t seq, const FlowSummary& summary)>;
  // for_each_summary reads the summary columns of every row after |after_seq|; false with
  // *error if the file could not be read to the end. |fn| runs without the file's lock held (it
  // may load flows, or take locks that loaders hold), on rows read in batches.
  bool for_each_summary(const SummaryFn& fn, std::string* error, int64_t after_seq = 0);

  // load reads one flow by row number (one indexed read); nullptr with *error if it is
  // missing or damaged.
  FlowSnapshotConstSharedPtr load(int64_t seq, std::string* error);

  // ReadScope holds one read transaction open while it lives, so that many loads (a filter
  // scan, an export) see one state of the file and do not lock it one by one.
  class ReadScope {
   public:
    explicit ReadScope(SessionFile* file);
    ~ReadScope();
    ReadScope(const ReadScope&) = delete;
    ReadScope& operator=(const ReadScope&) = delete;

   private:
    SessionFile* file_;
    bool open_ = false;
  };

  // count returns the number of stored flows (or -1 with *error).
  int64_t count(std::string* error);

 private:
  struct PrivateTag {
    explicit PrivateTag() = default;
  };

 public:
  explicit SessionFile(PrivateTag /*unused*/) {}

 private:
  bool exec(const char* sql, std::string* error);
  std::string describe_error(const std::string& what);

  struct CloseDb {
    void operator()(sqlite3* db) const;
  };
  struct Finalize {
    void operator()(sqlite3_stmt* statement) const;
  };
  using Statement = std::unique_ptr<sqlite3_stmt, Finalize>;
  bool prepare(const char* sql, Statement* out, std::string* error);

  std::string path_;
  std::mutex mutex_;
  std::unique_ptr<sqlite3, CloseDb> db_;  // Declared first: closed after the statements.
  Statement insert_;
  Statement insert_detail_;
  Statement load_;
};

}  // namespace sightglass::core
