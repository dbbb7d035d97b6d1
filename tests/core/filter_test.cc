// The filter language (core/filter): PCRE2 regexes, the parser's grammar and errors, the
// semantics of every term over a fixed set of flows, and the agreement of the full-flow and
// summary evaluation paths.

#include "core/filter/filter.h"

#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "core/filter/flow_summary.h"
#include "core/filter/regex.h"
#include "core/proxy/flow.h"
#include "tests/support/filter_flows.h"

namespace sightglass::core {
namespace {

// ---------------------------------------------------------------------------------------------
// Regex

std::unique_ptr<Regex> must_compile(std::string_view pattern) {
  Regex::Error error;
  std::unique_ptr<Regex> regex = Regex::compile(pattern, &error);
  EXPECT_NE(regex, nullptr) << pattern << ": " << error.message;
  return regex;
}

TEST(Regex, IsCaseInsensitive) {
  auto regex = must_compile("hello World");
  ASSERT_NE(regex, nullptr);
  EXPECT_TRUE(regex->search("say HELLO world!"));
  EXPECT_TRUE(regex->search("hello world"));
  EXPECT_FALSE(regex->search("hello, world"));
  EXPECT_EQ(regex->pattern(), "hello World");
  // Case folding is Unicode's, not only ASCII's.
  auto accented = must_compile("café");
  ASSERT_NE(accented, nullptr);
  EXPECT_TRUE(accented->search("CAFÉ au lait"));
}

TEST(Regex, SearchesLikePythonReSearch) {
  auto anchored = must_compile("^abc$");
  ASSERT_NE(anchored, nullptr);
  EXPECT_TRUE(anchored->search("ABC"));
  EXPECT_FALSE(anchored->search("xabc"));
  EXPECT_FALSE(anchored->search("abc\nx"));  // Not multiline: $ is the end of the subject.
  auto empty = must_compile("");
  ASSERT_NE(empty, nullptr);
  EXPECT_TRUE(empty->search(""));
  EXPECT_TRUE(empty->search(std::string_view()));
  auto dot = must_compile("a.b");
  ASSERT_NE(dot, nullptr);
  EXPECT_FALSE(dot->search("a\nb"));
  Regex::Error error;
  auto dot_all = Regex::compile("a.b", Regex::Options{.dot_all = true}, &error);
  ASSERT_NE(dot_all, nullptr);
  EXPECT_TRUE(dot_all->search("a\nb"));
}

TEST(Regex, AcceptsAnySubjectBytes) {
  auto regex = must_compile("needle");
  ASSERT_NE(regex, nullptr);
  const std::string subject("\xff\xfe\x00 NEEDLE \xc3(\x80\x80", 16);
  EXPECT_TRUE(regex->search(subject));
  EXPECT_FALSE(regex->search(std::string("\xff\xfe\xc3", 3)));
  auto any = must_compile("^.*x");
  ASSERT_NE(any, nullptr);
  EXPECT_TRUE(any->search("abc x"));
  EXPECT_FALSE(any->search("\xff\xfe"));  // Never an error, only no match.
  // A pattern that is not UTF-8 itself falls back to matching bytes.
  auto bytes = must_compile("\xff\xfe");
  ASSERT_NE(bytes, nullptr);
  EXPECT_TRUE(
      bytes->search("a\xff\xfe"
                    "b"));
  EXPECT_FALSE(bytes->search("ab"));
}

TEST(Regex, UnderstandsPythonSyntax) {
  auto named = must_compile("(?P<word>ab)-(?P=word)");
  ASSERT_NE(named, nullptr);
  EXPECT_TRUE(named->search("xx AB-ab yy"));
  EXPECT_FALSE(named->search("ab-cd"));
  auto sensitive = must_compile("(?-i)Exact");
  ASSERT_NE(sensitive, nullptr);
  EXPECT_TRUE(sensitive->search("an Exact match"));
  EXPECT_FALSE(sensitive->search("an exact match"));
  auto dot_all = must_compile("(?s)a.b");
  ASSERT_NE(dot_all, nullptr);
  EXPECT_TRUE(dot_all->search("a\nb"));
  auto classes = must_compile(R"(^\d{3}\s\w+$)");
  ASSERT_NE(classes, nullptr);
  EXPECT_TRUE(classes->search("404 NotFound"));
}

TEST(Regex, ReportsErrorsWithOffset) {
  Regex::Error error;
  EXPECT_EQ(Regex::compile("a(b", &error), nullptr);
  EXPECT_EQ(error.offset, 3u);
  EXPECT_NE(error.message.find("parenthesis"), std::string::npos) << error.message;
  EXPECT_EQ(Regex::compile("[a-", &error), nullptr);
  EXPECT_EQ(error.offset, 3u);
  EXPECT_FALSE(error.message.empty());
  EXPECT_EQ(Regex::compile("ab*+?{", &error), nullptr);
  EXPECT_EQ(error.offset, 4u);
}

TEST(Regex, LongSubjects) {
  auto regex = must_compile("(a|b)*c");
  ASSERT_NE(regex, nullptr);
  std::string subject(200'000, 'a');
  EXPECT_FALSE(regex->search(subject));
  subject += 'c';
  EXPECT_TRUE(regex->search(subject));
}

TEST(Regex, SearchesFromManyThreads) {
  auto word = must_compile("n[e]+dle");
  auto anchored = must_compile("^GET$");
  ASSERT_NE(word, nullptr);
  ASSERT_NE(anchored, nullptr);
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 20'000; ++i) {
        const bool even = (i + t) % 2 == 0;
        const std::string subject = even ? "hay NEEDLE hay " + std::to_string(i) : "hay hay";
        if (word->search(subject) != even) {
          ++wrong;
        }
        if (anchored->search(even ? "get" : "GETS") != even) {
          ++wrong;
        }
      }
    });
  }
  for (std::thread& thread : threads) {
    thread.join();
  }
  EXPECT_EQ(wrong.load(), 0);
}

// ---------------------------------------------------------------------------------------------
// Flows

using filter_flows::make_flows;

const std::vector<FlowSnapshotConstSharedPtr>& flows() {
  static const std::vector<FlowSnapshotConstSharedPtr> all = make_flows();
  return all;
}

TEST(FlowFixtures, SummariesAreWhatTheTableAssumes) {
  const auto& all = flows();
  ASSERT_EQ(all.size(), 8u);
  EXPECT_EQ(summarize(*all[0]).url, "http://example.com/index.html?q=1");
  EXPECT_EQ(summarize(*all[1]).protocol, FlowProtocol::kHttp2);
  EXPECT_EQ(summarize(*all[4]).url, "tcp://db.internal:5432");
  EXPECT_EQ(summarize(*all[5]).protocol, FlowProtocol::kWebSocket);
  EXPECT_EQ(summarize(*all[7]).url, "http://img.test:8080/logo.png");
}

// ---------------------------------------------------------------------------------------------
// The table: each expression with the ids of the flows it matches.

struct Row {
  const char* expression;
  std::set<FlowId> ids;
};

const std::vector<Row>& table() {
  static const std::vector<Row> rows = {
      // Unary terms.
      {"~all", {1, 2, 3, 4, 5, 6, 7, 8}},
      {"~q", {4}},
      {"~s", {1, 2, 3, 6, 7, 8}},
      {"~e", {4}},
      {"~tcp", {5}},
      {"~websocket", {6}},
      {"~a", {7, 8}},
      // ~c
      {"~c 200", {1, 7, 8}},
      {"~c 404", {3}},
      {"~c 101", {6}},
      {"~c 500", {}},
      {"~c 0", {}},
      // ~m
      {"~m GET", {1, 3, 4, 6, 7, 8}},
      {"~m post", {2}},
      {"~m ^P", {2}},
      {"~m .", {1, 2, 3, 4, 6, 7, 8}},
      // ~d
      {"~d example.com", {1, 3}},
      {R"(~d ^db\.)", {5}},
      {"~d internal$", {5}},
      {"~d .", {1, 2, 3, 4, 5, 6, 7, 8}},
      // ~u and bare regexes
      {"~u /missing", {3}},
      {"~u ^https://", {2, 4, 7}},
      {"~u tcp://", {5}},
      {"~u :8080/", {8}},
      {"~u .", {1, 2, 3, 4, 5, 6, 7, 8}},
      {"example", {1, 3}},
      {R"(index\.html\?q=1)", {1}},
      {"EXAMPLE.COM/MISSING", {3}},
      {R"x(~u "(?P<h>exa)mple\.com/(index|miss)")x", {1, 3}},
      // ~t
      {"~t json", {2}},
      {"~t text/", {1, 3, 7}},
      {"~t ^image/png$", {8}},
      {"~t .", {1, 2, 3, 7, 8}},
      // ~src / ~dst
      {R"(~src 192\.168\.1\.10:)", {1, 3}},
      {R"(~src ^\[::1\])", {8}},
      {"~src :40002$", {2}},
      {"~src .", {1, 2, 3, 4, 5, 6, 7, 8}},
      {R"(~dst 93\.184)", {1, 3}},
      {"~dst :5432$", {5}},
      {R"(~dst ^db\.internal:5432$)", {5}},
      {R"(~dst ^api\.test:443$)", {2}},
      {R"(~dst down\.test)", {4}},
      {R"(~dst ^10\.)", {2, 5, 6, 7, 8}},
      {"~dst .", {1, 2, 3, 4, 5, 6, 7, 8}},
      // ~h ~hq ~hs: one "Name: value" line at a time, trailers included.
      {R"(~h "^host: example\.com$")", {1, 3}},
      {"~h user-agent", {1, 2}},
      {R"(~hq authorization:\s*bearer)", {2}},
      {R"(~hs "x-custom-header: mixed value")", {1}},
      {R"(~hs "^X-CUSTOM-HEADER: MiXeD VALUE$")", {1}},
      {"~hs ^upgrade:", {6}},
      {"~hq ^upgrade:", {6}},
      {"~h x-checksum", {2}},
      {R"(~hs content-encoding:\s*gzip)", {7}},
      {"~h ^value", {}},
      {"~h value$", {1}},
      {"~hq x-custom", {}},
      {R"(~hq "^x-request-id: abc-123$")", {8}},
      {"~h .", {1, 2, 3, 4, 6, 7, 8}},
      // ~b ~bq ~bs: decoded bodies and WebSocket messages.
      {"~b needle", {1, 2, 6, 7, 8}},
      {"~b NEEDLE", {1, 2, 6, 7, 8}},
      {"~bq needle", {2}},
      {"~bs needle", {1, 6, 7, 8}},
      {"~bq subscribe", {6}},
      {"~bs subscribe", {}},
      {"~bs tick", {6}},
      {"~b gzipped-needle", {7}},
      {"~b 'color: red'", {7}},
      {R"(~b "<html>.*</html>")", {1}},  // '.' matches newlines in bodies.
      {R"(~b "(?-s)<html>.*</html>")", {}},
      {R"(~b "(?-i)NEEDLE")", {}},
      {R"(~bs "(?-i)needle")", {1, 6, 7, 8}},
      {"~b \"not found\"", {3}},
      {R"(~b '"id": 42')", {2}},
      {R"(~b "\"id\": 42")", {2}},
      {R"(~b 'it\'s gone')", {3}},
      {R"(~b ^\{)", {2}},
      // Inline flags on headers.
      {R"(~hs "(?-i)X-Custom-Header")", {1}},
      {R"(~hs "(?-i)x-custom-header")", {}},
      // Quoting and escapes.
      {"~u 'example.com/index'", {1}},
      {R"(~u "chat.test/socket")", {6}},
      {R"(~u "index\\.html")", {1}},  // \\ is one backslash: the regex is index\.html.
      {R"(~u "index\.html")", {1}},   // Other backslashes stay.
      {R"('~u' | ~c 404)", {3}},      // A quoted "~u" is a regex, not a term.
      // Operators, precedence, implicit &, parentheses.
      {"!~s", {4, 5}},
      {"!~c 200", {2, 3, 4, 5, 6}},
      {"!!~tcp", {5}},
      {"~c 200 | ~c 404", {1, 3, 7, 8}},
      {"~c 200 & ~a", {7, 8}},
      {"~c 200 ~a", {7, 8}},
      {"~c 200&~a", {7, 8}},
      {"~m GET ~d example", {1, 3}},
      {"!~q & !~tcp", {1, 2, 3, 6, 7, 8}},
      {"~c 404 | ~c 200 & ~a", {3, 7, 8}},
      {"(~c 404 | ~c 200) & ~a", {7, 8}},
      {"~c 404 | ~c 200 ~a", {3, 7, 8}},
      {"!~c 200 & ~s", {2, 3, 6}},
      {"!(~c 200 & ~s)", {2, 3, 4, 5, 6}},
      {"~tcp | ~websocket | ~e", {4, 5, 6}},
      {"~s|~tcp", {1, 2, 3, 5, 6, 7, 8}},
      {"!~s !~tcp", {4}},
      {"( ~c 200 )", {1, 7, 8}},
      {"((~c 200))", {1, 7, 8}},
      {"~s & !(~a | ~c 101)", {1, 2, 3}},
      {"~websocket ~bs tick", {6}},
      {"~h . & ~tcp", {}},
      {"~e | ~q", {4}},
      {"~a ~b needle", {7, 8}},
      {"~e ~tcp", {}},
      {"~b needle !~bs needle", {2}},
      {"example ~c 404 | ~tcp", {3, 5}},
      {"\t~c 201\n", {2}},
  };
  return rows;
}

std::set<FlowId> matching(const FlowFilter& filter) {
  std::set<FlowId> ids;
  for (const auto& flow : flows()) {
    if (filter.matches(*flow)) {
      ids.insert(flow->id);
    }
  }
  return ids;
}

std::string show(const std::set<FlowId>& ids) {
  std::string out = "{";
  for (FlowId id : ids) {
    out += (out.size() > 1 ? "," : "") + std::to_string(id);
  }
  return out + "}";
}

TEST(FlowFilter, TableOfExpressions) {
  EXPECT_GE(table().size(), 60u);
  for (const Row& row : table()) {
    FilterError error;
    auto filter = FlowFilter::parse(row.expression, &error);
    ASSERT_NE(filter, nullptr) << row.expression << ": " << error.describe();
    EXPECT_EQ(filter->text(), row.expression);
    EXPECT_EQ(show(matching(*filter)), show(row.ids)) << row.expression;
  }
}

TEST(FlowFilter, TableCoversEveryTerm) {
  const std::vector<std::string> terms = {"~a",   "~all", "~b", "~bq",  "~bs", "~c",        "~d",
                                          "~dst", "~e",   "~h", "~hq",  "~hs", "~m",        "~q",
                                          "~s",   "~src", "~t", "~tcp", "~u",  "~websocket"};
  for (const std::string& term : terms) {
    bool found = false;
    for (const Row& row : table()) {
      const std::string expression = row.expression;
      const size_t at = expression.find(term);
      if (at != std::string::npos) {
        const size_t end = at + term.size();
        found = found || end == expression.size() || expression[end] == ' ';
      }
    }
    EXPECT_TRUE(found) << term;
  }
}

TEST(FlowFilter, NeedsDetailOnlyForHeadersAndBodies) {
  for (const char* summary : {"~a", "~all", "~c 200", "~d x", "~dst x", "~e", "~m x", "~q", "~s",
                              "~src x", "~t x", "~tcp", "~u x", "~websocket", "x", "!~s | ~q"}) {
    EXPECT_FALSE(FlowFilter::parse(summary, nullptr)->needs_detail()) << summary;
  }
  for (const char* detail :
       {"~b x", "~bq x", "~bs x", "~h x", "~hq x", "~hs x", "~s | !~h x", "(~c 1 ~b x)"}) {
    EXPECT_TRUE(FlowFilter::parse(detail, nullptr)->needs_detail()) << detail;
  }
}

// ---------------------------------------------------------------------------------------------
// Errors

struct BadRow {
  const char* expression;
  size_t position;
  const char* message;  // The whole message, or its start for regex errors.
};

TEST(FlowFilter, MalformedExpressions) {
  const std::vector<BadRow> rows = {
      {"", 0, "expected a filter expression"},
      {"   ", 3, "expected a filter expression"},
      {"~c abc", 3, "~c needs an integer status code"},
      {"~c", 2, "~c needs an integer status code"},
      {"~c 20x", 3, "~c needs an integer status code"},
      {"~c -1", 3, "~c needs an integer status code"},
      {"~c 1000", 3, "~c needs an integer status code"},
      {"~m", 2, "~m needs a regex"},
      {"~m )", 3, "~m needs a regex"},
      {"~h !x", 3, "~h needs a regex"},
      {"~s ~b", 5, "~b needs a regex"},
      {"(~s", 3, "expected ')'"},
      {"((~s) ~q", 8, "expected ')'"},
      {"~s)", 2, "unexpected ')'"},
      {"~s | ~q )", 8, "unexpected ')'"},
      {"()", 1, "expected a filter expression"},
      {"~zz", 0, "unknown filter term ~zz"},
      {"~s ~zz x", 3, "unknown filter term ~zz"},
      {"~c200", 0, "unknown filter term ~c200"},
      {"~", 0, "unknown filter term ~"},
      {"!", 1, "expected a filter expression"},
      {"~s &", 4, "expected a filter expression"},
      {"~s & & ~q", 5, "expected a filter expression"},
      {"| ~s", 0, "expected a filter expression"},
      {"~s | | ~q", 5, "expected a filter expression"},
      {"~s |", 4, "expected a filter expression"},
      {"~u 'abc", 3, "unterminated quote"},
      {"~s \"abc\\\"", 3, "unterminated quote"},
      {"'abc", 0, "unterminated quote"},
      {"~u '[a-'", 7, "invalid regex: "},  // The regex starts at 4; PCRE2 gives up at its 3.
      {"~u [a-", 6, "invalid regex: "},
      {"[a-", 3, "invalid regex: missing terminating ] for character class"},
      {"~s ~b 'a(b'", 10, "invalid regex: missing closing parenthesis"},
      {"~s ~b a(b", 9, "expected ')'"},  // A bare word ends at "(".
      {"~s!~q", 0, "unknown filter term ~s!~q"},
      {R"(~u "\"(x")", 8, "invalid regex: missing closing parenthesis"},
      {"~u '*x'", 4, "invalid regex: quantifier does not follow a repeatable item"},
  };
  EXPECT_GE(rows.size(), 10u);
  for (const BadRow& row : rows) {
    FilterError error;
    error.position = 12345;
    EXPECT_EQ(FlowFilter::parse(row.expression, &error), nullptr) << row.expression;
    EXPECT_EQ(error.position, row.position) << row.expression << ": " << error.describe();
    EXPECT_EQ(error.message.rfind(row.message, 0), 0u) << row.expression << ": " << error.message;
  }
  // Parsing without an error pointer is fine too.
  EXPECT_EQ(FlowFilter::parse("(", nullptr), nullptr);
}

TEST(FlowFilter, DescribeIsOneBased) {
  FilterError error;
  EXPECT_EQ(FlowFilter::parse("~s &", &error), nullptr);
  EXPECT_EQ(error.describe(), "expected a filter expression at position 5");
  EXPECT_EQ(FlowFilter::parse("~zz", &error), nullptr);
  EXPECT_EQ(error.describe(), "unknown filter term ~zz at position 1");
}

TEST(FlowFilter, DeepNestingIsAnErrorNotACrash) {
  FilterError error;
  EXPECT_EQ(FlowFilter::parse(std::string(100'000, '('), &error), nullptr);
  EXPECT_EQ(error.message, "expression nested too deeply");
  EXPECT_EQ(FlowFilter::parse(std::string(100'000, '!') + "~s", &error), nullptr);
  EXPECT_EQ(error.message, "expression nested too deeply");
  const std::string ok = std::string(100, '(') + "~s" + std::string(100, ')');
  EXPECT_NE(FlowFilter::parse(ok, &error), nullptr) << error.describe();
  // Long flat chains are fine: they do not nest.
  std::string chain = "~s";
  for (int i = 0; i < 10'000; ++i) {
    chain += " | ~c " + std::to_string(i % 600);
  }
  EXPECT_NE(FlowFilter::parse(chain, &error), nullptr) << error.describe();
}

// ---------------------------------------------------------------------------------------------
// The summary path agrees with the full-flow path.

struct LoaderProbe {
  int calls = 0;
  FlowFilter::DetailLoader loader(const FlowSnapshotConstSharedPtr& flow) {
    return [this, flow] {
      ++calls;
      return flow;
    };
  }
};

void expect_paths_agree(const FlowFilter& filter) {
  for (const auto& flow : flows()) {
    const FlowSummary summary = summarize(*flow);
    LoaderProbe probe;
    const bool by_summary = filter.matches(summary.view(), probe.loader(flow));
    EXPECT_EQ(filter.matches(*flow), by_summary) << filter.text() << " on flow " << flow->id;
    if (filter.needs_detail()) {
      EXPECT_LE(probe.calls, 1) << filter.text() << " on flow " << flow->id;
    } else {
      EXPECT_EQ(probe.calls, 0) << filter.text() << " on flow " << flow->id;
    }
  }
}

TEST(FlowFilter, SummaryAndFlowPathsAgreeOnTheTable) {
  for (const Row& row : table()) {
    auto filter = FlowFilter::parse(row.expression, nullptr);
    ASSERT_NE(filter, nullptr) << row.expression;
    expect_paths_agree(*filter);
  }
}

// Generated expressions: random trees over the atoms, checked against both paths and against
// the boolean combination of the atoms' own results.
TEST(FlowFilter, SummaryAndFlowPathsAgreeOnGeneratedExpressions) {
  const std::vector<std::string> atoms = {"~a",
                                          "~all",
                                          "~c 200",
                                          "~c 404",
                                          "~d example",
                                          "~dst :443",
                                          "~e",
                                          "~m get",
                                          "~q",
                                          "~s",
                                          "~src ::1",
                                          "~t text",
                                          "~tcp",
                                          "~u https",
                                          "~websocket",
                                          "'example.com'",
                                          "~b needle",
                                          "~bq needle",
                                          "~hs ^content-type:",
                                          "~h upgrade"};
  std::vector<std::vector<bool>> atom_results;
  for (const std::string& atom : atoms) {
    auto filter = FlowFilter::parse(atom, nullptr);
    ASSERT_NE(filter, nullptr) << atom;
    std::vector<bool> results;
    for (const auto& flow : flows()) {
      results.push_back(filter->matches(*flow));
    }
    atom_results.push_back(results);
  }
  uint64_t state = 0x9e3779b97f4a7c15ULL;
  auto next = [&](uint64_t n) {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state % n;
  };
  // build returns the expression text; |results| gets its expected value on every flow.
  std::function<std::string(int, std::vector<bool>*)> build = [&](int depth,
                                                                  std::vector<bool>* results) {
    const uint64_t choice = depth == 0 ? 0 : next(5);
    if (choice == 0) {
      const size_t atom = next(atoms.size());
      *results = atom_results[atom];
      return atoms[atom];
    }
    if (choice == 1) {
      std::string inner = build(depth - 1, results);
      for (size_t i = 0; i < results->size(); ++i) {
        (*results)[i] = !(*results)[i];
      }
      return "!(" + inner + ")";
    }
    std::vector<bool> left;
    std::vector<bool> right;
    const std::string a = build(depth - 1, &left);
    const std::string b = build(depth - 1, &right);
    results->resize(left.size());
    const bool is_or = choice == 4;
    for (size_t i = 0; i < left.size(); ++i) {
      (*results)[i] = is_or ? (left[i] || right[i]) : (left[i] && right[i]);
    }
    const char* op = is_or ? " | " : (choice == 2 ? " & " : " ");
    return "(" + a + ")" + op + "(" + b + ")";
  };
  for (int i = 0; i < 400; ++i) {
    std::vector<bool> expected;
    const std::string expression = build(1 + static_cast<int>(i % 4), &expected);
    FilterError error;
    auto filter = FlowFilter::parse(expression, &error);
    ASSERT_NE(filter, nullptr) << expression << ": " << error.describe();
    for (size_t f = 0; f < flows().size(); ++f) {
      EXPECT_EQ(filter->matches(*flows()[f]), expected[f]) << expression << " on flow " << f + 1;
    }
    expect_paths_agree(*filter);
  }
}

TEST(FlowFilter, SummaryTermsDecideBeforeLoading) {
  const auto& flow = flows()[0];  // Has a response.
  const FlowSummary summary = summarize(*flow);
  for (const char* expression : {"~s | ~h nothing", "~h nothing | ~s", "~q ~b needle",
                                 "~b needle & ~tcp", "!(~s | ~hs x)"}) {
    auto filter = FlowFilter::parse(expression, nullptr);
    ASSERT_NE(filter, nullptr);
    LoaderProbe probe;
    filter->matches(summary.view(), probe.loader(flow));
    EXPECT_EQ(probe.calls, 0) << expression;
  }
  // Several detail terms share one load.
  auto filter = FlowFilter::parse("~h host ~b needle ~hs mixed ~bq nothing | ~hq curl", nullptr);
  ASSERT_NE(filter, nullptr);
  LoaderProbe probe;
  EXPECT_TRUE(filter->matches(summary.view(), probe.loader(flow)));
  EXPECT_EQ(probe.calls, 1);
}

TEST(FlowFilter, DetailTermsDoNotMatchWhenTheFlowCannotBeLoaded) {
  const FlowSummary summary = summarize(*flows()[0]);
  const auto load_nothing = [] { return FlowSnapshotConstSharedPtr(); };
  EXPECT_FALSE(FlowFilter::parse("~b needle", nullptr)->matches(summary.view(), load_nothing));
  EXPECT_TRUE(FlowFilter::parse("!~b needle", nullptr)->matches(summary.view(), load_nothing));
  EXPECT_TRUE(FlowFilter::parse("~s", nullptr)->matches(summary.view(), load_nothing));
  EXPECT_FALSE(FlowFilter::parse("~h host", nullptr)->matches(summary.view(), nullptr));
}

TEST(FlowFilter, EvaluatesFromManyThreads) {
  auto filter = FlowFilter::parse("(~b needle | ~hs mixed) & !~tcp | ~u tcp", nullptr);
  ASSERT_NE(filter, nullptr);
  const std::set<FlowId> expected = matching(*filter);
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 500; ++i) {
        if (matching(*filter) != expected) {
          ++wrong;
        }
      }
    });
  }
  for (std::thread& thread : threads) {
    thread.join();
  }
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_EQ(show(expected), "{1,2,5,6,7,8}");
}

}  // namespace
}  // namespace sightglass::core
