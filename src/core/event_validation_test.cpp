#include "core/event_validation.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <chrono>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace insightd {
namespace {

namespace json = boost::json;
using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;

// 2026-11-29T04:49:05.123Z, the server's receive time in every test.
constexpr Timestamp kReceived{Millis{1795927745123}};

// Whether two verdicts say the same; a fresh id ("evt_…", made when the event
// gives none) differs between two calls, so only its prefix is compared.
void expect_same_verdict(const EventVerdict& plain, const EventVerdict& tree,
                         std::string_view text) {
  SCOPED_TRACE(std::string(text.substr(0, 200)));
  ASSERT_EQ(plain.is_ok(), tree.is_ok());
  if (!tree) {
    EXPECT_EQ(plain.rejection().event_id, tree.rejection().event_id);
    EXPECT_EQ(plain.rejection().code, tree.rejection().code);
    EXPECT_EQ(plain.rejection().message, tree.rejection().message);
    return;
  }
  const NewEvent& a = plain.event();
  const NewEvent& b = tree.event();
  if (a.event_id != b.event_id) {
    // Only a fresh id may differ: the event gave none.
    const json::value parsed = json::parse(text);
    const json::value* given = parsed.as_object().if_contains("eventId");
    EXPECT_TRUE(given == nullptr || given->is_null());
    EXPECT_TRUE(a.event_id.starts_with("evt_") && b.event_id.starts_with("evt_"));
  } else {
    EXPECT_EQ(a.event_id, b.event_id);
  }
  EXPECT_EQ(a.event_type, b.event_type);
  EXPECT_EQ(a.user_id, b.user_id);
  EXPECT_EQ(a.session_id, b.session_id);
  EXPECT_EQ(a.timestamp, b.timestamp);
  EXPECT_EQ(a.received_at, b.received_at);
  EXPECT_EQ(a.clock_skew_ms, b.clock_skew_ms);
  EXPECT_EQ(a.metadata_json, b.metadata_json);
}

// Every text a test validates also goes through the plain reader: when it
// answers, it must answer exactly as the tree does.
EventVerdict check(std::string_view text) {
  EventVerdict tree = validate_event_text(text, kReceived);
  if (std::optional<EventVerdict> plain = validate_plain_event_text(text, kReceived)) {
    expect_same_verdict(*plain, tree, text);
  }
  return tree;
}

// The rejection code, or "ok": failures print what happened.
std::string code_of(const EventVerdict& v) {
  return v ? "ok" : v.rejection().code;
}
std::string code_of(std::string_view text) {
  return code_of(check(text));
}

// {"eventType":"click", <field>: <value as JSON>}
std::string with(std::string_view field, std::string_view value_json) {
  return "{\"eventType\":\"click\",\"" + std::string(field) + "\":" + std::string(value_json) + "}";
}

std::string json_string(std::string_view s) {
  return json::serialize(json::string(s));
}

// metadata nested `depth` levels deep, counting the metadata object itself,
// alternating objects (odd levels) and arrays (even levels), built inside out.
json::value nested_metadata(int depth) {
  json::value v = json::object();
  for (int level = depth - 1; level >= 1; --level) {
    if (level % 2 == 1) {
      json::object wrapper;
      wrapper.emplace("k", std::move(v));
      v = std::move(wrapper);
    } else {
      json::array wrapper;
      wrapper.emplace_back(std::move(v));
      v = std::move(wrapper);
    }
  }
  return v;
}

int depth_of(const json::value& v) {
  int deepest = 0;
  if (v.is_object()) {
    for (const auto& m : v.get_object()) deepest = std::max(deepest, depth_of(m.value()));
    return deepest + 1;
  }
  if (v.is_array()) {
    for (const auto& e : v.get_array()) deepest = std::max(deepest, depth_of(e));
    return deepest + 1;
  }
  return 0;
}

// ---------------------------------------------------------------- accepted

TEST(ValidateEvent, MinimalEventGetsDefaults) {
  const auto v = check(R"({"eventType":"page_view"})");
  ASSERT_TRUE(v) << v.rejection().code << ": " << v.rejection().message;
  const NewEvent& e = v.event();
  EXPECT_EQ(e.event_type, "page_view");
  EXPECT_EQ(e.event_id.substr(0, 4), "evt_");
  EXPECT_EQ(e.event_id.size(), 30u);
  EXPECT_EQ(e.user_id, std::nullopt);
  EXPECT_EQ(e.session_id, std::nullopt);
  EXPECT_EQ(e.timestamp, kReceived);
  EXPECT_EQ(e.received_at, kReceived);
  EXPECT_EQ(e.clock_skew_ms, 0);
  EXPECT_EQ(e.metadata_json, "{}");
}

TEST(ValidateEvent, FullEventIsCopiedAcross) {
  const auto v = check(R"({
    "eventId": "e-1",
    "eventType": "checkout:completed",
    "userId": "user_42",
    "sessionId": "sess 9",
    "timestamp": "2026-11-29T04:48:05.000+01:00",
    "metadata": { "amount": 12.5, "items": [1, 2, {"sku": "A"}], "note": "caf\u00e9" }
  })");
  ASSERT_TRUE(v) << v.rejection().message;
  const NewEvent& e = v.event();
  EXPECT_EQ(e.event_id, "e-1");
  EXPECT_EQ(e.event_type, "checkout:completed");
  EXPECT_EQ(e.user_id, "user_42");
  EXPECT_EQ(e.session_id, "sess 9");
  EXPECT_EQ(format_timestamp(e.timestamp), "2026-11-29T03:48:05.000Z");
  EXPECT_EQ(e.received_at, kReceived);
  EXPECT_EQ(e.clock_skew_ms, 0);
  // Stored compact, as Boost.JSON writes it.
  EXPECT_EQ(e.metadata_json, R"({"amount":1.25E1,"items":[1,2,{"sku":"A"}],"note":"café"})");
  EXPECT_EQ(json::parse(e.metadata_json), json::parse(R"({"amount":12.5,"items":[1,2,{"sku":"A"}],
                                                         "note":"café"})"));
}

TEST(ValidateEvent, UnknownFieldsAreIgnored) {
  const auto v = check(R"({"eventType":"a","properties":{"x":1},"context":[1,2],"extra":null,
                           "type":"track","anonymousId":5})");
  ASSERT_TRUE(v) << v.rejection().message;
  EXPECT_EQ(v.event().metadata_json, "{}");
}

TEST(ValidateEvent, TakesAValueAsWellAsText) {
  json::object obj;
  obj["eventType"] = "signup";
  obj["eventId"] = "id-7";
  obj["metadata"] = json::object{{"plan", "pro"}};
  const auto v = validate_event(obj, kReceived);
  ASSERT_TRUE(v) << v.rejection().message;
  EXPECT_EQ(v.event().event_id, "id-7");
  EXPECT_EQ(v.event().metadata_json, R"({"plan":"pro"})");
}

TEST(ValidateEvent, EventCanBeMovedOut) {
  NewEvent e = check(R"({"eventType":"a","eventId":"x"})").event();
  EXPECT_EQ(e.event_id, "x");
}

// ---------------------------------------------------------------- shape and JSON

TEST(ValidateEvent, MustBeAnObject) {
  for (const char* text : {"[]", R"([{"eventType":"a"}])", "\"click\"", "42", "null", "true"}) {
    const auto v = check(text);
    ASSERT_FALSE(v) << text;
    EXPECT_EQ(v.rejection().code, "invalid_event") << text;
    EXPECT_EQ(v.rejection().event_id, "");
    EXPECT_NE(v.rejection().message.find("JSON object"), std::string::npos);
  }
}

TEST(ValidateEventText, RefusesTextThatIsNotJson) {
  for (const char* text : {"", " ", "{", "}", R"({"eventType": })", R"({"eventType":"a"} x)",
                           R"({"eventType":"a",})", "{'eventType':'a'}", R"({"eventType":"a"}/**/)",
                           "{\"eventType\":\"a\xff\"}" /* invalid UTF-8 */, "NaN"}) {
    const auto v = check(text);
    ASSERT_FALSE(v) << text;
    EXPECT_EQ(v.rejection().code, "invalid_json") << text;
    EXPECT_EQ(v.rejection().event_id, "");
    EXPECT_FALSE(v.rejection().message.empty());
  }
}

TEST(ValidateEventText, RefusesNestingBeyondTheParserLimit) {
  std::string deep = R"({"eventType":"a","metadata":{"k":)";
  for (int i = 0; i < 200; ++i) deep += "[";
  for (int i = 0; i < 200; ++i) deep += "]";
  deep += "}}";
  EXPECT_EQ(code_of(deep), "invalid_json");
}

// ---------------------------------------------------------------- eventType

TEST(ValidateEvent, EventTypeIsRequired) {
  for (const std::string& text : {std::string("{}"), std::string(R"({"eventType":null})"),
                                  std::string(R"({"eventId":"e","userId":"u"})")}) {
    const auto v = check(text);
    ASSERT_FALSE(v) << text;
    EXPECT_EQ(v.rejection().code, "invalid_event_type");
  }
  EXPECT_NE(check("{}").rejection().message.find("required"), std::string::npos);
}

TEST(ValidateEvent, EventTypeMustBeAString) {
  for (const char* value : {"1", "true", "[]", "{}", R"(["click"])"}) {
    EXPECT_EQ(code_of("{\"eventType\":" + std::string(value) + "}"), "invalid_event_type") << value;
  }
}

TEST(ValidateEvent, EventTypeLengthLimits) {
  EXPECT_EQ(code_of(R"({"eventType":""})"), "invalid_event_type");
  EXPECT_EQ(code_of(R"({"eventType":"a"})"), "ok");
  EXPECT_EQ(code_of("{\"eventType\":\"" + std::string(kMaxEventTypeLength, 'a') + "\"}"), "ok");
  const auto v = check("{\"eventType\":\"" + std::string(kMaxEventTypeLength + 1, 'a') + "\"}");
  ASSERT_FALSE(v);
  EXPECT_EQ(v.rejection().code, "invalid_event_type");
  EXPECT_EQ(v.rejection().message,
            "eventType must be 1-100 characters of letters, digits, '_', ':', '.', '-'");
}

TEST(ValidateEvent, EventTypeAllowsLettersDigitsAndFourPunctuationMarks) {
  const std::string all = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_:.-";
  const auto v = check("{\"eventType\":\"" + all + "\"}");
  ASSERT_TRUE(v) << v.rejection().message;
  EXPECT_EQ(v.event().event_type, all);
  for (const char* ok : {"page.view", "user:signup", "a-b", "_", "-", ".", ":", "9"}) {
    EXPECT_EQ(code_of("{\"eventType\":\"" + std::string(ok) + "\"}"), "ok") << ok;
  }
}

TEST(ValidateEvent, EventTypeRefusesEverythingElse) {
  // Every printable ASCII character outside the allowed set, one at a time.
  for (int c = 0x20; c < 0x7F; ++c) {
    const bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    const bool allowed = alnum || c == '_' || c == ':' || c == '.' || c == '-';
    if (allowed) continue;
    json::object obj{{"eventType", std::string("a") + static_cast<char>(c) + "b"}};
    EXPECT_EQ(code_of(validate_event(obj, kReceived)), "invalid_event_type")
        << "character '" << static_cast<char>(c) << "'";
  }
  for (const char* bad : {"caf\\u00e9", "a\\nb", "a\\u0000b", "\\t", "emoji\\ud83d\\ude00"}) {
    EXPECT_EQ(code_of("{\"eventType\":\"" + std::string(bad) + "\"}"), "invalid_event_type") << bad;
  }
}

// ---------------------------------------------------------------- eventId

TEST(ValidateEvent, MissingOrNullEventIdIsGenerated) {
  const auto a = check(R"({"eventType":"a"})");
  const auto b = check(R"({"eventType":"a","eventId":null})");
  ASSERT_TRUE(a);
  ASSERT_TRUE(b);
  EXPECT_EQ(b.event().event_id.substr(0, 4), "evt_");
  EXPECT_NE(a.event().event_id, b.event().event_id);
}

TEST(ValidateEvent, GeneratedIdsAreUniqueAndCarryTheReceiveTime) {
  std::set<std::string> ids;
  for (int i = 0; i < 1000; ++i) ids.insert(check(R"({"eventType":"a"})").event().event_id);
  EXPECT_EQ(ids.size(), 1000u);
  // Made at the (injected) receive time, so they sort with it.
  const auto later = validate_event_text(R"({"eventType":"a"})", kReceived + seconds(1));
  EXPECT_GT(later.event().event_id, *ids.rbegin());
}

TEST(ValidateEvent, EventIdLengthLimits) {
  EXPECT_EQ(code_of(with("eventId", R"("")")), "invalid_event_id");
  EXPECT_EQ(code_of(with("eventId", R"("x")")), "ok");
  const std::string at_limit(kMaxEventIdLength, 'x');
  const auto v = check(with("eventId", json_string(at_limit)));
  ASSERT_TRUE(v);
  EXPECT_EQ(v.event().event_id, at_limit);
  const std::string over(kMaxEventIdLength + 1, 'x');
  const auto r = check(with("eventId", json_string(over)));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.rejection().code, "invalid_event_id");
  EXPECT_EQ(r.rejection().event_id, over);  // as given
  // A huge id is echoed cut to what the longest valid id can take (128
  // characters of 4 bytes), on a character boundary.
  std::string huge = "x";
  for (int i = 0; i < 100'000; ++i) huge += "é";
  const auto h = check(with("eventId", json_string(huge)));
  ASSERT_FALSE(h);
  EXPECT_EQ(h.rejection().event_id.size(), kMaxEventIdLength * 4 - 1);
  EXPECT_EQ(h.rejection().event_id, huge.substr(0, kMaxEventIdLength * 4 - 1));
  EXPECT_EQ(r.rejection().message,
            "eventId must be a string of 1-128 characters without control characters");
}

TEST(ValidateEvent, EventIdCountsCharactersNotBytes) {
  std::string at_limit;
  for (size_t i = 0; i < kMaxEventIdLength; ++i) at_limit += "é";  // 2 bytes each
  EXPECT_EQ(code_of(with("eventId", json_string(at_limit))), "ok");
  EXPECT_EQ(code_of(with("eventId", json_string(at_limit + "é"))), "invalid_event_id");
  std::string emoji;
  for (size_t i = 0; i < kMaxEventIdLength; ++i) emoji += "😀";  // 4 bytes each
  EXPECT_EQ(code_of(with("eventId", json_string(emoji))), "ok");
  EXPECT_EQ(code_of(with("eventId", json_string(emoji + "x"))), "invalid_event_id");
}

TEST(ValidateEvent, EventIdRefusesControlCharacters) {
  for (const char* bad : {R"("a\u0000b")", R"("a\nb")", R"("\t")", R"("a\u001fb")", R"("a\u007fb")",
                          R"("a\u0085b")" /* C1 NEL */, R"("\u009f")"}) {
    EXPECT_EQ(code_of(with("eventId", bad)), "invalid_event_id") << bad;
  }
  // Just outside the control ranges.
  for (const char* ok : {R"("a b")", R"("~")", R"("\u00a0")", R"("\u2028")"}) {
    EXPECT_EQ(code_of(with("eventId", ok)), "ok") << ok;
  }
}

TEST(ValidateEvent, EventIdMustBeAString) {
  for (const char* bad : {"42", "true", "[]", "{}", R"(["a"])"}) {
    const auto v = check(with("eventId", bad));
    ASSERT_FALSE(v) << bad;
    EXPECT_EQ(v.rejection().code, "invalid_event_id") << bad;
    EXPECT_EQ(v.rejection().event_id, "");
  }
}

TEST(ValidateEvent, EventIdWithInvalidUtf8IsRefused) {
  // Only a value built in code can hold these: the parser refuses them as text.
  for (const std::string& bad :
       {std::string("\xC0\x80"), std::string("\xED\xA0\x80"), std::string("\xE2\x82"),
        std::string("\xF4\x90\x80\x80"), std::string("\x80"), std::string("\xFF"),
        std::string("a\xC3"), std::string("\xE0\x9F\xBF")}) {
    json::object obj{{"eventType", "a"}, {"eventId", bad}};
    EXPECT_EQ(code_of(validate_event(obj, kReceived)), "invalid_event_id");
  }
  json::object ok{{"eventType", "a"}, {"eventId", "\xF4\x8F\xBF\xBF"}};  // U+10FFFF
  EXPECT_EQ(code_of(validate_event(ok, kReceived)), "ok");
}

TEST(ValidateEvent, LaterRejectionsCarryTheGivenEventId) {
  const auto v = check(R"({"eventId":"mine-1","eventType":"bad type"})");
  ASSERT_FALSE(v);
  EXPECT_EQ(v.rejection().code, "invalid_event_type");
  EXPECT_EQ(v.rejection().event_id, "mine-1");
  const auto m = check(R"({"eventId":"mine-2","eventType":"a","metadata":[]})");
  ASSERT_FALSE(m);
  EXPECT_EQ(m.rejection().event_id, "mine-2");
  // A generated id is not reported for a refused event.
  const auto g = check(R"({"eventType":"bad type"})");
  ASSERT_FALSE(g);
  EXPECT_EQ(g.rejection().event_id, "");
}

// ---------------------------------------------------------------- userId, sessionId

TEST(ValidateEvent, UserAndSessionIdsAreOptional) {
  for (const char* field : {"userId", "sessionId"}) {
    for (const char* absent : {"null", R"("")"}) {
      const auto v = check(with(field, absent));
      ASSERT_TRUE(v) << field << "=" << absent;
      EXPECT_EQ(v.event().user_id, std::nullopt);
      EXPECT_EQ(v.event().session_id, std::nullopt);
    }
  }
}

TEST(ValidateEvent, UserAndSessionIdLengthLimits) {
  struct Case {
    const char* field;
    size_t limit;
    const char* code;
  };
  for (const Case c : {Case{"userId", kMaxUserIdLength, "invalid_user_id"},
                       Case{"sessionId", kMaxSessionIdLength, "invalid_session_id"}}) {
    const std::string at_limit(c.limit, 'u');
    const auto v = check(with(c.field, json_string(at_limit)));
    ASSERT_TRUE(v) << c.field;
    const auto& got = std::string(c.field) == "userId" ? v.event().user_id : v.event().session_id;
    EXPECT_EQ(got, at_limit);
    const auto r = check(with(c.field, json_string(at_limit + "u")));
    ASSERT_FALSE(r) << c.field;
    EXPECT_EQ(r.rejection().code, c.code);
    EXPECT_NE(r.rejection().message.find("at most 200 characters"), std::string::npos);
    EXPECT_NE(r.rejection().message.find(c.field), std::string::npos);
    // Characters, not bytes.
    std::string wide;
    for (size_t i = 0; i < c.limit; ++i) wide += "ü";
    EXPECT_EQ(code_of(with(c.field, json_string(wide))), "ok");
    EXPECT_EQ(code_of(with(c.field, json_string(wide + "ü"))), c.code);
  }
}

TEST(ValidateEvent, UserAndSessionIdsRefuseControlCharactersAndNonStrings) {
  for (const auto& [field, code] :
       {std::pair{"userId", "invalid_user_id"}, std::pair{"sessionId", "invalid_session_id"}}) {
    for (const char* bad : {R"("a\u0000")", R"("a\r\n")", R"("\u007f")", R"("\u0080")", "42",
                            "false", "[]", R"({"id":"u"})"}) {
      EXPECT_EQ(code_of(with(field, bad)), code) << field << "=" << bad;
    }
  }
}

// ---------------------------------------------------------------- timestamp, sentAt

TEST(ValidateEvent, TimestampDefaultsToTheReceiveTime) {
  EXPECT_EQ(check(with("timestamp", "null")).event().timestamp, kReceived);
  EXPECT_EQ(check(R"({"eventType":"a"})").event().timestamp, kReceived);
}

TEST(ValidateEvent, TimestampTakesRfc3339Forms) {
  struct Case {
    const char* given;
    const char* stored;
  };
  for (const Case c : {Case{"2026-11-29T04:00:00Z", "2026-11-29T04:00:00.000Z"},
                       Case{"2026-11-29t04:00:00z", "2026-11-29T04:00:00.000Z"},
                       Case{"2026-11-29T04:00:00.5Z", "2026-11-29T04:00:00.500Z"},
                       Case{"2026-11-29T04:00:00.123456789Z", "2026-11-29T04:00:00.123Z"},
                       Case{"2026-11-29T06:00:00+02:00", "2026-11-29T04:00:00.000Z"},
                       Case{"2026-11-28T23:30:00-04:30", "2026-11-29T04:00:00.000Z"},
                       Case{"2024-02-29T00:00:00Z", "2024-02-29T00:00:00.000Z"},
                       Case{"1999-12-31T23:59:59.999Z", "1999-12-31T23:59:59.999Z"}}) {
    const auto v = check(with("timestamp", json_string(c.given)));
    ASSERT_TRUE(v) << c.given << ": " << v.rejection().message;
    EXPECT_EQ(format_timestamp(v.event().timestamp), c.stored) << c.given;
    EXPECT_EQ(v.event().received_at, kReceived);
  }
}

TEST(ValidateEvent, UnparsableTimestampIsRefused) {
  for (const char* bad : {R"("")", R"("yesterday")", R"("2026-11-29")", R"("2026-11-29T04:00:00")",
                          R"("2026-13-01T00:00:00Z")", R"("2026-02-29T00:00:00Z")",
                          R"("2026-11-29T04:00:00Z trailing")", R"("1764391745123")",
                          "1764391745123" /* epoch ms as a number */, "true", "[]", "{}"}) {
    const auto v = check(with("timestamp", bad));
    ASSERT_FALSE(v) << bad;
    EXPECT_EQ(v.rejection().code, "invalid_timestamp") << bad;
    EXPECT_NE(v.rejection().message.find("RFC 3339"), std::string::npos);
    EXPECT_NE(v.rejection().message.find("timestamp"), std::string::npos);
  }
}

TEST(ValidateEvent, SentAtCorrectsTheClientClock) {
  // The client's clock runs one hour fast: it stamped the event 5 s before sending.
  const auto v = check(R"({"eventType":"a","timestamp":"2026-11-29T05:49:00.123Z",
                           "sentAt":"2026-11-29T05:49:05.123Z"})");
  ASSERT_TRUE(v) << v.rejection().message;
  EXPECT_EQ(v.event().timestamp, kReceived - seconds(5));
  EXPECT_EQ(v.event().clock_skew_ms, 0);  // corrected, so no skew left
  EXPECT_EQ(v.event().received_at, kReceived);
}

TEST(ValidateEvent, SentAtCorrectsASlowClockToo) {
  // A clock two days slow, an event queued offline for 10 minutes before sending.
  const auto v = check(R"({"eventType":"a","timestamp":"2026-11-27T04:39:05.123Z",
                           "sentAt":"2026-11-27T04:49:05.123Z"})");
  ASSERT_TRUE(v) << v.rejection().message;
  EXPECT_EQ(v.event().timestamp, kReceived - minutes(10));
}

TEST(ValidateEvent, SentAtWithoutTimestampLeavesTheReceiveTime) {
  const auto v = check(with("sentAt", R"("2026-11-29T09:00:00Z")"));
  ASSERT_TRUE(v);
  EXPECT_EQ(v.event().timestamp, kReceived);
  EXPECT_EQ(v.event().clock_skew_ms, 0);
}

TEST(ValidateEvent, NullSentAtIsIgnored) {
  const auto v = check(R"({"eventType":"a","timestamp":"2026-11-29T04:00:00Z","sentAt":null})");
  ASSERT_TRUE(v);
  EXPECT_EQ(format_timestamp(v.event().timestamp), "2026-11-29T04:00:00.000Z");
}

TEST(ValidateEvent, UnparsableSentAtIsRefused) {
  for (const char* bad : {R"("")", R"("soon")", "12", "{}"}) {
    const auto v = check(R"({"eventType":"a","timestamp":"2026-11-29T04:00:00Z","sentAt":)" +
                         std::string(bad) + "}");
    ASSERT_FALSE(v) << bad;
    EXPECT_EQ(v.rejection().code, "invalid_timestamp");
    EXPECT_NE(v.rejection().message.find("sentAt"), std::string::npos);
  }
}

TEST(ValidateEvent, CorrectionOutsideTheRepresentableYearsIsRefused) {
  const auto v = check(R"({"eventType":"a","timestamp":"9999-12-31T00:00:00Z",
                           "sentAt":"0000-01-01T00:00:00Z"})");
  ASSERT_FALSE(v);
  EXPECT_EQ(v.rejection().code, "invalid_timestamp");
  const auto early = check(R"({"eventType":"a","timestamp":"0000-01-01T00:00:00Z",
                               "sentAt":"9999-12-31T00:00:00Z"})");
  ASSERT_FALSE(early);
  EXPECT_EQ(early.rejection().code, "invalid_timestamp");
}

TEST(ValidateEvent, FutureSkewIsKeptAndRecorded) {
  // Exactly at the tolerance: not recorded.
  const auto at = validate_event(
      json::object{{"eventType", "a"}, {"timestamp", format_timestamp(kReceived + kMaxFutureSkew)}},
      kReceived);
  ASSERT_TRUE(at);
  EXPECT_EQ(at.event().timestamp, kReceived + minutes(5));
  EXPECT_EQ(at.event().clock_skew_ms, 0);
  // One millisecond past it: kept as sent, the skew recorded.
  const auto past = validate_event(
      json::object{{"eventType", "a"},
                   {"timestamp", format_timestamp(kReceived + kMaxFutureSkew + Millis(1))}},
      kReceived);
  ASSERT_TRUE(past);
  EXPECT_EQ(past.event().timestamp, kReceived + minutes(5) + Millis(1));
  EXPECT_EQ(past.event().clock_skew_ms, 300'001);
  // A day ahead.
  const auto day = validate_event(
      json::object{{"eventType", "a"}, {"timestamp", format_timestamp(kReceived + hours(24))}},
      kReceived);
  ASSERT_TRUE(day);
  EXPECT_EQ(day.event().clock_skew_ms, 86'400'000);
}

TEST(ValidateEvent, PastTimestampsAreNotSkew) {
  const auto v = check(with("timestamp", R"("2001-01-01T00:00:00Z")"));
  ASSERT_TRUE(v);
  EXPECT_EQ(v.event().clock_skew_ms, 0);
  EXPECT_EQ(format_timestamp(v.event().timestamp), "2001-01-01T00:00:00.000Z");
}

TEST(ValidateEvent, SkewIsMeasuredAfterTheSentAtCorrection) {
  // sentAt earlier than timestamp: the client claims it sent the event before it
  // happened; the corrected time lands 10 minutes after receipt.
  const auto v = check(R"({"eventType":"a","timestamp":"2026-11-29T04:59:05.123Z",
                           "sentAt":"2026-11-29T04:49:05.123Z"})");
  ASSERT_TRUE(v);
  EXPECT_EQ(v.event().timestamp, kReceived + minutes(10));
  EXPECT_EQ(v.event().clock_skew_ms, 600'000);
}

// ---------------------------------------------------------------- metadata

TEST(ValidateEvent, MetadataAbsentOrNullIsAnEmptyObject) {
  EXPECT_EQ(check(with("metadata", "null")).event().metadata_json, "{}");
  EXPECT_EQ(check(with("metadata", "{}")).event().metadata_json, "{}");
  EXPECT_EQ(check(with("metadata", " { } ")).event().metadata_json, "{}");
}

TEST(ValidateEvent, MetadataMustBeAnObject) {
  for (const char* bad : {"[]", R"([{"a":1}])", R"("text")", "1", "0", "true", "false"}) {
    const auto v = check(with("metadata", bad));
    ASSERT_FALSE(v) << bad;
    EXPECT_EQ(v.rejection().code, "invalid_metadata") << bad;
    EXPECT_EQ(v.rejection().message, "metadata must be a JSON object");
  }
}

TEST(ValidateEvent, MetadataIsStoredAsCompactJson) {
  const auto v = check(with("metadata", R"({ "a" : [ 1 , 2 ] , "b" : { "c" : null },
                                          "s" : "line\nbreak \"quoted\"" })"));
  ASSERT_TRUE(v) << v.rejection().message;
  EXPECT_EQ(v.event().metadata_json, R"({"a":[1,2],"b":{"c":null},"s":"line\nbreak \"quoted\""})");
}

TEST(ValidateEvent, MetadataDepthLimit) {
  for (int depth = 1; depth <= kMaxMetadataDepth; ++depth) {
    const json::value meta = nested_metadata(depth);
    ASSERT_EQ(depth_of(meta), depth);
    json::object obj{{"eventType", "a"}, {"metadata", meta}};
    EXPECT_EQ(code_of(validate_event(obj, kReceived)), "ok") << depth;
    // The same through text.
    EXPECT_EQ(code_of(json::serialize(obj)), "ok") << depth;
  }
  for (const int depth : {kMaxMetadataDepth + 1, kMaxMetadataDepth + 2, 40, 62}) {
    const json::value meta = nested_metadata(depth);
    ASSERT_EQ(depth_of(meta), depth);
    json::object obj{{"eventType", "a"}, {"metadata", meta}};
    const auto v = validate_event(obj, kReceived);
    ASSERT_FALSE(v) << depth;
    EXPECT_EQ(v.rejection().code, "metadata_too_deep") << depth;
    EXPECT_NE(v.rejection().message.find("16 levels"), std::string::npos);
    EXPECT_EQ(code_of(json::serialize(obj)), "metadata_too_deep") << depth;
  }
}

TEST(ValidateEvent, MetadataDepthCountsArraysAndScalarsDoNotAddALevel) {
  // 16 levels of arrays under the metadata object is 17 deep.
  std::string arrays = "{\"k\":" + std::string(kMaxMetadataDepth, '[') + "1" +
                       std::string(kMaxMetadataDepth, ']') + "}";
  EXPECT_EQ(code_of(with("metadata", arrays)), "metadata_too_deep");
  std::string fits = "{\"k\":" + std::string(kMaxMetadataDepth - 1, '[') + "\"leaf\"" +
                     std::string(kMaxMetadataDepth - 1, ']') + "}";
  EXPECT_EQ(code_of(with("metadata", fits)), "ok");
  // Empty containers count as a level too.
  std::string empty_leaf =
      "{\"k\":" + std::string(kMaxMetadataDepth, '[') + std::string(kMaxMetadataDepth, ']') + "}";
  EXPECT_EQ(code_of(with("metadata", empty_leaf)), "metadata_too_deep");
}

TEST(ValidateEvent, VeryDeepValueBuiltInCodeIsRefusedWithoutRecursingForever) {
  json::value meta = nested_metadata(2'000);
  json::object obj;
  obj.emplace("eventType", "a");
  obj.emplace("metadata", std::move(meta));
  EXPECT_EQ(code_of(validate_event(obj, kReceived)), "metadata_too_deep");
}

TEST(ValidateEvent, MetadataSizeLimit) {
  // {"k":"<n x>"} serialises to n + 8 bytes.
  const auto metadata_of_size = [](size_t bytes) {
    return json::object{{"k", std::string(bytes - 8, 'x')}};
  };
  ASSERT_EQ(json::serialize(metadata_of_size(kMaxMetadataBytes)).size(), kMaxMetadataBytes);
  // One byte over: refused as metadata_too_large (checked before the whole event).
  const auto over = validate_event(
      json::object{{"eventType", "a"}, {"metadata", metadata_of_size(kMaxMetadataBytes + 1)}},
      kReceived);
  ASSERT_FALSE(over);
  EXPECT_EQ(over.rejection().code, "metadata_too_large");
  EXPECT_EQ(over.rejection().message, "metadata must be at most 32768 bytes as JSON (32 KB)");
  // At the limit the metadata passes, but the event around it is then over its own
  // 32 KB, so that is what is reported.
  const auto at = validate_event(
      json::object{{"eventType", "a"}, {"metadata", metadata_of_size(kMaxMetadataBytes)}},
      kReceived);
  ASSERT_FALSE(at);
  EXPECT_EQ(at.rejection().code, "event_too_large");
  // Far over: refused early, the same way.
  const auto huge = validate_event(
      json::object{{"eventType", "a"}, {"metadata", metadata_of_size(1 << 20)}}, kReceived);
  ASSERT_FALSE(huge);
  EXPECT_EQ(huge.rejection().code, "metadata_too_large");
}

TEST(ValidateEvent, MetadataSizeCountsTheSerialisedFormNotTheInputText) {
  // Whitespace in the input does not count; escapes in the output do.
  std::string spaced =
      R"({"eventType":"a","metadata":{"k":)" + std::string(40'000, ' ') + R"("v"}})";
  const auto v = check(spaced);
  ASSERT_TRUE(v) << v.rejection().code;
  EXPECT_EQ(v.event().metadata_json, R"({"k":"v"})");
  // 6000 control characters serialise as \u00XX: 36000 bytes.
  json::object obj{{"eventType", "a"},
                   {"metadata", json::object{{"k", std::string(6'000, '\x01')}}}};
  EXPECT_EQ(code_of(validate_event(obj, kReceived)), "metadata_too_large");
}

// ---------------------------------------------------------------- whole event

TEST(ValidateEvent, WholeEventSizeLimit) {
  // Padding in an unknown field: ignored, but counted in the event's size.
  json::object obj{{"eventType", "a"}, {"pad", ""}};
  const size_t base = json::serialize(obj).size();
  obj["pad"] = std::string(kMaxEventBytes - base, 'p');
  ASSERT_EQ(json::serialize(obj).size(), kMaxEventBytes);
  EXPECT_EQ(code_of(validate_event(obj, kReceived)), "ok");
  EXPECT_EQ(code_of(json::serialize(obj)), "ok");

  obj["pad"] = std::string(kMaxEventBytes - base + 1, 'p');
  const auto v = validate_event(obj, kReceived);
  ASSERT_FALSE(v);
  EXPECT_EQ(v.rejection().code, "event_too_large");
  EXPECT_EQ(v.rejection().message, "an event must be at most 32768 bytes as JSON (32 KB)");
  EXPECT_EQ(code_of(json::serialize(obj)), "event_too_large");
}

TEST(ValidateEvent, WholeEventSizeCountsMetadataAndIds) {
  // Metadata of 30 KB passes its own limit; with a 3 KB field beside it the event does not.
  json::object obj{{"eventType", "a"},
                   {"eventId", "e-9"},
                   {"metadata", json::object{{"k", std::string(size_t{30} * 1024, 'm')}}},
                   {"other", std::string(size_t{3} * 1024, 'o')}};
  const auto v = validate_event(obj, kReceived);
  ASSERT_FALSE(v);
  EXPECT_EQ(v.rejection().code, "event_too_large");
  EXPECT_EQ(v.rejection().event_id, "e-9");
}

TEST(ValidateEvent, WholeEventSizeIsExactAroundTheLimitWhateverTheMembers) {
  // The size is bounded cheaply when it can be and serialised when it must: the
  // verdict is always the serialised size's, for every kind of member beside
  // metadata (scalars, escapes, a nested object) and around the limit.
  const json::object meta{{"k", std::string(20'000, 'm')}, {"n", 1.5}};
  const std::vector<json::value> others = {json::value(nullptr),
                                           json::value(true),
                                           json::value(-1234567890123),
                                           json::value(0.1),
                                           json::value("\x01\x02 esc\"aped"),
                                           json::value(json::object{{"deep", json::array{1, 2}}})};
  for (const auto& other : others) {
    json::object obj{{"eventType", "a"}, {"metadata", meta}, {"other", other}, {"pad", ""}};
    const size_t base = json::serialize(obj).size();
    for (size_t pad :
         {kMaxEventBytes - base - 1, kMaxEventBytes - base, kMaxEventBytes - base + 1}) {
      obj["pad"] = std::string(pad, 'p');
      const bool fits = json::serialize(obj).size() <= kMaxEventBytes;
      EXPECT_EQ(code_of(validate_event(obj, kReceived)), fits ? "ok" : "event_too_large")
          << json::serialize(other) << " pad " << pad;
    }
  }
}

TEST(ValidateEvent, AMegabyteEventIsRefused) {
  const std::string text = R"({"eventType":"a","junk":")" + std::string(1 << 20, 'j') + R"("})";
  EXPECT_EQ(code_of(text), "event_too_large");
}

// ---------------------------------------------------------------- order and messages

TEST(ValidateEvent, FirstBrokenRuleInDocumentedOrderIsReported) {
  // Everything wrong at once: each fix reveals the next rule.
  std::vector<std::pair<std::string, std::string>> steps = {
      {R"({"eventId":1,"eventType":"bad type","userId":1,"sessionId":1,"timestamp":"x",
          "sentAt":"y","metadata":[]})",
       "invalid_event_id"},
      {R"({"eventType":"bad type","userId":1,"sessionId":1,"timestamp":"x","sentAt":"y",
          "metadata":[]})",
       "invalid_event_type"},
      {R"({"eventType":"a","userId":1,"sessionId":1,"timestamp":"x","sentAt":"y","metadata":[]})",
       "invalid_user_id"},
      {R"({"eventType":"a","sessionId":1,"timestamp":"x","sentAt":"y","metadata":[]})",
       "invalid_session_id"},
      {R"({"eventType":"a","timestamp":"x","sentAt":"y","metadata":[]})", "invalid_timestamp"},
      {R"({"eventType":"a","sentAt":"y","metadata":[]})", "invalid_timestamp"},
      {R"({"eventType":"a","metadata":[]})", "invalid_metadata"},
      {R"({"eventType":"a"})", "ok"},
  };
  for (const auto& [text, code] : steps) EXPECT_EQ(code_of(text), code) << text;
}

TEST(ValidateEvent, EveryRejectionHasAMessage) {
  for (const char* text :
       {"x", "[]", "{}", R"({"eventType":"a","eventId":""})", R"({"eventType":"a","userId":7})",
        R"({"eventType":"a","sessionId":7})", R"({"eventType":"a","timestamp":7})",
        R"({"eventType":"a","metadata":7})"}) {
    const auto v = check(text);
    ASSERT_FALSE(v) << text;
    EXPECT_FALSE(v.rejection().message.empty()) << text;
    EXPECT_FALSE(v.rejection().code.empty()) << text;
  }
}

// Regression: "9999-12-31T23:59:59.000-23:59" was accepted as year 10000, which the
// stores wrote and then could not read back (a worker aborted the process).
TEST(ValidateEvent, TimestampsOutsideYears1To9999AfterTheirOffsetAreRefused) {
  for (const char* bad :
       {"9999-12-31T23:59:59.000-23:59", "0001-01-01T00:30:00+01:00", "0000-06-01T00:00:00Z"}) {
    for (const char* field : {"timestamp", "sentAt"}) {
      const auto v = check(with(field, json_string(bad)));
      ASSERT_FALSE(v) << field << " " << bad;
      EXPECT_EQ(v.rejection().code, "invalid_timestamp") << bad;
    }
  }
  EXPECT_EQ(code_of(with("timestamp", R"("0001-01-01T00:00:00Z")")), "ok");
  EXPECT_EQ(code_of(with("timestamp", R"("9999-12-31T23:59:59.999Z")")), "ok");
  EXPECT_EQ(code_of(with("timestamp", R"("9999-12-31T23:59:59.000+23:59")")), "ok");
}

// Regression: PostgreSQL's jsonb refuses \u0000 and JSON has no infinity; such
// metadata passed validation and failed every event committed with it.
TEST(ValidateEvent, MetadataWithNulOrNonFiniteNumbersIsRefused) {
  for (const char* bad :
       {R"({"a":"x\u0000y"})", R"({"a\u0000":1})", R"({"n":1e400})", R"({"n":-1e400})",
        R"({"deep":[{"k":["\u0000"]}]})", R"({"deep":[[1e999]]})"}) {
    const auto v = check(with("metadata", bad));
    ASSERT_FALSE(v) << bad;
    EXPECT_EQ(v.rejection().code, "invalid_metadata") << bad;
    EXPECT_TRUE(v.rejection().event_id.empty());
  }
  EXPECT_EQ(code_of(with("metadata", R"({"n":1e308,"m":-1.5e-300,"s":"\u0001 ok"})")), "ok");
}

// ---------------------------------------------------------------- plain reader

// What bench/ingest/loadgen.mjs sends.
constexpr std::string_view kPlainEvent =
    R"({"eventId":"lg-m1x2y3-7-12345","eventType":"page_view","userId":"user-381",)"
    R"("sessionId":"sess-7-2","timestamp":"2026-11-29T04:49:01.000Z",)"
    R"("metadata":{"page":"/products/45","referrer":"https://example.com/","ms":345}})";

TEST(ValidatePlainEventText, ReadsWhatTheLoadGeneratorSendsAsTheTreeDoes) {
  const std::optional<EventVerdict> plain = validate_plain_event_text(kPlainEvent, kReceived);
  ASSERT_TRUE(plain.has_value());
  ASSERT_TRUE(plain->is_ok());
  EXPECT_EQ(plain->event().event_id, "lg-m1x2y3-7-12345");
  EXPECT_EQ(plain->event().metadata_json,
            R"({"page":"/products/45","referrer":"https://example.com/","ms":345})");
  expect_same_verdict(*plain, validate_event_text(kPlainEvent, kReceived), kPlainEvent);
}

TEST(ValidatePlainEventText, AnswersForPlainEventsTheRulesRefuse) {
  for (const std::string& text :
       {with("eventId", "\"\""), with("userId", "7"), with("sessionId", std::string(300, 'x')),
        with("timestamp", "\"yesterday\""), with("metadata", "[]"),
        std::string(R"({"eventType":"no spaces allowed"})"), std::string("{}")}) {
    const std::optional<EventVerdict> plain = validate_plain_event_text(text, kReceived);
    const EventVerdict tree = validate_event_text(text, kReceived);
    EXPECT_FALSE(tree.is_ok()) << text;
    if (plain) expect_same_verdict(*plain, tree, text);
  }
  // Those it reads: strings and nulls in the members the rules read.
  EXPECT_TRUE(validate_plain_event_text(with("eventId", "\"\""), kReceived).has_value());
  EXPECT_TRUE(validate_plain_event_text("{}", kReceived).has_value());
  EXPECT_TRUE(validate_plain_event_text(with("timestamp", "\"yesterday\""), kReceived));
}

TEST(ValidatePlainEventText, LeavesEverythingElseToTheTree) {
  const std::vector<std::string> others = {
      R"({"eventType": "click"})",                                      // whitespace
      R"({"eventType":"cl\u0069ck"})",                                  // an escape
      "{\"eventType\":\"click\",\"userId\":\"J\xc3\xbcrgen\"}",         // not ASCII
      R"({"eventType":"click","extra":1})",                             // a member the rules ignore
      R"({"eventType":"click","eventType":"view"})",                    // a member twice
      R"({"eventType":"click","metadata":{"a":{"b":1}}})",              // nested metadata
      R"({"eventType":"click","metadata":{"a":[1]}})",                  // an array
      R"({"eventType":"click","metadata":{"a":1.5}})",                  // a fraction
      R"({"eventType":"click","metadata":{"a":1e3}})",                  // an exponent
      R"({"eventType":"click","metadata":{"a":-0}})",                   // -0 (written back as 0)
      R"({"eventType":"click","metadata":{"a":1234567890123456789}})",  // 19 digits
      R"({"eventType":"click","metadata":{"a":1,"a":2}})",   // a key twice (the tree keeps 2)
      R"({"eventType":"click","metadata":{"a":"\u007f"}})",  // an escape (of DEL)
      R"({"eventType":"click","metadata":7})",               // metadata not an object
      R"({"eventType":7})",                                  // eventType not a string
      R"({"eventType":"click"} )",                           // something after it
      R"({"eventType":"click")",                             // cut short
      R"([{"eventType":"click"}])",                          // not an object
      R"({"eventType":"click","metadata":{"a":tru}})",       // not JSON
      "{\"eventType\":\"click\",\"metadata\":{\"a\":\"" + std::string(kMaxEventBytes, 'x') + "\"}}",
  };
  for (const std::string& text : others) {
    EXPECT_FALSE(validate_plain_event_text(text, kReceived).has_value()) << text.substr(0, 80);
  }
}

TEST(ValidatePlainEventText, AgreesWithTheTreeOnManyVariations) {
  // Members, values and metadata combined: whenever the plain reader answers,
  // its verdict is the tree's.
  const std::vector<std::string> ids = {"", R"("eventId":"a-1",)", R"("eventId":null,)",
                                        R"("eventId":"",)"};
  const std::vector<std::string> types = {R"("eventType":"click")", R"("eventType":null)",
                                          R"("eventType":"a b")"};
  const std::vector<std::string> rest = {
      "",
      R"(,"userId":"u","sessionId":null)",
      R"(,"userId":"")",
      R"(,"timestamp":"2026-11-29T04:49:05Z","sentAt":"2026-11-29T04:50:05Z")",
      R"(,"timestamp":"2026-11-29T05:49:05+01:00")",
      R"(,"timestamp":"2126-11-29T04:49:05Z")",
      R"(,"sentAt":"2026-11-29T04:49:05Z")",
      R"(,"metadata":null)",
      R"(,"metadata":{})",
      R"(,"metadata":{"n":-12,"z":0,"t":true,"f":false,"x":null,"s":"a/b c"})",
      R"(,"metadata":{"s":"a\"b"})",
      R"(,"metadata":{"s":"\t"})",
  };
  int answered = 0;
  for (const auto& id : ids) {
    for (const auto& type : types) {
      for (const auto& more : rest) {
        std::string text = "{";
        text.append(id).append(type).append(more).append("}");
        (void)check(text);
        if (validate_plain_event_text(text, kReceived)) ++answered;
      }
    }
  }
  EXPECT_GT(answered, 100);  // most of them are plain: the comparison ran
}

}  // namespace
}  // namespace insightd
