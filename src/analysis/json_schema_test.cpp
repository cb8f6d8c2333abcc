#include "analysis/json_schema.h"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include "analysis/insight.h"

namespace insightd::analysis {
namespace {

namespace json = boost::json;

// NOLINTNEXTLINE(cert-err58-cpp): a constant literal; a typo fails every test at once
const json::value kSchema = json::parse(R"({
  "type": "object",
  "properties": {
    "name": {"type": "string"},
    "score": {"type": "number", "description": "0..1"},
    "count": {"type": "integer"},
    "note": {"type": ["string", "null"]},
    "level": {"type": "string", "enum": ["low", "high"]},
    "tags": {"type": "array", "items": {"type": "string"}}
  },
  "required": ["name", "score", "count", "note", "level", "tags"],
  "additionalProperties": false
})");

Status check(std::string_view text) {
  return validate_against_schema(json::parse(text), kSchema);
}

TEST(JsonSchemaTest, AcceptsAConformingValue) {
  EXPECT_TRUE(
      check(R"({"name":"a","score":0.5,"count":3,"note":null,"level":"low","tags":["x"]})"));
  EXPECT_TRUE(check(R"({"name":"a","score":1,"count":3.0,"note":"n","level":"high","tags":[]})"));
}

TEST(JsonSchemaTest, NamesTheFirstViolationWithItsPath) {
  Status missing = check(R"({"name":"a","score":0.5,"count":3,"note":null,"level":"low"})");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(missing.message(), "$: missing required field \"tags\"");

  Status extra =
      check(R"({"name":"a","score":0.5,"count":3,"note":null,"level":"low","tags":[],"x":1})");
  ASSERT_FALSE(extra);
  EXPECT_EQ(extra.message(), "$: unexpected field \"x\"");

  Status type =
      check(R"({"name":"a","score":"high","count":3,"note":null,"level":"low","tags":[]})");
  ASSERT_FALSE(type);
  EXPECT_EQ(type.message(), "$.score: expected number, got a string");

  Status item =
      check(R"({"name":"a","score":1,"count":3,"note":null,"level":"low","tags":["a",2]})");
  ASSERT_FALSE(item);
  EXPECT_EQ(item.message(), "$.tags[1]: expected string, got a number");

  Status integer =
      check(R"({"name":"a","score":1,"count":3.5,"note":null,"level":"low","tags":[]})");
  ASSERT_FALSE(integer);
  EXPECT_EQ(integer.message(), "$.count: expected integer, got a number");

  Status nullable = check(R"({"name":"a","score":1,"count":3,"note":7,"level":"low","tags":[]})");
  ASSERT_FALSE(nullable);
  EXPECT_EQ(nullable.message(), "$.note: expected string or null, got a number");

  Status level = check(R"({"name":"a","score":1,"count":3,"note":null,"level":"mid","tags":[]})");
  ASSERT_FALSE(level);
  EXPECT_EQ(level.message(), "$.level: value is not one of the allowed values");
}

TEST(JsonSchemaTest, RefusesKeywordsItDoesNotEnforce) {
  // A schema keyword the validator ignored would be a constraint nobody checks.
  Status s =
      validate_against_schema(json::parse("5"), json::parse(R"({"type":"number","minimum":0})"));
  ASSERT_FALSE(s);
  EXPECT_EQ(s.code(), ErrorCode::kInternal);
  EXPECT_NE(s.message().find("minimum"), std::string::npos);
}

// OpenAI's strict mode wants every object closed and every property required.
void expect_strict(const json::value& schema, const std::string& path) {
  const auto& o = schema.as_object();
  if (o.at("type") == "object") {
    EXPECT_EQ(o.at("additionalProperties"), json::value(false)) << path;
    const auto& props = o.at("properties").as_object();
    const auto& required = o.at("required").as_array();
    EXPECT_EQ(required.size(), props.size()) << path;
    for (const auto& [key, sub] : props) {
      EXPECT_NE(std::find(required.begin(), required.end(), json::value(key)), required.end())
          << path << "." << key;
      expect_strict(sub, path + "." + std::string(key));
    }
  }
  if (o.at("type") == "array") expect_strict(o.at("items"), path + "[]");
}

TEST(JsonSchemaTest, TheInsightSchemaIsStrictModeShaped) {
  expect_strict(insight_content_schema(), "$");
  // And the validator takes every keyword it uses.
  Status s = validate_against_schema(json::parse("{}"), insight_content_schema());
  ASSERT_FALSE(s);
  EXPECT_EQ(s.code(), ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace insightd::analysis
