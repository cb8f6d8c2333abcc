// A PostgreSQL session of its own that LISTENs on one channel, so a process
// learns within a round trip that another process made a job runnable (sealed a
// batch, triggered an analysis, handed a job back), instead of polling for it.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "core/time.h"

namespace insightd::store {

class PgListener {
 public:
  // Connects and LISTENs on `channel` (an identifier: letters, digits, '_').
  // kUnavailable when the server cannot be reached.
  static Result<std::unique_ptr<PgListener>> open(const std::string& url, std::string_view channel);
  ~PgListener();
  PgListener(const PgListener&) = delete;
  PgListener& operator=(const PgListener&) = delete;

  // Waits until at least one notification arrives, `timeout` passes or
  // interrupt() is called, and returns the payloads of the notifications it
  // consumed (none for a timeout or an interrupt). kUnavailable once the
  // session is broken: notifications may have been missed, so open a new
  // listener and look for work. One thread at a time.
  Result<std::vector<std::string>> wait(Millis timeout);

  // Makes the current (or the next) wait() return at once. Thread-safe.
  void interrupt();

  // The server process serving this session (pg_stat_activity.pid).
  int server_pid() const;

 private:
  struct Impl;
  explicit PgListener(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace insightd::store
