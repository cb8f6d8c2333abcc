// KeyedRateLimiter: a token bucket per key (a write key's events per second):
// `rate` tokens a second, at most `burst` saved up. A take of n is admitted
// while the bucket holds a whole token and may leave it in debt (down to -burst),
// so a batch larger than the bucket still goes through, and what follows waits
// for the debt to be paid. Several nodes share one limit through
// SharedCounts: what the others admitted is taken from the buckets here too.
//
// Thread-safe. Memory is bounded by `max_keys`: full buckets are forgotten
// first, and a key beyond the bound is refused rather than tracked.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "core/shared_counts.h"

namespace insightd::net {

class KeyedRateLimiter : public SharedCounts {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;
  using Now = std::function<TimePoint()>;

  KeyedRateLimiter(double rate, double burst, size_t max_keys = 10'000, Now now = nullptr);

  // nullopt: `n` admitted for `key`. Otherwise how long until the key's bucket
  // holds a token again (at least 1 ms); nothing is taken.
  std::optional<std::chrono::milliseconds> take(const std::string& key, double n = 1);

  double rate() const { return rate_; }

  // SharedCounts
  std::vector<std::pair<std::string, uint64_t>> take_admitted() override;
  void admitted_elsewhere(const std::string& key, uint64_t n) override;

 private:
  struct Bucket {
    double tokens = 0;
    TimePoint refilled;
    uint64_t admitted = 0;  // since the last take_admitted()
    bool seen = false;      // a take since the last take_admitted()
  };
  Bucket* find_or_make(const std::string& key, TimePoint now);
  void refill(Bucket& b, TimePoint now) const;

  const double rate_;
  const double burst_;
  const size_t max_keys_;
  const Now now_;
  std::mutex mu_;
  std::unordered_map<std::string, Bucket> buckets_;
};

}  // namespace insightd::net
