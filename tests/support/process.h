#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

namespace sightglass::test {

// ProcessResult is how a child process ended and what it printed.
struct ProcessResult {
  int exit_code = -1;  // -1 when it was killed by a signal or timed out.
  bool timed_out = false;
  std::string out;
  std::string err;
};

// run_process runs |argv| (argv[0] searched in PATH), feeds it |input| on stdin and waits at
// most |timeout|, killing it after that. It never leaves the child behind.
ProcessResult run_process(const std::vector<std::string>& argv, const std::string& input = "",
                          std::chrono::milliseconds timeout = std::chrono::seconds(60));

// ChildProcess is a child started in the background, killed and reaped on destruction.
class ChildProcess {
 public:
  // Starts |argv| with stdout and stderr captured.
  explicit ChildProcess(const std::vector<std::string>& argv);
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  bool started() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }
  // wait_for_line reads the child's stdout (or stderr) until a line containing |needle| has
  // arrived, and returns that line ("" on timeout or exit). What was read stays in the
  // output that wait() returns.
  std::string wait_for_line(bool from_stderr, const std::string& needle,
                            std::chrono::milliseconds timeout = std::chrono::seconds(30));
  // signal sends |signum| to the child.
  void signal(int signum);
  // write_input writes |data| to the child's stdin (which wait() closes).
  bool write_input(const std::string& data);
  // wait waits at most |timeout| for the child to exit, then kills it.
  ProcessResult wait(std::chrono::milliseconds timeout = std::chrono::seconds(60));

 private:
  pid_t pid_ = -1;
  int stdin_fd_ = -1;
  int stdout_fd_ = -1;
  int stderr_fd_ = -1;
  std::string out_;  // Read so far.
  std::string err_;
};

// find_program returns the path of |name| in PATH, or "".
std::string find_program(const std::string& name);

}  // namespace sightglass::test
