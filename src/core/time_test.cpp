#include "core/time.h"

#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace insightd {
namespace {

using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;

constexpr int64_t kExampleMs = 1795927745123;  // 2026-11-29T04:49:05.123Z

// The parsed instant as text, or "none": failures print readably.
std::string rfc(std::string_view text) {
  const auto t = parse_rfc3339(text);
  return t ? format_timestamp(*t) : "none";
}

std::string db(std::string_view text) {
  const auto t = parse_db_timestamp(text);
  return t ? format_timestamp(*t) : "none";
}

TEST(FormatTimestamp, EpochAndKnownInstants) {
  EXPECT_EQ(format_timestamp(from_unix_ms(0)), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(format_timestamp(from_unix_ms(kExampleMs)), "2026-11-29T04:49:05.123Z");
  EXPECT_EQ(format_timestamp(from_unix_ms(1709251199999)), "2024-02-29T23:59:59.999Z");
  EXPECT_EQ(format_timestamp(from_unix_ms(946684800000)), "2000-01-01T00:00:00.000Z");
  EXPECT_EQ(format_timestamp(from_unix_ms(-1)), "1969-12-31T23:59:59.999Z");
}

TEST(FormatTimestamp, FixedWidthSoTextOrderIsTimeOrder) {
  const std::vector<int64_t> ms = {0,
                                   1,
                                   999,
                                   1000,
                                   59999,
                                   946684800000,
                                   kExampleMs,
                                   kExampleMs + 1,
                                   253402300799999 /* 9999-12-31T23:59:59.999Z */};
  for (size_t i = 0; i < ms.size(); ++i) {
    const std::string a = format_timestamp(from_unix_ms(ms[i]));
    EXPECT_EQ(a.size(), 24u) << a;
    if (i + 1 < ms.size()) {
      EXPECT_LT(a, format_timestamp(from_unix_ms(ms[i + 1])));
    }
  }
}

TEST(UnixMs, RoundTrips) {
  for (const int64_t ms : {int64_t{0}, int64_t{-1}, kExampleMs, int64_t{253402300799999}}) {
    EXPECT_EQ(to_unix_ms(from_unix_ms(ms)), ms);
  }
}

TEST(ParseRfc3339, UtcDesignatorInEitherCase) {
  EXPECT_EQ(rfc("2026-11-29T04:49:05Z"), "2026-11-29T04:49:05.000Z");
  EXPECT_EQ(rfc("2026-11-29T04:49:05z"), "2026-11-29T04:49:05.000Z");
  EXPECT_EQ(rfc("2026-11-29t04:49:05z"), "2026-11-29T04:49:05.000Z");
  EXPECT_EQ(rfc("2026-11-29t04:49:05Z"), "2026-11-29T04:49:05.000Z");
  // RFC 3339 §5.6 lets applications use a space for 'T'.
  EXPECT_EQ(rfc("2026-11-29 04:49:05Z"), "2026-11-29T04:49:05.000Z");
}

TEST(ParseRfc3339, ExactInstant) {
  const auto t = parse_rfc3339("2026-11-29T04:49:05.123Z");
  ASSERT_TRUE(t);
  EXPECT_EQ(to_unix_ms(*t), kExampleMs);
}

TEST(ParseRfc3339, NumericOffsetsAreConvertedToUtc) {
  EXPECT_EQ(rfc("2026-11-29T04:49:05+00:00"), "2026-11-29T04:49:05.000Z");
  EXPECT_EQ(rfc("2026-11-29T04:49:05-00:00"), "2026-11-29T04:49:05.000Z");
  EXPECT_EQ(rfc("2026-11-29T04:49:05+02:00"), "2026-11-29T02:49:05.000Z");
  EXPECT_EQ(rfc("2026-11-29T04:49:05-02:30"), "2026-11-29T07:19:05.000Z");
  EXPECT_EQ(rfc("2026-11-29T04:49:05+05:45"), "2026-11-28T23:04:05.000Z");
  EXPECT_EQ(rfc("2026-11-29T04:49:05+23:59"), "2026-11-28T04:50:05.000Z");
  EXPECT_EQ(rfc("2026-11-29T04:49:05-23:59"), "2026-11-30T04:48:05.000Z");
  // Crossing a year boundary.
  EXPECT_EQ(rfc("2027-01-01T00:30:00+01:00"), "2026-12-31T23:30:00.000Z");
}

TEST(ParseRfc3339, FractionsOfAnyLengthTruncateToMilliseconds) {
  EXPECT_EQ(rfc("2026-11-29T04:49:05.1Z"), "2026-11-29T04:49:05.100Z");
  EXPECT_EQ(rfc("2026-11-29T04:49:05.12Z"), "2026-11-29T04:49:05.120Z");
  EXPECT_EQ(rfc("2026-11-29T04:49:05.123Z"), "2026-11-29T04:49:05.123Z");
  EXPECT_EQ(rfc("2026-11-29T04:49:05.1239Z"), "2026-11-29T04:49:05.123Z");
  EXPECT_EQ(rfc("2026-11-29T04:49:05.123999Z"), "2026-11-29T04:49:05.123Z");
  // Go's RFC3339Nano and Java's Instant print nine digits.
  EXPECT_EQ(rfc("2026-11-29T04:49:05.123456789Z"), "2026-11-29T04:49:05.123Z");
  EXPECT_EQ(rfc("2026-11-29T04:49:05.999999999999Z"), "2026-11-29T04:49:05.999Z");
  EXPECT_EQ(rfc("2026-11-29T04:49:05.000Z"), "2026-11-29T04:49:05.000Z");
  EXPECT_EQ(rfc("2026-11-29T04:49:05.5+01:00"), "2026-11-29T03:49:05.500Z");
}

TEST(ParseRfc3339, TruncatesTowardThePastBefore1970) {
  EXPECT_EQ(rfc("1969-12-31T23:59:59.9995Z"), "1969-12-31T23:59:59.999Z");
  const auto t = parse_rfc3339("1969-12-31T23:59:59.9999Z");
  ASSERT_TRUE(t);
  EXPECT_EQ(to_unix_ms(*t), -1);
}

TEST(ParseRfc3339, LeapYearDates) {
  EXPECT_EQ(rfc("2024-02-29T12:00:00Z"), "2024-02-29T12:00:00.000Z");
  EXPECT_EQ(rfc("2000-02-29T00:00:00Z"), "2000-02-29T00:00:00.000Z");  // divisible by 400
  EXPECT_EQ(rfc("2026-02-29T12:00:00Z"), "none");
  EXPECT_EQ(rfc("1900-02-29T00:00:00Z"), "none");  // divisible by 100, not by 400
  EXPECT_EQ(rfc("2100-02-29T00:00:00Z"), "none");
  EXPECT_EQ(rfc("2024-02-30T00:00:00Z"), "none");
  // An offset that moves a leap day into March still parses.
  EXPECT_EQ(rfc("2024-02-29T23:00:00-02:00"), "2024-03-01T01:00:00.000Z");
}

TEST(ParseRfc3339, FieldRanges) {
  EXPECT_EQ(rfc("0000-01-01T00:00:00Z"), "0000-01-01T00:00:00.000Z");
  EXPECT_EQ(rfc("9999-12-31T23:59:59.999Z"), "9999-12-31T23:59:59.999Z");
  EXPECT_EQ(rfc("2026-01-31T00:00:00Z"), "2026-01-31T00:00:00.000Z");
  EXPECT_EQ(rfc("2026-04-30T00:00:00Z"), "2026-04-30T00:00:00.000Z");
  EXPECT_EQ(rfc("2026-11-29T23:59:59Z"), "2026-11-29T23:59:59.000Z");

  const std::vector<std::string> out_of_range = {
      "2026-00-01T00:00:00Z",  // month 0
      "2026-13-01T00:00:00Z",  // month 13
      "2026-99-01T00:00:00Z",
      "2026-11-00T00:00:00Z",  // day 0
      "2026-11-31T00:00:00Z",  // November has 30 days
      "2026-04-31T00:00:00Z",      "2026-01-32T00:00:00Z",
      "2026-11-29T24:00:00Z",  // hour 24
      "2026-11-29T23:60:00Z",  // minute 60
      "2026-11-29T23:59:60Z",  // leap seconds are refused
      "2026-12-31T23:59:60Z",      "2026-11-29T23:59:99Z",
      "2026-11-29T04:49:05+24:00",  // offset hour 24
      "2026-11-29T04:49:05+25:00",
      "2026-11-29T04:49:05+02:60",  // offset minute 60
      "2026-11-29T04:49:05-99:99",
  };
  for (const auto& text : out_of_range) EXPECT_EQ(rfc(text), "none") << text;
}

TEST(ParseRfc3339, RefusesGarbageAndOtherShapes) {
  const std::vector<std::string> bad = {
      "",
      "Z",
      "garbage",
      "2026-11-29",                // date only
      "04:49:05Z",                 // time only
      "2026-11-29T04:49:05",       // no offset
      "2026-11-29T04:49:05.123",   // no offset, with fraction
      "2026-11-29T04:49Z",         // no seconds
      "2026-11-29T04:49:05+0200",  // offset without colon
      "2026-11-29T04:49:05+02",    // offset without minutes (PostgreSQL's form)
      "2026-11-29T04:49:05+2:00",  // one-digit offset hour
      "2026-11-29T04:49:05+02:0a",
      "2026-11-29T04:49:05+-2:00",
      "2026-11-29T04:49:05 +02:00",  // space before the offset
      "2026-11-29T04:49:05UTC",
      "2026-11-29T04:49:05GMT",
      "2026-11-29T04:49:05.Z",  // empty fraction
      "2026-11-29T04:49:05.+02:00",
      "2026-11-29T04:49:05..1Z",
      "2026-11-29T04:49:05.1.2Z",
      "2026-11-29T04:49:05,123Z",  // comma fraction (ISO 8601, not RFC 3339)
      "2026-11-29T04:49:5.1234Z",  // one-digit second
      "2026-11-29T4:49:05.123Z",   // one-digit hour
      "2026-1-29T04:49:05.123Z",   // one-digit month
      "2026-11-9T04:49:05.1234Z",  // one-digit day
      "+026-11-29T04:49:05Z",      // signed year
      "-026-11-29T04:49:05Z",
      "12026-11-29T04:49:05Z",  // five-digit year
      "2026/11/29T04:49:05Z",
      "2026-11-29X04:49:05Z",  // wrong separator
      "2026-11-29T04-49-05Z",
      "2026-11-29T04:49:05ZZ",  // trailing junk
      "2026-11-29T04:49:05Zjunk",
      "2026-11-29T04:49:05Z ",
      " 2026-11-29T04:49:05Z",  // leading junk
      "2026-11-29T04:49:05+02:00x",
      "2026-11-29T04:49:05+02:00Z",
      "2026-11-29T04:49:05.123456789012345678901234567890123456789012345Z",  // over 64 chars
      std::string("2026-11-29T04:49:05\0Z", 21),                             // embedded NUL
      "２０２６-11-29T04:49:05Z",                                            // full-width digits
  };
  for (const auto& text : bad) EXPECT_EQ(rfc(text), "none") << "'" << text << "'";
}

TEST(ParseRfc3339, RoundTripsWhatFormatTimestampWrites) {
  for (int64_t ms = -86'400'000; ms < 4'102'444'800'000; ms += 7'777'777'777) {
    const Timestamp t = from_unix_ms(ms);
    const auto back = parse_rfc3339(format_timestamp(t));
    ASSERT_TRUE(back) << format_timestamp(t);
    EXPECT_EQ(*back, t);
  }
}

TEST(ParseDbTimestamp, PostgresIsoOutput) {
  EXPECT_EQ(db("2026-11-29 04:49:05.123+00"), "2026-11-29T04:49:05.123Z");
  EXPECT_EQ(db("2026-11-29 04:49:05+00"), "2026-11-29T04:49:05.000Z");
  EXPECT_EQ(db("2026-11-29 04:49:05.123456+00"), "2026-11-29T04:49:05.123Z");
  EXPECT_EQ(db("2026-11-29 04:49:05.1+00"), "2026-11-29T04:49:05.100Z");
  EXPECT_EQ(db("2026-11-29 04:49:05-08"), "2026-11-29T12:49:05.000Z");
  EXPECT_EQ(db("2026-11-29 04:49:05+02"), "2026-11-29T02:49:05.000Z");
  EXPECT_EQ(db("2026-11-29 04:49:05+05:30"), "2026-11-28T23:19:05.000Z");
  const auto t = parse_db_timestamp("2026-11-29 04:49:05.123+00");
  ASSERT_TRUE(t);
  EXPECT_EQ(to_unix_ms(*t), kExampleMs);
}

TEST(ParseDbTimestamp, AlsoTakesRfc3339) {
  EXPECT_EQ(db("2026-11-29T04:49:05.123Z"), "2026-11-29T04:49:05.123Z");
  EXPECT_EQ(db("2026-11-29T04:49:05.123+02:00"), "2026-11-29T02:49:05.123Z");
  EXPECT_EQ(db(format_timestamp(from_unix_ms(kExampleMs))), "2026-11-29T04:49:05.123Z");
}

TEST(ParseDbTimestamp, RefusesGarbage) {
  const std::vector<std::string> bad = {
      "",
      "+00",
      "2026-11-29",
      "2026-11-29 04:49:05",  // no offset
      "2026-11-29 04:49:05.123",
      "2026-11-29 04:49:05+0",
      "2026-11-29 04:49:05+24",
      "2026-11-29 04:49:05+00:00:00",
      "2026-11-31 04:49:05+00",
      "2026-11-29 04:49:05.+00",
      "2026-11-29 04:49:05+00 junk",
      "garbage+00",
  };
  for (const auto& text : bad) EXPECT_EQ(db(text), "none") << "'" << text << "'";
}

TEST(FakeClock, MovesOnlyWhenTold) {
  FakeClock clock(from_unix_ms(kExampleMs));
  EXPECT_EQ(to_unix_ms(clock.now()), kExampleMs);
  EXPECT_EQ(to_unix_ms(clock.now()), kExampleMs);
  clock.advance(seconds(90));
  EXPECT_EQ(to_unix_ms(clock.now()), kExampleMs + 90'000);
  clock.advance(Millis(-500));
  EXPECT_EQ(to_unix_ms(clock.now()), kExampleMs + 89'500);
  clock.set(from_unix_ms(0));
  EXPECT_EQ(to_unix_ms(clock.now()), 0);
  clock.advance(hours(24) + minutes(1));
  EXPECT_EQ(format_timestamp(clock.now()), "1970-01-02T00:01:00.000Z");
}

TEST(FakeClock, WorksThroughTheClockInterface) {
  FakeClock fake(from_unix_ms(1000));
  const Clock& clock = fake;
  fake.advance(Millis(1));
  EXPECT_EQ(to_unix_ms(clock.now()), 1001);
}

TEST(SystemClock, ReadsTheSystemTimeInMilliseconds) {
  const auto before = std::chrono::time_point_cast<Millis>(std::chrono::system_clock::now());
  const Timestamp now = SystemClock::instance().now();
  const auto after = std::chrono::time_point_cast<Millis>(std::chrono::system_clock::now());
  EXPECT_LE(before, now);
  EXPECT_LE(now, after);
  EXPECT_EQ(&SystemClock::instance(), &SystemClock::instance());
}

}  // namespace
}  // namespace insightd
