#include "ingest/ingest_service.h"

#include <fmt/format.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>

#include <boost/json.hpp>
#include <memory>

#include "core/event_validation.h"
#include "ingest/ingest_metrics.h"

namespace insightd::ingest {

std::string_view to_string(EventStatus s) {
  switch (s) {
    case EventStatus::kOk:
      return "ok";
    case EventStatus::kDuplicate:
      return "duplicate";
    case EventStatus::kRejected:
      return "rejected";
    case EventStatus::kUnavailable:
      return "unavailable";
  }
  return "?";
}

std::string_view to_string(Transport t) {
  return t == Transport::kHttp ? "http" : "socketio";
}

boost::json::object EventOutcome::to_json() const {
  boost::json::object o;
  o["eventId"] = event_id;
  o["status"] = to_string(status);
  if (status == EventStatus::kOk || status == EventStatus::kDuplicate) {
    o["batchId"] = batch_id;
    if (received_at) o["receivedAt"] = format_timestamp(*received_at);
  } else {
    o["code"] = code;
    o["message"] = message;
    if (retry_after) o["retryAfterMs"] = retry_after->count();
  }
  return o;
}

IngestService::IngestService(GroupCommitWriter& writer, const Clock& clock,
                             std::vector<std::string> write_keys, IngestMetrics* metrics)
    : writer_(writer), clock_(clock), write_keys_(std::move(write_keys)), metrics_(metrics) {}

void IngestService::record_rejected(Transport from, std::string_view code) {
  if (metrics_ != nullptr) metrics_->record_rejected(from, code);
}

void IngestService::record_reading_paused(bool paused) {
  if (metrics_ != nullptr) metrics_->record_reading_paused(paused);
}

bool IngestService::authorized(std::optional<std::string_view> key) const {
  if (write_keys_.empty()) return true;
  if (!key) return false;
  bool match = false;
  for (const auto& k : write_keys_) {
    // Length is not secret; contents are compared without early exit.
    if (k.size() == key->size() && CRYPTO_memcmp(k.data(), key->data(), k.size()) == 0)
      match = true;
  }
  return match;
}

std::string IngestService::rate_key(std::optional<std::string_view> write_key) const {
  if (open() || !write_key) return "open";
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(write_key->data()), write_key->size(), digest);
  std::string hex;
  for (size_t i = 0; i < 8; ++i) hex += fmt::format("{:02x}", digest[i]);
  return hex;
}

namespace {

// One ingest() call's answers while its events are committed: shared by the
// writer's callback and ingest() itself (which answers at once when the writer
// refuses them), so neither copies the caller's callback.
struct Pending {
  std::vector<EventOutcome> outcomes;
  std::vector<size_t> slots;  // outcome index of each accepted event
  IngestService::Done done;
};

}  // namespace

void IngestService::ingest(std::span<const boost::json::value> events, Transport from, Done done,
                           const std::string& rate_key) {
  const Timestamp received_at = clock_.now();
  const auto handed_over = std::chrono::steady_clock::now();  // ack latency runs from here
  std::vector<EventVerdict> verdicts;
  verdicts.reserve(events.size());
  for (const boost::json::value& event : events) {
    verdicts.push_back(validate_event(event, received_at));
  }
  ingest_verdicts(verdicts, from, std::move(done), rate_key, handed_over);
}

void IngestService::ingest_verdicts(std::span<EventVerdict> verdicts, Transport from, Done done,
                                    const std::string& rate_key,
                                    std::chrono::steady_clock::time_point handed_over,
                                    bool independent) {
  auto pending = std::make_shared<Pending>();
  pending->outcomes.resize(verdicts.size());
  pending->done = std::move(done);
  std::vector<EventOutcome>* const outcomes = &pending->outcomes;
  std::vector<size_t>& slots = pending->slots;
  std::vector<NewEvent> accepted;
  accepted.reserve(verdicts.size());
  for (size_t i = 0; i < verdicts.size(); ++i) {
    EventVerdict& verdict = verdicts[i];
    EventOutcome& out = (*outcomes)[i];
    if (!verdict) {
      out.event_id = verdict.rejection().event_id;
      out.status = EventStatus::kRejected;
      out.code = verdict.rejection().code;
      out.message = verdict.rejection().message;
      continue;
    }
    out.event_id = verdict.event().event_id;
    slots.push_back(i);
    accepted.push_back(std::move(verdict).event());
  }
  if (!accepted.empty() && rate_limiter_ != nullptr) {
    const std::string key = rate_key.empty() ? std::string("open") : rate_key;
    auto refuse = [&](size_t idx, std::chrono::milliseconds wait) {
      EventOutcome& out = (*outcomes)[idx];
      out.status = EventStatus::kUnavailable;
      out.code = "rate_limited";
      out.message = fmt::format(
          "the event was not stored: over INGEST_RATE_LIMIT ({} events/s per write key); "
          "send it again in {} ms",
          rate_limiter_->rate(), wait.count());
      out.retry_after = wait;
    };
    if (!independent) {
      if (auto wait = rate_limiter_->take(key, static_cast<double>(accepted.size()))) {
        for (size_t idx : slots) refuse(idx, *wait);
        accepted.clear();
      }
    } else {
      // One by one, as if each had come alone.
      size_t kept = 0;
      for (size_t k = 0; k < accepted.size(); ++k) {
        if (auto wait = rate_limiter_->take(key, 1)) {
          refuse(slots[k], *wait);
          continue;
        }
        slots[kept] = slots[k];
        if (kept != k) accepted[kept] = std::move(accepted[k]);
        ++kept;
      }
      slots.resize(kept);
      accepted.erase(accepted.begin() + static_cast<std::ptrdiff_t>(kept), accepted.end());
    }
  }
  if (accepted.empty()) {
    if (metrics_ != nullptr) metrics_->record(from, *outcomes, std::nullopt);
    pending->done(std::move(*outcomes));
    return;
  }
  auto finish = [pending, metrics = metrics_, from,
                 handed_over](Result<std::vector<store::AppendResult>> result) {
    std::vector<EventOutcome>* const outcomes = &pending->outcomes;
    const std::vector<size_t>& slots = pending->slots;
    for (size_t k = 0; k < slots.size(); ++k) {
      EventOutcome& out = (*outcomes)[slots[k]];
      if (!result && !is_retryable(result.code())) {
        // The writer isolated this submission: the database refuses its data.
        out.status = EventStatus::kRejected;
        out.code = event_error::kNotStorable;
        out.message =
            "the database refused this request's events; sending them again will not help";
        continue;
      }
      if (!result) {
        out.status = EventStatus::kUnavailable;
        out.code = "unavailable";
        out.message = "the event was not stored: the database is unavailable; retry later";
        continue;
      }
      store::AppendResult& r = (*result)[k];
      if (r.refused) {  // an independent event the database refused alone
        out.status = EventStatus::kRejected;
        out.code = event_error::kNotStorable;
        out.message = "the database refused this event; sending it again will not help";
        continue;
      }
      out.status = r.duplicate ? EventStatus::kDuplicate : EventStatus::kOk;
      out.batch_id = std::move(r.batch_id);
      out.received_at = r.received_at;
    }
    if (metrics != nullptr) {
      metrics->record(
          from, *outcomes,
          result ? std::optional(std::chrono::steady_clock::now() - handed_over) : std::nullopt);
    }
    pending->done(std::move(*outcomes));
  };
  if (!writer_.submit(std::move(accepted), std::move(finish), independent)) {
    const bool stopping = writer_.stopped();
    for (size_t idx : slots) {
      EventOutcome& out = (*outcomes)[idx];
      out.status = EventStatus::kUnavailable;
      out.code = stopping ? "shutting_down" : "overloaded";
      out.message = stopping ? "the event was not stored: this node is shutting down; send it again"
                             : "the event was not stored: the server is at capacity; retry shortly";
    }
    if (metrics_ != nullptr) metrics_->record(from, *outcomes, std::nullopt);
    pending->done(std::move(*outcomes));
  }
}

}  // namespace insightd::ingest
