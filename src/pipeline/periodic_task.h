// PeriodicTask: a thread that runs one function at once and then every
// `every`, until stopped. stop() wakes it from its wait, so shutdown never
// waits out a period; a run in progress is finished first.
#pragma once

#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

#include "core/time.h"

namespace insightd::pipeline {

class PeriodicTask {
 public:
  PeriodicTask(Millis every, std::function<void()> run);
  ~PeriodicTask();
  PeriodicTask(const PeriodicTask&) = delete;
  PeriodicTask& operator=(const PeriodicTask&) = delete;

  void start();  // no-op when running
  void stop();   // idempotent; joins the thread

 private:
  const Millis every_;
  std::function<void()> run_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace insightd::pipeline
