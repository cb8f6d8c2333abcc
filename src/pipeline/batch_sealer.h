// BatchSealer: the age half of hybrid sealing. Once a second it seals an OPEN
// batch whose first event is BATCH_MAX_AGE_MS old (the size half happens in the
// append transaction itself). Sealing creates the PENDING job and the outbox row
// in the same transaction; listeners are told so workers wake at once.
#pragma once

#include <functional>
#include <vector>

#include "core/clock.h"
#include "runtime/periodic_task.h"
#include "store/store.h"

namespace insightd::pipeline {

class BatchSealer {
 public:
  using SealListener = std::function<void(const std::vector<store::SealedBatch>&)>;

  // The thread checks every `check_every` of `clock`, which also gives the
  // time compared with the batches'. `batches` and `clock` must outlive it.
  BatchSealer(store::BatchStore& batches, const WaitClock& clock, Millis max_age,
              store::BatchPolicy policy, Millis check_every, SealListener on_sealed);
  ~BatchSealer();
  BatchSealer(const BatchSealer&) = delete;
  BatchSealer& operator=(const BatchSealer&) = delete;

  void start();
  void stop();

  // One check, now. Returns what it sealed. Also what the thread runs.
  std::vector<store::SealedBatch> tick();

 private:
  store::BatchStore& batches_;
  const WaitClock& clock_;
  const Millis max_age_;
  const store::BatchPolicy policy_;
  const Millis check_every_;
  SealListener on_sealed_;

  runtime::PeriodicTask task_;  // last: its thread uses the members above
};

}  // namespace insightd::pipeline
