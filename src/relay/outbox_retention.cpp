#include "relay/outbox_retention.h"

#include <spdlog/spdlog.h>

namespace insightd::relay {

namespace {
constexpr size_t kPerStatement = 10'000;
}  // namespace

OutboxRetention::OutboxRetention(store::OutboxStore& store, const WaitClock& clock, Millis keep,
                                 bool relay_configured, Millis every)
    : store_(store),
      clock_(clock),
      keep_(keep),
      relay_configured_(relay_configured),
      task_(
          every, [this] { (void)run_once(); }, clock) {}

int64_t OutboxRetention::run_once() {
  const Timestamp cutoff = clock_.now() - keep_;
  int64_t total = 0;
  for (;;) {
    auto deleted = store_.delete_created_before(cutoff, !relay_configured_, kPerStatement);
    if (!deleted) {
      spdlog::warn("[Outbox] Retention pass failed (next one in the usual period): {}",
                   deleted.error().message);
      break;
    }
    total += *deleted;
    if (*deleted < static_cast<int64_t>(kPerStatement)) break;
  }
  if (total > 0) {
    spdlog::info("[Outbox] Deleted {} rows older than {} days{}", total,
                 std::chrono::duration_cast<std::chrono::hours>(keep_).count() / 24,
                 relay_configured_ ? " (published ones only)" : "");
  }
  return total;
}

}  // namespace insightd::relay
