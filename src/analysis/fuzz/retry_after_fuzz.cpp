// libFuzzer target for analysis::parse_retry_after, which reads the Retry-After
// header of the model API's 429 and 5xx answers (delay-seconds or an HTTP date),
// directly and through classify_http_error. Checks: a delay is never negative; a
// number of seconds reads as exactly that many (up to a week, else nothing); a
// date's delay reads back the same from the date written out again; only
// retryable statuses carry it.
#include <date/date.h>

#include <charconv>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "analysis/openai_protocol.h"

using namespace insightd;
using namespace insightd::analysis;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view value(reinterpret_cast<const char*>(data), size);
  const Timestamp now = from_unix_ms(1'792'567'620'000);  // Wed, 21 Oct 2026 07:27:00 GMT
  const auto delay = parse_retry_after(value, now);
  if (delay && delay->count() < 0) __builtin_trap();

  std::string_view t = value;
  while (!t.empty() && (t.front() == ' ' || t.front() == '\t')) t.remove_prefix(1);
  while (!t.empty() && (t.back() == ' ' || t.back() == '\t' || t.back() == '\r'))
    t.remove_suffix(1);
  if (!t.empty() && t.find_first_not_of("0123456789") == std::string_view::npos) {
    int64_t seconds = 0;
    const bool fits = std::from_chars(t.data(), t.data() + t.size(), seconds).ec == std::errc();
    const bool want = fits && seconds <= 7 * 24 * 3600;
    if (want != delay.has_value() || (want && delay->count() != seconds * 1000)) __builtin_trap();
  } else if (delay && delay->count() > 0) {
    const auto when = date::floor<std::chrono::seconds>(now + *delay);
    const std::string again = date::format("%a, %d %b %Y %H:%M:%S GMT", when);
    if (parse_retry_after(again, now) != delay) __builtin_trap();
  }

  const AnalysisError limited = classify_http_error(429, "{}", value, now, "key");
  const AnalysisError refused = classify_http_error(400, "{}", value, now, "key");
  if (limited.retry_after != delay || refused.retry_after) __builtin_trap();
  return 0;
}
