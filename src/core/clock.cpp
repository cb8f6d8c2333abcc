#include "core/clock.h"

#include <algorithm>

namespace insightd {

Timestamp RealClock::now() const {
  return SystemClock::instance().now();
}

WaitClock::SteadyTime RealClock::steady_now() const {
  return std::chrono::steady_clock::now();
}

bool RealClock::wait_until(std::unique_lock<std::mutex>& lock, std::condition_variable_any& cv,
                           SteadyTime deadline, const std::function<bool()>& done) const {
  if (deadline == SteadyTime::max()) {
    cv.wait(lock, done);
    return true;
  }
  return cv.wait_until(lock, deadline, done);
}

const RealClock& RealClock::instance() {
  static const RealClock clock;
  return clock;
}

namespace {

// The waiter's mutex and then the clock's, as one lock: what the condition
// variable releases while the waiter sleeps. Because the waiter holds the
// clock's mutex from its last look at the time until the condition variable
// has taken it in, an advance() (which notifies with the clock's mutex held)
// cannot fall between the two and go unheard.
class BothLocks {
 public:
  BothLocks(std::unique_lock<std::mutex>& outer, std::unique_lock<std::mutex>& inner)
      : outer_(outer), inner_(inner) {}
  void lock() {
    outer_.lock();
    inner_.lock();
  }
  void unlock() {
    inner_.unlock();
    outer_.unlock();
  }

 private:
  std::unique_lock<std::mutex>& outer_;
  std::unique_lock<std::mutex>& inner_;
};

}  // namespace

Timestamp ManualClock::now() const {
  std::lock_guard lock(mu_);
  return start_ + std::chrono::floor<Millis>(elapsed_);
}

WaitClock::SteadyTime ManualClock::steady_now() const {
  std::lock_guard lock(mu_);
  return steady_locked();
}

bool ManualClock::wait_until(std::unique_lock<std::mutex>& lock, std::condition_variable_any& cv,
                             SteadyTime deadline, const std::function<bool()>& done) const {
  if (done()) return true;
  const Waiter me{&cv, deadline};
  std::unique_lock clock_lock(mu_);
  waiters_.push_back(&me);
  waiters_changed_.notify_all();
  bool result = false;
  BothLocks both(lock, clock_lock);
  while (steady_locked() < deadline) {
    cv.wait(both);
    // done() reads the caller's state, guarded by its mutex alone; the
    // clock's is taken again (after the caller's, as always) to look at the time.
    clock_lock.unlock();
    result = done();
    clock_lock.lock();
    if (result) break;
  }
  std::erase(waiters_, &me);
  waiters_changed_.notify_all();
  return result;
}

void ManualClock::advance(std::chrono::nanoseconds d) {
  std::lock_guard lock(mu_);
  advance_locked(d);
}

void ManualClock::advance_to(Timestamp t) {
  std::lock_guard lock(mu_);
  advance_locked(t - (start_ + std::chrono::floor<Millis>(elapsed_)));
}

void ManualClock::advance_locked(std::chrono::nanoseconds d) {
  if (d <= std::chrono::nanoseconds::zero()) return;
  elapsed_ += std::chrono::duration_cast<SteadyTime::duration>(d);
  const SteadyTime now = steady_locked();
  for (const Waiter* w : waiters_) {
    if (w->deadline <= now) w->cv->notify_all();
  }
  waiters_changed_.notify_all();
}

size_t ManualClock::waiting_locked() const {
  const SteadyTime now = steady_locked();
  return static_cast<size_t>(std::count_if(waiters_.begin(), waiters_.end(),
                                           [&](const Waiter* w) { return w->deadline > now; }));
}

bool ManualClock::wait_for_waiters(size_t n, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mu_);
  return waiters_changed_.wait_for(lock, timeout, [&] { return waiting_locked() >= n; });
}

bool ManualClock::wait_for_deadline(SteadyTime deadline, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mu_);
  return waiters_changed_.wait_for(lock, timeout, [&] {
    return std::any_of(waiters_.begin(), waiters_.end(),
                       [&](const Waiter* w) { return w->deadline == deadline; });
  });
}

size_t ManualClock::waiters() const {
  std::lock_guard lock(mu_);
  return waiting_locked();
}

}  // namespace insightd
