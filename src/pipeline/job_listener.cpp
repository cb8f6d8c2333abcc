#include "pipeline/job_listener.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "core/thread_name.h"
#include "store/sql.h"

namespace insightd::pipeline {
namespace {

constexpr Millis kFirstBackoff{250};
constexpr Millis kMaxBackoff{10'000};
// An idle LISTEN session is still checked this often for a broken connection.
constexpr Millis kWaitSlice{30'000};

}  // namespace

JobNotificationListener::JobNotificationListener(std::string database_url,
                                                 std::function<void()> on_notify,
                                                 const WaitClock& clock)
    : url_(std::move(database_url)), on_notify_(std::move(on_notify)), clock_(clock) {}

JobNotificationListener::~JobNotificationListener() {
  stop();
}

Status JobNotificationListener::start() {
  if (thread_.joinable()) return Status::ok();
  auto opened = store::PgListener::open(url_, store::kJobNotifyChannel);
  if (!opened) return opened.error();
  {
    std::lock_guard lock(mu_);
    stopping_ = false;
    listener_ = opened->get();
  }
  thread_ = start_named_thread(
      "job-listener", [this, l = std::move(opened).value()]() mutable { run(std::move(l)); });
  return Status::ok();
}

void JobNotificationListener::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    if (listener_ != nullptr) listener_->interrupt();
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void JobNotificationListener::run(std::unique_ptr<store::PgListener> listener) {
  Millis backoff = kFirstBackoff;
  for (;;) {
    if (!listener) {
      auto opened = store::PgListener::open(url_, store::kJobNotifyChannel);
      std::unique_lock lock(mu_);
      if (stopping_) return;
      if (!opened) {
        spdlog::warn("[Worker] LISTEN for new jobs failed ({}); retrying in {} ms",
                     opened.error().message, backoff.count());
        clock_.wait_for(lock, cv_, backoff, [this] { return stopping_; });
        backoff = std::min(backoff * 2, kMaxBackoff);
        continue;
      }
      listener = std::move(opened).value();
      listener_ = listener.get();
      backoff = kFirstBackoff;
      lock.unlock();
      spdlog::info("[Worker] LISTEN for new jobs restored");
      on_notify_();  // whatever was notified while the session was down
    }
    auto got = listener->wait(kWaitSlice);
    {
      std::lock_guard lock(mu_);
      if (stopping_) {
        listener_ = nullptr;
        return;
      }
      if (!got) {
        spdlog::warn("[Worker] LISTEN session lost ({}); reconnecting", got.error().message);
        listener_ = nullptr;
      }
    }
    if (!got) {
      listener.reset();
      continue;
    }
    if (!got->empty()) on_notify_();
  }
}

}  // namespace insightd::pipeline
