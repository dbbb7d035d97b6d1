#pragma once

// Regex: a compiled PCRE2 pattern with Python's syntax, always case-insensitive, JIT-compiled
// when the JIT is available. Thread-safe: search() may run on any number of threads at once
// (match data is per thread). Used by the filter language and by --ignore-hosts/--allow-hosts.

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

namespace sightglass::core {

class Regex {
 public:
  struct Error {
    size_t offset = 0;  // Offset in the pattern where PCRE2 gave up.
    std::string message;
  };

  // Options adds flags to the always-on ones (case-insensitive, UTF with invalid subjects).
  struct Options {
    bool dot_all = false;         // '.' matches newlines too (Python's re.DOTALL), as for bodies.
    bool case_sensitive = false;  // As Python's re without re.IGNORECASE (the traffic rules).
  };

  // compile returns the compiled |pattern|, or nullptr with *error set. Subjects may be any
  // bytes: invalid UTF-8 in a subject never fails a search (PCRE2_MATCH_INVALID_UTF).
  static std::unique_ptr<Regex> compile(std::string_view pattern, const Options& options,
                                        Error* error);
  static std::unique_ptr<Regex> compile(std::string_view pattern, Error* error) {
    return compile(pattern, Options{}, error);
  }

  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  // search says whether the pattern matches anywhere in |subject| (Python's re.search).
  bool search(std::string_view subject) const;

  // substitute replaces every non-overlapping match in |subject| with |replacement| (Python's
  // re.sub): \1..\99 and \g<N> or \g<name> insert a group, \\ a backslash, \n \r \t
  // those characters; any other backslash is kept. *count (when given) gets the number of
  // matches. The subject comes back unchanged when nothing matched.
  std::string substitute(std::string_view subject, std::string_view replacement,
                         size_t* count = nullptr) const;

  const std::string& pattern() const { return pattern_; }

 private:
  struct Impl;
  struct PrivateTag {
    explicit PrivateTag() = default;
  };

 public:
  // Use compile(); the tag keeps the constructor to it.
  Regex(PrivateTag /*unused*/, std::string pattern, std::unique_ptr<Impl> impl);

 private:
  std::string pattern_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sightglass::core
