#include "runtime/periodic_task.h"

#include <spdlog/spdlog.h>

#include "core/thread_name.h"

namespace insightd::runtime {

PeriodicTask::PeriodicTask(Millis every, std::function<void()> run, const WaitClock& clock)
    : every_(every), run_(std::move(run)), clock_(clock) {}

PeriodicTask::~PeriodicTask() {
  stop();
}

void PeriodicTask::start() {
  std::lock_guard lock(mu_);
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = start_named_thread("periodic", [this] {
    std::unique_lock lock(mu_);
    while (!stopping_) {
      lock.unlock();
      try {
        run_();
      } catch (const std::exception& e) {
        // A periodic task (sealer, recovery) that throws tries again next period.
        spdlog::error("[Periodic] A periodic task threw: {}", e.what());
      }
      lock.lock();
      clock_.wait_for(lock, cv_, every_, [this] { return stopping_; });
    }
  });
}

void PeriodicTask::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

}  // namespace insightd::runtime
