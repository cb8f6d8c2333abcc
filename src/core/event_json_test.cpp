#include "core/event_json.h"

#include <gtest/gtest.h>

#include "core/time.h"

namespace insightd {
namespace {

StoredEvent sample() {
  StoredEvent s;
  s.event.event_id = "evt \"1\"\\\n";
  s.event.event_type = "click";
  s.event.user_id = "usér\t<7>";
  s.event.timestamp = Timestamp(std::chrono::milliseconds(1'765'000'000'123));
  s.event.received_at = Timestamp(std::chrono::milliseconds(1'765'000'000'456));
  s.event.metadata_json = R"({"page":"/a","n":[1,2.5,null],"nested":{"x":"\u0001"}})";
  s.batch_id = "batch_1";
  return s;
}

TEST(EventJson, TheTextIsTheSameJsonAsTheObject) {
  const StoredEvent s = sample();
  const boost::json::value text = boost::json::parse(event_json_text(s));
  EXPECT_EQ(text, boost::json::value(event_json(s)));
  EXPECT_EQ(text.at("sessionId"), nullptr);
  EXPECT_EQ(text.at("eventId").as_string(), "evt \"1\"\\\n");
  EXPECT_EQ(text.at("receivedAt").as_string(), format_timestamp(s.event.received_at));
}

TEST(EventJson, EmptyMetadataIsAnEmptyObject) {
  StoredEvent s = sample();
  s.event.metadata_json.clear();
  EXPECT_EQ(boost::json::parse(event_json_text(s)).at("metadata"), boost::json::object());
}

TEST(EventJson, AppendJsonStringWritesWhatAParserReadsBackAsTheSameText) {
  std::string every_ascii;
  for (int ch = 0; ch < 128; ++ch) every_ascii += static_cast<char>(ch);
  for (const std::string& text :
       {std::string(), std::string("plain"), every_ascii, std::string("caf\xc3\xa9 \xe2\x9c\x93"),
        std::string("a\"b\\c\nd\x01")}) {
    std::string out = "[";
    append_json_string(out, text);
    out += ']';
    EXPECT_EQ(boost::json::parse(out).as_array().at(0).as_string(), text) << out;
  }
  std::string out;
  append_json_string(out, "q\"\\\x1f\t");
  EXPECT_EQ(out, R"("q\"\\\u001f\t")");
}

}  // namespace
}  // namespace insightd
