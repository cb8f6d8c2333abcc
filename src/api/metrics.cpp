#include "api/metrics.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace insightd::api {
namespace {

using obs::MetricType;

double seconds_between(Timestamp from, Timestamp to) {
  // Clocks of several nodes differ a little: an age is never negative.
  return std::max(0.0, std::chrono::duration<double>(to - from).count());
}

double breaker_state_value(BreakerState s) {
  switch (s) {
    case BreakerState::kClosed:
      return 0;
    case BreakerState::kHalfOpen:
      return 1;
    case BreakerState::kOpen:
      return 2;
  }
  return 2;
}

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// One scrape's reading of the database, written family by family.
void collect_store(obs::ExpositionWriter& out, store::Store& store, const Clock& clock) {
  const Timestamp now = clock.now();
  bool all_answered = true;

  if (auto batches = store.batches().count_by_status()) {
    out.family("insightd_batches", "Batches by status (open, sealed, analyzed, archived).",
               MetricType::kGauge);
    for (const auto& [status, n] : *batches) {
      const std::string s = lower(to_string(status));
      out.sample({{"status", s}}, static_cast<double>(n));
    }
  } else {
    all_answered = false;
  }

  if (auto jobs = store.jobs().count_by_status()) {
    out.family("insightd_jobs", "Analysis jobs by status (pending, running, success, dead).",
               MetricType::kGauge);
    for (const auto& [status, n] : *jobs) {
      const std::string s = lower(to_string(status));
      out.sample({{"status", s}}, static_cast<double>(n));
    }
  } else {
    all_answered = false;
  }

  if (auto oldest = store.jobs().oldest_pending_created_at()) {
    out.family("insightd_oldest_pending_job_age_seconds",
               "Age of the oldest PENDING analysis job (waiting for a worker or for its retry); 0 "
               "when none is pending.",
               MetricType::kGauge);
    out.sample({}, *oldest ? seconds_between(**oldest, now) : 0.0);
  } else {
    all_answered = false;
  }

  // Only the last arrival is of interest: "since now" keeps the count at nothing.
  if (auto activity = store.events().activity(now)) {
    out.family("insightd_last_event_age_seconds",
               "Seconds since the most recent event was received (any node); absent until the "
               "first event is stored.",
               MetricType::kGauge);
    if (activity->last_received_at) {
      out.sample({}, seconds_between(*activity->last_received_at, now));
    }
  } else {
    all_answered = false;
  }

  if (auto waiting = store.dead_letters().count_waiting()) {
    out.family("insightd_dead_letter_jobs",
               "Dead-lettered jobs not redriven yet: the dead-letter queue an operator works off.",
               MetricType::kGauge);
    out.sample({}, static_cast<double>(*waiting));
  } else {
    all_answered = false;
  }

  if (auto backlog = store.outbox().count_pending()) {
    out.family("insightd_outbox_pending_messages",
               "KafkaOutbox rows not published yet (the relay's backlog).", MetricType::kGauge);
    out.sample({}, static_cast<double>(*backlog));
  } else {
    all_answered = false;
  }

  if (auto breakers = store.breakers().list()) {
    out.family("insightd_circuit_breaker_state",
               "Circuit breaker state as stored: 0 closed, 1 half-open, 2 open. A breaker appears "
               "once it was first used (the built-in analyzer uses none).",
               MetricType::kGauge);
    for (const auto& b : *breakers) out.sample({{"breaker", b.name}}, breaker_state_value(b.state));
    out.family("insightd_circuit_breaker_failures",
               "Consecutive failures the circuit breaker has counted.", MetricType::kGauge);
    for (const auto& b : *breakers) {
      out.sample({{"breaker", b.name}}, static_cast<double>(b.failure_count));
    }
  } else {
    all_answered = false;
  }

  out.family("insightd_database_up",
             "1 when every database query of this scrape answered, 0 when one failed (its "
             "families are then missing from the scrape).",
             MetricType::kGauge);
  out.sample({}, all_answered ? 1.0 : 0.0);
}

constexpr std::array<std::string_view, 6> kStatusClasses{"1xx", "2xx", "3xx",
                                                         "4xx", "5xx", "other"};

size_t status_class(unsigned status) {
  return status >= 100 && status < 600 ? status / 100 - 1 : kStatusClasses.size() - 1;
}

// Per route (plus one for "no route") and status class, the series once made.
struct HttpRequestTable {
  struct RouteLabels {
    std::string method;
    std::string pattern;
  };
  obs::Family<obs::Counter>* family = nullptr;
  std::vector<RouteLabels> routes;  // by route id; the last one is "(none)"
  std::unique_ptr<std::atomic<obs::Counter*>[]> cells;

  void count(size_t route_id, unsigned status) {
    const size_t r = std::min(route_id, routes.size() - 1);
    const size_t c = status_class(status);
    std::atomic<obs::Counter*>& cell = cells[r * kStatusClasses.size() + c];
    obs::Counter* counter = cell.load(std::memory_order_acquire);
    if (counter == nullptr) {
      // First request of this series: find or make it (the family's lock);
      // racing threads get the same child.
      counter = &family->with({routes[r].method, routes[r].pattern, kStatusClasses[c]});
      cell.store(counter, std::memory_order_release);
    }
    counter->inc();
  }
};

}  // namespace

void add_store_metrics(obs::Registry& registry, store::Store& store, const Clock& clock,
                       Millis cache_for) {
  if (cache_for.count() <= 0) {
    registry.add_collector(
        [&store, &clock](obs::ExpositionWriter& out) { collect_store(out, store, clock); });
    return;
  }
  struct Cache {
    std::mutex mu;  // held while collecting: one scrape queries, the others wait for it
    std::optional<obs::ExpositionWriter> part;
    std::chrono::steady_clock::time_point at;
  };
  auto cache = std::make_shared<Cache>();
  registry.add_collector([&store, &clock, cache, cache_for](obs::ExpositionWriter& out) {
    std::lock_guard lock(cache->mu);
    const auto now = std::chrono::steady_clock::now();
    if (!cache->part || now - cache->at >= cache_for) {
      obs::ExpositionWriter fresh;
      collect_store(fresh, store, clock);
      cache->part = std::move(fresh);
      cache->at = now;
    }
    out.append(*cache->part);
  });
}

std::function<void(size_t route_id, unsigned status)> count_http_requests(
    obs::Registry& registry, const net::Router& router) {
  auto table = std::make_shared<HttpRequestTable>();
  table->family = &registry.counter(
      "insightd_http_requests_total",
      "HTTP requests answered, by method and route pattern (\"(none)\" when no route took the "
      "request) and status class.",
      {"method", "route", "status"});
  for (const auto& r : router.routes()) {
    table->routes.push_back({std::string(net::http::to_string(r.method)), r.pattern});
  }
  table->routes.push_back({"(none)", "(none)"});
  table->cells =
      std::make_unique<std::atomic<obs::Counter*>[]>(table->routes.size() * kStatusClasses.size());
  return [table](size_t route_id, unsigned status) { table->count(route_id, status); };
}

void add_metrics_route(net::Router& router, obs::Registry& registry) {
  router.add(net::http::verb::get, "/metrics", net::RouteKind::kBlocking,
             [&registry](const net::Request& req, const net::PathParams&) {
               net::Response res{net::http::status::ok, req.version()};
               res.set(net::http::field::content_type, obs::kExpositionContentType);
               res.set(net::http::field::cache_control, "no-store");
               res.body() = registry.render();
               return res;
             });
}

}  // namespace insightd::api
