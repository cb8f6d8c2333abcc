#include "ingest/ingest_metrics.h"

#include <algorithm>

#include "core/event_validation.h"

namespace insightd::ingest {
namespace {

constexpr std::array<std::string_view, 17> kKnownCodes{event_error::kInvalidJson,
                                                       event_error::kInvalidEvent,
                                                       event_error::kInvalidEventType,
                                                       event_error::kInvalidEventId,
                                                       event_error::kInvalidUserId,
                                                       event_error::kInvalidSessionId,
                                                       event_error::kInvalidTimestamp,
                                                       event_error::kInvalidMetadata,
                                                       event_error::kMetadataTooLarge,
                                                       event_error::kMetadataTooDeep,
                                                       event_error::kEventTooLarge,
                                                       event_error::kNotStorable,
                                                       event_error::kTooManyEvents,
                                                       "overloaded",
                                                       "rate_limited",
                                                       "shutting_down",
                                                       "unavailable"};
constexpr std::string_view kOtherCode = "other";

// A commit takes about a millisecond; a loaded database, hundreds. SPEC §13
// asks p99 <= 5 ms at 5,000 events/s, so the low buckets are fine-grained.
constexpr std::array<double, 12> kAckBuckets{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                             0.05,   0.1,   0.25,   0.5,   1,    2.5};

}  // namespace

std::span<const std::string_view> IngestMetrics::known_codes() {
  return kKnownCodes;
}

size_t IngestMetrics::code_index(std::string_view code) {
  const auto it = std::find(kKnownCodes.begin(), kKnownCodes.end(), code);
  return static_cast<size_t>(it - kKnownCodes.begin());  // kKnownCodes.size(): "other"
}

IngestMetrics::IngestMetrics(obs::Registry& registry) {
  static_assert(kCodes == kKnownCodes.size() + 1);
  auto& ingested = registry.counter(
      "insightd_events_ingested_total",
      "Events acknowledged as durably stored, by front door and status (ok: stored now; "
      "duplicate: its eventId was stored before).",
      {"transport", "status"});
  auto& rejected = registry.counter(
      "insightd_events_rejected_total",
      "Events not stored, by front door and the code sent to the client: validation codes "
      "(never retried), overloaded and unavailable (retryable).",
      {"transport", "code"});
  auto& latency = registry.histogram(
      "insightd_ingest_ack_latency_seconds",
      "Time from an event's hand-over to ingestion until its commit returned and its ack was "
      "ready, one observation per committed event.",
      {"transport"}, std::vector<double>(kAckBuckets.begin(), kAckBuckets.end()));
  auto& commits = registry.counter(
      "insightd_ingest_commits_total",
      "Transactions of the group-commit writer, by how they reached the database: "
      "one_round_trip (PostgreSQL, the open batch known from the last commit), two_round_trips "
      "(PostgreSQL, one statement locks the open batch and inserts), chunked (SQLite, and "
      "PostgreSQL after a duplicate).",
      {"path"});
  for (store::AppendPath p : {store::AppendPath::kChunked, store::AppendPath::kTwoRoundTrips,
                              store::AppendPath::kOneRoundTrip}) {
    commits_[static_cast<size_t>(p)] = &commits.with({store::to_string(p)});
  }
  commit_seconds_ = &registry
                         .histogram("insightd_ingest_commit_seconds",
                                    "Time the group-commit writer spent on one transaction, "
                                    "from sending it to its result (failed ones too).",
                                    {}, std::vector<double>(kAckBuckets.begin(), kAckBuckets.end()))
                         .with({});
  pauses_ = &registry
                 .counter("insightd_socketio_reading_paused_total",
                          "Times a Socket.IO connection stopped reading because too many of its "
                          "events waited for their commit (backpressure).",
                          {})
                 .with({});
  paused_ = &registry
                 .gauge("insightd_socketio_connections_paused",
                        "Socket.IO connections not read from now, until their waiting events "
                        "are committed.",
                        {})
                 .with({});
  for (Transport t : {Transport::kHttp, Transport::kSocketIo}) {
    const std::string_view name = to_string(t);
    Door& d = door(t);
    d.ok = &ingested.with({name, "ok"});
    d.duplicate = &ingested.with({name, "duplicate"});
    for (size_t i = 0; i < kKnownCodes.size(); ++i)
      d.rejected[i] = &rejected.with({name, kKnownCodes[i]});
    d.rejected[kKnownCodes.size()] = &rejected.with({name, kOtherCode});
    d.ack_latency = &latency.with({name});
  }
}

void IngestMetrics::record_reading_paused(bool paused) noexcept {
  if (paused) pauses_->inc();
  paused_->add(paused ? 1 : -1);
}

void IngestMetrics::record(
    Transport from, std::span<const EventOutcome> outcomes,
    std::optional<std::chrono::steady_clock::duration> ack_latency) noexcept {
  Door& d = door(from);
  uint64_t ok = 0, duplicate = 0;
  for (const EventOutcome& o : outcomes) {
    switch (o.status) {
      case EventStatus::kOk:
        ++ok;
        break;
      case EventStatus::kDuplicate:
        ++duplicate;
        break;
      case EventStatus::kRejected:
      case EventStatus::kUnavailable:
        d.rejected[code_index(o.code)]->inc();
        break;
    }
  }
  if (ok > 0) d.ok->inc(ok);
  if (duplicate > 0) d.duplicate->inc(duplicate);
  if (ack_latency && ok + duplicate > 0) {
    d.ack_latency->observe(std::chrono::duration<double>(*ack_latency).count(), ok + duplicate);
  }
}

void IngestMetrics::record_commit(std::optional<store::AppendPath> path,
                                  std::chrono::steady_clock::duration took) noexcept {
  if (path) commits_[static_cast<size_t>(*path)]->inc();
  commit_seconds_->observe(std::chrono::duration<double>(took).count());
}

void IngestMetrics::record_rejected(Transport from, std::string_view code) noexcept {
  door(from).rejected[code_index(code)]->inc();
}

}  // namespace insightd::ingest
