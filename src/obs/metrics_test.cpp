#include "obs/metrics.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <thread>
#include <vector>

namespace insightd::obs {
namespace {

TEST(Metrics, CountersAndGaugesKeepTheirArithmetic) {
  Counter c;
  c.inc();
  c.inc(41);
  EXPECT_EQ(c.value(), 42u);
  Gauge g;
  g.set(10);
  g.add(-2.5);
  g.add(0.5);
  EXPECT_DOUBLE_EQ(g.value(), 8);
}

TEST(Metrics, HistogramBucketsAreLessOrEqualAndCumulative) {
  const std::vector<double> bounds{0.1, 1, 10};
  Histogram h(bounds);
  h.observe(0.1);           // on the bound: in le=0.1
  h.observe(0.10001);       // just above: le=1
  h.observe(5, 3);          // three at once: le=10
  h.observe(1e6);           // above every bound: +Inf only
  h.observe(-1);            // below every bound: le=0.1
  h.observe(std::nan(""));  // ignored
  h.observe(2, 0);          // nothing
  const Histogram::Snapshot s = h.snapshot();
  EXPECT_EQ(s.upper_bounds, bounds);
  EXPECT_EQ(s.cumulative, (std::vector<uint64_t>{2, 3, 6, 7}));
  EXPECT_EQ(s.count, 7u);
  EXPECT_DOUBLE_EQ(s.sum, 0.1 + 0.10001 + 15 + 1e6 - 1);
}

TEST(Metrics, HistogramWithoutBoundsHasOnlyInf) {
  Histogram h(std::span<const double>{});
  h.observe(3);
  EXPECT_EQ(h.snapshot().cumulative, std::vector<uint64_t>{1});
}

TEST(Metrics, ValuesAreSpelledAsPrometheusReadsThem) {
  EXPECT_EQ(format_value(3), "3");
  EXPECT_EQ(format_value(0.25), "0.25");
  EXPECT_EQ(format_value(-2), "-2");
  EXPECT_EQ(format_value(1e-05), "1e-05");
  EXPECT_EQ(format_value(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(format_value(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(format_value(std::nan("")), "NaN");
  EXPECT_EQ(format_value(1234567890123.0), "1234567890123");
}

TEST(Metrics, LabelValuesAndHelpAreEscaped) {
  EXPECT_EQ(escape_label_value(R"(a\b"c)"
                               "\n"
                               "d"),
            R"(a\\b\"c\nd)");
  EXPECT_EQ(escape_help("back\\slash \"quoted\"\nline"), R"(back\\slash "quoted"\nline)");
  Registry r;
  r.counter("t_total", "Help with \\ and\nnewline.", {"path"}).with({"/a\"b\\c\nd"}).inc();
  EXPECT_EQ(r.render(),
            "# HELP t_total Help with \\\\ and\\nnewline.\n"
            "# TYPE t_total counter\n"
            "t_total{path=\"/a\\\"b\\\\c\\nd\"} 1\n");
}

TEST(Metrics, NamesAreChecked) {
  EXPECT_TRUE(valid_metric_name("insightd_events_ingested_total"));
  EXPECT_TRUE(valid_metric_name("a:b_c1"));
  EXPECT_FALSE(valid_metric_name(""));
  EXPECT_FALSE(valid_metric_name("1abc"));
  EXPECT_FALSE(valid_metric_name("a-b"));
  EXPECT_TRUE(valid_label_name("status_class"));
  EXPECT_FALSE(valid_label_name("__name__"));
  EXPECT_FALSE(valid_label_name("a:b"));
  EXPECT_FALSE(valid_label_name("9a"));
}

TEST(Metrics, RegistryRendersTheTextFormat) {
  Registry r;
  auto& events = r.counter("app_events_total", "Events stored.", {"transport", "status"});
  events.with({"socketio", "ok"}).inc(5);
  events.with({"http", "ok"}).inc(2);
  events.with({"http", "duplicate"});  // made, never incremented: rendered as 0
  r.gauge("app_queue_events", "Events waiting.").with({}).set(7);
  auto& latency =
      r.histogram("app_ack_latency_seconds", "Ack latency.", {"transport"}, {0.005, 0.5, 2.5});
  latency.with({"http"}).observe(0.004);
  latency.with({"http"}).observe(1, 2);
  r.add_gauge_callback("app_answer", "Forty-two, computed at scrape time.", [] { return 42.0; });
  r.add_collector([](ExpositionWriter& out) {
    out.family("app_jobs", "Jobs by status.", MetricType::kGauge);
    out.sample({{"status", "pending"}}, 3);
    out.sample({{"status", "running"}}, 0);
  });

  EXPECT_EQ(r.render(),
            "# HELP app_events_total Events stored.\n"
            "# TYPE app_events_total counter\n"
            "app_events_total{transport=\"http\",status=\"duplicate\"} 0\n"
            "app_events_total{transport=\"http\",status=\"ok\"} 2\n"
            "app_events_total{transport=\"socketio\",status=\"ok\"} 5\n"
            "# HELP app_queue_events Events waiting.\n"
            "# TYPE app_queue_events gauge\n"
            "app_queue_events 7\n"
            "# HELP app_ack_latency_seconds Ack latency.\n"
            "# TYPE app_ack_latency_seconds histogram\n"
            "app_ack_latency_seconds_bucket{transport=\"http\",le=\"0.005\"} 1\n"
            "app_ack_latency_seconds_bucket{transport=\"http\",le=\"0.5\"} 1\n"
            "app_ack_latency_seconds_bucket{transport=\"http\",le=\"2.5\"} 3\n"
            "app_ack_latency_seconds_bucket{transport=\"http\",le=\"+Inf\"} 3\n"
            "app_ack_latency_seconds_sum{transport=\"http\"} 2.004\n"
            "app_ack_latency_seconds_count{transport=\"http\"} 3\n"
            "# HELP app_answer Forty-two, computed at scrape time.\n"
            "# TYPE app_answer gauge\n"
            "app_answer 42\n"
            "# HELP app_jobs Jobs by status.\n"
            "# TYPE app_jobs gauge\n"
            "app_jobs{status=\"pending\"} 3\n"
            "app_jobs{status=\"running\"} 0\n");
}

TEST(Metrics, FamilyWithoutChildrenRendersOnlyItsHeader) {
  Registry r;
  r.histogram("empty_seconds", "Nothing yet.", {"kind"}, {1});
  EXPECT_EQ(r.render(), "# HELP empty_seconds Nothing yet.\n# TYPE empty_seconds histogram\n");
}

TEST(Metrics, RegisteringTheSameFamilyAgainReturnsIt) {
  Registry r;
  auto& a = r.counter("x_total", "X.", {"k"});
  auto& b = r.counter("x_total", "X.", {"k"});
  EXPECT_EQ(&a, &b);
  EXPECT_EQ(&a.with({"v"}), &b.with({"v"}));
  auto& h1 = r.histogram("h_seconds", "H.", {}, {1, 2});
  auto& h2 = r.histogram("h_seconds", "H.", {}, {1, 2});
  EXPECT_EQ(&h1, &h2);
}

TEST(Metrics, ConcurrentUpdatesAreNotLost) {
  Registry r;
  Counter& c = r.counter("c_total", "C.").with({});
  Histogram& h = r.histogram("h_seconds", "H.", {}, {0.5}).with({});
  constexpr int kThreads = 4;
  constexpr int kEach = 100'000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        c.inc();
        h.observe(t % 2 == 0 ? 0.25 : 1.0);
      }
    });
  }
  // Renders while the updates run: never torn, count always equals +Inf.
  for (int i = 0; i < 20; ++i) {
    const Histogram::Snapshot s = h.snapshot();
    EXPECT_EQ(s.count, s.cumulative.back());
    EXPECT_FALSE(r.render().empty());
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(c.value(), uint64_t{kThreads} * kEach);
  const Histogram::Snapshot s = h.snapshot();
  EXPECT_EQ(s.cumulative, (std::vector<uint64_t>{2 * kEach, 4 * kEach}));
  EXPECT_DOUBLE_EQ(s.sum, 2 * kEach * 0.25 + 2 * kEach * 1.0);
}

}  // namespace
}  // namespace insightd::obs
