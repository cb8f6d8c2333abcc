// Time as insightd stores and compares it: UTC instants with millisecond precision,
// read through an injected Clock so tests move time instead of sleeping.
#pragma once

#include <atomic>
#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace insightd {

using Timestamp = std::chrono::sys_time<std::chrono::milliseconds>;
using Millis = std::chrono::milliseconds;

// "2026-11-29T04:49:05.123Z": fixed width, so text order equals time order.
std::string format_timestamp(Timestamp t);
// The same, appended to `out`.
void append_timestamp(std::string& out, Timestamp t);

// Parses an RFC 3339 date-time ("2026-11-29T04:49:05Z", "...05.123456789+02:00";
// lower-case 't'/'z' and a space for 'T' allowed). Any number of fraction digits;
// sub-millisecond ones are truncated (toward the past). Returns nullopt for
// anything else, including out-of-range fields and offsets and leap seconds (:60).
std::optional<Timestamp> parse_rfc3339(std::string_view text);

// Parses what a database hands back: RFC 3339, or PostgreSQL's ISO output
// ("2026-11-29 04:49:05.123+00").
std::optional<Timestamp> parse_db_timestamp(std::string_view text);

inline int64_t to_unix_ms(Timestamp t) {
  return t.time_since_epoch().count();
}
constexpr Timestamp from_unix_ms(int64_t ms) {
  return Timestamp(Millis(ms));
}

// The source of "now". Thread-safe.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual Timestamp now() const = 0;
};

class SystemClock final : public Clock {
 public:
  Timestamp now() const override;
  static const SystemClock& instance();
};

// A clock that only moves when told to; for tests.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(Timestamp start) : ms_(to_unix_ms(start)) {}
  Timestamp now() const override { return from_unix_ms(ms_.load()); }
  void set(Timestamp t) { ms_.store(to_unix_ms(t)); }
  void advance(Millis d) { ms_.fetch_add(d.count()); }

 private:
  std::atomic<int64_t> ms_;
};

}  // namespace insightd
