#include "analysis/statistics.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <boost/json/parse.hpp>
#include <random>

#include "analysis/json_text.h"
#include "analysis/testing/planted_batches.h"

namespace insightd::analysis {
namespace {

namespace json = boost::json;
using std::chrono::minutes;
using std::chrono::seconds;

NewEvent event(std::string type, std::optional<std::string> user,
               std::optional<std::string> session, Timestamp at, std::string metadata = "{}") {
  NewEvent e;
  static int next_id = 0;
  e.event_id = "evt_" + std::to_string(++next_id);
  e.event_type = std::move(type);
  e.user_id = std::move(user);
  e.session_id = std::move(session);
  e.timestamp = at;
  e.received_at = at;
  e.metadata_json = std::move(metadata);
  return e;
}

const Timestamp t0 = planted::base_time();  // NOLINT(cert-err58-cpp): cannot throw

TEST(StatisticsTest, CountsUsersSessionsTimeAndPages) {
  std::vector<NewEvent> events = {
      event("page_view", "u1", "s1", t0, R"({"page":"/a","referrer":"google.com"})"),
      event("click", "u1", "s1", t0 + seconds(30), R"({"page":"/a","button":"buy"})"),
      event("page_view", "u1", "s1", t0 + seconds(60), R"({"page":"/b"})"),
      event("page_view", "u2", "s2", t0 + seconds(90), R"({"page":"/a","referrer":"google.com"})"),
      event("click", "u2", "s2", t0 + seconds(100), R"({"button":"buy"})"),
      event("page_view", std::nullopt, std::nullopt, t0 + minutes(2), R"({"url":"/c"})"),
  };
  const BatchStatistics st = compute_statistics(events, {});
  EXPECT_EQ(st.event_count, 6);
  EXPECT_EQ(st.unique_users, 2);
  EXPECT_EQ(st.unique_sessions, 2);
  EXPECT_EQ(st.events_without_session, 1);
  EXPECT_DOUBLE_EQ(st.events_per_session_mean, 2.5);
  EXPECT_DOUBLE_EQ(st.events_per_session_median, 2.5);
  EXPECT_EQ(st.events_per_session_max, 3);
  EXPECT_EQ(st.single_event_sessions, 0);
  EXPECT_EQ(st.span_ms, 120000);
  EXPECT_DOUBLE_EQ(st.span_minutes, 2);
  EXPECT_DOUBLE_EQ(st.events_per_minute, 3);
  ASSERT_EQ(st.event_types.size(), 2u);
  EXPECT_EQ(st.event_types[0].value, "page_view");
  EXPECT_EQ(st.event_types[0].count, 4);
  EXPECT_EQ(st.event_types[1].value, "click");
  ASSERT_EQ(st.top_pages.size(), 3u);
  EXPECT_EQ(st.top_pages[0].value, "/a");
  EXPECT_EQ(st.top_pages[0].count, 3);
  EXPECT_EQ(st.top_pages[1].value, "/b");  // ties by name
  EXPECT_EQ(st.top_pages[2].value, "/c");
  ASSERT_EQ(st.top_referrers.size(), 1u);
  EXPECT_EQ(st.top_referrers[0].count, 2);
  ASSERT_EQ(st.metadata.size(), 1u);  // page, url and referrer are reported apart
  EXPECT_EQ(st.metadata[0].key, "button");
  EXPECT_EQ(st.metadata[0].events, 2);
  EXPECT_EQ(st.metadata[0].distinct, 1);
  ASSERT_EQ(st.metadata[0].top.size(), 1u);
  EXPECT_EQ(st.metadata[0].top[0].value, "buy");
  EXPECT_EQ(st.errors.total, 0);
  // s1: page_view > click > page_view; s2: page_view > click.
  ASSERT_EQ(st.funnel.size(), 2u);
  EXPECT_EQ(st.funnel[0].event_type, "page_view");
  EXPECT_EQ(st.funnel[1].event_type, "click");
  EXPECT_EQ(st.funnel[1].sessions, 2);
  EXPECT_DOUBLE_EQ(st.funnel[1].drop_off, 0);
}

TEST(StatisticsTest, RecognisesErrorLikeEventsByTypeAndMetadata) {
  std::vector<NewEvent> events = {
      event("checkout_error", "u", "s", t0),
      event("JSException", "u", "s", t0),
      event("payment_failed", "u", "s", t0, R"({"code":"card_declined"})"),
      event("api_call", "u", "s", t0, R"({"status":503,"message":"upstream down"})"),
      event("api_call", "u", "s", t0, R"({"statusCode":"404"})"),
      event("api_call", "u", "s", t0, R"({"status":200})"),
      event("signup", "u", "s", t0, R"({"success":false})"),
      event("order", "u", "s", t0, R"({"error":{"message":"boom"}})"),
      event("page_view", "u", "s", t0, R"({"error":null})"),
      event("job", "u", "s", t0, R"({"status":"Failed"})"),
  };
  const BatchStatistics st = compute_statistics(events, {});
  EXPECT_EQ(st.errors.total, 8);
  EXPECT_DOUBLE_EQ(st.errors.rate, 0.8);
  EXPECT_EQ(st.errors.http_5xx, 1);
  EXPECT_EQ(st.errors.http_4xx, 1);
  ASSERT_EQ(st.errors.by_status.size(), 2u);
  EXPECT_EQ(st.errors.by_status[0].value, "404");
  EXPECT_EQ(st.errors.by_status[1].value, "503");
  ASSERT_EQ(st.errors.by_event_type.size(), 5u);
  EXPECT_EQ(st.errors.by_event_type[0].value, "api_call");
  EXPECT_EQ(st.errors.by_event_type[0].count, 2);
  std::vector<std::string> messages;
  for (const auto& m : st.errors.messages) messages.push_back(m.value);
  EXPECT_EQ(messages, (std::vector<std::string>{"boom", "card_declined", "upstream down"}));
}

TEST(StatisticsTest, ErrorLikeNeedsAFailureNotJustAStatus) {
  json::object ok = json::parse(R"({"status":"ok","error":"","success":true})").as_object();
  EXPECT_FALSE(is_error_like("api_call", &ok));
  EXPECT_FALSE(is_error_like("page_view", nullptr));
  EXPECT_TRUE(is_error_like("request_timeout", nullptr));
  EXPECT_TRUE(is_error_like("app_crash", nullptr));
  json::object level = json::parse(R"({"level":"fatal"})").as_object();
  EXPECT_TRUE(is_error_like("log", &level));
}

TEST(StatisticsTest, FindsTheCheckoutFunnelAndWhereSessionsLeave) {
  const BatchStatistics st = compute_statistics(planted::checkout_collapse(), {});
  EXPECT_EQ(st.event_count, 100);
  EXPECT_EQ(st.unique_sessions, 28);
  ASSERT_EQ(st.funnel.size(), 4u);
  EXPECT_EQ(st.funnel[0].event_type, "page_view");
  EXPECT_EQ(st.funnel[0].sessions, 28);
  EXPECT_EQ(st.funnel[1].event_type, "add_to_cart");
  EXPECT_EQ(st.funnel[1].sessions, 22);
  EXPECT_EQ(st.funnel[1].dropped, 6);
  EXPECT_EQ(st.funnel[1].top_exit, "(session end)");
  EXPECT_EQ(st.funnel[1].top_exit_sessions, 6);
  EXPECT_DOUBLE_EQ(st.funnel[1].conversion, 0.7857);
  EXPECT_EQ(st.funnel[2].event_type, "checkout_start");
  EXPECT_EQ(st.funnel[2].sessions, 22);
  EXPECT_DOUBLE_EQ(st.funnel[2].drop_off, 0);
  // payment_failed is error-like: never a step, but where 20 sessions went.
  EXPECT_EQ(st.funnel[3].event_type, "purchase");
  EXPECT_EQ(st.funnel[3].sessions, 2);
  EXPECT_DOUBLE_EQ(st.funnel[3].conversion, 0.0909);
  EXPECT_DOUBLE_EQ(st.funnel[3].drop_off, 0.9091);
  EXPECT_EQ(st.funnel[3].dropped, 20);
  EXPECT_EQ(st.funnel[3].top_exit, "payment_failed");
  EXPECT_EQ(st.funnel[3].top_exit_sessions, 20);

  ASSERT_EQ(st.top_sequences.size(), 3u);
  EXPECT_EQ(
      st.top_sequences[0].steps,
      (std::vector<std::string>{"page_view", "add_to_cart", "checkout_start", "payment_failed"}));
  EXPECT_EQ(st.top_sequences[0].sessions, 20);
  EXPECT_EQ(st.top_sequences[1].steps,
            (std::vector<std::string>{"page_view"}));  // repeats collapse
  EXPECT_EQ(st.top_sequences[1].sessions, 6);
  EXPECT_EQ(st.top_sequences[2].sessions, 2);

  EXPECT_EQ(st.errors.total, 20);
  EXPECT_EQ(st.errors.http_4xx, 20);
  ASSERT_FALSE(st.errors.messages.empty());
  EXPECT_EQ(st.errors.messages[0].value, "card_declined");
}

TEST(StatisticsTest, LongSessionsAreCutInTheSequenceList) {
  std::vector<NewEvent> events;
  for (char c = 'a'; c < 'm'; ++c) {
    events.push_back(event(std::string("step_") + c, "u", "s", t0 + seconds(c - 'a')));
  }
  const BatchStatistics st = compute_statistics(events, {});
  ASSERT_EQ(st.top_sequences.size(), 1u);
  EXPECT_EQ(st.top_sequences[0].steps.size(), kMaxSequenceSteps);
  EXPECT_TRUE(st.top_sequences[0].truncated);
  EXPECT_EQ(st.funnel.size(), kMaxFunnelSteps);
}

TEST(StatisticsTest, TheSameEventsInAnyOrderGiveTheSameStatistics) {
  std::vector<NewEvent> events = planted::checkout_collapse();
  const auto history = planted::steady_history();
  const std::string expected = to_json_text(to_json(compute_statistics(events, history)));
  std::mt19937 rng(42);
  for (int round = 0; round < 5; ++round) {
    std::shuffle(events.begin(), events.end(), rng);
    EXPECT_EQ(to_json_text(to_json(compute_statistics(events, history))), expected);
  }
}

TEST(StatisticsTest, LongValuesAreCutAndFieldsBounded) {
  std::string metadata = "{";
  for (int k = 0; k < 20; ++k) metadata += "\"k" + std::to_string(k) + "\":1,";
  metadata += "\"page\":\"" + std::string(300, 'x') + "\"}";
  std::vector<NewEvent> events = {event("page_view", "u", "s", t0, metadata)};
  const BatchStatistics st = compute_statistics(events, {});
  ASSERT_EQ(st.top_pages.size(), 1u);
  EXPECT_EQ(st.top_pages[0].value, std::string(kMaxValueChars, 'x') + "…");
  EXPECT_EQ(st.metadata.size(), kMaxMetadataFields);
}

TEST(StatisticsTest, AnEmptyBatchHasZeroStatistics) {
  const BatchStatistics st = compute_statistics({}, {});
  EXPECT_EQ(st.event_count, 0);
  EXPECT_FALSE(st.first_event);
  EXPECT_TRUE(st.funnel.empty());
  const json::object o = to_json(st);
  EXPECT_TRUE(o.at("time").at("first_event").is_null());
}

TEST(StatisticsTest, ATrafficSurgeStandsOutFromASteadyHistory) {
  const auto history = planted::steady_history(8);
  const auto calm = compute_statistics(planted::page_views(100, minutes(10)), history);
  EXPECT_EQ(calm.history_batches, 8);
  EXPECT_TRUE(calm.anomalies.empty()) << to_json_text(to_json(calm));

  const auto surge = compute_statistics(planted::page_views(100, minutes(1)), history);
  ASSERT_FALSE(surge.anomalies.empty());
  const MetricAnomaly& a = surge.anomalies[0];
  EXPECT_EQ(a.metric, "events_per_minute");
  EXPECT_EQ(a.direction, "up");
  EXPECT_EQ(a.severity, "high");
  EXPECT_DOUBLE_EQ(a.observed, surge.events_per_minute);
  EXPECT_GT(a.observed, 99);
  EXPECT_GT(a.median, 9);
  EXPECT_LT(a.median, 11.5);
  EXPECT_LT(a.expected_high, 20);
  EXPECT_LT(a.expected_low, a.median);
  EXPECT_GT(a.z, 8);
  for (const auto& snap : history) {
    const double rate = *snap.find("events_per_minute");
    EXPECT_GE(rate, a.expected_low);
    EXPECT_LE(rate, a.expected_high);
  }
}

TEST(StatisticsTest, AnomaliesNeedEnoughHistory) {
  const auto history = planted::steady_history(kMinHistory - 1);
  const auto surge = compute_statistics(planted::page_views(100, minutes(1)), history);
  EXPECT_TRUE(surge.anomalies.empty());
}

TEST(StatisticsTest, AFunnelCollapseStandsOutFromHealthyCheckouts) {
  // Healthy history: the same shape, but every checkout ends in a purchase.
  std::vector<MetricSnapshot> history;
  for (int b = 0; b < 6; ++b) {
    auto healthy = planted::checkout_collapse(planted::base_time() - std::chrono::hours(b + 1));
    for (auto& e : healthy) {
      if (e.event_type == "payment_failed") {
        e.event_type = "purchase";
        e.metadata_json = "{}";
      }
    }
    history.push_back(compute_statistics(healthy, {}).snapshot);
  }
  const auto st = compute_statistics(planted::checkout_collapse(), history);
  auto find = [&](std::string_view metric) -> const MetricAnomaly* {
    for (const auto& a : st.anomalies) {
      if (a.metric == metric) return &a;
    }
    return nullptr;
  };
  const MetricAnomaly* purchases = find("type_share.purchase");
  ASSERT_NE(purchases, nullptr) << to_json_text(to_json(st));
  EXPECT_EQ(purchases->direction, "down");
  EXPECT_DOUBLE_EQ(purchases->observed, 0.02);
  EXPECT_DOUBLE_EQ(purchases->median, 0.22);
  // payment_failed never happened before: its share counts as 0 in the history.
  const MetricAnomaly* failures = find("type_share.payment_failed");
  ASSERT_NE(failures, nullptr);
  EXPECT_EQ(failures->direction, "up");
  const MetricAnomaly* errors = find("error_rate");
  ASSERT_NE(errors, nullptr);
  EXPECT_DOUBLE_EQ(errors->observed, 0.2);
  EXPECT_EQ(errors->severity, "high");
}

TEST(StatisticsTest, ASteadyHistoryDoesNotMakeTinyChangesAnomalies) {
  // Every earlier batch had no errors at all (MAD 0): one error in 100 events
  // is within the floor, not an infinite z-score.
  auto events = planted::page_views(100);
  events[10].event_type = "js_error";
  const auto st = compute_statistics(events, planted::steady_history(8));
  for (const auto& a : st.anomalies) EXPECT_NE(a.metric, "error_rate");
}

TEST(StatisticsTest, TheSnapshotRoundTripsThroughStatisticsJson) {
  const auto st = compute_statistics(planted::checkout_collapse(), {});
  const auto back = snapshot_from_statistics_json(to_json_text(to_json(st)));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->values, st.snapshot.values);
  EXPECT_TRUE(back->all_types);
  EXPECT_DOUBLE_EQ(*back->find("type_share.purchase"), 0.02);
  EXPECT_DOUBLE_EQ(*back->find("error_rate"), 0.2);
  EXPECT_FALSE(back->find("type_share.nothing"));
  EXPECT_FALSE(snapshot_from_statistics_json("not json"));
  EXPECT_FALSE(snapshot_from_statistics_json(R"({"event_count":3})"));
}

}  // namespace
}  // namespace insightd::analysis
