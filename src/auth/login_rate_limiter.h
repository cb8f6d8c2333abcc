// The failed-login limit: after `max_failures` failed sign-ins from one client
// within `window`, that client's further attempts are refused (429 with
// Retry-After) until the oldest of those failures leaves the window, even with
// the right password. A success clears the client's record. Kept in memory: a
// restart forgets it; with Redis the nodes also count together (SharedLoginLimit).
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

// The same limit held by several nodes together (cluster/shared_login_limit.h,
// through Redis). AuthService asks it after its own LoginRateLimiter, which
// keeps limiting this node alone whenever the shared record cannot be reached.
class SharedLoginLimit {
 public:
  virtual ~SharedLoginLimit() = default;
  // Begins attempt `attempt` (unique) of `client` across the nodes: nullopt when
  // it may try (it then counts as a failure until record_success() or
  // forget_attempt()) or when the shared record cannot be reached; otherwise
  // how long the client must wait, and nothing is counted.
  virtual std::optional<Millis> start_attempt(std::string_view client, std::string_view attempt,
                                              const LoginRateLimit& limit) = 0;
  virtual void record_success(std::string_view client) = 0;
  virtual void forget_attempt(std::string_view client, std::string_view attempt) = 0;
};

// Whole seconds for a Retry-After header: rounded up, at least 1.
int64_t retry_after_seconds(Millis wait);

}  // namespace insightd::auth
