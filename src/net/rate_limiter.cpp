#include "net/rate_limiter.h"

#include <algorithm>
#include <cmath>
#include <iterator>

namespace insightd::net {

KeyedRateLimiter::KeyedRateLimiter(double rate, double burst, size_t max_keys, Now now)
    : rate_(rate),
      burst_(std::max(burst, 1.0)),
      max_keys_(std::max<size_t>(max_keys, 1)),
      now_(now ? std::move(now) : Now([] { return std::chrono::steady_clock::now(); })) {}

void KeyedRateLimiter::refill(Bucket& b, TimePoint now) const {
  const double elapsed = std::chrono::duration<double>(now - b.refilled).count();
  if (elapsed > 0) b.tokens = std::min(burst_, b.tokens + elapsed * rate_);
  b.refilled = now;
}

KeyedRateLimiter::Bucket* KeyedRateLimiter::find_or_make(const std::string& key, TimePoint now) {
  auto it = buckets_.find(key);
  if (it != buckets_.end()) return &it->second;
  if (buckets_.size() >= max_keys_) {
    // Full buckets hold nothing worth keeping: forget them.
    for (auto it = buckets_.begin(); it != buckets_.end();) {
      refill(it->second, now);
      it = it->second.tokens >= burst_ ? buckets_.erase(it) : std::next(it);
    }
    if (buckets_.size() >= max_keys_) return nullptr;
  }
  Bucket& b = buckets_[key];
  b.tokens = burst_;
  b.refilled = now;
  return &b;
}

std::optional<std::chrono::milliseconds> KeyedRateLimiter::take(const std::string& key, double n) {
  const TimePoint now = now_();
  std::lock_guard lock(mu_);
  Bucket* b = find_or_make(key, now);
  if (b == nullptr) return std::chrono::milliseconds(1'000);
  refill(*b, now);
  b->seen = true;
  if (b->tokens < 1) {
    // Until the debt is paid and one token is back.
    const double seconds = (1 - b->tokens) / rate_;
    return std::chrono::milliseconds(std::max<int64_t>(1, std::llround(seconds * 1000)));
  }
  b->tokens = std::max(-burst_, b->tokens - n);
  b->admitted += static_cast<uint64_t>(std::llround(n));
  return std::nullopt;
}

std::vector<std::pair<std::string, uint64_t>> KeyedRateLimiter::take_admitted() {
  std::lock_guard lock(mu_);
  return take_seen_admissions(buckets_);
}

void KeyedRateLimiter::admitted_elsewhere(const std::string& key, uint64_t n) {
  const TimePoint now = now_();
  std::lock_guard lock(mu_);
  auto it = buckets_.find(key);
  if (it == buckets_.end()) return;
  refill(it->second, now);
  it->second.tokens = std::max(-burst_, it->second.tokens - static_cast<double>(n));
}

}  // namespace insightd::net
