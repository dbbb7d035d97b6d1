#pragma once

// The filter language (CONTRACT.md, "Filter expressions"): mitmproxy's flowfilter, parsed once
// into a tree and evaluated against either a full flow or a summary. One parser and one
// evaluator serve --filter, `show`, the session store and the GUI.
//
//   ~a ~all ~b ~bq ~bs ~c ~d ~dst ~e ~h ~hq ~hs ~m ~q ~s ~src ~t ~tcp ~u ~websocket
//   !  &  |  ( )  implicit &,  'quoted'  "quoted",  a bare REGEX means ~u REGEX
//   precedence: ! binds tighter than &, which binds tighter than |.
//
// Summary terms (~a ~all ~c ~d ~dst ~e ~m ~q ~s ~src ~t ~tcp ~u ~websocket) read only a
// SummaryView; detail terms (~b ~bq ~bs ~h ~hq ~hs) need the full flow.
//
// Grammar (whitespace separates tokens and is otherwise ignored):
//   expr := or
//   or   := and ('|' and)*
//   and  := not (['&'] not)*          -- two operands side by side mean '&'
//   not  := '!' not | atom
//   atom := '(' expr ')' | '~' NAME [ARG] | ARG      -- a bare ARG means ~u ARG
//   NAME := [A-Za-z0-9_]+, ending the word (followed by whitespace, ( ) & | or the end)
//   ARG  := 'quoted' | "quoted" | BARE
//   BARE := a run of bytes other than whitespace ( ) & |, not starting with ! ~ ' "
//           (so "~u a|b" is ~u a | ~u b: quote a regex that holds those characters)
//   quoted: up to the same unescaped quote; a backslash before that quote or before a
//           backslash stands for that character, any other backslash is kept (\d stays \d).
//   ~c takes a BARE decimal 0..999.
// Term names are case-sensitive; regexes are case-insensitive (PCRE2, Python syntax). ~b ~bq
// ~bs match with '.' matching newlines (mitmproxy's re.DOTALL); ~h ~hq ~hs search each header
// and trailer as its own "Name: value" line. Bodies are the kept bytes, Content-Encoding
// undone (up to 16 MiB); ~b/~bq/~bs also search WebSocket messages (all/client/server). ~dst
// matches the server's "ip:port" or the requested "host:port". HTTP-only terms (all but ~all
// ~d ~dst ~e ~src ~tcp ~u) never match a TCP flow.
// Nesting of '(' and '!' is limited (256 levels); deeper is an error.

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/filter/flow_summary.h"
#include "core/proxy/flow.h"

namespace sightglass::core {

// FilterError says where and why an expression is malformed.
struct FilterError {
  size_t position = 0;  // 0-based offset into the expression.
  std::string message;  // What was expected or wrong there, e.g. "expected ')'".

  // describe returns "<message> at position <position+1>" (1-based, for humans).
  std::string describe() const;
};

// FilterMemo remembers, for one scan of one store on one thread, each regex term's answer per
// interned string id (SummaryView::interned), so a million rows over a few hundred hosts cost
// a few hundred regex searches. Not thread-safe: one memo a thread.
class FilterMemo {
 public:
  // answer returns the cached answer for (slot, id): -1 unknown, 0 no, 1 yes.
  int8_t& answer(size_t slot, uint32_t id) {
    if (slot >= slots_.size()) {
      slots_.resize(slot + 1);
    }
    std::vector<int8_t>& answers = slots_[slot];
    if (id >= answers.size()) {
      answers.resize(id + 1, -1);
    }
    return answers[id];
  }

 private:
  std::vector<std::vector<int8_t>> slots_;
};

class FlowFilter {
 public:
  // parse compiles |expression|; nullptr with *error on a malformed one. An empty (or
  // all-blank) expression is an error too ("expected a filter expression").
  static std::shared_ptr<const FlowFilter> parse(std::string_view expression, FilterError* error);

  virtual ~FlowFilter() = default;

  // matches evaluates against a full flow (live or finished). Thread-safe.
  virtual bool matches(const FlowSnapshot& flow) const = 0;

  // DetailLoader returns the full flow of the summary being evaluated, or nullptr when it
  // cannot be read (then detail terms do not match).
  using DetailLoader = std::function<FlowSnapshotConstSharedPtr()>;

  // matches evaluates against a summary. Summary terms never call |load|; detail terms call it
  // at most once per evaluation (the result is reused). Thread-safe. A |memo| gives the same
  // answer, faster over a store whose views carry interned ids; it must only ever see views of
  // one store (ids are the store's).
  virtual bool matches(const SummaryView& summary, const DetailLoader& load,
                       FilterMemo* memo = nullptr) const = 0;

  // needs_detail says whether any term of the expression reads the full flow.
  virtual bool needs_detail() const = 0;

  // text returns the expression as it was given.
  virtual const std::string& text() const = 0;
};

using FlowFilterConstSharedPtr = std::shared_ptr<const FlowFilter>;

}  // namespace sightglass::core
