#include "tests/support/process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <sstream>

namespace sightglass::test {
namespace {

using Clock = std::chrono::steady_clock;

void close_fd(int* fd) {
  if (*fd >= 0) {
    close(*fd);
    *fd = -1;
  }
}

}  // namespace

std::string find_program(const std::string& name) {
  if (name.find('/') != std::string::npos) {
    return access(name.c_str(), X_OK) == 0 ? name : "";
  }
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path != nullptr ? path : "/usr/bin:/bin");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    const std::string candidate = dir + "/" + name;
    if (access(candidate.c_str(), X_OK) == 0) {
      return candidate;
    }
  }
  return "";
}

ChildProcess::ChildProcess(const std::vector<std::string>& argv) {
  std::array<int, 2> in{-1, -1}, out{-1, -1}, err{-1, -1};
  if (argv.empty() || pipe2(in.data(), O_CLOEXEC) != 0 || pipe2(out.data(), O_CLOEXEC) != 0 ||
      pipe2(err.data(), O_CLOEXEC) != 0) {
    for (int* fd : {&in[0], &in[1], &out[0], &out[1], &err[0], &err[1]}) {
      close_fd(fd);
    }
    return;
  }
  std::vector<char*> args;
  for (const std::string& a : argv) {
    args.push_back(const_cast<char*>(a.c_str()));
  }
  args.push_back(nullptr);
  pid_ = fork();
  if (pid_ == 0) {
    dup2(in[0], STDIN_FILENO);
    dup2(out[1], STDOUT_FILENO);
    dup2(err[1], STDERR_FILENO);
    ::signal(SIGPIPE, SIG_DFL);
    execvp(args[0], args.data());
    _exit(127);
  }
  close_fd(&in[0]);
  close_fd(&out[1]);
  close_fd(&err[1]);
  stdin_fd_ = in[1];
  stdout_fd_ = out[0];
  stderr_fd_ = err[0];
  if (pid_ < 0) {
    close_fd(&stdin_fd_);
    close_fd(&stdout_fd_);
    close_fd(&stderr_fd_);
  }
}

ChildProcess::~ChildProcess() {
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  close_fd(&stdin_fd_);
  close_fd(&stdout_fd_);
  close_fd(&stderr_fd_);
}

bool ChildProcess::write_input(const std::string& data) {
  size_t written = 0;
  while (stdin_fd_ >= 0 && written < data.size()) {
    const ssize_t n = write(stdin_fd_, data.data() + written, data.size() - written);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return false;
    }
    written += static_cast<size_t>(n);
  }
  return written == data.size();
}

void ChildProcess::signal(int signum) {
  if (pid_ > 0) {
    kill(pid_, signum);
  }
}

std::string ChildProcess::wait_for_line(bool from_stderr, const std::string& needle,
                                        std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  std::string& buffer = from_stderr ? err_ : out_;
  int& fd = from_stderr ? stderr_fd_ : stdout_fd_;
  size_t searched = 0;
  std::array<char, 4096> buf{};
  for (;;) {
    // Look for a complete line holding the needle.
    for (size_t end = buffer.find('\n', searched); end != std::string::npos;
         end = buffer.find('\n', searched)) {
      const std::string line = buffer.substr(searched, end - searched);
      searched = end + 1;
      if (line.find(needle) != std::string::npos) {
        return line;
      }
    }
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (fd < 0 || left <= 0) {
      return "";
    }
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left)) <= 0) {
      continue;
    }
    const ssize_t r = read(fd, buf.data(), buf.size());
    if (r > 0) {
      buffer.append(buf.data(), static_cast<size_t>(r));
    } else if (r == 0 || errno != EINTR) {
      close_fd(&fd);
    }
  }
}

ProcessResult ChildProcess::wait(std::chrono::milliseconds timeout) {
  ProcessResult result;
  result.out = std::move(out_);
  result.err = std::move(err_);
  if (pid_ <= 0) {
    return result;
  }
  close_fd(&stdin_fd_);
  const auto deadline = Clock::now() + timeout;
  std::array<char, 65536> buf{};
  while (stdout_fd_ >= 0 || stderr_fd_ >= 0) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) {
      result.timed_out = true;
      break;
    }
    std::array<pollfd, 2> fds{pollfd{stdout_fd_, POLLIN, 0}, pollfd{stderr_fd_, POLLIN, 0}};
    const int n = poll(fds.data(), fds.size(), static_cast<int>(left));
    if (n < 0 && errno != EINTR) {
      break;
    }
    for (size_t i = 0; i < fds.size(); ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) {
        continue;
      }
      const ssize_t r = read(fds[i].fd, buf.data(), buf.size());
      if (r > 0) {
        (i == 0 ? result.out : result.err).append(buf.data(), static_cast<size_t>(r));
      } else if (r == 0 || errno != EINTR) {
        close_fd(i == 0 ? &stdout_fd_ : &stderr_fd_);
      }
    }
  }
  if (result.timed_out) {
    kill(pid_, SIGKILL);
  }
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
  close_fd(&stdout_fd_);
  close_fd(&stderr_fd_);
  if (!result.timed_out && WIFEXITED(status)) {
    result.exit_code = WEXITSTATUS(status);
  }
  return result;
}

ProcessResult run_process(const std::vector<std::string>& argv, const std::string& input,
                          std::chrono::milliseconds timeout) {
  ChildProcess child(argv);
  if (!child.started()) {
    return {};
  }
  // Inputs in these tests are small enough for the pipe buffer.
  child.write_input(input);
  return child.wait(timeout);
}

}  // namespace sightglass::test
