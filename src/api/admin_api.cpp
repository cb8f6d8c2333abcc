#include "api/admin_api.h"

#include <spdlog/spdlog.h>

#include <boost/json.hpp>
#include <charconv>
#include <map>
#include <optional>

#include "auth/auth_routes.h"

namespace insightd::api {
namespace {

namespace http = net::http;
using boost::json::array;
using boost::json::object;
using boost::json::value;

constexpr size_t kDefaultLimit = 50;
constexpr size_t kMaxLimit = 500;
constexpr size_t kMaxBatchEvents = 1000;

// ?limit=N within 1..kMaxLimit; nullopt (→ 400) for anything else.
std::optional<size_t> limit_of(const std::map<std::string, std::string>& q,
                               size_t fallback = kDefaultLimit, size_t max = kMaxLimit) {
  auto it = q.find("limit");
  if (it == q.end()) return fallback;
  size_t n = 0;
  const auto& s = it->second;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
  if (ec != std::errc() || end != s.data() + s.size() || n == 0 || n > max) return std::nullopt;
  return n;
}

std::optional<std::string> param(const std::map<std::string, std::string>& q,
                                 const std::string& key) {
  auto it = q.find(key);
  if (it == q.end() || it->second.empty()) return std::nullopt;
  return it->second;
}

net::Response bad_request(std::string_view message) {
  return net::error_response(http::status::bad_request, "invalid_argument", message);
}

net::Response failed(const Error& e) {
  if (e.code == ErrorCode::kInternal || e.code == ErrorCode::kUnavailable) {
    spdlog::warn("[Admin API] {}", e.message);
  }
  return net::error_response(e);
}

value time_or_null(const std::optional<Timestamp>& t) {
  return t ? value(format_timestamp(*t)) : value(nullptr);
}

template <typename T>
value or_null(const std::optional<T>& v) {
  return v ? value(*v) : value(nullptr);
}

// A stored JSON text as JSON (an unreadable one as null: never fail a listing).
value parsed(std::string_view text) {
  boost::system::error_code ec;
  value v = boost::json::parse(text, ec);
  return ec ? value(nullptr) : v;
}

object batch_json(const Batch& b) {
  return {{"batchId", b.batch_id},
          {"status", to_string(b.status)},
          {"eventCount", b.event_count},
          {"createdAt", format_timestamp(b.created_at)},
          {"firstEventAt", time_or_null(b.first_event_at)},
          {"sealedAt", time_or_null(b.sealed_at)},
          {"sealReason", b.seal_reason ? value(to_string(*b.seal_reason)) : value(nullptr)},
          {"analyzedAt", time_or_null(b.analyzed_at)},
          {"archivedAt", time_or_null(b.archived_at)},
          {"updatedAt", format_timestamp(b.updated_at)}};
}

object archive_json(const store::ArchivedBatchInfo& a) {
  return {{"archived", a.archived()},
          {"codec", a.codec},
          {"eventCount", a.event_count},
          {"rawBytes", a.raw_bytes},
          {"storedBytes", a.stored_bytes},
          {"checksum", a.checksum},
          {"archivedAt", format_timestamp(a.archived_at)},
          {"restoredAt", time_or_null(a.restored_at)},
          {"eventsDeletedAt", time_or_null(a.deleted_at)}};
}

object job_json(const Job& j) {
  return {{"jobId", j.job_id},
          {"batchId", j.batch_id},
          {"status", to_string(j.status)},
          {"trigger", to_string(j.trigger)},
          {"attemptCount", j.attempt_count},
          {"maxAttempts", j.max_attempts},
          {"crashCount", j.crash_count},
          {"runAfter", format_timestamp(j.run_after)},
          {"leaseOwner", or_null(j.lease_owner)},
          {"leaseExpiresAt", time_or_null(j.lease_expires_at)},
          {"lastError", or_null(j.last_error)},
          {"errors", parsed(j.errors_json)},
          {"createdAt", format_timestamp(j.created_at)},
          {"updatedAt", format_timestamp(j.updated_at)},
          {"startedAt", time_or_null(j.started_at)},
          {"finishedAt", time_or_null(j.finished_at)},
          {"durationMs", or_null(j.duration_ms)}};
}

object insight_json(const store::Insight& i) {
  const store::NewInsight& c = i.content;
  return {{"insightId", i.insight_id},
          {"batchId", i.batch_id},
          {"jobId", i.job_id},
          {"summary", c.summary},
          {"confidence", c.confidence},
          {"patterns", parsed(c.patterns_json)},
          {"recommendations", parsed(c.recommendations_json)},
          {"anomalies", parsed(c.anomalies_json)},
          {"statistics", parsed(c.statistics_json)},
          {"analyzer", c.analyzer},
          {"model", or_null(c.model)},
          {"promptTokens", c.prompt_tokens},
          {"completionTokens", c.completion_tokens},
          {"latencyMs", c.latency_ms},
          {"createdAt", format_timestamp(i.created_at)}};
}

object dead_letter_json(const store::DeadLetter& d) {
  return {{"dlqId", d.dlq_id},
          {"jobId", d.job_id},
          {"batchId", d.batch_id},
          {"attemptCount", d.attempt_count},
          {"lastError", or_null(d.last_error)},
          {"errors", parsed(d.errors_json)},
          {"failedAt", format_timestamp(d.failed_at)},
          {"redrivenAt", time_or_null(d.redriven_at)},
          {"redrivenJobId", or_null(d.redriven_job_id)}};
}

}  // namespace

namespace {

net::Response ok(const object& body, http::status status = http::status::ok) {
  return net::json_response(status, body);
}

}  // namespace

Result<object> pipeline_metrics(store::Store& store, const std::string& breaker_name,
                                Timestamp now) {
  auto jobs = store.jobs().count_by_status();
  if (!jobs) return jobs.error();
  auto batches = store.batches().count_by_status();
  if (!batches) return batches.error();
  auto dlq = store.dead_letters().count();
  if (!dlq) return dlq.error();
  auto dlq_waiting = store.dead_letters().count_waiting();
  if (!dlq_waiting) return dlq_waiting.error();
  auto outbox = store.outbox().count_pending();
  if (!outbox) return outbox.error();
  auto breaker = store.breakers().load(breaker_name, now);
  if (!breaker) return breaker.error();
  auto oldest = store.jobs().oldest_pending_created_at();
  if (!oldest) return oldest.error();
  auto minute = store.events().activity(now - std::chrono::minutes(1));
  if (!minute) return minute.error();
  auto total = store.events().count();
  if (!total) return total.error();

  auto count = [](const auto& by, auto status) -> int64_t {
    auto it = by.find(status);
    return it == by.end() ? 0 : it->second;
  };
  object job_counts{{"pending", count(*jobs, JobStatus::kPending)},
                    {"running", count(*jobs, JobStatus::kRunning)},
                    {"success", count(*jobs, JobStatus::kSuccess)},
                    {"dead", count(*jobs, JobStatus::kDead)}};
  job_counts["oldestPendingAgeMs"] =
      *oldest ? value(std::max<int64_t>(0, (now - **oldest).count())) : value(nullptr);
  return object{{"jobs", std::move(job_counts)},
                {"batches",
                 {{"open", count(*batches, BatchStatus::kOpen)},
                  {"sealed", count(*batches, BatchStatus::kSealed)},
                  {"analyzed", count(*batches, BatchStatus::kAnalyzed)},
                  {"archived", count(*batches, BatchStatus::kArchived)}}},
                {"circuit_breaker",
                 {{"state", to_string(breaker->state)},
                  {"failureCount", breaker->failure_count},
                  {"changedAt", format_timestamp(breaker->changed_at)},
                  {"openUntil", time_or_null(breaker->open_until)}}},
                {"dead_letter_queue", {{"total", *dlq}, {"waiting", *dlq_waiting}}},
                {"events",
                 {{"total", *total},
                  {"lastMinute", minute->received_since},
                  {"perSecond", static_cast<double>(minute->received_since) / 60.0},
                  {"lastReceivedAt", time_or_null(minute->last_received_at)}}},
                {"outbox", {{"pending", *outbox}}},
                {"generatedAt", format_timestamp(now)}};
}

Result<object> shared_pipeline_metrics(store::Store& store, const std::string& breaker_name,
                                       Timestamp now, SharedCache* cache, Millis ttl) {
  const std::string name = "metrics:" + breaker_name;
  if (cache != nullptr) {
    if (auto hit = cache->get(name)) {
      boost::system::error_code ec;
      boost::json::value v = boost::json::parse(*hit, ec);
      if (!ec && v.is_object()) return std::move(v.as_object());
    }
  }
  auto computed = pipeline_metrics(store, breaker_name, now);
  if (computed && cache != nullptr) cache->put(name, boost::json::serialize(*computed), ttl);
  return computed;
}

void add_admin_routes(net::Router& router, auth::AuthService& auth, store::Store& store,
                      const Clock& clock, const AdminApiOptions& options) {
  using verb = http::verb;
  auto route = [&](verb method, std::string_view pattern, auth::AdminHandler handler) {
    auth::add_admin_route(router, auth, method, pattern, std::move(handler));
  };
  auto wake = [wake = options.wake_workers] {
    if (wake) wake();
  };

  route(verb::get, "/api/insights",
        [&store](const net::Request& req, const net::PathParams&, const auth::Principal&) {
          const auto q = net::query_params(req);
          const auto limit = limit_of(q);
          if (!limit) return bad_request("limit must be a whole number from 1 to 500");
          auto rows = store.insights().list(*limit + 1, param(q, "cursor"), param(q, "batchId"));
          if (!rows) return failed(rows.error());
          array items;
          for (size_t i = 0; i < rows->size() && i < *limit; ++i) {
            items.push_back(insight_json((*rows)[i]));
          }
          const value next =
              rows->size() > *limit ? value((*rows)[*limit - 1].insight_id) : value(nullptr);
          return ok({{"insights", std::move(items)}, {"nextCursor", next}});
        });

  route(verb::get, "/api/admin/metrics",
        [&store, &clock, name = options.breaker_name, cache = options.cache](
            const net::Request&, const net::PathParams&, const auth::Principal&) {
          auto m = shared_pipeline_metrics(store, name, clock.now(), cache);
          if (!m) return failed(m.error());
          return ok(*m);
        });

  route(verb::get, "/api/admin/batches",
        [&store](const net::Request& req, const net::PathParams&, const auth::Principal&) {
          const auto q = net::query_params(req);
          const auto limit = limit_of(q);
          if (!limit) return bad_request("limit must be a whole number from 1 to 500");
          std::optional<BatchStatus> status;
          if (auto s = param(q, "status")) {
            status = parse_batch_status(*s);
            if (!status) return bad_request("status must be OPEN, SEALED, ANALYZED or ARCHIVED");
          }
          auto page = store.batches().list(status, *limit, param(q, "cursor"));
          if (!page) return failed(page.error());
          array items;
          for (const Batch& b : page->batches) items.push_back(batch_json(b));
          return ok({{"batches", std::move(items)}, {"nextCursor", or_null(page->next_cursor)}});
        });

  route(verb::get, "/api/admin/batches/{id}",
        [&store](const net::Request& req, const net::PathParams& p, const auth::Principal&) {
          const auto q = net::query_params(req);
          std::map<std::string, std::string> limit_q;
          if (auto l = param(q, "eventLimit")) limit_q["limit"] = *l;
          const auto limit = limit_of(limit_q, kMaxBatchEvents, kMaxBatchEvents);
          if (!limit) return bad_request("eventLimit must be a whole number from 1 to 1000");
          const std::string id(p.get("id"));
          auto batch = store.batches().get(id);
          if (!batch) return failed(batch.error());
          if (!*batch) {
            return net::error_response(http::status::not_found, "not_found", "no batch " + id);
          }
          auto archive = store.archive().info(id);
          if (!archive) return failed(archive.error());
          object body{{"batch", batch_json(**batch)},
                      {"archive", *archive ? value(archive_json(**archive)) : value(nullptr)}};
          array items;
          if (*archive && (*archive)->events_deleted()) {
            body["eventsError"] =
                fmt::format("the archived events were deleted on {} (ARCHIVE_DELETE_AFTER_DAYS)",
                            format_timestamp(*(*archive)->deleted_at));
          } else if (*archive && (*archive)->archived()) {
            // Decompressed on demand; a corrupt archive is said, not shown.
            auto events = store.archive().events(id);
            if (!events) {
              spdlog::warn("[Admin API] Batch {}: {}", id, events.error().message);
              body["eventsError"] = events.error().message;
            } else {
              for (const StoredEvent& e : *events) {
                if (items.size() >= *limit) break;
                items.push_back(event_json(e));
              }
            }
          } else {
            auto events = store.events().batch_events(id, *limit);
            if (!events) return failed(events.error());
            for (const StoredEvent& e : *events) items.push_back(event_json(e));
          }
          body["events"] = std::move(items);
          return ok(body);
        });

  route(verb::post, "/api/admin/batches/{id}/restore",
        [&store, &clock](const net::Request&, const net::PathParams& p, const auth::Principal&) {
          const std::string id(p.get("id"));
          auto info = store.archive().info(id);
          if (!info) return failed(info.error());
          if (Status st = store.archive().restore(id, clock.now()); !st) {
            if (*info && (*info)->events_deleted()) {
              return net::error_response(http::status::conflict, "archive_deleted", st.message());
            }
            if (st.code() == ErrorCode::kInternal) {
              // A corrupt archive: the batch stays archived; say why.
              spdlog::warn("[Admin API] Restore of batch {} refused: {}", id, st.message());
              return net::error_response(http::status::conflict, "archive_corrupt", st.message());
            }
            return failed(st.error());
          }
          const int64_t count = *info ? (*info)->event_count : 0;
          spdlog::info("[Admin API] Batch {} restored by hand ({} events)", id, count);
          return ok({{"batchId", id}, {"restoredEvents", count}});
        });

  route(verb::post, "/api/admin/batches/{id}/seal",
        [&store, &clock, policy = options.policy, wake](
            const net::Request&, const net::PathParams& p, const auth::Principal&) {
          auto sealed = store.batches().seal(p.get("id"), SealReason::kManual, policy, clock.now());
          if (!sealed) return failed(sealed.error());
          wake();
          spdlog::info("[Admin API] Sealed batch {} by hand ({} events); created job {}",
                       sealed->batch_id, sealed->event_count, sealed->job_id);
          return ok({{"batchId", sealed->batch_id},
                     {"eventCount", sealed->event_count},
                     {"jobId", sealed->job_id}});
        });

  route(verb::post, "/api/admin/batches/{id}/analyze",
        [&store, &clock, policy = options.policy, wake](
            const net::Request&, const net::PathParams& p, const auth::Principal&) {
          auto job = store.jobs().create(p.get("id"), JobTrigger::kManual, policy, clock.now());
          if (!job) return failed(job.error());
          wake();
          spdlog::info("[Admin API] Analysis of batch {} triggered by hand: job {}", job->batch_id,
                       job->job_id);
          return ok({{"message", "Analysis triggered successfully"}, {"job", job_json(*job)}},
                    http::status::accepted);
        });

  route(verb::get, "/api/admin/jobs",
        [&store](const net::Request& req, const net::PathParams&, const auth::Principal&) {
          const auto q = net::query_params(req);
          const auto limit = limit_of(q);
          if (!limit) return bad_request("limit must be a whole number from 1 to 500");
          std::optional<JobStatus> status;
          if (auto s = param(q, "status")) {
            status = parse_job_status(*s);
            if (!status) return bad_request("status must be PENDING, RUNNING, SUCCESS or DEAD");
          }
          auto jobs = store.jobs().list(status, *limit);
          if (!jobs) return failed(jobs.error());
          array items;
          for (const Job& j : *jobs) items.push_back(job_json(j));
          return ok({{"jobs", std::move(items)}});
        });

  route(verb::get, "/api/admin/jobs/{id}",
        [&store](const net::Request&, const net::PathParams& p, const auth::Principal&) {
          auto job = store.jobs().get(p.get("id"));
          if (!job) return failed(job.error());
          if (!*job) {
            return net::error_response(http::status::not_found, "not_found",
                                       "no job " + std::string(p.get("id")));
          }
          return ok({{"job", job_json(**job)}});
        });

  route(verb::get, "/api/admin/dlq",
        [&store](const net::Request& req, const net::PathParams&, const auth::Principal&) {
          const auto limit = limit_of(net::query_params(req));
          if (!limit) return bad_request("limit must be a whole number from 1 to 500");
          auto items = store.dead_letters().list(*limit);
          if (!items) return failed(items.error());
          auto total = store.dead_letters().count();
          if (!total) return failed(total.error());
          array out;
          for (const auto& d : *items) out.push_back(dead_letter_json(d));
          return ok({{"deadLetters", std::move(out)}, {"total", *total}});
        });

  route(verb::post, "/api/admin/dlq/{id}/retry",
        [&store, &clock, policy = options.policy, wake](
            const net::Request&, const net::PathParams& p, const auth::Principal&) {
          auto job = store.dead_letters().redrive(p.get("id"), policy, clock.now());
          if (!job) return failed(job.error());
          wake();
          spdlog::info("[Admin API] Redrove dead letter {}: job {} for batch {}", p.get("id"),
                       job->job_id, job->batch_id);
          return ok({{"job", job_json(*job)}}, http::status::accepted);
        });

  route(verb::delete_, "/api/admin/dlq/{id}",
        [&store](const net::Request&, const net::PathParams& p, const auth::Principal&) {
          if (Status s = store.dead_letters().discard(p.get("id")); !s) return failed(s.error());
          spdlog::info("[Admin API] Discarded dead letter {}", p.get("id"));
          return ok({{"ok", true}, {"dlqId", std::string(p.get("id"))}});
        });

  route(verb::get, "/api/admin/events",
        [&store](const net::Request& req, const net::PathParams&, const auth::Principal&) {
          const auto limit = limit_of(net::query_params(req));
          if (!limit) return bad_request("limit must be a whole number from 1 to 500");
          auto events = store.events().recent(*limit);
          if (!events) return failed(events.error());
          array items;
          for (const StoredEvent& e : *events) items.push_back(event_json(e));
          return ok({{"events", std::move(items)}});
        });

  route(verb::get, "/api/admin/events/per-minute",
        [&store, &clock](const net::Request& req, const net::PathParams&, const auth::Principal&) {
          const auto q = net::query_params(req);
          size_t minutes = 60;
          if (auto m = q.find("minutes"); m != q.end()) {
            const auto& s = m->second;
            auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), minutes);
            if (ec != std::errc() || end != s.data() + s.size() || minutes == 0 || minutes > 1440) {
              return bad_request("minutes must be a whole number from 1 to 1440");
            }
          }
          // Every minute of the window, the current one last, zero where none came.
          const auto last = std::chrono::floor<std::chrono::minutes>(clock.now());
          const Timestamp first = last - std::chrono::minutes(minutes - 1);
          auto counts = store.events().per_minute(first);
          if (!counts) return failed(counts.error());
          array items;
          items.reserve(minutes);
          size_t next = 0;
          for (Timestamp m = first; m <= last; m += std::chrono::minutes(1)) {
            int64_t n = 0;
            while (next < counts->size() && (*counts)[next].first < m) ++next;
            if (next < counts->size() && (*counts)[next].first == m) n = (*counts)[next].second;
            items.push_back(object{{"minute", format_timestamp(m)}, {"count", n}});
          }
          return ok({{"minutes", std::move(items)}});
        });
}

}  // namespace insightd::api
