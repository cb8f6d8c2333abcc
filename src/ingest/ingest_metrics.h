// What ingestion tells GET /metrics: events stored (by front door and status),
// events refused (by front door and the code the client was sent) and the ack
// latency, and the writer's commits (by path, and their time). Every labelled series is made once,
// at construction, so recording a call's outcomes costs a few relaxed atomic additions: no lock, no
// allocation, fit for the tens of thousands of events a second the writer commits.
#pragma once

#include <array>
#include <chrono>
#include <optional>
#include <span>
#include <string_view>

#include "ingest/ingest_service.h"
#include "obs/metrics.h"

namespace insightd::ingest {

class IngestMetrics {
 public:
  // Registers insightd_events_ingested_total, insightd_events_rejected_total
  // and insightd_ingest_ack_latency_seconds. `registry` must outlive this.
  explicit IngestMetrics(obs::Registry& registry);

  // One ingest() call's outcomes. `ack_latency`: from the hand-over to the
  // ingest service until the commit returned, for the events that commit
  // stored or found stored (one observation per event); nullopt when no commit
  // answered (everything refused, queue full, database down).
  void record(Transport from, std::span<const EventOutcome> outcomes,
              std::optional<std::chrono::steady_clock::duration> ack_latency) noexcept;

  // One commit of the group-commit writer: how it reached the database and
  // how long it took (failed commits count only their time).
  void record_commit(std::optional<store::AppendPath> path,
                     std::chrono::steady_clock::duration took) noexcept;

  // One event refused with `code` before validation.
  void record_rejected(Transport from, std::string_view code) noexcept;

  // A Socket.IO connection stopped (true) or resumed (false) reading because too
  // many of its events waited for their commit.
  void record_reading_paused(bool paused) noexcept;

  // The codes counted by name: every validation code, and the two retryable
  // refusals ("overloaded", "shutting_down", "unavailable"). Anything else counts as "other".
  static std::span<const std::string_view> known_codes();

 private:
  static constexpr size_t kCodes = 18;  // known_codes() and "other", last

  struct Door {
    obs::Counter* ok = nullptr;
    obs::Counter* duplicate = nullptr;
    std::array<obs::Counter*, kCodes> rejected{};
    obs::Histogram* ack_latency = nullptr;
  };

  Door& door(Transport t) { return doors_[t == Transport::kHttp ? 0 : 1]; }
  static size_t code_index(std::string_view code);

  std::array<Door, 2> doors_;
  std::array<obs::Counter*, 3> commits_{};  // by store::AppendPath
  obs::Histogram* commit_seconds_ = nullptr;
  obs::Counter* pauses_ = nullptr;
  obs::Gauge* paused_ = nullptr;
};

}  // namespace insightd::ingest
