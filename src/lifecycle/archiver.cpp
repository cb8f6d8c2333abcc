#include "lifecycle/archiver.h"

#include <spdlog/spdlog.h>

#include <limits>
#include <vector>

#include "obs/metrics.h"
#include "runtime/node_name.h"

namespace insightd::lifecycle {

namespace {
constexpr std::string_view kLeaseName = "archiver";
}  // namespace

struct Archiver::Meters {
  obs::Counter& batches;
  obs::Counter& events;
  obs::Counter& raw_bytes;
  obs::Counter& stored_bytes;
};

Archiver::Archiver(store::Store& store, const WaitClock& clock, ArchiverOptions options,
                   obs::Registry* metrics)
    : store_(store),
      clock_(clock),
      options_(std::move(options)),
      task_(
          options_.every, [this] { (void)run_once(); }, clock) {
  if (options_.owner.empty()) options_.owner = runtime::node_name();
  if (metrics != nullptr) {
    meters_ = std::make_unique<Meters>(Meters{
        .batches = metrics
                       ->counter("insightd_archive_batches_total",
                                 "Batches whose events this node moved to the archive.")
                       .with({}),
        .events =
            metrics
                ->counter("insightd_archive_events_total", "Events this node moved to the archive.")
                .with({}),
        .raw_bytes = metrics
                         ->counter("insightd_archive_raw_bytes_total",
                                   "Uncompressed bytes of the events archived by this node.")
                         .with({}),
        .stored_bytes = metrics
                            ->counter("insightd_archive_stored_bytes_total",
                                      "Compressed bytes stored for the events archived by this "
                                      "node.")
                            .with({})});
  }
}

Archiver::~Archiver() {
  stop();
}

void Archiver::stop() {
  stopping_ = true;
  task_.stop();
  (void)store_.outbox().release_lease(kLeaseName, options_.owner);
}

bool Archiver::renew_lease() {
  const Timestamp now = clock_.now();
  auto held = store_.outbox().take_lease(kLeaseName, options_.owner, now, now + options_.lease);
  if (!held) {
    spdlog::warn("[Archive] Cannot take the archiver lease: {}", held.error().message);
    return false;
  }
  return *held;
}

Result<ArchivePass> Archiver::run_once(
    bool dry_run,
    const std::function<void(const store::ArchiveCandidate&, const store::ArchivedBatchInfo*)>&
        each) {
  ArchivePass pass;
  const Timestamp cutoff = clock_.now() - options_.after;
  if (dry_run) {
    // Everything a pass would take now, read in one go (a list, not a move).
    auto all = store_.archive().candidates(cutoff, std::numeric_limits<int32_t>::max());
    if (!all) return all.error();
    for (const auto& c : *all) {
      ++pass.batches;
      pass.events += c.event_count;
      if (each) each(c, nullptr);
    }
    return pass;
  }
  if (!renew_lease()) {
    pass.lease_held_elsewhere = true;
    return pass;
  }
  while (!stopping_) {
    auto candidates = store_.archive().candidates(cutoff, options_.batches_per_step);
    if (!candidates) {
      (void)store_.outbox().release_lease(kLeaseName, options_.owner);
      return candidates.error();
    }
    if (candidates->empty()) break;
    std::vector<std::string> ids;
    ids.reserve(candidates->size());
    for (const auto& c : *candidates) ids.push_back(c.batch_id);
    auto moved = store_.archive().archive(ids, cutoff, clock_.now());
    if (!moved) {
      spdlog::warn("[Archive] A step failed (the next pass tries again): {}",
                   moved.error().message);
      (void)store_.outbox().release_lease(kLeaseName, options_.owner);
      return moved.error();
    }
    for (const store::ArchivedBatchInfo& info : *moved) {
      ++pass.batches;
      pass.events += info.event_count;
      pass.raw_bytes += info.raw_bytes;
      pass.stored_bytes += info.stored_bytes;
      if (meters_) {
        meters_->batches.inc();
        meters_->events.inc(static_cast<uint64_t>(info.event_count));
        meters_->raw_bytes.inc(static_cast<uint64_t>(info.raw_bytes));
        meters_->stored_bytes.inc(static_cast<uint64_t>(info.stored_bytes));
      }
      if (each) {
        for (const auto& c : *candidates) {
          if (c.batch_id == info.batch_id) each(c, &info);
        }
      }
    }
    // Candidates that did not move (taken meanwhile): the next pass sees them.
    if (moved->empty()) break;
    if (!renew_lease()) break;
  }
  // Held only during a pass: `insightd archive` beside a running node waits
  // for nothing but a pass in progress.
  (void)store_.outbox().release_lease(kLeaseName, options_.owner);
  if (pass.batches > 0) {
    spdlog::info("[Archive] Archived {} batches ({} events, {} bytes compressed to {})",
                 pass.batches, pass.events, pass.raw_bytes, pass.stored_bytes);
  }
  return pass;
}

}  // namespace insightd::lifecycle
