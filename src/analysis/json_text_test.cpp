#include "analysis/json_text.h"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <limits>

namespace insightd::analysis {
namespace {

namespace json = boost::json;

TEST(JsonTextTest, DoublesReadAsPeopleWriteThem) {
  json::object o{{"a", 0.3}, {"b", 92.1}, {"c", 100.0}, {"d", -4.75}, {"e", 1e-7}};
  EXPECT_EQ(to_json_text(o), R"({"a":0.3,"b":92.1,"c":100,"d":-4.75,"e":1e-07})");
}

TEST(JsonTextTest, RoundTripsThroughTheParser) {
  json::value v = json::parse(
      R"({"s":"quote \" and \\ and \n and é","n":null,"t":true,"i":-3,"u":18446744073709551615,)"
      R"("d":0.1234,"a":[1,{"x":[]},{}],"o":{}})");
  EXPECT_EQ(json::parse(to_json_text(v)), v);
  EXPECT_EQ(json::parse(to_json_text(v, JsonLayout::kPretty)), v);
}

TEST(JsonTextTest, NonFiniteDoublesBecomeNull) {
  json::array a{std::numeric_limits<double>::infinity(), std::numeric_limits<double>::quiet_NaN()};
  EXPECT_EQ(to_json_text(a), "[null,null]");
}

TEST(JsonTextTest, PrettyLayoutIndentsByTwo) {
  json::object o{{"a", json::array{1, 2}}, {"b", json::object{}}};
  EXPECT_EQ(to_json_text(o, JsonLayout::kPretty),
            "{\n  \"a\": [\n    1,\n    2\n  ],\n  \"b\": {}\n}");
}

}  // namespace
}  // namespace insightd::analysis
