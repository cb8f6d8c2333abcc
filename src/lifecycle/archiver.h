// Archiver: moves the events of ANALYZED batches sealed more than `after` ago
// out of "Event" into "ArchivedBatch" (store.h's ArchiveStore), in small
// steps: at most `batches_per_step` batches and about `events_per_step`
// events per transaction (always at least one batch), so no lock is held long
// and no transaction bloats the WAL, whatever BATCH_MAX_EVENTS is.
// One node archives at a time: a pass runs only while this node holds the
// "archiver" lease (the store's RelayLease table), renewed between steps and
// given back when the pass ends (a node that dies mid-pass holds it until it
// expires). Every `every` (and once at start) a pass runs until no candidate
// is left; `insightd archive` runs one now.
// With `duty` below 1 a pass pauses after each step so that it works that
// fraction of the time: the node's archiver leaves ingestion most of the
// machine while it works through a backlog (docs/BENCHMARKS.md has the cost).
// With `delete_after` set (ARCHIVE_DELETE_AFTER_DAYS), a pass then deletes
// the archived events of batches archived longer ago than that, in statements
// of `batches_per_step` (store.h's delete_archived_before).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "core/clock.h"
#include "core/result.h"
#include "runtime/periodic_task.h"
#include "store/store.h"

namespace insightd::obs {
class Registry;
}  // namespace insightd::obs

namespace insightd::lifecycle {

struct ArchiverOptions {
  Millis after{Millis(30LL * 24 * 3600 * 1000)};  // ARCHIVE_AFTER_DAYS
  std::optional<Timestamp> sealed_before;  // instead of `after` (insightd archive --sealed-before)
  size_t batches_per_step = 20;
  int64_t events_per_step = 5'000;
  double duty = 1.0;                   // the fraction of a pass spent in steps; (0, 1]
  std::optional<Millis> delete_after;  // ARCHIVE_DELETE_AFTER_DAYS; unset: keep forever
  Millis every{Millis(60'000)};
  Millis lease{Millis(30'000)};
  std::string owner;  // this node's name for the lease (host:pid:random when empty)
};

// What one pass moved (or, dry, would move).
// How long to pause after a step that took `step` so that steps fill `duty`
// of the time.
Millis pause_after(std::chrono::steady_clock::duration step, double duty);

struct ArchivePass {
  int64_t batches = 0;
  int64_t events = 0;
  int64_t raw_bytes = 0;              // not known on a dry run
  int64_t stored_bytes = 0;           // not known on a dry run
  int64_t deleted_batches = 0;        // archived events deleted for their age (not on a dry run)
  bool lease_held_elsewhere = false;  // another node archives now: nothing done
};

class Archiver {
 public:
  // `store` and `clock` must outlive the archiver; `metrics` may be null.
  Archiver(store::Store& store, const WaitClock& clock, ArchiverOptions options,
           obs::Registry* metrics = nullptr);
  ~Archiver();
  Archiver(const Archiver&) = delete;
  Archiver& operator=(const Archiver&) = delete;

  void start() { task_.start(); }
  void stop();

  // One pass now, until no candidate is left (or stop()). `each` hears of
  // every batch moved (dry: every batch that would move, nothing changed).
  Result<ArchivePass> run_once(
      bool dry_run = false,
      const std::function<void(const store::ArchiveCandidate&, const store::ArchivedBatchInfo*)>&
          each = {});

 private:
  bool renew_lease();

  store::Store& store_;
  const WaitClock& clock_;
  ArchiverOptions options_;
  bool pause(Millis d);                  // false: stopping
  Status delete_old(ArchivePass& pass);  // ARCHIVE_DELETE_AFTER_DAYS

  std::atomic<bool> stopping_{false};
  std::mutex mutex_;
  std::condition_variable_any wake_;
  struct Meters;
  std::unique_ptr<Meters> meters_;
  runtime::PeriodicTask task_;
};

}  // namespace insightd::lifecycle
