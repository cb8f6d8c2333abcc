#include "auth/login_rate_limiter.h"

#include <algorithm>
#include <iterator>

namespace insightd::auth {

LoginRateLimiter::LoginRateLimiter(const Clock& clock, LoginRateLimit limit)
    : clock_(clock), limit_(limit) {}

bool LoginRateLimiter::expire(std::deque<Timestamp>& failures, Timestamp now) const {
  while (!failures.empty() && failures.front() + limit_.window <= now) failures.pop_front();
  return failures.empty();
}

std::optional<Millis> LoginRateLimiter::retry_after(std::string_view client) const {
  const Timestamp now = clock_.now();
  std::lock_guard lock(mu_);
  return wait_locked(client, now);
}

std::optional<Millis> LoginRateLimiter::wait_locked(std::string_view client, Timestamp now) const {
  auto it = failures_.find(std::string(client));
  if (it == failures_.end()) return std::nullopt;
  if (expire(it->second, now)) {
    failures_.erase(it);
    return std::nullopt;
  }
  if (it->second.size() < limit_.max_failures) return std::nullopt;
  return it->second.front() + limit_.window - now;
}

std::optional<Millis> LoginRateLimiter::start_attempt(std::string_view client) {
  const Timestamp now = clock_.now();
  std::lock_guard lock(mu_);
  if (auto wait = wait_locked(client, now)) return wait;
  auto it = failures_.find(std::string(client));
  if (it == failures_.end()) {
    if (failures_.size() >= limit_.max_clients) make_room(now);
    it = failures_.emplace(std::string(client), std::deque<Timestamp>()).first;
  }
  std::deque<Timestamp>& failures = it->second;
  expire(failures, now);
  failures.push_back(now);
  while (failures.size() > std::max<size_t>(limit_.max_failures, 1)) failures.pop_front();
  return std::nullopt;
}

void LoginRateLimiter::forget_attempt(std::string_view client) {
  std::lock_guard lock(mu_);
  auto it = failures_.find(std::string(client));
  if (it == failures_.end() || it->second.empty()) return;
  it->second.pop_back();  // the newest: the attempt start_attempt() counted
  if (it->second.empty()) failures_.erase(it);
}

void LoginRateLimiter::record_success(std::string_view client) {
  std::lock_guard lock(mu_);
  failures_.erase(std::string(client));
}

void LoginRateLimiter::make_room(Timestamp now) {
  for (auto it = failures_.begin(); it != failures_.end();) {
    it = expire(it->second, now) ? failures_.erase(it) : std::next(it);
  }
  // Still full of clients failing right now: forget one, rather than grow.
  if (failures_.size() >= limit_.max_clients && !failures_.empty()) {
    failures_.erase(failures_.begin());
  }
}

int64_t retry_after_seconds(Millis wait) {
  return std::max<int64_t>(1, (wait.count() + 999) / 1000);
}

}  // namespace insightd::auth
