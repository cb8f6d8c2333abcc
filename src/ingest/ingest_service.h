// IngestService: what both front doors (Socket.IO `user:event`/`user:events` and
// HTTP POST /api/events) share: write-key check, validation of each event, and
// hand-off to the GroupCommitWriter. Never blocks; the callback fires once per
// call, after the commit, with one outcome per input event in input order.
#pragma once

#include <boost/json/value.hpp>
#include <chrono>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/event_validation.h"
#include "core/time.h"
#include "ingest/group_commit_writer.h"
#include "net/rate_limiter.h"

namespace insightd::ingest {

enum class EventStatus {
  kOk,           // stored now
  kDuplicate,    // stored before; not stored again
  kRejected,     // invalid; will never be stored as sent
  kUnavailable,  // not stored: the server is overloaded or the database is down; retry
};
std::string_view to_string(EventStatus s);

// The front door an event came through (a metrics label: "http", "socketio").
enum class Transport { kHttp, kSocketIo };
std::string_view to_string(Transport t);

class IngestMetrics;  // ingest/ingest_metrics.h

struct EventOutcome {
  std::string event_id;
  EventStatus status = EventStatus::kOk;
  std::string batch_id;                  // ok and duplicate
  std::optional<Timestamp> received_at;  // ok and duplicate
  std::string code;                      // rejected and unavailable
  std::string message;                   // rejected and unavailable
  std::optional<Millis> retry_after;     // rate_limited: when to send it again
  // {eventId, status, batchId, receivedAt} or {eventId, code, message[, retryAfterMs]}.
  boost::json::object to_json() const;
};

class IngestService {
 public:
  using Done = std::function<void(std::vector<EventOutcome>)>;

  // `write_keys` empty: ingestion is open. `metrics` (optional) counts every
  // outcome and the ack latency; it must outlive the service.
  IngestService(GroupCommitWriter& writer, const Clock& clock, std::vector<std::string> write_keys,
                IngestMetrics* metrics = nullptr);

  // True when ingestion is open or `key` is one of the write keys (compared in
  // constant time).
  bool authorized(std::optional<std::string_view> key) const;
  bool open() const { return write_keys_.empty(); }

  // INGEST_RATE_LIMIT: events per second per write key (all events together
  // while ingestion is open). Over it, events are answered `rate_limited`
  // (retryable, with when to retry) and not stored. Set before ingesting;
  // `limiter` must outlive the service.
  void limit_rate(net::KeyedRateLimiter& limiter) { rate_limiter_ = &limiter; }
  // The rate limiter's key for a write key: a digest, so that the key itself
  // never leaves the process (Redis sees only this).
  std::string rate_key(std::optional<std::string_view> write_key) const;

  // Validates and queues `events`; `done` runs once: on the writer's answering
  // thread after the commit, on its watchdog thread when the commit outlives
  // INGEST_COMMIT_TIMEOUT_MS (a retryable answer), or at once on this thread when
  // nothing needs the database (all rejected) or the queue is full.
  // Outcomes are counted (metrics) before `done` runs, so a client that has its
  // answer sees it counted.
  // `rate_key`: rate_key() of the sender's write key, for INGEST_RATE_LIMIT.
  void ingest(std::span<const boost::json::value> events, Transport from, Done done,
              const std::string& rate_key = {});
  // The same for events a front door validated itself (validate_event's
  // rules, at received_at = now()): the verdicts are taken from. The ack
  // latency counts from `handed_over` (when validation began).
  // `independent`: the verdicts are separate requests handed over together
  // (one per Socket.IO user:event of one read), and each is answered as if it
  // came alone: the rate limit takes them one by one, and an event the
  // database refuses is refused alone.
  void ingest_verdicts(
      std::span<EventVerdict> verdicts, Transport from, Done done, const std::string& rate_key = {},
      std::chrono::steady_clock::time_point handed_over = std::chrono::steady_clock::now(),
      bool independent = false);
  // The receive time to validate events at.
  Timestamp now() const { return clock_.now(); }

  // Counts an event a front door refused before it reached ingest() (a
  // Socket.IO payload that is not an event object), by the code it answered.
  void record_rejected(Transport from, std::string_view code);
  // Counts a connection that stopped (true) or resumed (false) reading.
  void record_reading_paused(bool paused);

 private:
  GroupCommitWriter& writer_;
  const Clock& clock_;
  std::vector<std::string> write_keys_;
  IngestMetrics* metrics_;
  net::KeyedRateLimiter* rate_limiter_ = nullptr;
};

}  // namespace insightd::ingest
