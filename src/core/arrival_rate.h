// How fast something arrives (events, messages), measured over windows of a
// fixed length: one burst inside a window counts as that window's share, not as
// a sustained rate. Cheap enough to update per wake-up. Not thread-safe: one
// owner updates and reads it.
#pragma once

#include <chrono>
#include <cstddef>

namespace insightd {

class ArrivalRate {
 public:
  using Clock = std::chrono::steady_clock;

  explicit ArrivalRate(std::chrono::milliseconds window) : window_(window) {}

  // Counts `n` more arrivals at `now`; once a window has passed since the
  // last measure, the rate becomes what arrived over it (per second).
  void add(size_t n, Clock::time_point now);
  // Arrivals per second over the last whole window; 0 until one has passed.
  double rate() const { return rate_; }

 private:
  std::chrono::milliseconds window_;
  Clock::time_point since_;
  size_t count_ = 0;
  double rate_ = 0;
};

}  // namespace insightd
