#include "pipeline/batch_sealer.h"

#include <spdlog/spdlog.h>

namespace insightd::pipeline {

BatchSealer::BatchSealer(store::BatchStore& batches, const WaitClock& clock, Millis max_age,
                         store::BatchPolicy policy, Millis check_every, SealListener on_sealed)
    : batches_(batches),
      clock_(clock),
      max_age_(max_age),
      policy_(policy),
      check_every_(check_every),
      on_sealed_(std::move(on_sealed)),
      task_(
          check_every_, [this] { tick(); }, clock_) {}

BatchSealer::~BatchSealer() {
  stop();
}

void BatchSealer::start() {
  task_.start();
}

void BatchSealer::stop() {
  task_.stop();
}

std::vector<store::SealedBatch> BatchSealer::tick() {
  auto sealed = batches_.seal_expired(max_age_, policy_, clock_.now());
  if (!sealed) {
    spdlog::warn("[Batch Sealer] Age check failed: {}", sealed.error().message);
    return {};
  }
  for (const auto& b : *sealed) {
    spdlog::info("[Batch Sealer] Sealed batch {} ({} events, age); created job {}", b.batch_id,
                 b.event_count, b.job_id);
  }
  if (!sealed->empty() && on_sealed_) on_sealed_(*sealed);
  return std::move(sealed).value();
}

}  // namespace insightd::pipeline
