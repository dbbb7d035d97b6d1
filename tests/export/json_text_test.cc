// JsonTextWriter against nlohmann::json::dump(): numbers, strings, nesting, and the text helpers
// the direct writer relies on; and JsonTreeWriter, whose tree dumps as JsonTextWriter writes.
#include "core/export/json_text.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <bit>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "core/export/http_date.h"
#include "core/export/json_tree_writer.h"
#include "core/export/text_util.h"

namespace sightglass::core {
namespace {

using nlohmann::json;

std::string dumped(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

template <typename Fn>
std::string written(Fn&& fn) {
  std::string out;
  JsonTextWriter w(&out);
  fn(w);
  w.finish();
  return out;
}

std::string written_number(double value) {
  return written([&](JsonTextWriter& w) { w.number(value); });
}

TEST(JsonTextWriter, DoublesAsDumpWritesThem) {
  const std::vector<double> values = {0.0,
                                      -0.0,
                                      1.0,
                                      -1.0,
                                      0.065,
                                      0.001,
                                      0.5,
                                      1.5,
                                      40.25,
                                      3002.0,
                                      1e15,
                                      1e16,
                                      1e17,
                                      123456789012.345,
                                      1e-4,
                                      1e-5,
                                      0.1,
                                      0.2,
                                      0.3,
                                      1.0 / 3,
                                      1700000000.500001,
                                      -1e-7,
                                      9.2233720368547758e15,
                                      9.2233720368547758e18,
                                      std::numeric_limits<double>::max(),
                                      std::numeric_limits<double>::min(),
                                      std::numeric_limits<double>::denorm_min(),
                                      std::numeric_limits<double>::lowest(),
                                      std::numeric_limits<double>::epsilon()};
  for (const double value : values) {
    EXPECT_EQ(written_number(value), dumped(json(value))) << value;
  }
  EXPECT_EQ(written_number(std::numeric_limits<double>::quiet_NaN()), "null");
  EXPECT_EQ(written_number(std::numeric_limits<double>::infinity()), "null");
  EXPECT_EQ(written_number(-std::numeric_limits<double>::infinity()), "null");
  EXPECT_EQ(dumped(json(std::numeric_limits<double>::quiet_NaN())), "null");
  EXPECT_EQ(written_number(1.0), "1.0");
  EXPECT_EQ(written_number(0.065), "0.065");
}

TEST(JsonTextWriter, RandomDoublesAsDumpWritesThem) {
  std::mt19937_64 random(20240601);
  for (int i = 0; i < 100'000; ++i) {
    double value = std::bit_cast<double>(random());
    if (i % 2 == 0) {
      // Durations as the flow log has them: microseconds over 1000 (or 1e6).
      const auto us = static_cast<int64_t>(random() >> (random() % 64));
      value = static_cast<double>(us) / (i % 4 == 0 ? 1000.0 : 1e6);
    }
    if (std::isfinite(value)) {
      ASSERT_EQ(written_number(value), dumped(json(value))) << value;
    }
  }
}

TEST(JsonTextWriter, IntegersAsDumpWritesThem) {
  for (const int64_t value :
       {int64_t{0}, int64_t{-1}, int64_t{7}, int64_t{-1234567890123},
        std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max()}) {
    EXPECT_EQ(written([&](JsonTextWriter& w) { w.integer(value); }), dumped(json(value)));
  }
  for (const uint64_t value : {uint64_t{0}, uint64_t{42}, std::numeric_limits<uint64_t>::max()}) {
    EXPECT_EQ(written([&](JsonTextWriter& w) { w.unsigned_integer(value); }), dumped(json(value)));
  }
  EXPECT_EQ(written([](JsonTextWriter& w) { w.boolean(true); }), "true");
  EXPECT_EQ(written([](JsonTextWriter& w) { w.boolean(false); }), "false");
}

// random_bytes returns up to |max_size| bytes drawn from every byte value, with runs of ASCII
// and of well-formed multi-byte UTF-8 so that both the fast and the escaping paths are taken.
std::string random_bytes(std::mt19937_64& random, size_t max_size) {
  static const std::vector<std::string> kPieces = {"plain ascii text ",
                                                   "\"",
                                                   "\\",
                                                   "/",
                                                   "\x7F",
                                                   "\xC2\x80",
                                                   "\xC2\x9F",
                                                   "\xC3\xA9",
                                                   "\xE2\x82\xAC",
                                                   "\xE2\x80\xA8",
                                                   "\xEF\xBF\xBD",
                                                   "\xF0\x9F\x98\x80",
                                                   "\xF4\x8F\xBF\xBF",
                                                   "\xED\xA0\x80",
                                                   "\xC0\xAF",
                                                   "\xE0\x80\xAF",
                                                   "\xF4\x90\x80\x80",
                                                   "\xF0\x9F\x98"};
  const size_t size = random() % (max_size + 1);
  std::string out;
  while (out.size() < size) {
    switch (random() % 4) {
      case 0:
        out.push_back(static_cast<char>(random() % 256));
        break;
      case 1:
        out.push_back(static_cast<char>(random() % 0x20));
        break;
      case 2:
        out += kPieces[random() % kPieces.size()];
        break;
      default:
        out.push_back(static_cast<char>(0x20 + random() % 0x5F));
        break;
    }
  }
  return out;
}

TEST(JsonTextWriter, StringsAsDumpWritesThem) {
  for (int byte = 0; byte < 256; ++byte) {
    const std::string one(1, static_cast<char>(byte));
    EXPECT_EQ(written([&](JsonTextWriter& w) { w.text(one); }), dumped(json(to_valid_utf8(one))))
        << byte;
    const std::string long_one = "0123456789" + one + "abcdefghijklmnopqrstuvwxyz" + one;
    EXPECT_EQ(written([&](JsonTextWriter& w) { w.text(long_one); }),
              dumped(json(to_valid_utf8(long_one))))
        << byte;
  }
  std::mt19937_64 random(7);
  for (int i = 0; i < 20'000; ++i) {
    const std::string bytes = random_bytes(random, i % 10 == 0 ? 400 : 40);
    const std::string valid = to_valid_utf8(bytes);
    ASSERT_EQ(written([&](JsonTextWriter& w) { w.text(bytes); }), dumped(json(valid)));
    ASSERT_EQ(written([&](JsonTextWriter& w) { w.string(valid); }), dumped(json(valid)));
  }
}

TEST(JsonTextWriter, GrowsPastWhatItFirstHad) {
  // Every byte a control character: the text grows sixfold while it is written.
  const std::string controls(10'000, '\x01');
  std::string out;
  out.shrink_to_fit();
  JsonTextWriter w(&out);
  w.begin_array().string(controls).text(controls).base64(controls).number(0.5).end_array();
  w.finish();
  json expected = json::array({controls, controls, base64_encode(controls), 0.5});
  EXPECT_EQ(out, dumped(expected));
}

TEST(JsonTextWriter, NestingAndCommasAsDumpWritesThem) {
  const std::string out = written([](JsonTextWriter& w) {
    w.begin_object();
    w.key("a").begin_array().end_array();
    w.key("b").begin_object().end_object();
    w.key("c").begin_array().integer(1).begin_object().key("x").boolean(false).end_object();
    w.begin_array().begin_array().end_array().string("s").end_array().end_array();
    w.key("d\n\"").base64(std::string_view("\xFF\x00\x01", 3));
    w.end_object();
  });
  const json expected = {{"a", json::array()},
                         {"b", json::object()},
                         {"c", {1, {{"x", false}}, {json::array(), "s"}}},
                         {"d\n\"", base64_encode(std::string("\xFF\x00\x01", 3))}};
  EXPECT_EQ(out, dumped(expected));
}

TEST(JsonTextWriter, AppendsAfterWhatTheStringHolds) {
  std::string out = "line one\n";
  {
    JsonTextWriter w(&out);
    w.begin_object().key("k").integer(1).end_object();
  }  // The destructor finishes.
  EXPECT_EQ(out, "line one\n{\"k\":1}");
}

TEST(JsonTreeWriter, DumpsAsJsonTextWriterWrites) {
  const auto write = [](auto& w) {
    w.begin_object();
    w.key("a").begin_array().end_array();
    w.key("b").begin_object().end_object();
    w.key("c").begin_array().integer(-1).unsigned_integer(std::numeric_limits<uint64_t>::max());
    w.begin_object().key("x").boolean(false).key("y").boolean(true).end_object();
    w.begin_array().begin_array().end_array().string("s").end_array().end_array();
    w.key("d\n\"").base64(std::string_view("\xFF\x00\x01", 3));
    w.key("e").begin_array().number(0.1).number(1.0).number(1e16).number(-0.0);
    w.number(std::numeric_limits<double>::quiet_NaN());
    w.number(-std::numeric_limits<double>::infinity()).end_array();
    w.key("f").text(std::string_view("ok \xFF\xC3 \xE2\x82\xAC \x00\x1F\"\\", 14));
    w.key("g").integer(std::numeric_limits<int64_t>::min());
    w.end_object();
  };
  const std::string text = written(write);
  JsonTreeWriter tree;
  write(tree);
  const json value = tree.take();
  EXPECT_EQ(dumped(value), text);
  EXPECT_TRUE(value["c"][1].is_number_unsigned());
  EXPECT_TRUE(value["c"][0].is_number_integer());
  EXPECT_TRUE(value["e"][4].is_number_float());
  EXPECT_EQ(value["f"],
            to_valid_utf8(std::string_view("ok \xFF\xC3 \xE2\x82\xAC \x00\x1F\"\\", 14)));
  // A lone value is the root; take() empties the writer.
  tree.string("s");
  EXPECT_EQ(tree.take(), "s");
  EXPECT_TRUE(tree.take().is_null());
}

TEST(TextUtil, Base64IntoMatchesBase64Encode) {
  std::mt19937_64 random(3);
  for (size_t size = 0; size < 200; ++size) {
    std::string data;
    for (size_t i = 0; i < size; ++i) {
      data.push_back(static_cast<char>(random() % 256));
    }
    std::string out(base64_encoded_size(size) + 1, '#');
    char* end = base64_encode_into(data, out.data());
    EXPECT_EQ(static_cast<size_t>(end - out.data()), base64_encoded_size(size));
    EXPECT_EQ(out.back(), '#');
    out.pop_back();
    EXPECT_EQ(out, base64_encode(data));
    EXPECT_EQ(base64_decode(out), data);
  }
}

TEST(TextUtil, IsValidUtf8AgreesWithNlohmann) {
  std::mt19937_64 random(11);
  const auto nlohmann_valid = [](const std::string& bytes) {
    try {
      static_cast<void>(json(bytes).dump());
      return true;
    } catch (const json::type_error&) {
      return false;
    }
  };
  for (int i = 0; i < 20'000; ++i) {
    const std::string bytes = random_bytes(random, 64);
    ASSERT_EQ(is_valid_utf8(bytes), nlohmann_valid(bytes)) << json(to_valid_utf8(bytes)).dump();
    ASSERT_TRUE(is_valid_utf8(to_valid_utf8(bytes)));
  }
}

// reference_iso8601_ms formats with the C library, independently of format_iso8601_ms.
std::string reference_iso8601_ms(int64_t time_us) {
  int64_t ms = time_us / 1000;
  if (time_us % 1000 != 0 && time_us < 0) {
    --ms;
  }
  time_t seconds = ms / 1000;
  int64_t millis = ms % 1000;
  if (millis < 0) {
    millis += 1000;
    --seconds;
  }
  std::tm tm{};
  if (gmtime_r(&seconds, &tm) == nullptr) {
    return "";
  }
  char buffer[160];
  std::snprintf(buffer, sizeof(buffer), "%04lld-%02d-%02dT%02d:%02d:%02d.%03lldZ",
                static_cast<long long>(tm.tm_year) + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                tm.tm_min, tm.tm_sec, static_cast<long long>(millis));
  return buffer;
}

TEST(HarDates, FormatIso8601AgreesWithTheCLibrary) {
  constexpr int64_t kYear0 = -62'167'219'200'000'000;      // 0000-01-01T00:00:00Z.
  constexpr int64_t kYear10000 = 253'402'300'800'000'000;  // 10000-01-01T00:00:00Z.
  std::vector<int64_t> times = {0,
                                -1,
                                1,
                                999,
                                -999,
                                1000,
                                -1000,
                                kYear0,
                                kYear0 - 1,
                                kYear10000,
                                kYear10000 - 1,
                                -kYear10000,
                                951'782'400'000'000};
  std::mt19937_64 random(5);
  for (int i = 0; i < 20'000; ++i) {
    const auto span = static_cast<uint64_t>(i % 3 == 0 ? 4 * kYear10000 : kYear10000);
    times.push_back(static_cast<int64_t>(random() % (2 * span)) - static_cast<int64_t>(span));
  }
  for (const int64_t time_us : times) {
    ASSERT_EQ(format_iso8601_ms(time_us), reference_iso8601_ms(time_us)) << time_us;
  }
}

}  // namespace
}  // namespace sightglass::core
