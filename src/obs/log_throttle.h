// LogThrottle: one warning that can repeat thousands of times a second (every
// commit during a database outage) is logged the first time, then at most once
// per period with the count of those left out in between.
//
// Thread-safe; admit() is a mutex and a clock read.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>

namespace insightd::obs {

class LogThrottle {
 public:
  using Clock = std::chrono::steady_clock;
  explicit LogThrottle(std::chrono::milliseconds period = std::chrono::seconds(10))
      : period_(period) {}

  // The number of occurrences left out since the last one logged when this one
  // should be logged (0 for the first), nullopt when it should be left out.
  std::optional<uint64_t> admit(Clock::time_point now = Clock::now());

  // " (N more like it in the last 10 s)" for admit()'s count, "" for 0.
  std::string suffix(uint64_t suppressed) const;

 private:
  const std::chrono::milliseconds period_;
  std::mutex mu_;
  std::optional<Clock::time_point> last_logged_;
  uint64_t suppressed_ = 0;
};

}  // namespace insightd::obs
