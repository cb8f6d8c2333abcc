#include "api/health.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/json.hpp>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "obs/log_throttle.h"
#include "store/migrations.h"

namespace insightd::api {
namespace {

using Clock = std::chrono::steady_clock;

net::Response not_ready(std::string_view message) {
  net::Response res =
      net::error_response(net::http::status::service_unavailable, "not_ready", message);
  res.set(net::http::field::retry_after, "5");
  return res;
}

// What /readyz answers, computed by one check at a time and kept for a moment:
// a probe anyone may call as often as they like costs the database at most one
// check per `cache_for`. The check runs on a thread of its own, and a caller
// waits for it at most `stall_limit`: a database that stopped answering holds
// that one thread, never a server thread, and /readyz says 503 in time.
class Readiness : public std::enable_shared_from_this<Readiness> {
 public:
  Readiness(store::Store& store, store::ConnectionPool& pool, HealthOptions options)
      : store_(store), pool_(pool), options_(std::move(options)) {}

  net::Response answer() {
    if (options_.shutting_down && options_.shutting_down()) return not_ready("shutting down");
    if (auto stalled = ingest_stalled()) return *stalled;
    std::unique_lock lock(mu_);
    const auto now = Clock::now();
    if (cached_ && now - cached_at_ < options_.cache_for) return *cached_;
    if (!checking_) {
      checking_ = true;
      check_started_ = now;
      // Detached: if the database never answers, only this thread waits for it.
      std::thread([self = shared_from_this()] { self->run_check(); }).detach();
    }
    const auto give_up = check_started_ + options_.stall_limit;
    // While waiting for the check, a commit that stalls meanwhile is news too:
    // the caller hears "not ready" when the commit passes the limit, not only
    // when this check gives up (which may have started just before the stall).
    while (checking_) {
      const auto wake = std::min(give_up, Clock::now() + kRecheckEvery);
      if (done_.wait_until(lock, wake, [this] { return !checking_; })) break;
      if (Clock::now() >= give_up) return not_ready("database unavailable");
      lock.unlock();
      auto stalled = ingest_stalled();
      lock.lock();
      if (stalled) return *stalled;
    }
    return *cached_;
  }

 private:
  static constexpr Millis kRecheckEvery{100};

  std::optional<net::Response> ingest_stalled() const {
    if (!options_.ingest_stalled_for) return std::nullopt;
    const Millis stalled = options_.ingest_stalled_for();
    if (stalled < options_.stall_limit) return std::nullopt;
    return not_ready(
        fmt::format("ingestion stalled: a commit has been running for {} ms", stalled.count()));
  }

  void run_check() {
    net::Response fresh = not_ready("database unavailable");
    try {
      fresh = check();
    } catch (const std::exception& e) {
      spdlog::error("[Health] The readiness check threw: {}", e.what());
    }
    {
      std::lock_guard lock(mu_);
      checking_ = false;
      cached_ = std::move(fresh);
      cached_at_ = Clock::now();
    }
    done_.notify_all();
  }

  net::Response check() {
    // The driver's text names hosts and users: it goes to the log, not to whoever asks.
    if (Status s = store_.ping(); !s) {
      if (auto left_out = log_.admit()) {
        spdlog::warn("[Health] Not ready: database unavailable: {}{}", s.message(),
                     log_.suffix(*left_out));
      }
      return not_ready("database unavailable");
    }
    auto status = store::migration_status(pool_);
    if (!status) {
      if (auto left_out = log_.admit()) {
        spdlog::warn("[Health] Not ready: cannot read migrations: {}{}", status.error().message,
                     log_.suffix(*left_out));
      }
      return not_ready("database unavailable");
    }
    if (!status->current()) {
      return not_ready(
          fmt::format("{} migration(s) pending: run `insightd migrate`", status->pending.size()));
    }
    return net::json_response(net::http::status::ok,
                              {{"status", "ready"},
                               {"database", store_.backend()},
                               {"migrations", static_cast<int64_t>(status->applied.size())}});
  }

  store::Store& store_;
  store::ConnectionPool& pool_;
  const HealthOptions options_;
  obs::LogThrottle log_;
  std::mutex mu_;
  std::condition_variable done_;  // a check finished
  std::optional<net::Response> cached_;
  Clock::time_point cached_at_;
  bool checking_ = false;
  Clock::time_point check_started_;
};

}  // namespace

void add_health_routes(net::Router& router, store::Store& store, store::ConnectionPool& pool,
                       HealthOptions options) {
  router.add(net::http::verb::get, "/healthz", net::RouteKind::kInline,
             [](const net::Request&, const net::PathParams&) {
               return net::json_response(net::http::status::ok, {{"status", "ok"}});
             });
  // Touches the database (at most once per cache_for), so it runs on the blocking pool.
  auto readiness = std::make_shared<Readiness>(store, pool, std::move(options));
  router.add(
      net::http::verb::get, "/readyz", net::RouteKind::kBlocking,
      [readiness](const net::Request&, const net::PathParams&) { return readiness->answer(); });
}

}  // namespace insightd::api
