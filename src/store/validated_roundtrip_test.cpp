// The property that ties validation to storage: any event the validator accepts
// stores and reads back unchanged, on SQLite (store_contract_test) and on a real
// PostgreSQL (store_contract_pgtest). Events are generated at random, biased
// towards what stores have refused before: NUL and other escapes, extreme
// numbers, the first and last representable instants with offsets, deep nesting,
// non-ASCII text. Inputs the validator refuses are skipped; those it accepts
// must all commit and read back equal, field by field.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "core/event_validation.h"
#include "core/json_equivalence.h"
#include "store/testing/test_database.h"

namespace insightd::store {
namespace {

namespace json = boost::json;

class Generator {
 public:
  explicit Generator(uint32_t seed) : rng_(seed) {}

  std::string event_text(size_t index) {
    json::object e;
    e["eventId"] = fmt::format("rt-{}-{}", index, pick({"a", "é", "日本", "x y", "-_."}));
    e["eventType"] = pick({"page_view", "click", "a:b.c-d_e", "X"});
    if (chance(2)) e["userId"] = text();
    if (chance(2)) e["sessionId"] = text();
    if (chance(3)) e["timestamp"] = timestamp();
    if (chance(5)) e["sentAt"] = timestamp();
    if (chance(6)) {
      e["metadata"] = nullptr;
    } else {
      json::object m;
      const int n = static_cast<int>(rng_() % 6);
      for (int i = 0; i < n; ++i) m[key()] = value(0);
      e["metadata"] = std::move(m);
    }
    std::string out = json::serialize(e);
    // Sometimes a raw escape or number spelling that serialize() would not make.
    if (chance(4)) {
      const std::string raw = pick(
          {R"("\u0000")", "1e400", "-1e400", "1e-400", "123456789012345678901234567890", "-0",
           "0.1", "1.7976931348623157e308", "4.9e-324", R"("\ud83d\ude00")", R"("\u001f\u007f")",
           R"("\\\"\/\b\f\n\r\t")", "18446744073709551615", "-9223372036854775808"});
      const auto brace = out.rfind('}');
      out.insert(brace, std::string(out[brace - 1] == '{' ? "" : ",") + "\"raw\":" + raw);
    }
    return out;
  }

 private:
  bool chance(uint32_t one_in) { return rng_() % one_in == 0; }
  std::string pick(std::initializer_list<const char*> options) {
    return *(options.begin() + rng_() % options.size());
  }
  std::string text() {
    return pick({"user_1", "", "é日本😀", "a\u00a0b", "tab\there", "quote\"back\\slash", "nul\x01",
                 std::string(200, 'u').c_str(), "   "});
  }
  std::string key() {
    return pick({"page", "", "ключ", "a.b", "$where", "k\u0000", "\"", "😀", "n"});
  }
  std::string timestamp() {
    const int year =
        chance(3) ? static_cast<int>(rng_() % 3) + 1 : static_cast<int>(rng_() % 9999) + 1;
    const int offset_min = chance(2) ? 0 : static_cast<int>(rng_() % (2 * 1439)) - 1439;
    std::string zone = offset_min == 0 && chance(2)
                           ? "Z"
                           : fmt::format("{}{:02}:{:02}", offset_min < 0 ? '-' : '+',
                                         std::abs(offset_min) / 60, std::abs(offset_min) % 60);
    const int ms = static_cast<int>(rng_() % 1000);
    if (chance(4)) return fmt::format("9999-12-31T23:59:59.{:03}{}", ms, zone);
    if (chance(4)) return fmt::format("0001-01-01T00:00:00.{:03}{}", ms, zone);
    return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}{}", year, rng_() % 12 + 1,
                       rng_() % 28 + 1, rng_() % 24, rng_() % 60, rng_() % 60, ms, zone);
  }
  json::value value(int depth) {
    switch (rng_() % (depth > 4 ? 6 : 8)) {
      case 0:
        return nullptr;
      case 1:
        return chance(2);
      case 2:
        return static_cast<int64_t>(rng_()) - (int64_t{1} << 31);
      case 3: {
        const double d = std::ldexp(static_cast<double>(rng_()) / 4294967296.0 - 0.5,
                                    static_cast<int>(rng_() % 2000) - 1000);
        return d;
      }
      case 4:
        return json::string(text());
      case 5:
        return static_cast<uint64_t>(rng_()) << 32 | rng_();
      case 6: {
        json::array a;
        const int n = static_cast<int>(rng_() % 4);
        for (int i = 0; i < n; ++i) a.push_back(value(depth + 1));
        return a;
      }
      default: {
        json::object o;
        const int n = static_cast<int>(rng_() % 4);
        for (int i = 0; i < n; ++i) o[key()] = value(depth + 1);
        return o;
      }
    }
  }
  std::mt19937 rng_;
};

TEST(ValidatedEvents, EveryEventTheValidatorAcceptsStoresAndReadsBackUnchanged) {
  auto db = testing::TestDatabase::create();
  ASSERT_NE(db, nullptr);
  const Timestamp received = *parse_rfc3339("2026-12-04T12:00:00.000Z");
  Generator gen(20261204);
  std::vector<NewEvent> accepted;
  size_t refused = 0;
  for (size_t i = 0; i < 3000; ++i) {
    const std::string text = gen.event_text(i);
    EventVerdict verdict = validate_event_text(text, received);
    if (!verdict) {
      ++refused;
      continue;
    }
    accepted.push_back(std::move(verdict).event());
  }
  ASSERT_GT(accepted.size(), 1000u) << "the generator should make mostly valid events";
  ASSERT_GT(refused, 50u) << "and some that are refused";
  // One append per event: a refusal names its event.
  for (const NewEvent& e : accepted) {
    auto out = db->store().events().append(std::span(&e, 1), BatchPolicy{100, 5}, received);
    ASSERT_TRUE(out.is_ok()) << "accepted but not storable: " << e.event_id << " "
                             << e.metadata_json << ": " << out.error().message;
  }
  for (const NewEvent& e : accepted) {
    auto found = db->store().events().find(e.event_id);
    ASSERT_TRUE(found.is_ok()) << e.event_id << ": " << found.error().message;
    ASSERT_TRUE(found->has_value()) << e.event_id;
    const NewEvent& back = (*found)->event;
    EXPECT_EQ(back.event_type, e.event_type) << e.event_id;
    EXPECT_EQ(back.user_id, e.user_id) << e.event_id;
    EXPECT_EQ(back.session_id, e.session_id) << e.event_id;
    EXPECT_EQ(format_timestamp(back.timestamp), format_timestamp(e.timestamp)) << e.event_id;
    EXPECT_EQ(format_timestamp(back.received_at), format_timestamp(e.received_at)) << e.event_id;
    EXPECT_EQ(back.clock_skew_ms, e.clock_skew_ms) << e.event_id;
    EXPECT_TRUE(json_equivalent(json::parse(back.metadata_json), json::parse(e.metadata_json)))
        << e.event_id << "\n stored " << e.metadata_json << "\n  read  " << back.metadata_json;
  }
}

}  // namespace
}  // namespace insightd::store
