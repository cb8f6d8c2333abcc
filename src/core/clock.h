// The clock that threads wait on: the time now (wall time for what is stored,
// steady time for deadlines) and timed waits on a condition variable. Threads
// with timeouts (the job worker, the periodic tasks, the LISTEN reconnects) take
// a WaitClock, so production runs them on RealClock and their tests on a
// ManualClock whose time moves only when the test moves it: nothing sleeps.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <mutex>
#include <vector>

#include "core/time.h"

namespace insightd {

class WaitClock : public Clock {
 public:
  using SteadyTime = std::chrono::steady_clock::time_point;

  // Monotonic time, for deadlines; never stored.
  virtual SteadyTime steady_now() const = 0;

  // Waits on `cv`, whose mutex `lock` holds, until `done()` holds or this
  // clock's steady time reaches `deadline` (SteadyTime::max(): no deadline).
  // `done()` runs with the mutex held, first at once and again after every
  // wake-up, so a notify of `cv` after changing what it reads ends the wait.
  // Returns its last value, as condition_variable::wait_until does. `done()`
  // must not call the clock.
  virtual bool wait_until(std::unique_lock<std::mutex>& lock, std::condition_variable_any& cv,
                          SteadyTime deadline, const std::function<bool()>& done) const = 0;

  // wait_until() for `d` from now; a `d` past the end of time waits without a deadline.
  template <class Rep, class Period>
  bool wait_for(std::unique_lock<std::mutex>& lock, std::condition_variable_any& cv,
                std::chrono::duration<Rep, Period> d, const std::function<bool()>& done) const {
    return wait_until(lock, cv, deadline_in(d), done);
  }
  // wait_until() without a deadline.
  void wait(std::unique_lock<std::mutex>& lock, std::condition_variable_any& cv,
            const std::function<bool()>& done) const {
    (void)wait_until(lock, cv, SteadyTime::max(), done);
  }

  // steady_now() + d, saturating at SteadyTime::max() (Millis::max() means "never").
  template <class Rep, class Period>
  SteadyTime deadline_in(std::chrono::duration<Rep, Period> d) const {
    const SteadyTime now = steady_now();
    const auto room =
        std::chrono::duration_cast<std::chrono::duration<Rep, Period>>(SteadyTime::max() - now);
    if (d >= room) return SteadyTime::max();
    return now + std::chrono::duration_cast<SteadyTime::duration>(d);
  }
};

// System time, steady_clock, and the condition variable's own timed waits.
class RealClock final : public WaitClock {
 public:
  Timestamp now() const override;
  SteadyTime steady_now() const override;
  bool wait_until(std::unique_lock<std::mutex>& lock, std::condition_variable_any& cv,
                  SteadyTime deadline, const std::function<bool()>& done) const override;
  static const RealClock& instance();
};

// A clock for tests: both times stand still until advance() moves them, and a
// wait ends only by its condition or when advance() reaches its deadline. A
// test that is about to move time first waits until the threads it drives are
// blocked in the clock (wait_for_waiters), so each advance lands where it means to.
class ManualClock final : public WaitClock {
 public:
  explicit ManualClock(Timestamp start) : start_(start) {}
  ManualClock(const ManualClock&) = delete;
  ManualClock& operator=(const ManualClock&) = delete;

  Timestamp now() const override;
  SteadyTime steady_now() const override;
  bool wait_until(std::unique_lock<std::mutex>& lock, std::condition_variable_any& cv,
                  SteadyTime deadline, const std::function<bool()>& done) const override;

  // Moves both times forward by `d` (a negative `d` does nothing) and wakes
  // every wait whose deadline that reaches. Any thread may call it.
  void advance(std::chrono::nanoseconds d);
  // Moves forward to wall time `t`; nothing when `t` is not later than now().
  void advance_to(Timestamp t);

  // Waits until at least `n` threads are blocked in wait_until() with their
  // deadline still ahead. A thread counts from the moment it blocks until
  // advance() reaches its deadline or it returns; one whose condition variable
  // was notified counts until it runs again. `timeout` is real time: a safety
  // net for a hung test, normally never reached. True when there are `n`.
  bool wait_for_waiters(size_t n,
                        std::chrono::milliseconds timeout = std::chrono::seconds(10)) const;
  // Waits until a thread is blocked in wait_until() with exactly `deadline`
  // (steady_now() plus the timeout the test expects it to wait out), to tell
  // that wait from others blocked at the same time. `timeout` as above.
  bool wait_for_deadline(SteadyTime deadline,
                         std::chrono::milliseconds timeout = std::chrono::seconds(10)) const;
  // The threads wait_for_waiters() counts, right now.
  size_t waiters() const;

 private:
  struct Waiter {
    std::condition_variable_any* cv = nullptr;
    SteadyTime deadline;
  };
  SteadyTime steady_locked() const { return SteadyTime(elapsed_); }
  void advance_locked(std::chrono::nanoseconds d);
  size_t waiting_locked() const;

  const Timestamp start_;
  // Guards elapsed_ and waiters_. A waiter takes it after its own mutex, and
  // holds both until its condition variable has it (see wait_until).
  mutable std::mutex mu_;
  mutable std::condition_variable waiters_changed_;
  SteadyTime::duration elapsed_{0};
  mutable std::vector<const Waiter*> waiters_;
};

}  // namespace insightd
