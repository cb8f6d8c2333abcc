// The failed-login limit: after `max_failures` failed sign-ins from one client
// within `window`, that client's further attempts are refused (429 with
// Retry-After) until the oldest of those failures leaves the window, even with
// the right password. A success clears the client's record. Kept in memory: a
// restart forgets it, and each process counts on its own.
//
// Thread-safe. Memory is bounded by `max_clients`: when full, clients whose
// failures have all left the window are forgotten first.
#pragma once

#include <chrono>
#include <cstddef>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/time.h"

namespace insightd::auth {

struct LoginRateLimit {
  size_t max_failures = 5;
  Millis window = std::chrono::minutes(15);
  size_t max_clients = 10000;
};

class LoginRateLimiter {
 public:
  // `clock` must outlive the limiter.
  explicit LoginRateLimiter(const Clock& clock, LoginRateLimit limit = {});

  // How long `client` must wait before its next attempt; nullopt when it may try now.
  std::optional<Millis> retry_after(std::string_view client) const;

  // Begins an attempt: nullopt when `client` may try, and the attempt is then
  // counted as a failure until record_success() says otherwise (so that attempts
  // made at the same moment cannot slip past the limit); otherwise how long the
  // client must wait, and nothing is counted.
  std::optional<Millis> start_attempt(std::string_view client);

  // The attempt succeeded: forgets the client's failures.
  void record_success(std::string_view client);

  // The attempt could not be judged (the server was busy): it does not count.
  void forget_attempt(std::string_view client);

 private:
  // Drops failures older than the window; true when none is left.
  bool expire(std::deque<Timestamp>& failures, Timestamp now) const;
  std::optional<Millis> wait_locked(std::string_view client, Timestamp now) const;
  void make_room(Timestamp now);

  const Clock& clock_;
  const LoginRateLimit limit_;
  mutable std::mutex mu_;
  // Per client, its failures within the window, oldest first (at most max_failures).
  mutable std::unordered_map<std::string, std::deque<Timestamp>> failures_;
};

// Whole seconds for a Retry-After header: rounded up, at least 1.
int64_t retry_after_seconds(Millis wait);

}  // namespace insightd::auth
