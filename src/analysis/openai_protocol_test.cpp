#include "analysis/openai_protocol.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "analysis/json_text.h"
#include "analysis/testing/planted_batches.h"

namespace insightd::analysis {
namespace {

namespace json = boost::json;
using ::testing::HasSubstr;
using ::testing::Not;

const std::string kKey = "sk-test-4f9a2b7c1d";

json::object stats_of(const std::vector<NewEvent>& events) {
  return to_json(compute_statistics(events, {}));
}

std::string user_message(const json::value& body) {
  return std::string(body.at("messages").at(1).at("content").as_string());
}

TEST(OpenAiProtocolTest, TheRequestCarriesModelMessagesAndTheStrictSchemaOnly) {
  OpenAiOptions options;
  options.model = "llama3.1:8b";
  const auto events = planted::checkout_collapse();
  const json::object stats = stats_of(events);
  const ChatRequest request = build_chat_request(options, stats, events);
  const json::value body = json::parse(request.body);
  const auto& o = body.as_object();
  EXPECT_EQ(o.size(), 3u);  // nothing an OpenAI-compatible server could refuse
  EXPECT_EQ(o.at("model"), "llama3.1:8b");
  const auto& format = o.at("response_format").as_object();
  EXPECT_EQ(format.at("type"), "json_schema");
  EXPECT_EQ(format.at("json_schema").at("name"), "batch_insight");
  EXPECT_EQ(format.at("json_schema").at("strict"), json::value(true));
  EXPECT_EQ(format.at("json_schema").at("schema"), json::value(insight_content_schema()));
  const auto& messages = o.at("messages").as_array();
  ASSERT_EQ(messages.size(), 2u);
  EXPECT_EQ(messages[0].at("role"), "system");
  EXPECT_THAT(std::string(messages[0].at("content").as_string()),
              HasSubstr("Use only figures that appear in the statistics"));
  EXPECT_EQ(messages[1].at("role"), "user");
  // The statistics travel whole and readable.
  EXPECT_THAT(user_message(body), HasSubstr(to_json_text(stats)));
  EXPECT_THAT(user_message(body), HasSubstr("\"drop_off\":0.9091"));
  EXPECT_EQ(request.sample_events, 50u);
  EXPECT_THAT(user_message(body), HasSubstr("A sample of 50 of the 100 events"));
  EXPECT_THAT(request.body, Not(HasSubstr(kKey)));
}

TEST(OpenAiProtocolTest, TheSampleTakesErrorsFirstAndKeepsBatchOrder) {
  OpenAiOptions options;
  options.max_sample_events = 10;
  const auto events = planted::error_spike();  // every fourth event is an api_error
  const ChatRequest request = build_chat_request(options, stats_of(events), events);
  const std::string user = user_message(json::parse(request.body));
  const std::string sample = user.substr(user.find("one JSON object per line:\n") + 26);
  size_t errors = 0;
  size_t lines = 0;
  std::string previous;
  for (size_t at = 0, end; (end = sample.find('\n', at)) != std::string::npos; at = end + 1) {
    const json::value line = json::parse(sample.substr(at, end - at));
    ++lines;
    if (line.at("eventType") == "api_error") ++errors;
    const std::string ts(line.at("timestamp").as_string());
    EXPECT_LE(previous, ts);
    previous = ts;
    EXPECT_EQ(line.as_object().if_contains("eventId"), nullptr);
  }
  EXPECT_EQ(lines, 10u);
  EXPECT_GE(errors, 5u);
}

TEST(OpenAiProtocolTest, LargeEventsNeverMakeALargeRequest) {
  // 100 events with 30 KB of metadata each: 3 MB of events.
  auto events = planted::page_views(100);
  for (auto& e : events) e.metadata_json = R"({"blob":")" + std::string(30000, 'x') + R"("})";
  OpenAiOptions options;
  const json::object stats = stats_of(events);
  const ChatRequest request = build_chat_request(options, stats, events);
  EXPECT_LE(request.estimated_prompt_tokens, options.max_prompt_tokens);
  EXPECT_LT(request.body.size(), 48u * 1024);
  EXPECT_GT(request.sample_events, 5u);
  EXPECT_THAT(request.body, HasSubstr("metadata_excerpt"));

  // A tighter budget leaves the sample out but still sends the statistics.
  options.max_prompt_tokens = 1000;
  const ChatRequest tight = build_chat_request(options, stats, events);
  EXPECT_EQ(tight.sample_events, 0u);
  EXPECT_THAT(user_message(json::parse(tight.body)), HasSubstr(to_json_text(stats)));
}

TEST(OpenAiProtocolTest, TokenEstimateIsConservative) {
  EXPECT_EQ(estimate_tokens(""), 0u);
  EXPECT_EQ(estimate_tokens("abc"), 1u);
  EXPECT_EQ(estimate_tokens("abcd"), 2u);
  EXPECT_EQ(estimate_tokens("日本語"), 3u);  // 9 bytes, 3 characters, a token each
}

std::string completion(const std::string& content, std::string_view finish = "stop") {
  return json::serialize(json::object{
      {"model", "gpt-4o-mini-2024-07-18"},
      {"choices", json::array{json::object{
                      {"message", json::object{{"role", "assistant"}, {"content", content}}},
                      {"finish_reason", finish}}}},
      {"usage", json::object{{"prompt_tokens", 900}, {"completion_tokens", 120}}}});
}

std::string grounded_content() {
  InsightContent c;
  c.summary = "22 sessions reached checkout_start; 90.9% dropped before purchase.";
  c.confidence = 0.9;
  c.patterns.push_back({"Checkout collapse", "See the funnel.", {{"funnel[3].drop_off", 0.9091}}});
  c.recommendations.push_back("Fix payments.");
  return to_json_text(to_json(c));
}

TEST(OpenAiProtocolTest, AValidReplyBecomesContentWithUsage) {
  const json::object stats = stats_of(planted::checkout_collapse());
  auto reply = parse_chat_reply(completion(grounded_content()), stats);
  ASSERT_TRUE(std::holds_alternative<ChatReply>(reply)) << std::get<AnalysisError>(reply).message;
  const auto& ok = std::get<ChatReply>(reply);
  EXPECT_EQ(ok.content.patterns[0].title, "Checkout collapse");
  EXPECT_EQ(ok.usage.prompt, 900);
  EXPECT_EQ(ok.usage.completion, 120);
  EXPECT_EQ(ok.model, "gpt-4o-mini-2024-07-18");
}

TEST(OpenAiProtocolTest, MalformedRepliesAreInvalidAndNotRetryable) {
  const json::object stats = stats_of(planted::checkout_collapse());
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"<html>bad gateway</html>", "not JSON"},
      {R"({"choices":[]})", "no choices"},
      {R"({"choices":[{"message":{"role":"assistant","content":null,"refusal":"I can't help"}}]})",
       "the model refused: I can't help"},
      {completion(grounded_content().substr(0, 40), "length"), "cut off at its token limit"},
      {completion("{\"summary\": \"x\""), "reply is not JSON"},
      {completion(R"({"summary":"x","confidence":0.5})"),
       "breaks the insight schema: $: missing required field"},
      {completion(
           R"({"summary":"Purchases fell to 7777.","confidence":0.5,"patterns":[],"anomalies":[],"recommendations":[]})"),
       "cites a figure that is not in the statistics: summary: \"7777\""},
  };
  for (const auto& [body, expect] : cases) {
    auto reply = parse_chat_reply(body, stats);
    ASSERT_TRUE(std::holds_alternative<AnalysisError>(reply)) << body;
    const auto& e = std::get<AnalysisError>(reply);
    EXPECT_EQ(e.kind, AnalysisErrorKind::kInvalidReply) << body;
    EXPECT_FALSE(e.retryable) << body;
    EXPECT_THAT(e.message, HasSubstr(expect)) << body;
  }
}

TEST(OpenAiProtocolTest, HttpFailuresAreClassified) {
  const Timestamp now = planted::base_time();
  struct Case {
    int status;
    AnalysisErrorKind kind;
    bool retryable;
  };
  for (const Case& c :
       {Case{401, AnalysisErrorKind::kAuth, false}, Case{403, AnalysisErrorKind::kAuth, false},
        Case{400, AnalysisErrorKind::kBadRequest, false},
        Case{404, AnalysisErrorKind::kBadRequest, false},
        Case{301, AnalysisErrorKind::kBadRequest, false},
        Case{408, AnalysisErrorKind::kTimeout, true},
        Case{429, AnalysisErrorKind::kRateLimited, true},
        Case{500, AnalysisErrorKind::kServerError, true},
        Case{503, AnalysisErrorKind::kServerError, true}}) {
    const AnalysisError e =
        classify_http_error(c.status, R"({"error":{"message":"nope"}})", std::nullopt, now, kKey);
    EXPECT_EQ(e.kind, c.kind) << c.status;
    EXPECT_EQ(e.retryable, c.retryable) << c.status;
    EXPECT_EQ(e.http_status, c.status);
    EXPECT_FALSE(e.retry_after);
  }
  const AnalysisError limited = classify_http_error(429, "{}", "12", now, kKey);
  ASSERT_TRUE(limited.retry_after);
  EXPECT_EQ(limited.retry_after->count(), 12000);
  EXPECT_THAT(limited.message, HasSubstr("retry after 12000 ms"));
  // Not retryable: a Retry-After on a 400 means nothing to us.
  EXPECT_FALSE(classify_http_error(400, "{}", "12", now, kKey).retry_after);
}

TEST(OpenAiProtocolTest, ServerMessagesComeThroughWithoutTheKey) {
  const std::string body = R"({"error":{"message":"Incorrect API key provided: )" + kKey +
                           R"(. See sk-proj-abc***xyz.","code":"invalid_api_key"}})";
  const AnalysisError e = classify_http_error(401, body, std::nullopt, planted::base_time(), kKey);
  EXPECT_THAT(e.message, HasSubstr("HTTP 401"));
  EXPECT_THAT(e.message, HasSubstr("Incorrect API key provided: ***"));
  EXPECT_THAT(e.message, HasSubstr("OPENAI_API_KEY"));
  EXPECT_THAT(e.message, Not(HasSubstr(kKey)));
  EXPECT_THAT(e.message, Not(HasSubstr("abc")));
  // Other shapes of error body, and plain text.
  EXPECT_THAT(classify_http_error(500, R"({"error":"model not loaded"})", std::nullopt,
                                  planted::base_time(), kKey)
                  .message,
              HasSubstr("model not loaded"));
  EXPECT_THAT(classify_http_error(400, R"({"object":"error","message":"bad schema"})", std::nullopt,
                                  planted::base_time(), kKey)
                  .message,
              HasSubstr("bad schema"));
  EXPECT_THAT(
      classify_http_error(502, "Bad Gateway\n", std::nullopt, planted::base_time(), kKey).message,
      HasSubstr("Bad Gateway"));
}

TEST(OpenAiProtocolTest, RetryAfterReadsSecondsAndDates) {
  const Timestamp now = *parse_rfc3339("2026-10-21T07:27:00Z");
  EXPECT_EQ(parse_retry_after("30", now), Millis(30000));
  EXPECT_EQ(parse_retry_after(" 0 ", now), Millis(0));
  EXPECT_EQ(parse_retry_after("Wed, 21 Oct 2026 07:28:00 GMT", now), Millis(60000));
  EXPECT_EQ(parse_retry_after("Wed, 21 Oct 2026 07:00:00 GMT", now), Millis(0));
  EXPECT_FALSE(parse_retry_after("soon", now));
  EXPECT_FALSE(parse_retry_after("", now));
  EXPECT_FALSE(parse_retry_after("-5", now));
  // Dates of any other shape (this one, with fields missing, made the date
  // library convert a NaN: fuzz_retry_after).
  EXPECT_FALSE(parse_retry_after("Wed,0 Oct 2 07:28:GMT", now));
  EXPECT_FALSE(parse_retry_after("Wed, 21 Oct 2026 07:28 GMT", now));
  EXPECT_FALSE(parse_retry_after("Wednesday, 21-Oct-26 07:28:00 GMT", now));
}

TEST(OpenAiProtocolTest, RedactionCoversTheKeyAndKeyShapedTokens) {
  EXPECT_EQ(redact_secret("key my-secret-key here", "my-secret-key"), "key *** here");
  EXPECT_EQ(redact_secret("got sk-abc123_X-9 ok", ""), "got sk-*** ok");
  EXPECT_EQ(redact_secret("a task-based flow", "zzz"), "a task-based flow");
}

}  // namespace
}  // namespace insightd::analysis
