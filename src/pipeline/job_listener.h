// JobNotificationListener: wakes this process's worker the moment another
// process makes a job runnable on PostgreSQL (the store NOTIFYs once per sealed
// batch, manual trigger or hand-back). Holds one LISTEN session of its own; if
// the session breaks it reconnects with backoff (waited on its clock) and wakes
// the worker once, since notifications sent meanwhile are lost (the worker then
// looks for itself).
#pragma once

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "core/clock.h"
#include "store/postgres/pg_listener.h"

namespace insightd::pipeline {

class JobNotificationListener {
 public:
  // `clock` (which must outlive the listener) times the pauses between reconnects.
  JobNotificationListener(std::string database_url, std::function<void()> on_notify,
                          const WaitClock& clock = RealClock::instance());
  ~JobNotificationListener();
  JobNotificationListener(const JobNotificationListener&) = delete;
  JobNotificationListener& operator=(const JobNotificationListener&) = delete;

  // Connects once before returning, so that start-up reports a bad database at
  // once; later connection losses are retried in the background.
  Status start();
  void stop();

 private:
  void run(std::unique_ptr<store::PgListener> listener);

  const std::string url_;
  std::function<void()> on_notify_;
  const WaitClock& clock_;
  std::mutex mu_;  // guards listener_ and stopping_ against stop() while run() reconnects
  std::condition_variable_any cv_;
  store::PgListener* listener_ = nullptr;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace insightd::pipeline
