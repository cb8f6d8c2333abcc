// PeriodicTask: a thread that runs one function at once and then every
// `every` of its clock's time, until stopped. stop() wakes it from its wait,
// so shutdown never waits out a period; a run in progress is finished first.
// Production waits on the real clock; tests pass a ManualClock and advance it.
#pragma once

#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

#include "core/clock.h"

namespace insightd::runtime {

class PeriodicTask {
 public:
  // `clock` must outlive the task.
  PeriodicTask(Millis every, std::function<void()> run,
               const WaitClock& clock = RealClock::instance());
  ~PeriodicTask();
  PeriodicTask(const PeriodicTask&) = delete;
  PeriodicTask& operator=(const PeriodicTask&) = delete;

  void start();  // no-op when running
  void stop();   // idempotent; joins the thread

 private:
  const Millis every_;
  std::function<void()> run_;
  const WaitClock& clock_;
  std::mutex mu_;
  std::condition_variable_any cv_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace insightd::runtime
