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

Millis pause_after(std::chrono::steady_clock::duration step, double duty) {
  if (duty >= 1.0 || duty <= 0.0) return Millis(0);
  const double ms = std::chrono::duration<double, std::milli>(step).count();
  return Millis(static_cast<int64_t>(ms * (1.0 / duty - 1.0)));
}

struct Archiver::Meters {
  obs::Counter& batches;
  obs::Counter& events;
  obs::Counter& raw_bytes;
  obs::Counter& stored_bytes;
  obs::Counter& deleted_batches;
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
                            .with({}),
        .deleted_batches = metrics
                               ->counter("insightd_archive_deleted_batches_total",
                                         "Archived batches whose events this node deleted for "
                                         "their age (ARCHIVE_DELETE_AFTER_DAYS).")
                               .with({})});
  }
}

Archiver::~Archiver() {
  stop();
}

void Archiver::stop() {
  {
    const std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  task_.stop();
  (void)store_.outbox().release_lease(kLeaseName, options_.owner);
}

bool Archiver::pause(Millis d) {
  if (d <= Millis(0)) return !stopping_;
  std::unique_lock lock(mutex_);
  return !clock_.wait_for(lock, wake_, d, [this] { return stopping_.load(); });
}

Status Archiver::delete_old(ArchivePass& pass) {
  if (!options_.delete_after) return Status::ok();
  const Timestamp cutoff = clock_.now() - *options_.delete_after;
  while (!stopping_) {
    auto n =
        store_.archive().delete_archived_before(cutoff, clock_.now(), options_.batches_per_step);
    if (!n) {
      spdlog::warn("[Archive] Deleting old archived events failed (the next pass tries again): {}",
                   n.error().message);
      return n.error();
    }
    pass.deleted_batches += *n;
    if (meters_) meters_->deleted_batches.inc(static_cast<uint64_t>(*n));
    if (*n < static_cast<int64_t>(options_.batches_per_step)) break;
    if (!renew_lease()) break;
  }
  return Status::ok();
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
  const Timestamp cutoff = options_.sealed_before.value_or(clock_.now() - options_.after);
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
    int64_t step_events = 0;
    for (const auto& c : *candidates) {
      if (!ids.empty() && step_events + c.event_count > options_.events_per_step) break;
      ids.push_back(c.batch_id);
      step_events += c.event_count;
    }
    const auto step_start = clock_.steady_now();
    auto moved = store_.archive().archive(ids, cutoff, clock_.now());
    const auto step_took = clock_.steady_now() - step_start;
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
    if (!pause(pause_after(step_took, options_.duty))) break;
    if (!renew_lease()) break;
  }
  const Status deleted = delete_old(pass);
  // Held only during a pass: `insightd archive` beside a running node waits
  // for nothing but a pass in progress.
  (void)store_.outbox().release_lease(kLeaseName, options_.owner);
  if (pass.batches > 0) {
    spdlog::info("[Archive] Archived {} batches ({} events, {} bytes compressed to {})",
                 pass.batches, pass.events, pass.raw_bytes, pass.stored_bytes);
  }
  if (pass.deleted_batches > 0) {
    spdlog::info(
        "[Archive] Deleted the archived events of {} batches archived more than {} "
        "days ago (ARCHIVE_DELETE_AFTER_DAYS)",
        pass.deleted_batches,
        std::chrono::duration_cast<std::chrono::days>(*options_.delete_after).count());
  }
  if (!deleted) return deleted.error();
  return pass;
}

}  // namespace insightd::lifecycle
