// OutboxRetention: keeps "KafkaOutbox" small. Every `every` (and once at
// start) it deletes the rows created more than `keep` ago: every such row when
// no relay is configured (the rows only record what happened), only the
// published ones when one is (an unpublished row is never lost). It deletes in
// statements of at most 10,000 rows, so no lock is held for long.
#pragma once

#include <cstdint>

#include "core/clock.h"
#include "runtime/periodic_task.h"
#include "store/store.h"

namespace insightd::relay {

class OutboxRetention {
 public:
  // `store` and `clock` must outlive the task.
  OutboxRetention(store::OutboxStore& store, const WaitClock& clock, Millis keep,
                  bool relay_configured, Millis every = Millis(10 * 60 * 1000));

  void start() { task_.start(); }
  void stop() { task_.stop(); }

  // One pass now; returns the rows deleted (tests, and the task's body).
  int64_t run_once();

 private:
  store::OutboxStore& store_;
  const WaitClock& clock_;
  const Millis keep_;
  const bool relay_configured_;
  runtime::PeriodicTask task_;
};

}  // namespace insightd::relay
